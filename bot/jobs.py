"""Clock jobs: what they are, the core's own, and how one run is executed.

Features add theirs through the seam (``seam(app).add_job``); the clock schedules whatever
the app registered. Each run gets the app context and its own unit of work: it commits when
the job returns, and the messages it queued go out after that. Jobs are driven by database
rows and written to be safe if two clocks ever ran: every one is a conditional update or
uses retry keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from apscheduler.schedulers.base import BaseScheduler
from flask import Flask

from bot import inbox
from bot.console import sessions
from bot.outbox import claim_due
from bot.work import Work, unit_of_work
from models.base import utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A job: a stable id, what it does (returns how many things it did), and how often."""

    id: str
    run: Callable[[Flask, Work], int]
    every: timedelta


def expire_dialogs(app: Flask, work: Work) -> int:
    """Times out dialogs whose residents went quiet (expired or parked, as the flow says)."""
    return int(app.extensions["dialogs"].sweep(work.session, utcnow()))


def retry_pushes(app: Flask, work: Work) -> int:
    """Sends again what no sender holds: pushes with their retry keys, replies while fresh."""
    window = timedelta(hours=app.config["PUSH_RETRY_HOURS"])
    due = claim_due(work.session, now=utcnow(), window=window, limit=500)
    work.outbox.row_ids.extend(due)
    return len(due)


def purge_webhook_events(app: Flask, work: Work) -> int:
    """Forgets processed webhook events older than the retention period (LINE redelivers
    sooner); their raw content went when they were processed."""
    cutoff = utcnow() - timedelta(days=app.config["WEBHOOK_EVENT_RETENTION_DAYS"])
    return inbox.purge(work.session, before=cutoff)


def purge_staff_sessions(app: Flask, work: Work) -> int:
    """Forgets console sessions past their lifetime or idle timeout (already refused)."""
    limits = sessions.Limits.of(app.config)
    return sessions.purge(work.session, now=utcnow(), limits=limits)


#: The plumbing's own jobs (``create_app`` registers them like a feature would).
CORE_JOBS: tuple[Job, ...] = (
    Job("expire_dialogs", expire_dialogs, timedelta(minutes=2)),
    Job("retry_pushes", retry_pushes, timedelta(minutes=1)),
    Job("purge_webhook_events", purge_webhook_events, timedelta(hours=1)),
    Job("purge_staff_sessions", purge_staff_sessions, timedelta(hours=1)),
)


def run_job(app: Flask, job: Job) -> int:
    """Run one job in the app context and its own unit of work, then send what it queued.

    :return: what the job returned (how many things it did).
    :raises Exception: whatever the job raised; its unit of work is rolled back first.
    """
    with app.app_context(), unit_of_work(app) as work:
        count = job.run(app, work)
    if count:
        logger.info("clock job done", extra={"job": job.id, "count": count})
    return count


def run_scheduled(app: Flask, job: Job) -> None:
    """What the scheduler calls: one run, a failure logged and counted, never raised."""
    try:
        run_job(app, job)
    except Exception:
        logger.exception("clock job failed", extra={"job": job.id})
        app.extensions["metrics"].job_failures.labels(job.id).inc()


def schedule(scheduler: BaseScheduler, app: Flask) -> None:
    """Add every registered job to a scheduler (stable ids; a late run is coalesced)."""
    for job in app.extensions["seam"].jobs:
        scheduler.add_job(
            run_scheduled,
            "interval",
            args=(app, job),
            id=job.id,
            name=job.id,
            seconds=job.every.total_seconds(),
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
