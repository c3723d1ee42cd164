"""The inbox: webhook events stored at the door, claimed by workers in each resident's order.

* :func:`store` writes every event of a webhook request in one statement, ignoring
  ``webhookEventId`` values already there (LINE's redeliveries are dropped at the door).
* :func:`claim` leases events to a worker: only the first waiting event of each resident (or
  group) is ever claimable, so one resident's events are processed strictly in LINE's order,
  while different residents' go in parallel. On PostgreSQL the claim locks with
  ``FOR UPDATE SKIP LOCKED``, so any number of processes on any number of machines can work
  one inbox; on SQLite the database's single writer does the same.
* The worker's unit of work ends with :func:`complete`, in the same transaction as the
  event's effects; a worker that lost its lease (it was too slow, another took over) has its
  work rolled back. :func:`fail` counts a failure: the event waits and is tried again, and is
  parked after too many attempts, out of the way of the resident's later events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from bot.db import Database, insert_ignore_many
from bot.incoming import source_key_of
from models import InboxEvent, InboxStatus
from models.base import utcnow

#: Key of events without a usable source (they form one queue of their own).
NO_SOURCE = "-"


class LeaseLost(RuntimeError):
    """The worker no longer holds the event: its unit of work must not commit."""


@dataclass(frozen=True)
class Claimed:
    """An event leased to a worker."""

    id: int
    webhook_event_id: str
    raw: dict[str, Any]
    received_at: datetime
    #: This attempt's number (1 for the first).
    attempt: int


def _occurred_at(raw: Mapping[str, Any], fallback: datetime) -> datetime:
    milliseconds = raw.get("timestamp")
    if isinstance(milliseconds, int) and not isinstance(milliseconds, bool):
        try:
            return datetime.fromtimestamp(milliseconds / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    return fallback


def store(session: Session, events: Sequence[Mapping[str, Any]], *, now: datetime) -> int:
    """Store a webhook request's events (new ones only) for the workers.

    :param events: event objects with a string ``webhookEventId`` and ``type`` (the door
        checks the shape; everything else is the workers' to judge).
    :return: how many were new.
    """
    rows = [
        {
            "webhook_event_id": raw["webhookEventId"],
            "type": raw["type"][:40],
            "source_key": source_key_of(raw) or NO_SOURCE,
            "occurred_at": _occurred_at(raw, now),
            "received_at": now,
            # ASCII JSON: a NUL or a lone surrogate stays an escape, never a stored character.
            "payload": json.dumps(raw, ensure_ascii=True, separators=(",", ":")),
            "status": InboxStatus.PENDING,
            "attempts": 0,
            "available_at": now,
        }
        for raw in events
    ]
    return insert_ignore_many(session, InboxEvent, rows, ["webhook_event_id"])


def claim(
    session: Session, *, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[Claimed]:
    """Lease up to ``limit`` events, each the first waiting one of its resident, the longest
    waiting first.

    An event is claimable when it is pending and due, and no earlier event of the same
    resident is still waiting. Events whose worker's lease expired (the worker died) go back
    in line first, keeping their place in their resident's order.

    The claim walks the due events in ``(available_at, id)`` order and stops after ``limit``
    heads, so its cost does not grow with the backlog (a claim that looked at every waiting
    event took 90 ms behind 14,000 of them on PostgreSQL).
    """
    session.execute(
        update(InboxEvent)
        .where(InboxEvent.status == InboxStatus.LEASED, InboxEvent.leased_until < now)
        .values(status=InboxStatus.PENDING, leased_until=None, lease_owner=None, available_at=now)
        .execution_options(synchronize_session=False)
    )
    earlier = aliased(InboxEvent)
    heads = (
        select(InboxEvent.id)
        .where(
            InboxEvent.status == InboxStatus.PENDING,
            InboxEvent.available_at <= now,
            ~exists().where(
                earlier.source_key == InboxEvent.source_key,
                earlier.status.in_((InboxStatus.PENDING, InboxStatus.LEASED)),
                or_(
                    earlier.occurred_at < InboxEvent.occurred_at,
                    and_(earlier.occurred_at == InboxEvent.occurred_at, earlier.id < InboxEvent.id),
                ),
            ),
        )
        .order_by(InboxEvent.available_at, InboxEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=InboxEvent)
    )
    ids = list(session.scalars(heads))
    if not ids:
        return []
    rows = session.execute(
        update(InboxEvent)
        .where(InboxEvent.id.in_(ids))
        .values(
            status=InboxStatus.LEASED,
            leased_until=now + lease,
            lease_owner=owner[:64],
            attempts=InboxEvent.attempts + 1,
        )
        .returning(
            InboxEvent.id,
            InboxEvent.webhook_event_id,
            InboxEvent.payload,
            InboxEvent.received_at,
            InboxEvent.attempts,
        )
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(
        (
            Claimed(
                row.id,
                row.webhook_event_id,
                json.loads(row.payload or "{}"),
                row.received_at,
                row.attempts,
            )
            for row in rows
        ),
        key=lambda claimed: claimed.id,
    )


def _held(event_id: int, owner: str) -> Any:
    return and_(
        InboxEvent.id == event_id,
        InboxEvent.status == InboxStatus.LEASED,
        InboxEvent.lease_owner == owner[:64],
    )


def complete(session: Session, event_id: int, *, owner: str, now: datetime) -> None:
    """Mark a leased event processed and delete its raw event (in the event's unit of work).

    :raises LeaseLost: the worker does not hold it any more (roll the unit of work back).
    """
    result = session.execute(
        update(InboxEvent)
        .where(_held(event_id, owner))
        .values(
            status=InboxStatus.DONE,
            payload=None,
            source_key=None,
            leased_until=None,
            lease_owner=None,
            processed_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLost(f"inbox event {event_id} is no longer held by {owner}")


def fail(
    session: Session,
    event_id: int,
    *,
    owner: str,
    error: str,
    now: datetime,
    attempt: int,
    max_attempts: int,
    backoff: timedelta,
) -> InboxStatus | None:
    """Count a failed attempt: wait and try again, or park after ``max_attempts``.

    :param error: the failure's class name (never its message: it may quote personal data).
    :param backoff: the wait after the first failure; it doubles with each one.
    :return: the event's new status, or ``None`` if the worker did not hold it any more.
    """
    parked = attempt >= max_attempts
    status = InboxStatus.PARKED if parked else InboxStatus.PENDING
    result = session.execute(
        update(InboxEvent)
        .where(_held(event_id, owner))
        .values(
            status=status,
            leased_until=None,
            lease_owner=None,
            last_error=error[:100],
            available_at=now + backoff * (2 ** (attempt - 1)),
        )
        .execution_options(synchronize_session=False)
    )
    return status if result.rowcount == 1 else None  # type: ignore[attr-defined]


def retry_parked(session: Session, event_ids: Sequence[int], *, now: datetime) -> int:
    """Put parked events back in line (an admin's retry): a fresh set of attempts.

    :return: how many were parked and are pending again.
    """
    result = session.execute(
        update(InboxEvent)
        .where(InboxEvent.id.in_(list(event_ids)), InboxEvent.status == InboxStatus.PARKED)
        .values(status=InboxStatus.PENDING, attempts=0, available_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def discard_parked(session: Session, event_ids: Sequence[int], *, now: datetime) -> int:
    """Give up on parked events (an admin's decision): done, their raw body deleted.

    The row stays (its id still dedupes a redelivery) with its error class, without the
    message text it carried.

    :return: how many were parked and are discarded.
    """
    result = session.execute(
        update(InboxEvent)
        .where(InboxEvent.id.in_(list(event_ids)), InboxEvent.status == InboxStatus.PARKED)
        .values(status=InboxStatus.DONE, payload=None, processed_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def purge(session: Session, *, before: datetime) -> int:
    """Forget processed events received before ``before`` (LINE redelivers sooner).

    :return: how many rows went.
    """
    result = session.execute(
        delete(InboxEvent).where(
            InboxEvent.status == InboxStatus.DONE, InboxEvent.received_at < before
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Backlog:
    """What waits in the inbox."""

    pending: int
    parked: int
    #: Age of the oldest event not yet processed (pending or leased), in seconds.
    oldest_seconds: float


def backlog(session: Session, *, now: datetime | None = None) -> Backlog:
    """Counts for /metrics and /healthz."""
    now = now or utcnow()
    counts = dict(
        session.execute(
            select(InboxEvent.status, func.count())
            .where(InboxEvent.status != InboxStatus.DONE)
            .group_by(InboxEvent.status)
        ).all()
    )
    oldest = session.scalar(
        select(func.min(InboxEvent.received_at)).where(
            InboxEvent.status.in_((InboxStatus.PENDING, InboxStatus.LEASED))
        )
    )
    if oldest is not None and oldest.tzinfo is None:  # SQLite's aggregate loses the type
        oldest = oldest.replace(tzinfo=UTC)
    if isinstance(oldest, str):
        oldest = datetime.fromisoformat(oldest).replace(tzinfo=UTC)
    return Backlog(
        pending=int(counts.get(InboxStatus.PENDING, 0)) + int(counts.get(InboxStatus.LEASED, 0)),
        parked=int(counts.get(InboxStatus.PARKED, 0)),
        oldest_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
    )


def read_backlog(database: Database) -> Backlog:
    """The backlog read in its own short transaction (for /metrics at scrape time)."""
    with database.reading() as session:
        return backlog(session)
