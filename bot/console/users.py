"""Staff sign-in mechanics: password hashing, lockout, the signed-in user, sessions."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.orm import Session

from bot.console.facilities import link_facilities
from bot.console.roles import Permission, permissions_of
from bot.db import Database
from models import Facility, Role, Staff, StaffRole
from models.base import utcnow

#: Failed sign-ins in a row before the account locks, and for how long.
MAX_FAILED_SIGN_INS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash verified when the email is unknown, so both cases take the same time.

    Made on first use, not at import: an argon2 hash holds 64 MiB while it runs, and every
    process (webhook workers too) would carry that peak from start-up.
    """
    return _hasher.hash("madoguchi-no-such-account")


class SignInError(Exception):
    """Sign-in refused; ``reason`` is ``invalid`` or ``locked``."""

    def __init__(self, reason: str, staff: Staff | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.staff = staff


@dataclass(frozen=True)
class StaffUser:
    """The signed-in staff member, as Flask-Login sees them (detached from any session)."""

    id: int
    email: str
    display_name: str
    roles: frozenset[Role]
    language: str
    has_totp: bool
    #: The active facilities the person works at (the facility role acts there only).
    facility_ids: frozenset[int] = frozenset()

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        """Flask-Login's user id."""
        return str(self.id)

    @property
    def permissions(self) -> frozenset[Permission]:
        """What this person may do."""
        return permissions_of(self.roles)

    def can(self, permission: Permission) -> bool:
        """True when one of the roles grants the permission."""
        return permission in self.permissions

    @classmethod
    def of(cls, staff: Staff) -> StaffUser:
        """Snapshot a staff row."""
        return cls(
            staff.id,
            staff.email,
            staff.display_name,
            staff.role_set,
            staff.language,
            staff.totp_secret is not None,
            frozenset(f.id for f in staff.facilities if f.active),
        )


def hash_password(password: str) -> str:
    """Argon2id hash of a password.

    :raises ValueError: the password is shorter than 12 or longer than 256 characters.
    """
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValueError(
            f"passwords have {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    return _hasher.hash(password)


def password_matches(staff: Staff | None, password: str) -> bool:
    """Check a password in constant-ish time (also when there is no such staff member)."""
    try:
        return _hasher.verify(staff.password_hash if staff else _dummy_hash(), password) and (
            staff is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def find_staff(session: Session, email: str) -> Staff | None:
    """The staff member with this email (case-insensitive), if any."""
    return session.scalars(select(Staff).where(Staff.email == email.strip().lower())).first()


def _reserve_check(db: Database, staff_id: int, now: datetime) -> int | None:
    """Count a password check against the account before it is made, in a transaction of its
    own (committed before the slow hash check, so parallel sign-ins see it).

    :return: this check's number in the lock window (1 to ``MAX_FAILED_SIGN_INS``), or None
        when the account is locked or as many checks are already counted.
    """
    expired = and_(Staff.locked_until.is_not(None), Staff.locked_until <= now)
    with db.unit_of_work() as session:
        return session.execute(
            update(Staff)
            .where(
                Staff.id == staff_id,
                or_(
                    expired,
                    and_(Staff.locked_until.is_(None), Staff.failed_logins < MAX_FAILED_SIGN_INS),
                ),
            )
            .values(
                failed_logins=case((expired, 1), else_=Staff.failed_logins + 1),
                locked_until=case((expired, None), else_=Staff.locked_until),
            )
            .returning(Staff.failed_logins)
            .execution_options(synchronize_session=False)
        ).scalar()


def authenticate(
    db: Database, session: Session, email: str, password: str, *, now: datetime
) -> Staff:
    """Check a sign-in and update the failure counter and lockout.

    Every password check is counted before it is made, atomically: whatever the number of
    parallel attempts, an account gets at most ``MAX_FAILED_SIGN_INS`` checks per lock window,
    and once locked every attempt is refused (the right password too) until the window ends.

    :param db: the database (the counter is written in transactions of its own).
    :param session: the request's session, in which the staff member is returned.
    :return: the staff member (the second factor, if on, is still to be checked).
    :raises SignInError: ``invalid`` (unknown email, wrong password, inactive) or
        ``locked`` (too many failures; ``staff.locked_until`` says until when).
    """
    # The request's session is used last: on SQLite its first statement takes the write
    # lock, which the counter's own transactions must not wait for.
    with db.reading() as reader:
        found = find_staff(reader, email)
    if found is None:
        password_matches(None, password)  # the same time as a real check
        raise SignInError("invalid")
    number = _reserve_check(db, found.id, now)
    if number is None:
        raise SignInError("locked", session.get(Staff, found.id))
    if not password_matches(found, password) or not found.active:
        if number >= MAX_FAILED_SIGN_INS:
            with db.unit_of_work() as writer:
                writer.execute(
                    update(Staff)
                    .where(Staff.id == found.id)
                    .values(locked_until=now + LOCKOUT, failed_logins=0)
                )
            raise SignInError("locked", session.get(Staff, found.id))
        raise SignInError("invalid", session.get(Staff, found.id))
    staff = session.get_one(Staff, found.id)
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(password)
    return staff


def complete_sign_in(session: Session, staff: Staff, *, now: datetime) -> None:
    """Reset the failure counter after a full sign-in.

    :raises SignInError: ``locked``: parallel failures locked the account meanwhile.
    """
    done = session.execute(
        update(Staff)
        .where(Staff.id == staff.id, or_(Staff.locked_until.is_(None), Staff.locked_until <= now))
        .values(failed_logins=0, locked_until=None, last_sign_in_at=now)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise SignInError("locked", staff)


def set_password(staff: Staff, password: str, *, now: datetime) -> None:
    """Change the password, unlock, and end every session started before now.

    :raises ValueError: the password is too short or too long.
    """
    staff.password_hash = hash_password(password)
    staff.failed_logins = 0
    staff.locked_until = None
    staff.sessions_valid_from = now


def create_staff(
    session: Session,
    *,
    email: str,
    display_name: str,
    password: str,
    roles: set[Role],
    facilities: Iterable[Facility] = (),
) -> Staff:
    """Add a staff member.

    :param facilities: where the person works (see ``bot.console.facilities``).
    :raises ValueError: no role, a bad password, or the email is taken.
    """
    if not roles:
        raise ValueError("a staff member needs at least one role")
    email = email.strip().lower()
    if find_staff(session, email) is not None:
        raise ValueError(f"{email} already has an account")
    staff = Staff(
        email=email,
        display_name=display_name.strip() or email,
        password_hash=hash_password(password),
        roles=[StaffRole(role=r) for r in sorted(roles)],
        sessions_valid_from=utcnow(),
    )
    link_facilities(staff, facilities)
    session.add(staff)
    session.flush()
    return staff
