"""Staff accounts of the web console, their roles, sessions and second factor, the console's
security settings, and the audit log of what they did."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, Created, IntPK, Updated, str_enum

if TYPE_CHECKING:
    from models.facilities import Facility


class Role(StrEnum):
    """What a staff member may do; one person can hold several roles."""

    #: Staff accounts and settings; reads the audit log.
    ADMIN = "admin"
    #: Drafts surveys and announcements.
    EDITOR = "editor"
    #: Approves announcements for sending.
    APPROVER = "approver"
    #: Works the consultation inbox.
    COUNSELLOR = "counsellor"
    #: Redeems coupons at their own facility.
    FACILITY = "facility"
    #: Reads results, read-only.
    VIEWER = "viewer"


class Staff(Base):
    """A person who signs in to the console."""

    __tablename__ = "staff"
    __table_args__ = (
        CheckConstraint("failed_logins >= 0", name="failed_logins_not_negative"),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    id: Mapped[IntPK]
    #: Sign-in name, stored lower-case.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    #: Name shown in the console and the audit log.
    display_name: Mapped[str] = mapped_column(String(100))
    #: Argon2id hash of the password.
    password_hash: Mapped[str] = mapped_column(String(200))
    #: Deactivated accounts cannot sign in; rows are kept for the audit log.
    active: Mapped[bool] = mapped_column(default=True)
    #: Consecutive failed sign-ins; reset by a successful one.
    failed_logins: Mapped[int] = mapped_column(default=0)
    #: Sign-in is refused until then (set after too many failures).
    locked_until: Mapped[datetime | None]
    #: Base32 TOTP secret when the second factor is on (anyone may turn it on).
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    #: The last TOTP time step accepted: each step's code works once (older ones never).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    #: Language of the console for this person (``ja`` or ``en``).
    language: Mapped[str] = mapped_column(String(8), default="ja")
    last_sign_in_at: Mapped[datetime | None]
    created_at: Mapped[Created]
    updated_at: Mapped[Updated]

    roles: Mapped[list[StaffRole]] = relationship(
        back_populates="staff", cascade="all, delete-orphan", lazy="selectin"
    )
    #: Where the person works (the facility role acts there only).
    facilities: Mapped[list[Facility]] = relationship(
        secondary="staff_facilities", lazy="selectin", order_by="Facility.code"
    )

    @property
    def role_set(self) -> frozenset[Role]:
        """The roles held."""
        return frozenset(r.role for r in self.roles)


class StaffRole(Base):
    """One role held by one staff member."""

    __tablename__ = "staff_roles"

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(str_enum(Role), primary_key=True)

    staff: Mapped[Staff] = relationship(back_populates="roles")


class StaffSession(Base):
    """One signed-in browser of a staff member (``bot.console.sessions`` owns these rows).

    The browser holds a random session id in its signed cookie; only its hash is stored, so
    the table cannot be used to sign in. Deleting the row ends the session.
    """

    __tablename__ = "staff_sessions"

    id: Mapped[IntPK]
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    #: SHA-256 (hex) of the session id in the cookie.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: When the person signed in (the absolute lifetime counts from here).
    created_at: Mapped[Created]
    #: Last request seen (written at most once a minute; the idle timeout counts from here).
    last_seen_at: Mapped[datetime]
    #: Client address at sign-in.
    ip: Mapped[str | None] = mapped_column(String(64))
    #: The browser's User-Agent at sign-in (shown summarised on the account page).
    user_agent: Mapped[str | None] = mapped_column(String(400))
    #: A TOTP secret being enrolled in this session (never sent in a cookie).
    totp_pending_secret: Mapped[str | None] = mapped_column(String(64))


class RecoveryCode(Base):
    """A single-use code that replaces the TOTP code when the phone is lost."""

    __tablename__ = "staff_recovery_codes"
    __table_args__ = (UniqueConstraint("staff_id", "code_hash"),)

    id: Mapped[IntPK]
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    #: Keyed hash (HMAC-SHA256, hex) of the code; the code itself is shown once, never stored.
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[Created]
    #: When it was used; a used code is refused.
    used_at: Mapped[datetime | None]


class ConsoleSettings(Base):
    """Security settings admins change in the console (one row, made on first change)."""

    __tablename__ = "console_settings"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[IntPK]
    #: Admin and approver accounts must sign in with TOTP (without it: enrolment first).
    totp_required: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[Updated]


class AuditEntry(Base):
    """Who did what to which object, and when. Append-only."""

    __tablename__ = "audit_log"

    id: Mapped[IntPK]
    at: Mapped[Created] = mapped_column(index=True)
    #: The staff member, or ``None`` for anonymous requests and the system.
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL"), index=True
    )
    #: Who it was at the time (email, ``anonymous`` or ``system``): survives account changes.
    actor_label: Mapped[str] = mapped_column(String(254))
    #: Dotted verb, e.g. ``signin.failed``, ``staff.create``, ``forbidden``.
    action: Mapped[str] = mapped_column(String(60), index=True)
    #: Kind and id of the object acted on, if any.
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    #: Extra facts (never residents' personal data or message text).
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Client address of the request.
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    #: The request's ``User-Agent`` (control characters escaped, cut at 400 characters).
    user_agent: Mapped[str | None] = mapped_column(String(400))
