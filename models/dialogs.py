"""Dialogs: one row per multi-step conversation a resident has with a flow (a survey, an intake)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, Created, IntPK, Updated, str_enum
from models.residents import Resident


class DialogStatus(StrEnum):
    """Lifecycle of a dialog; only ``active`` dialogs receive input."""

    ACTIVE = "active"
    #: Timed out under a flow that keeps dialogs: resumable later, holding no active slot.
    PARKED = "parked"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Dialog(Base):
    """A resident's dialog with one flow; its state and pending data live here, not in memory."""

    __tablename__ = "dialogs"
    __table_args__ = (
        # At most one active dialog per resident.
        Index(
            "uq_dialogs_one_active_per_resident",
            "resident_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        # Parked dialogs are looked up by resident and flow when the resident comes back.
        Index(
            "ix_dialogs_parked",
            "resident_id",
            "flow",
            sqlite_where=text("status = 'parked'"),
            postgresql_where=text("status = 'parked'"),
        ),
        # A flow's dialogs about one subject (a survey version's funnel: surveys.results).
        Index("ix_dialogs_flow_subject", "flow", "subject_id", "status"),
        CheckConstraint(
            "(status = 'completed') = (completed_at IS NOT NULL)",
            name="completed_at_iff_completed",
        ),
        CheckConstraint(
            "(status IN ('active', 'parked')) = (ended_at IS NULL)",
            name="ended_at_iff_ended",
        ),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[IntPK]
    #: The resident in the dialog.
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"))
    #: Flow name (``survey``, ``consultation``, ...), as registered with the dialog engine.
    flow: Mapped[str] = mapped_column(String(40))
    #: What the dialog is about within the flow (e.g. the survey id), if anything.
    subject_id: Mapped[int | None]
    #: Current state: a state family declared by the flow, optionally ``family:key``.
    state: Mapped[str] = mapped_column(String(64))
    #: Pending answers or slots; moves to the feature's own tables when the dialog ends.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[DialogStatus] = mapped_column(
        str_enum(DialogStatus),
        default=DialogStatus.ACTIVE,
    )
    #: Set by the engine on every transition (one more each time); buttons carry it, so a
    #: stale tap is recognised. Also the optimistic lock (``version_id_col``).
    version: Mapped[int] = mapped_column(default=1)
    started_at: Mapped[Created]
    updated_at: Mapped[Updated]
    #: An active dialog times out at this moment; a parked one is forgotten then.
    expires_at: Mapped[datetime]
    #: Set exactly when the dialog completed.
    completed_at: Mapped[datetime | None]
    #: Set when the dialog ended (completed, cancelled or expired).
    ended_at: Mapped[datetime | None]

    resident: Mapped[Resident] = relationship()

    # The engine sets the version itself (it must know it before the flush, to put it in the
    # buttons a step sends); the UPDATE still checks the old one.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}  # noqa: RUF012
