"""Clock jobs: each run is one unit of work; its messages go out only after it commits."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import func, select

from bot.db import Database
from bot.jobs import CORE_JOBS, Job, run_job, run_scheduled, schedule
from bot.messages import text
from bot.residents import lock_resident
from bot.work import Work
from models import InboxEvent, InboxStatus, OutboundMessage, OutboundStatus
from models.base import utcnow
from simulator.server import RunningPlatform


def _done(event_id: str, at: datetime) -> InboxEvent:
    """A processed inbox event, received at ``at``."""
    return InboxEvent(
        webhook_event_id=event_id,
        type="message",
        occurred_at=at,
        received_at=at,
        available_at=at,
        status=InboxStatus.DONE,
        processed_at=at,
    )


def _job(job_id: str) -> Job:
    return next(job for job in CORE_JOBS if job.id == job_id)


def test_purge_forgets_old_event_ids_only(app: Flask, db: Database) -> None:
    with db.unit_of_work() as session:
        session.add_all(
            [
                _done("old", utcnow() - timedelta(days=8)),
                _done("new", utcnow()),
            ]
        )
    assert run_job(app, _job("purge_webhook_events")) == 1
    with db.sessions() as session:
        assert session.scalars(select(InboxEvent.webhook_event_id)).all() == ["new"]


def test_every_core_job_runs_on_an_empty_database(app: Flask) -> None:
    assert [run_job(app, job) for job in CORE_JOBS] == [0] * len(CORE_JOBS)


@pytest.fixture
def friend(platform: RunningPlatform) -> str:
    user = platform.state.add_user(display_name="県民", language="ja")
    platform.state.set_friend(user.user_id, True)
    return user.user_id


def _push_then(friend: str, *, fail: bool) -> Job:
    """A job that queues a push to a friend, then fails if told to."""

    def run(app: Flask, work: Work) -> int:
        resident = lock_resident(work.session, friend)
        work.outbox.push(work.session, resident, [text("お知らせ")], purpose="test")
        if fail:
            raise RuntimeError("boom")
        return 1

    return Job("pushing", run, timedelta(minutes=1))


def test_a_job_sends_what_it_queued_after_its_commit(
    app: Flask, db: Database, platform: RunningPlatform, friend: str
) -> None:
    assert run_job(app, _push_then(friend, fail=False)) == 1
    [delivery] = platform.state.deliveries(friend)
    assert [m["text"] for m in delivery.messages] == ["お知らせ"]
    with db.sessions() as session:
        row = session.scalars(select(OutboundMessage)).one()
    assert row.status == OutboundStatus.SENT
    assert delivery.retry_key == str(row.retry_key)


def test_a_failing_job_raises_rolls_back_and_sends_nothing(
    app: Flask,
    db: Database,
    platform: RunningPlatform,
    friend: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        run_job(app, _push_then(friend, fail=True))
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboundMessage)) == 0
    registry = app.extensions["metrics"].registry
    sample = ("madoguchi_job_failures_total", {"job": "pushing"})
    before = registry.get_sample_value(*sample) or 0
    caplog.set_level(logging.ERROR, logger="bot.jobs")
    run_scheduled(app, _push_then(friend, fail=True))  # the scheduler's wrapper logs and goes on
    assert platform.state.deliveries(friend) == []
    assert [r.getMessage() for r in caplog.records] == ["clock job failed"]
    assert registry.get_sample_value(*sample) == before + 1


def test_schedule_has_the_registered_jobs_with_stable_ids(app: Flask, db: Database) -> None:
    scheduler = BackgroundScheduler(timezone="Asia/Tokyo")
    scheduler.start(paused=True)
    try:
        schedule(scheduler, app)
        schedule(scheduler, app)  # idempotent: replaces, never duplicates
        jobs = scheduler.get_jobs()
    finally:
        scheduler.shutdown(wait=False)
    assert sorted(j.id for j in jobs) == sorted(j.id for j in app.extensions["seam"].jobs)
    assert {j.id for j in CORE_JOBS} <= {j.id for j in jobs}
    assert all(j.max_instances == 1 and j.coalesce for j in jobs)
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboxEvent)) == 0
