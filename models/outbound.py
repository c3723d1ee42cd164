"""Outbound messages (replies and pushes), stored with the unit of work that made them.

A reply row holds the event's reply token and how long it is good for; a push row a retry
key. Both are sent after the commit; a sender that died leaves a lease that expires, and the
row is sent again: a reply while its token is fresh (LINE refuses a spent token, so nothing is
sent twice), else as a push when it must arrive; a push with the same retry key (LINE accepts
a key once).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Created, IntPK, Updated, str_enum


class OutboundStatus(StrEnum):
    """Delivery state of a stored push."""

    PENDING = "pending"
    SENT = "sent"
    #: Given up: LINE refused it, the resident blocked us, or the retry window passed.
    FAILED = "failed"


class OutboundMessage(Base):
    """One reply or push request to LINE (up to five messages), sent after commit."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        CheckConstraint("(status = 'sent') = (sent_at IS NOT NULL)", name="sent_at_iff_sent"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint(
            "(reply_token IS NULL) = (reply_until IS NULL)", name="reply_token_has_deadline"
        ),
        CheckConstraint(
            "resident_id IS NOT NULL OR (reply_token IS NOT NULL AND NOT fallback_push)",
            name="push_has_recipient",
        ),
        Index(
            "ix_outbound_messages_pending",
            "created_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[IntPK]
    #: Recipient (none for a reply in a group chat).
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"))
    #: The event's reply token, for a reply (single use; nothing is stored for a push).
    reply_token: Mapped[str | None] = mapped_column(String(64))
    #: A reply's token is good until then; a reply still unsent is then a push, or given up.
    reply_until: Mapped[datetime | None]
    #: Send a reply whose token went stale as a push (it must reach the resident).
    fallback_push: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    #: A sender holds the row until then; after it, the row may be sent again.
    leased_until: Mapped[datetime | None]
    #: ``X-Line-Retry-Key``: generated once, reused on every retry (LINE keeps it 24 hours).
    retry_key: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    #: Message objects as LINE JSON (camelCase), exactly what is sent on every attempt.
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    #: Why it was sent (e.g. ``reply-fallback``), for operators; never message text.
    purpose: Mapped[str] = mapped_column(String(40))
    status: Mapped[OutboundStatus] = mapped_column(
        str_enum(OutboundStatus),
        default=OutboundStatus.PENDING,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    #: LINE's ``x-line-request-id`` of the accepted request.
    line_request_id: Mapped[str | None] = mapped_column(String(64))
    #: Last failure (status and LINE's error message), for operators.
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[Created]
    updated_at: Mapped[Updated]
    sent_at: Mapped[datetime | None]
