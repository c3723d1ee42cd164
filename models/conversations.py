"""Dialogs in progress: one row per multi-step conversation a resident has with a flow."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, Created, IntPK, Updated, str_enum
from models.residents import Resident


class ConversationStatus(StrEnum):
    """Lifecycle of a dialog; only ``active`` dialogs receive input."""

    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Conversation(Base):
    """A resident's dialog with one flow; its state and pending data live here, not in memory."""

    __tablename__ = "conversations"
    __table_args__ = (
        # At most one active dialog per resident.
        Index(
            "uq_conversations_one_active_per_resident",
            "resident_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        CheckConstraint(
            "(status = 'completed') = (completed_at IS NOT NULL)",
            name="completed_at_iff_completed",
        ),
        CheckConstraint("(status = 'active') = (ended_at IS NULL)", name="ended_at_iff_not_active"),
    )

    id: Mapped[IntPK]
    #: The resident in the dialog.
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"))
    #: Flow name (``survey``, ``consultation``, ...), as registered with the dialog engine.
    flow: Mapped[str] = mapped_column(String(40))
    #: What the dialog is about within the flow (e.g. the survey id), if anything.
    subject_id: Mapped[int | None]
    #: Current state name, declared by the flow.
    state: Mapped[str] = mapped_column(String(64))
    #: Pending answers or slots; moves to the feature's own tables when the dialog ends.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[ConversationStatus] = mapped_column(
        str_enum(ConversationStatus),
        default=ConversationStatus.ACTIVE,
    )
    #: Bumped on every transition; postback buttons carry it to detect stale taps.
    version: Mapped[int] = mapped_column(default=1)
    started_at: Mapped[Created]
    updated_at: Mapped[Updated]
    #: The dialog expires when no input arrives before this time.
    expires_at: Mapped[datetime]
    #: Set exactly when the dialog completed.
    completed_at: Mapped[datetime | None]
    #: Set when the dialog stopped being active (completed, cancelled or expired).
    ended_at: Mapped[datetime | None]

    resident: Mapped[Resident] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - read by the mapper
