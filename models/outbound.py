"""Outbound pushes, stored with their retry keys so a retry can never double-send."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Created, IntPK, Updated, str_enum


class OutboundStatus(StrEnum):
    """Delivery state of a stored push."""

    PENDING = "pending"
    SENT = "sent"
    #: Given up: LINE refused it, the resident blocked us, or the retry window passed.
    FAILED = "failed"


class OutboundMessage(Base):
    """One push request to LINE (up to five messages to one resident), sent after commit."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        CheckConstraint("(status = 'sent') = (sent_at IS NOT NULL)", name="sent_at_iff_sent"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index(
            "ix_outbound_messages_pending",
            "created_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[IntPK]
    #: Recipient.
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"))
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
