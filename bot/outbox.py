"""The outbox: messages queued during a unit of work and sent only after it commits.

Replies wait in memory (a reply token is single use and expires in about a minute, so there
is nothing to retry later); pushes are rows with a stored retry key, so a failed push is
retried by the clock and can never be delivered twice. A rollback drops both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.db import Database
from bot.line_api import LineApiError, LineGateway
from bot.messages import Message
from models import OutboundMessage, OutboundStatus, Resident
from models.base import utcnow

logger = logging.getLogger(__name__)

#: LINE accepts 1 to 5 message objects per request.
MAX_MESSAGES = 5


class OutboxError(ValueError):
    """A programming error: too many messages for one request."""


@dataclass
class QueuedReply:
    """Messages waiting for the reply token of one event."""

    reply_token: str
    resident_id: int | None
    messages: list[Message] = field(default_factory=list)
    #: Push instead when the token turns out to be spent or expired.
    must_arrive: bool = False


@dataclass
class Outbox:
    """What one unit of work wants to send."""

    replies: list[QueuedReply] = field(default_factory=list)
    push_ids: list[int] = field(default_factory=list)

    def reply(
        self,
        reply_token: str,
        messages: list[Message],
        *,
        resident_id: int | None = None,
        must_arrive: bool = False,
    ) -> None:
        """Queue messages for a reply token (several calls share one reply, max 5 messages).

        :raises OutboxError: more than five messages for one token.
        """
        queued = next((r for r in self.replies if r.reply_token == reply_token), None)
        if queued is None:
            queued = QueuedReply(reply_token, resident_id)
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
        session.add(row)
        session.flush()
        self.push_ids.append(row.id)
        return row


def deliver(outbox: Outbox, gateway: LineGateway, db: Database) -> None:
    """Send what a committed unit of work queued: replies first, then pushes."""
    for queued in outbox.replies:
        try:
            gateway.reply(queued.reply_token, queued.messages)
        except LineApiError as error:
            logger.warning(
                "reply failed",
                extra={
                    "resident": queued.resident_id,
                    "status": error.status,
                    "error": error.message,
                },
            )
            if error.invalid_reply_token and queued.must_arrive and queued.resident_id:
                outbox.push_ids.extend(_store_fallback_push(db, queued))
    for push_id in outbox.push_ids:
        send_push(gateway, db, push_id)


def _store_fallback_push(db: Database, queued: QueuedReply) -> list[int]:
    """Turn a reply whose token was spent into a stored push; return its id (if any)."""
    fallback = Outbox()
    with db.unit_of_work() as session:
        resident = session.get(Resident, queued.resident_id)
        if resident is not None:
            fallback.push(session, resident, queued.messages, purpose="reply-fallback")
    return fallback.push_ids


def send_push(gateway: LineGateway, db: Database, push_id: int) -> OutboundStatus:
    """Send one stored push with its retry key and record the outcome.

    :return: the row's status afterwards (``pending`` means: retry later).
    """
    with db.unit_of_work() as session:
        row = session.get(OutboundMessage, push_id)
        if row is None or row.status != OutboundStatus.PENDING:
            return row.status if row else OutboundStatus.FAILED
        resident = session.get_one(Resident, row.resident_id)
        if not resident.reachable:
            row.status, row.last_error = OutboundStatus.FAILED, "resident unreachable"
            return row.status
        line_user_id, retry_key = resident.line_user_id, str(row.retry_key)
        messages = list(row.messages)

    status, values = OutboundStatus.PENDING, {}
    try:
        sent = gateway.push(line_user_id, messages, retry_key)
        status = OutboundStatus.SENT
        values = {"line_request_id": sent.request_id, "sent_at": utcnow(), "last_error": None}
    except LineApiError as error:
        if not error.retryable:
            status = OutboundStatus.FAILED
        values = {"last_error": f"HTTP {error.status}: {error.message}"[:500]}
        logger.warning("push failed", extra={"push": push_id, "status": error.status})
    with db.unit_of_work() as session:
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == push_id, OutboundMessage.status == OutboundStatus.PENDING)
            .values(status=status, attempts=OutboundMessage.attempts + 1, **values)
        )
    return status


def due_pushes(session: Session, *, window: timedelta) -> list[int]:
    """Pushes to send again: pending for over a minute. Those past the retry key's window
    are given up (LINE would treat a resend as new and could deliver it twice).

    :return: the ids to send after the commit, oldest first (at most 500 per run).
    """
    now = utcnow()
    session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.status == OutboundStatus.PENDING,
            OutboundMessage.created_at < now - window,
        )
        .values(status=OutboundStatus.FAILED, last_error="retry window passed")
    )
    return list(
        session.scalars(
            select(OutboundMessage.id)
            .where(
                OutboundMessage.status == OutboundStatus.PENDING,
                OutboundMessage.updated_at < now - timedelta(minutes=1),
            )
            .order_by(OutboundMessage.created_at)
            .limit(500)
        )
    )
