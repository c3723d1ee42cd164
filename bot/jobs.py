"""The clock's fixed list of jobs. Each run gets the app context and its own unit of work.

Jobs are driven by database rows and written to be safe if two clocks ever ran: every one is
a conditional update or uses retry keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from apscheduler.schedulers.base import BaseScheduler
from flask import Flask
from sqlalchemy import delete

from bot.db import Database
from bot.dialog import expire_stale_dialogs
from bot.line_api import LineGateway
from bot.outbox import retry_pending_pushes
from models import WebhookEvent
from models.base import utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A job: a stable id, what it does, and how often."""

    id: str
    run: Callable[[Flask], int]
    every: timedelta


def _db(app: Flask) -> Database:
    db: Database = app.extensions["db"]
    return db


def expire_dialogs(app: Flask) -> int:
    """Expires dialogs whose residents went quiet past the timeout."""
    with _db(app).unit_of_work() as session:
        return expire_stale_dialogs(session, utcnow())


def retry_pushes(app: Flask) -> int:
    """Resends pushes that failed, with their stored retry keys."""
    gateway: LineGateway = app.extensions["line"]
    return retry_pending_pushes(
        gateway, _db(app), window=timedelta(hours=app.config["PUSH_RETRY_HOURS"])
    )


def purge_webhook_events(app: Flask) -> int:
    """Forgets webhook event ids older than the retention period (LINE redelivers sooner)."""
    cutoff = utcnow() - timedelta(days=app.config["WEBHOOK_EVENT_RETENTION_DAYS"])
    with _db(app).unit_of_work() as session:
        result = session.execute(delete(WebhookEvent).where(WebhookEvent.received_at < cutoff))
        return int(result.rowcount)  # type: ignore[attr-defined]


JOBS: tuple[Job, ...] = (
    Job("expire_dialogs", expire_dialogs, timedelta(minutes=2)),
    Job("retry_pushes", retry_pushes, timedelta(minutes=1)),
    Job("purge_webhook_events", purge_webhook_events, timedelta(hours=1)),
)


def run_job(app: Flask, job: Job) -> None:
    """Run one job inside the app context; log (never raise) failures."""
    with app.app_context():
        try:
            count = job.run(app)
        except Exception:
            logger.exception("clock job failed", extra={"job": job.id})
            return
        if count:
            logger.info("clock job done", extra={"job": job.id, "count": count})


def schedule(scheduler: BaseScheduler, app: Flask) -> None:
    """Add every job to a scheduler (idempotent ids; a late run is coalesced, never doubled)."""
    for job in JOBS:
        scheduler.add_job(
            run_job,
            "interval",
            args=(app, job),
            id=job.id,
            seconds=job.every.total_seconds(),
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
