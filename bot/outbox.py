"""The outbox: messages a unit of work wants to send, stored with its commit, sent after it.

During a unit of work, replies collect in memory (several calls for one event share one
reply, at most five messages) and pushes become rows at once. When the unit of work commits,
the replies are rows too (:meth:`Outbox.seal`): nothing a committed unit of work queued can be
lost, and nothing a rolled-back one queued is ever sent.

After the commit the creator sends its rows. A sender holds a row with a lease and counts the
attempt before it calls LINE (the creator stores its rows already held, their first attempt
counted, so a first send costs no transaction of its own); a sender that dies lets the lease
expire, and :func:`send_due` (run by the event workers and the clock) sends the row again:

* a reply while its token is fresh. LINE refuses a spent token and sends nothing, so a reply
  is never delivered twice: a refusal after an earlier attempt means that attempt got through;
* a reply whose token went stale (the event waited, or LINE was down) as a push, when it must
  arrive, else it is given up;
* a push with its stored ``X-Line-Retry-Key``: LINE accepts a key once, for 24 hours.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.db import Database
from bot.line_api import LineApiError, LineGateway, Sent
from bot.messages import Message
from models import OutboundMessage, OutboundStatus, Resident
from models.base import utcnow

logger = logging.getLogger(__name__)

#: LINE accepts 1 to 5 message objects per request.
MAX_MESSAGES = 5
#: How long a sender holds a push before another may send it again.
SEND_LEASE = timedelta(seconds=30)
#: The same for a reply: shorter, so a reply whose sender died is tried again while its
#: token is still good (LINE then tells whether the first attempt got through). A second
#: sender racing a slow first one cannot deliver a reply twice: LINE takes a token once.
REPLY_LEASE = timedelta(seconds=10)
#: After a failed attempt, how long before the next (a reply's token lasts about a minute).
REPLY_RETRY = timedelta(seconds=5)
PUSH_RETRY = timedelta(minutes=1)


class OutboxError(ValueError):
    """A programming error: too many messages for one request."""


@dataclass
class QueuedReply:
    """Messages waiting for the reply token of one event."""

    reply_token: str
    #: The resident answered (none in a group chat).
    resident: Resident | None
    messages: list[Message] = field(default_factory=list)
    #: Push instead when the token turns out to be stale (the resident must hear it).
    must_arrive: bool = False


@dataclass(frozen=True)
class _Send:
    """One attempt, decided inside a short transaction, made outside it."""

    row_id: int
    messages: list[Message]
    attempt: int
    reply_token: str | None
    reply_until: datetime | None
    line_user_id: str | None
    retry_key: str
    fallback_push: bool


@dataclass
class Outbox:
    """What one unit of work wants to send."""

    replies: list[QueuedReply] = field(default_factory=list)
    #: Rows to send once the unit of work commits (stored by it, or claimed to send again).
    row_ids: list[int] = field(default_factory=list)
    #: The first attempt at each row this unit of work stored (counted in the row already).
    _first: dict[int, _Send] = field(default_factory=dict)

    def _store(self, session: Session, rows: list[tuple[OutboundMessage, str | None]]) -> None:
        """Add rows held by their creator, with their first attempt counted: a reply while
        its token is good, else a push to the LINE user id given with the row.

        A stale reply with no one to push it to is stored unheld: its sender gives it up.
        """
        now = utcnow()
        # Per row: the token of a fresh reply, or else the LINE user id to push to.
        plans: list[tuple[str | None, str | None]] = []
        for row, push_to in rows:
            row.retry_key = uuid.uuid4()
            fresh = row.reply_token is not None and (row.reply_until or now) > now
            plans.append((row.reply_token, None) if fresh else (None, push_to))
            if fresh or push_to is not None:
                row.attempts = 1
                row.leased_until = now + (REPLY_LEASE if fresh else SEND_LEASE)
            session.add(row)
        session.flush()
        for (row, _), (reply_token, line_user_id) in zip(rows, plans, strict=True):
            self.row_ids.append(row.id)
            if reply_token is not None or line_user_id is not None:
                self._first[row.id] = _Send(
                    row_id=row.id,
                    messages=list(row.messages),
                    attempt=1,
                    reply_token=reply_token,
                    reply_until=row.reply_until,
                    line_user_id=line_user_id,
                    retry_key=str(row.retry_key),
                    fallback_push=row.fallback_push,
                )

    def reply(
        self,
        reply_token: str,
        messages: list[Message],
        *,
        resident: Resident | None = None,
        must_arrive: bool = False,
    ) -> None:
        """Queue messages for a reply token (several calls share one reply, max 5 messages).

        :param resident: the resident answered, who gets a push if the token is stale.

        :raises OutboxError: more than five messages for one token.
        """
        queued = next((r for r in self.replies if r.reply_token == reply_token), None)
        if queued is None:
            queued = QueuedReply(reply_token, resident)
            self.replies.append(queued)
        queued.messages.extend(messages)
        queued.must_arrive |= must_arrive
        if len(queued.messages) > MAX_MESSAGES:
            raise OutboxError(f"{len(queued.messages)} messages for one reply (max {MAX_MESSAGES})")

    def push(
        self, session: Session, resident: Resident, messages: list[Message], *, purpose: str
    ) -> OutboundMessage | None:
        """Store a push for after the commit; ``None`` if the resident blocked the account."""
        if not resident.reachable:
            logger.info("push skipped: resident unreachable", extra={"resident": resident.id})
            return None
        if not 1 <= len(messages) <= MAX_MESSAGES:
            raise OutboxError(f"{len(messages)} messages for one push (1 to {MAX_MESSAGES})")
        row = OutboundMessage(resident_id=resident.id, messages=list(messages), purpose=purpose)
        self._store(session, [(row, resident.line_user_id)])
        return row

    def seal(self, session: Session, *, reply_until: datetime, late_as_push: bool) -> None:
        """Store the queued replies as rows of this unit of work (call just before the commit).

        :param reply_until: until when the event's reply token is good.
        :param late_as_push: push every reply the token cannot carry any more, not only the
            ones queued with ``must_arrive``.
        """
        rows = []
        for queued in self.replies:
            resident = queued.resident
            fallback = resident is not None and (queued.must_arrive or late_as_push)
            row = OutboundMessage(
                resident_id=resident.id if resident else None,
                messages=list(queued.messages),
                purpose="reply",
                reply_token=queued.reply_token,
                reply_until=reply_until,
                fallback_push=fallback,
            )
            reachable = fallback and resident is not None and resident.reachable
            rows.append((row, resident.line_user_id if resident and reachable else None))
        if rows:
            self._store(session, rows)
        self.replies.clear()

    def first_attempt(self, row_id: int, now: datetime) -> _Send | None:
        """The counted first attempt at a row this unit of work stored, if it can still be
        made as stored (a reply whose token went stale needs a fresh decision)."""
        send = self._first.pop(row_id, None)
        if send is None or (send.reply_token is not None and (send.reply_until or now) <= now):
            return None
        return send


def deliver(outbox: Outbox, gateway: LineGateway, db: Database) -> None:
    """Send what a committed unit of work stored, or claimed to send again."""
    for row_id in outbox.row_ids:
        send_stored(gateway, db, row_id, outbox.first_attempt(row_id, utcnow()))


def _take(db: Database, row_id: int, now: datetime) -> _Send | None:
    """Count an attempt at a pending row and say how to send it (None: nothing to send)."""
    with db.unit_of_work() as session:
        row = session.get(OutboundMessage, row_id, with_for_update=True)
        if row is None or row.status != OutboundStatus.PENDING:
            return None
        reply = row.reply_token is not None and row.reply_until is not None
        fresh = reply and row.reply_until is not None and row.reply_until > now
        # Only a push needs the resident (their LINE user id, and whether they still follow).
        resident = session.get(Resident, row.resident_id) if row.resident_id and not fresh else None
        if reply and not fresh and not row.fallback_push:
            row.status, row.last_error = OutboundStatus.FAILED, "reply token expired"
            logger.info("reply given up: token expired", extra={"outbound": row.id})
            return None
        if not fresh and (resident is None or not resident.reachable):
            row.status, row.last_error = OutboundStatus.FAILED, "resident unreachable"
            return None
        row.attempts += 1
        row.leased_until = now + (REPLY_LEASE if fresh else SEND_LEASE)
        return _Send(
            row_id=row.id,
            messages=list(row.messages),
            attempt=row.attempts,
            reply_token=row.reply_token if fresh else None,
            reply_until=row.reply_until,
            line_user_id=resident.line_user_id if resident else None,
            retry_key=str(row.retry_key),
            fallback_push=row.fallback_push,
        )


def send_stored(
    gateway: LineGateway, db: Database, row_id: int, taken: _Send | None = None
) -> OutboundStatus:
    """Make one attempt at a stored reply or push, and record the outcome.

    :param taken: the attempt, already counted in the row by its creator (else it is
        decided and counted here).
    :return: the row's status afterwards (``pending`` means: another attempt later).
    """
    now = utcnow()
    send = taken or _take(db, row_id, now)
    if send is None:
        return _status(db, row_id)
    values: dict[str, Any]
    try:
        sent = _attempt(gateway, send)
    except LineApiError as error:
        logger.warning(
            "send failed",
            extra={"outbound": row_id, "status": error.status, "error": error.message},
        )
        values = {"last_error": f"HTTP {error.status}: {error.message}"[:500]}
        if send.reply_token is not None and error.invalid_reply_token:
            if send.attempt > 1:  # an earlier attempt went through and spent the token
                values = {"status": OutboundStatus.SENT, "sent_at": utcnow(), "last_error": None}
            elif send.fallback_push:  # stale before we could use it: push it instead
                values["reply_until"] = now
            else:
                values["status"] = OutboundStatus.FAILED
        elif not error.retryable:
            values["status"] = OutboundStatus.FAILED
        else:
            wait = REPLY_RETRY if send.reply_token is not None else PUSH_RETRY
            values["leased_until"] = now + wait
    else:
        values = {
            "status": OutboundStatus.SENT,
            "sent_at": utcnow(),
            "line_request_id": sent.request_id,
            "last_error": None,
        }
    pending = [OutboundMessage.id == row_id, OutboundMessage.status == OutboundStatus.PENDING]
    if values.get("status") != OutboundStatus.SENT:
        # A failure is the latest attempt's to record: a sender that took the row over
        # meanwhile (this one was slow) decides what happens next.
        pending.append(OutboundMessage.attempts == send.attempt)
    with db.unit_of_work() as session:
        recorded = session.execute(
            update(OutboundMessage)
            .where(*pending)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    if not recorded:
        return _status(db, row_id)
    if "reply_until" in values:
        return send_stored(gateway, db, row_id)
    return OutboundStatus(values.get("status", OutboundStatus.PENDING))


def _status(db: Database, row_id: int) -> OutboundStatus:
    with db.reading() as session:
        row = session.get(OutboundMessage, row_id)
        return row.status if row else OutboundStatus.FAILED


def _attempt(gateway: LineGateway, send: _Send) -> Sent:
    if send.reply_token is not None:
        return gateway.reply(send.reply_token, send.messages)
    assert send.line_user_id is not None  # noqa: S101 - _take refuses a push without one
    return gateway.push(send.line_user_id, send.messages, send.retry_key)


def claim_due(session: Session, *, now: datetime, window: timedelta, limit: int) -> list[int]:
    """Rows to send again: pending, and no sender holds them. Pushes past the retry key's
    window are given up (LINE would take a resend as new and could deliver it twice).

    :return: the ids, now leased to the caller, oldest first.
    """
    session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.status == OutboundStatus.PENDING,
            OutboundMessage.created_at < now - window,
        )
        .values(status=OutboundStatus.FAILED, last_error="retry window passed")
    )
    due = (
        select(OutboundMessage.id)
        .where(
            OutboundMessage.status == OutboundStatus.PENDING,
            (OutboundMessage.leased_until.is_(None)) | (OutboundMessage.leased_until < now),
        )
        .order_by(OutboundMessage.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(due))
    if ids:
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_(ids))
            .values(leased_until=now + SEND_LEASE)
        )
    return ids


def send_due(gateway: LineGateway, db: Database, *, window: timedelta, limit: int = 100) -> int:
    """Send again what is due (see :func:`claim_due`).

    :return: how many rows were attempted.
    """
    with db.unit_of_work() as session:
        ids = claim_due(session, now=utcnow(), window=window, limit=limit)
    for row_id in ids:
        send_stored(gateway, db, row_id)
    return len(ids)
