"""Units of work: one transaction, the messages it queues, and what runs after it commits.

There are three boundaries (STYLE.md 4), and each gets the same shape:

* a webhook event: :class:`bot.pipeline.EventProcessor` opens one per event;
* a clock job run or a CLI command: :func:`unit_of_work`;
* a web request (console, resident pages): :func:`request_work`, opened on first use and
  committed when the request ends if the view returned normally (any status below 500); a
  view that raised (an HTTP error such as ``abort(403)``, or a crash) has its work rolled
  back.

Nothing inside a unit of work talks to LINE or sends e-mail. Messages wait in its
:class:`~bot.outbox.Outbox` and other side effects in :meth:`Work.after_commit`; both run only
once the transaction has committed, and are dropped on a rollback, so no resident or staff
member ever hears of a change that did not happen. Services may flush, never commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import Flask, Response, current_app, g
from sqlalchemy.orm import Session

from bot.db import Database
from bot.line_api import LineGateway
from bot.outbox import Outbox, deliver

logger = logging.getLogger(__name__)


@dataclass
class Work:
    """What one unit of work holds: its session, its outbox and its after-commit effects."""

    session: Session
    outbox: Outbox = field(default_factory=Outbox)
    _effects: list[Callable[[], None]] = field(default_factory=list)

    def after_commit(self, effect: Callable[[], None]) -> None:
        """Run ``effect`` once the transaction has committed (never if it rolls back).

        Effects run in order after the outbox is delivered; one that raises is logged and
        does not stop the others (the data is committed: a failed effect must be retryable
        from the data, like a stored push).
        """
        self._effects.append(effect)

    def run_effects(self, gateway: LineGateway, db: Database) -> None:
        """Deliver the outbox, then run the after-commit effects (call after the commit)."""
        try:
            deliver(self.outbox, gateway, db)
        except Exception:  # the work is committed; stored pushes are retried by the clock
            logger.exception("sending after commit failed")
        for effect in self._effects:
            try:
                effect()
            except Exception:
                logger.exception(
                    "after-commit effect failed", extra={"effect": getattr(effect, "__name__", "")}
                )
        self._effects.clear()


def _services(app: Flask) -> tuple[Database, LineGateway]:
    return app.extensions["db"], app.extensions["line"]


@contextmanager
def unit_of_work(app: Flask) -> Iterator[Work]:
    """One unit of work outside a request (clock jobs, CLI): commit, then the effects.

    :raises Exception: whatever the block raised (after rolling back; no effect runs).
    """
    db, gateway = _services(app)
    with db.unit_of_work() as session:
        work = Work(session)
        yield work
    work.run_effects(gateway, db)


def request_work() -> Work:
    """The unit of work of the current request (opened on first use)."""
    if "work" not in g:
        db, _ = _services(current_app)
        g.work = Work(db.sessions())
    work: Work = g.work
    return work


def request_session() -> Session:
    """The session of the current request's unit of work."""
    return request_work().session


def discard_request_work() -> None:
    """Roll back the current request's work: the view raised (called by the error pages)."""
    work: Work | None = g.pop("work", None)
    if work is not None:
        work.session.rollback()
        work.session.close()


def _finish_request(response: Response) -> Response:
    """Commit the request's work unless the request crashed, then run its effects."""
    work: Work | None = g.pop("work", None)
    if work is None:
        return response
    db, gateway = _services(current_app)
    try:
        if response.status_code >= 500:
            work.session.rollback()
            return response
        work.session.commit()  # an error here propagates: the answer becomes a 500
    finally:
        work.session.close()
    work.run_effects(gateway, db)
    return response


def _close_request(_error: BaseException | None) -> None:
    """Close a session left open (a request that ended before its after-request hooks)."""
    discard_request_work()


def init_app(app: Flask) -> None:
    """Give every request its unit of work: committed at the end, effects after."""
    app.after_request(_finish_request)
    app.teardown_request(_close_request)
