"""Staff sign-in mechanics: password hashing, the second step, lockout, the signed-in user.

Every check of a password or a second-factor code is counted against the account before it
is made; ``MAX_FAILED_SIGN_INS`` of them without a completed sign-in lock it for ``LOCKOUT``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, and_, case, or_, select, update
from sqlalchemy.orm import Session, object_session

from bot.console import second_factor, sessions
from bot.console.facilities import link_facilities
from bot.console.roles import Permission, permissions_of
from bot.db import Database
from models import Facility, Role, Staff, StaffRole

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
    #: The row of this browser's session (``bot.console.sessions``).
    session_id: int | None = None
    #: TOTP is required for the account and not set up: nothing but enrolment is allowed.
    must_enrol: bool = False

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
    def of(
        cls, staff: Staff, *, session_id: int | None = None, must_enrol: bool = False
    ) -> StaffUser:
        """Snapshot a staff row (signed in with session ``session_id``)."""
        return cls(
            staff.id,
            staff.email,
            staff.display_name,
            staff.role_set,
            staff.language,
            staff.totp_secret is not None,
            frozenset(f.id for f in staff.facilities if f.active),
            session_id,
            must_enrol,
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


def _count_check(session: Session, staff_id: int, now: datetime) -> int | None:
    """Count a check (password or code) against the account before it is made.

    :return: this check's number in the lock window (1 to ``MAX_FAILED_SIGN_INS``), or None
        when the account is locked or as many checks are already counted.
    """
    expired = and_(Staff.locked_until.is_not(None), Staff.locked_until <= now)
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


def _reserve_check(db: Database, staff_id: int, now: datetime) -> int | None:
    """:func:`_count_check` in a transaction of its own (committed before the slow hash
    check, so parallel sign-ins see it)."""
    with db.unit_of_work() as session:
        return _count_check(session, staff_id, now)


def _lock(session: Session, staff_id: int, now: datetime) -> None:
    """Lock the account for ``LOCKOUT`` (its counter starts again after)."""
    session.execute(
        update(Staff)
        .where(Staff.id == staff_id)
        .values(locked_until=now + LOCKOUT, failed_logins=0)
        .execution_options(synchronize_session=False)
    )


def _unlocked(now: datetime) -> ColumnElement[bool]:
    return or_(Staff.locked_until.is_(None), Staff.locked_until <= now)


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
    right = password_matches(found, password) and found.active
    # A right password with a code still to come, on the window's last check: the code's
    # check could never be counted, so the lock starts now.
    if number >= MAX_FAILED_SIGN_INS and not (right and not found.totp_secret):
        with db.unit_of_work() as writer:
            _lock(writer, found.id, now)
        raise SignInError("locked", session.get(Staff, found.id))
    if not right:
        raise SignInError("invalid", session.get(Staff, found.id))
    staff = session.get_one(Staff, found.id)
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(password)
    return staff


def _counted(session: Session, staff: Staff, check: Callable[[], str | None], now: datetime) -> str:
    """Make a check counted against the account (in ``session``'s transaction, which holds
    the staff row until it ends: parallel checks wait for it and see its count).

    :param check: makes the check; returns how the person proved it, or None (failed).
    :return: what ``check`` returned.
    :raises SignInError: ``locked`` (before the check, or by this failure), ``invalid``.
    """
    number = _count_check(session, staff.id, now)
    if number is None:
        raise SignInError("locked", staff)
    method = check() if staff.active else None
    if method is None:
        if number >= MAX_FAILED_SIGN_INS:
            _lock(session, staff.id, now)
            raise SignInError("locked", staff)
        raise SignInError("invalid", staff)
    return method


def check_second_factor(session: Session, staff: Staff, entry: str, *, now: datetime) -> str:
    """Check the second step of a sign-in: a TOTP code or a recovery code, counted like a
    password (the sign-in is completed with :func:`complete_sign_in`).

    :return: ``totp`` or ``recovery_code``.
    :raises SignInError: ``locked`` or ``invalid`` (wrong, replayed or used code).
    """
    return _counted(
        session, staff, lambda: second_factor.verify(session, staff, entry, now=now), now
    )


def confirm_identity(
    session: Session, staff: Staff, password: str, entry: str, *, now: datetime
) -> str:
    """Check a signed-in person's password and current code before a change to their second
    factor; counted like a sign-in (a right pair resets the count).

    :param entry: a TOTP code, or a recovery code (a lost phone).
    :return: ``totp`` or ``recovery_code``.
    :raises SignInError: ``locked`` or ``invalid``.
    """

    def check() -> str | None:
        if not password_matches(staff, password):
            return None  # the code is not used up by a wrong password
        return second_factor.verify(session, staff, entry, now=now)

    method = _counted(session, staff, check, now)
    session.execute(
        update(Staff)
        .where(Staff.id == staff.id, _unlocked(now))
        .values(failed_logins=0)
        .execution_options(synchronize_session=False)
    )
    return method


def complete_sign_in(session: Session, staff: Staff, *, now: datetime) -> None:
    """Reset the failure counter after a full sign-in.

    :raises SignInError: ``locked``: parallel failures locked the account meanwhile.
    """
    done = session.execute(
        update(Staff)
        .where(Staff.id == staff.id, _unlocked(now))
        .values(failed_logins=0, locked_until=None, last_sign_in_at=now)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise SignInError("locked", staff)


def set_password(staff: Staff, password: str, *, keep_session: int | None = None) -> int:
    """Change the password, unlock, and end the account's sessions.

    :param keep_session: the session making the change, which stays open.
    :return: how many sessions ended.
    :raises ValueError: the password is too short or too long.
    """
    staff.password_hash = hash_password(password)
    staff.failed_logins = 0
    staff.locked_until = None
    session = object_session(staff)
    if session is None:  # pragma: no cover - a programming error
        raise ValueError("set_password needs a stored staff member")
    return sessions.end_all(session, staff.id, keep=keep_session)


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
    )
    link_facilities(staff, facilities)
    session.add(staff)
    session.flush()
    return staff
