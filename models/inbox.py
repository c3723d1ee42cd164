"""The inbox: every webhook event as stored at the door, until a worker has processed it.

One row per ``webhookEventId`` (a redelivery is dropped at the door by the unique key). The
raw event (personal data: message text, the LINE user id) is kept only until it is processed;
the row stays, without it, for the retention period, to recognise late redeliveries.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Created, str_enum


class InboxStatus(StrEnum):
    """Where an event is on its way through the workers."""

    #: Stored, waiting for a worker (or for its retry time after a failure).
    PENDING = "pending"
    #: A worker holds it until ``leased_until``; a worker that died lets the lease expire.
    LEASED = "leased"
    #: Processed: its effects are committed, its raw event deleted.
    DONE = "done"
    #: Failed too often: set aside for an admin, never blocking the resident's later events.
    PARKED = "parked"


#: The statuses that hold a resident's later events back (strict order per resident).
QUEUED = ("pending", "leased")


class InboxEvent(Base):
    """One webhook event in the inbox."""

    __tablename__ = "inbox_events"
    __table_args__ = (
        CheckConstraint(
            "(status = 'leased') = (leased_until IS NOT NULL)", name="lease_iff_leased"
        ),
        CheckConstraint(
            "(status = 'done') = (processed_at IS NOT NULL)", name="done_iff_processed"
        ),
        CheckConstraint("(status = 'done') = (payload IS NULL)", name="payload_until_done"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        # The head of each resident's queue, and what waits behind it.
        Index(
            "ix_inbox_events_queued",
            "source_key",
            "occurred_at",
            "id",
            sqlite_where=text("status IN ('pending', 'leased')"),
            postgresql_where=text("status IN ('pending', 'leased')"),
        ),
        # What a worker may claim next.
        Index(
            "ix_inbox_events_due",
            "available_at",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        # Leases of workers that died (their events go back in line).
        Index(
            "ix_inbox_events_leased",
            "leased_until",
            sqlite_where=text("status = 'leased'"),
            postgresql_where=text("status = 'leased'"),
        ),
        Index(
            "ix_inbox_events_parked",
            "id",
            sqlite_where=text("status = 'parked'"),
            postgresql_where=text("status = 'parked'"),
        ),
    )

    #: Arrival order (one request's events in LINE's order).
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    #: LINE's ``webhookEventId`` (a ULID); unchanged on redelivery, so unique here.
    webhook_event_id: Mapped[str] = mapped_column(String(64), unique=True)
    #: Event type, for operators.
    type: Mapped[str] = mapped_column(String(40))
    #: Whose queue it joins: the LINE user id, or a group/room id, or ``-``. Personal data:
    #: cleared once processed.
    source_key: Mapped[str | None] = mapped_column(String(64))
    #: When LINE says the event happened: the order of a resident's queue.
    occurred_at: Mapped[datetime]
    #: When the door stored it (a reply token is good for about a minute after this).
    received_at: Mapped[Created] = mapped_column(index=True)
    #: The event object as LINE sent it (JSON text); deleted once processed.
    payload: Mapped[str | None] = mapped_column(Text)
    status: Mapped[InboxStatus] = mapped_column(str_enum(InboxStatus), default=InboxStatus.PENDING)
    #: Processing attempts so far (a claim counts one).
    attempts: Mapped[int] = mapped_column(default=0)
    #: Not claimed before this time (a failed attempt waits before the next).
    available_at: Mapped[datetime]
    #: The lease of the worker holding it; set exactly while leased.
    leased_until: Mapped[datetime | None]
    #: Which worker holds it (process and thread), for operators.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    #: The class of the last failure (never its message: it may quote personal data).
    last_error: Mapped[str | None] = mapped_column(String(100))
    #: When it was processed; set exactly when done.
    processed_at: Mapped[datetime | None]


class GroupChat(Base):
    """A group or room the account was added to: it got the one-to-one note once."""

    __tablename__ = "group_chats"

    #: LINE's group or room id.
    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: When the note was sent.
    noted_at: Mapped[Created]
