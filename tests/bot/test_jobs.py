"""Clock jobs: each runs in its own unit of work and never raises."""

from __future__ import annotations

from datetime import timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import func, select

from bot.db import Database
from bot.jobs import JOBS, Job, purge_webhook_events, run_job, schedule
from models import WebhookEvent
from models.base import utcnow


def test_purge_forgets_old_event_ids_only(app: Flask, db: Database) -> None:
    with db.unit_of_work() as session:
        session.add_all(
            [
                WebhookEvent(
                    webhook_event_id="old", type="message", received_at=utcnow() - timedelta(days=8)
                ),
                WebhookEvent(webhook_event_id="new", type="message", received_at=utcnow()),
            ]
        )
    assert purge_webhook_events(app) == 1
    with db.sessions() as session:
        assert session.scalars(select(WebhookEvent.webhook_event_id)).all() == ["new"]


def test_every_job_runs_on_an_empty_database(app: Flask) -> None:
    for job in JOBS:
        run_job(app, job)  # nothing to do, nothing raised


def test_a_failing_job_is_logged_not_raised(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    def broken(app: Flask) -> int:
        raise RuntimeError("boom")

    run_job(app, Job("broken", broken, timedelta(minutes=1)))
    assert "clock job failed" in caplog.text


def test_schedule_has_stable_ids_and_no_overlap(app: Flask, db: Database) -> None:
    scheduler = BackgroundScheduler(timezone="Asia/Tokyo")
    scheduler.start(paused=True)
    try:
        schedule(scheduler, app)
        schedule(scheduler, app)  # idempotent: replaces, never duplicates
        jobs = scheduler.get_jobs()
    finally:
        scheduler.shutdown(wait=False)
    assert sorted(j.id for j in jobs) == sorted(j.id for j in JOBS)
    assert all(j.max_instances == 1 and j.coalesce for j in jobs)
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
