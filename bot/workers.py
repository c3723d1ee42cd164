"""Event workers: threads that take events from the inbox and process them.

Each web process runs ``EVENT_WORKERS`` of them (gunicorn starts them in every worker
process, ``make run`` in its one process), woken at once by the request that stored events;
polling every ``EVENT_POLL_SECONDS`` is only the safety net (events stored by another process,
retries whose wait is over, leases of dead workers). A deployment that separates intake from
processing runs ``python -m bot.worker`` (the Procfile's ``worker``) with more of them, and
sets ``EVENT_WORKERS=0`` for the web process.

Between events a worker also sends what no sender holds (stored replies and pushes whose
sender died or failed), at least every ``EVENT_POLL_SECONDS`` even behind a backlog, so a
reply interrupted by a crash is retried while its token is fresh.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy.orm import Session

from bot import inbox
from bot.inbox import Claimed
from bot.outbox import send_due
from bot.pipeline import EventProcessor, Outcome
from bot.work import unit_of_work
from models import InboxStatus
from models.base import utcnow

logger = logging.getLogger(__name__)

#: Events one claim takes (each the first waiting one of its resident).
CLAIM_BATCH = 10


class _InboxTicket:
    """Marks a claimed event done in the event's unit of work (if the lease still holds)."""

    def __init__(self, claimed: Claimed, owner: str) -> None:
        self._claimed = claimed
        self._owner = owner

    @property
    def received_at(self) -> datetime:
        return self._claimed.received_at

    def complete(self, session: Session) -> None:
        inbox.complete(session, self._claimed.id, owner=self._owner, now=utcnow())


class EventWorkers:
    """The workers of one process (``app.extensions["workers"]``)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.processor: EventProcessor = app.extensions["events"]
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._host = socket.gethostname()[:30]
        #: When any of the threads last sent what was due (monotonic clock).
        self._swept = 0.0

    # -- settings ----------------------------------------------------------------------

    @property
    def _lease(self) -> timedelta:
        return timedelta(seconds=self.app.config["EVENT_LEASE_SECONDS"])

    @property
    def _backoff(self) -> timedelta:
        return timedelta(seconds=self.app.config["EVENT_RETRY_SECONDS"])

    def _owner(self) -> str:
        return f"{self._host}:{os.getpid()}:{threading.get_ident() % 100_000}"

    # -- running -----------------------------------------------------------------------

    def start(self, count: int | None = None) -> None:
        """Start the worker threads (``EVENT_WORKERS`` of them by default)."""
        count = self.app.config["EVENT_WORKERS"] if count is None else count
        self._stop.clear()
        for number in range(count):
            thread = threading.Thread(target=self._loop, name=f"event-worker-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if count:
            logger.info("event workers started", extra={"count": count})

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the threads to stop after their current event, and wait for them."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def wake(self) -> None:
        """New events are in the inbox: a sleeping worker starts at once."""
        self._wake.set()

    def _loop(self) -> None:
        poll = self.app.config["EVENT_POLL_SECONDS"]
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the database is down, say: wait and try again
                logger.exception("event worker round failed")
                busy = False
            if not busy:
                self._wake.wait(poll)
                self._wake.clear()

    def run_once(self, *, now: datetime | None = None) -> bool:
        """Claim and process one batch of events, and send what is due (every
        ``EVENT_POLL_SECONDS`` while there are events, else every round).

        :return: True when there was something to do.
        """
        owner = self._owner()
        with self.app.app_context():
            with unit_of_work(self.app) as work:
                claimed = inbox.claim(
                    work.session,
                    owner=owner,
                    now=now or utcnow(),
                    lease=self._lease,
                    limit=CLAIM_BATCH,
                )
            for event in claimed:
                self._handle(event, owner)
            # Behind a backlog there are always events to claim: what is due to be sent again
            # (a reply whose sender died, while its token is good) must not wait for the end.
            if claimed and time.monotonic() - self._swept < self.app.config["EVENT_POLL_SECONDS"]:
                return True
            self._swept = time.monotonic()
            sent = send_due(
                self.app.extensions["line"],
                self.app.extensions["db"],
                window=timedelta(hours=self.app.config["PUSH_RETRY_HOURS"]),
            )
            return bool(claimed) or sent > 0

    def drain(self, *, now: datetime | None = None, limit: int = 10_000) -> int:
        """Process everything due, in the calling thread (tests, the simulator, scripts).

        :return: how many rounds did something.
        """
        rounds = 0
        while rounds < limit and self.run_once(now=now):
            rounds += 1
        return rounds

    def _handle(self, event: Claimed, owner: str) -> None:
        result = self.processor.process(event.raw, _InboxTicket(event, owner))
        if result.outcome != Outcome.FAILED:
            return
        with unit_of_work(self.app) as work:
            status = inbox.fail(
                work.session,
                event.id,
                owner=owner,
                error=result.error or "Exception",
                now=utcnow(),
                attempt=event.attempt,
                max_attempts=self.app.config["EVENT_MAX_ATTEMPTS"],
                backoff=self._backoff,
            )
        if status == InboxStatus.PARKED:
            logger.error(
                "webhook event parked after repeated failures",
                extra={"event_id": event.webhook_event_id, "error": result.error},
            )
            self.app.extensions["metrics"].parked_events.inc()
            try:
                self.processor.apologise(event.raw, event.received_at)
            except Exception:
                logger.exception("apology for a parked event failed")


def init_app(app: Flask) -> EventWorkers:
    """Attach the workers (not started: the web server, the dev server or the worker
    process starts them; tests drain the inbox themselves)."""
    workers = EventWorkers(app)
    app.extensions["workers"] = workers
    return workers
