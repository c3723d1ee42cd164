"""Staff sign-in mechanics: password hashing, the second step, lockout, the signed-in user.

Every check of a password or a second-factor code is counted before it is made, twice: per
e-mail and client address (``MAX_FAILED_SIGN_INS`` per ``LOCKOUT``, ``bot.console.throttle``),
and per account from any address (``MAX_FAILED_SIGN_INS_ANY_ADDRESS`` lock it for everyone
for ``LOCKOUT``). Only a completed sign-in or confirmation resets them. docs/security.md.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, and_, case, or_, select, update
from sqlalchemy.orm import Session, object_session

from bot.console import second_factor, sessions
from bot.console.facilities import link_facilities
from bot.console.passwords import check_new_password
from bot.console.roles import Permission, permissions_of
from bot.db import Database
from bot.inputs import normalise_email
from models import Facility, Role, Staff, StaffRole

if TYPE_CHECKING:
    from bot.console.throttle import AddressGuard

#: Password checks for one e-mail from one client address before that address is refused
#: for it, and for how long (``bot.console.throttle``, counter 2).
MAX_FAILED_SIGN_INS = 5
LOCKOUT = timedelta(minutes=15)
#: Checks of one account from any address before the account locks for everyone (counter 3).
MAX_FAILED_SIGN_INS_ANY_ADDRESS = 50
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
    _check_length(password)
    return _hasher.hash(password)


def _check_length(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValueError(
            f"passwords have {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )


def hash_new_password(password: str, *, email: str, name: str) -> str:
    """Argon2id hash of a password a person chose: long enough, not common or leaked, not
    made of their e-mail or name (``bot.console.passwords``).

    :raises ValueError: the length is wrong, or :class:`WeakPassword` with the reason.
    """
    _check_length(password)
    check_new_password(password, email=email, name=name)
    return hash_password(password)


def password_matches(staff: Staff | None, password: str) -> bool:
    """Check a password in constant-ish time (also when there is no such staff member)."""
    try:
        return _hasher.verify(staff.password_hash if staff else _dummy_hash(), password) and (
            staff is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def find_staff(session: Session, email: str) -> Staff | None:
    """The staff member with this email (compared normalised: ``bot.inputs.normalise_email``)."""
    return session.scalars(select(Staff).where(Staff.email == normalise_email(email))).first()


def _count_check(session: Session, staff_id: int, now: datetime) -> int | None:
    """Count a check (password or code) against the account (counter 3) before it is made.

    Sign-in counts in a transaction of its own, committed before the slow hash check, so
    parallel sign-ins see it. A signed-in request (the password and second-factor forms)
    counts in the request's transaction: the row stays locked until it commits, so the
    account's parallel requests wait for the count.

    :return: this check's number in the lock window (1 to
        ``MAX_FAILED_SIGN_INS_ANY_ADDRESS``), or None when the account is locked or as many
        checks are already counted.
    """
    expired = and_(Staff.locked_until.is_not(None), Staff.locked_until <= now)
    return session.execute(
        update(Staff)
        .where(
            Staff.id == staff_id,
            or_(
                expired,
                and_(
                    Staff.locked_until.is_(None),
                    Staff.failed_logins < MAX_FAILED_SIGN_INS_ANY_ADDRESS,
                ),
            ),
        )
        .values(
            failed_logins=case((expired, 1), else_=Staff.failed_logins + 1),
            locked_until=None,
        )
        .returning(Staff.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar()


def _lock(session: Session, staff_id: int, now: datetime) -> None:
    """Lock the account for every address for ``LOCKOUT`` (counter 3 is full)."""
    session.execute(
        update(Staff)
        .where(Staff.id == staff_id)
        .values(locked_until=now + LOCKOUT)
        .execution_options(synchronize_session=False)
    )


def _unlocked(now: datetime) -> ColumnElement[bool]:
    return or_(Staff.locked_until.is_(None), Staff.locked_until <= now)


def _failure(guard: AddressGuard, subject: str) -> str:
    """A wrong answer's reason: ``locked`` once this address has no check left."""
    return "locked" if guard.exhausted(subject) else "invalid"


def subject_of(email: str, staff: Staff | None) -> str:
    """What counter 2 counts checks of: the e-mail as typed (normalised), and for an account
    its password hash too, so that a new password (a reset) starts a fresh count."""
    return email if staff is None else f"{email}\n{staff.password_hash}"


def _counted(
    count: Callable[[], int | None],
    lock: Callable[[], None],
    staff: Staff,
    check: Callable[[], str | None],
    guard: AddressGuard,
) -> str:
    """Make one check of an account (a password, a code, or both), counted before it is
    made: against this client address (counter 2, ``guard``) and against the account from
    anywhere (counter 3, ``count`` and ``lock``). Nothing is reset here: a completed
    sign-in or confirmation resets both (:func:`complete_sign_in`, :func:`confirm_identity`),
    so a right password never buys more guesses at the code that must follow it.

    :param count: counts the check against the account (:func:`_count_check`).
    :param lock: locks the account (:func:`_lock`).
    :param check: makes the check; returns how the person proved it, or None (failed).
    :return: what ``check`` returned.
    :raises SignInError: ``locked`` (before the check, or by this failure), ``invalid``.
    """
    subject = subject_of(staff.email, staff)
    if not guard.reserve(subject) or (number := count()) is None:
        password_matches(None, "")  # a locked account answers in a check's time too
        raise SignInError("locked", staff)
    method = check() if staff.active else None
    if method is None:
        if number >= MAX_FAILED_SIGN_INS_ANY_ADDRESS:
            lock()
            raise SignInError("locked", staff)
        raise SignInError(_failure(guard, subject), staff)
    return method


def authenticate(
    db: Database,
    session: Session,
    email: str,
    password: str,
    *,
    now: datetime,
    guard: AddressGuard,
) -> Staff:
    """Check a sign-in, counting it (``bot.console.throttle``: per e-mail and client address,
    and per account from any address) before the password is checked.

    Unknown e-mail addresses are counted like accounts and every answer costs one password
    hash, so nothing tells an account from a typo: the same answers, in the same time. Once
    an address has made ``MAX_FAILED_SIGN_INS`` checks for an e-mail, or the account has had
    ``MAX_FAILED_SIGN_INS_ANY_ADDRESS`` from anywhere, attempts are refused (the right
    password too) until the window ends, however many run in parallel.

    :param db: the database (sign-in counts in transactions of its own).
    :param session: the request's session, in which the staff member is returned.
    :param guard: the client address's counter.
    :return: the staff member (the second factor, if on, is still to be checked; then
        :func:`complete_sign_in`).
    :raises SignInError: ``invalid`` (unknown email, wrong password, inactive) or
        ``locked`` (too many failures).
    """
    email = normalise_email(email)
    # The request's session is used last: on SQLite its first statement takes the write
    # lock, which the counter's own transactions must not wait for.
    with db.reading() as reader:
        found = find_staff(reader, email)
    if found is None:
        subject = subject_of(email, None)
        if not guard.reserve(subject):
            password_matches(None, password)
            raise SignInError("locked")
        password_matches(None, password)  # the same time as a real check
        raise SignInError(_failure(guard, subject))

    def count() -> int | None:
        with db.unit_of_work() as counter:
            return _count_check(counter, found.id, now)

    def lock() -> None:
        with db.unit_of_work() as writer:
            _lock(writer, found.id, now)

    try:
        _counted(
            count,
            lock,
            found,
            lambda: "password" if password_matches(found, password) else None,
            guard,
        )
    except SignInError as error:
        raise SignInError(error.reason, session.get(Staff, found.id)) from None
    staff = session.get_one(Staff, found.id)
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(password)
    return staff


def _counted_in_request(
    session: Session,
    staff: Staff,
    check: Callable[[], str | None],
    *,
    now: datetime,
    guard: AddressGuard,
) -> str:
    """:func:`_counted` in the request's own transaction (a signed-in person's forms)."""
    return _counted(
        lambda: _count_check(session, staff.id, now),
        lambda: _lock(session, staff.id, now),
        staff,
        check,
        guard,
    )


def check_second_factor(
    session: Session, staff: Staff, entry: str, *, now: datetime, guard: AddressGuard
) -> str:
    """Check the second step of a sign-in: a TOTP code or a recovery code, counted like a
    password (the sign-in is completed with :func:`complete_sign_in`).

    :return: ``totp`` or ``recovery_code``.
    :raises SignInError: ``locked`` or ``invalid`` (wrong, replayed or used code).
    """
    return _counted_in_request(
        session,
        staff,
        lambda: second_factor.verify(session, staff, entry, now=now),
        now=now,
        guard=guard,
    )


def confirm_identity(
    session: Session,
    staff: Staff,
    password: str,
    entry: str | None,
    *,
    now: datetime,
    guard: AddressGuard,
) -> str:
    """Check a signed-in person's password, and their current code when ``entry`` is given,
    before a change to their password or second factor; counted like a sign-in (a right
    answer resets the counts).

    :param entry: a TOTP code, or a recovery code (a lost phone); None: the password alone.
    :return: ``password``, ``totp`` or ``recovery_code``.
    :raises SignInError: ``locked`` or ``invalid``.
    """

    def check() -> str | None:
        if not password_matches(staff, password):
            return None  # the code is not used up by a wrong password
        if entry is None:
            return "password"
        return second_factor.verify(session, staff, entry, now=now)

    method = _counted_in_request(session, staff, check, now=now, guard=guard)
    session.execute(
        update(Staff)
        .where(Staff.id == staff.id, _unlocked(now))
        .values(failed_logins=0)
        .execution_options(synchronize_session=False)
    )
    guard.forget(subject_of(staff.email, staff))
    return method


def complete_sign_in(session: Session, staff: Staff, *, now: datetime, guard: AddressGuard) -> None:
    """Reset the failure counts after a full sign-in.

    :raises SignInError: ``locked``: parallel failures locked the account meanwhile.
    """
    done = session.execute(
        update(Staff)
        .where(Staff.id == staff.id, _unlocked(now))
        .values(failed_logins=0, locked_until=None, last_sign_in_at=now)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise SignInError("locked", staff)
    guard.forget(subject_of(staff.email, staff))


def set_password(staff: Staff, password: str, *, keep_session: int | None = None) -> int:
    """Change the password, unlock, and end the account's sessions.

    :param keep_session: the session making the change, which stays open.
    :return: how many sessions ended.
    :raises ValueError: the password is too short or too long, or weak (``WeakPassword``).
    """
    staff.password_hash = hash_new_password(password, email=staff.email, name=staff.display_name)
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
    email = normalise_email(email)
    if find_staff(session, email) is not None:
        raise ValueError(f"{email} already has an account")
    display_name = display_name.strip() or email
    staff = Staff(
        email=email,
        display_name=display_name,
        password_hash=hash_new_password(password, email=email, name=display_name),
        roles=[StaffRole(role=r) for r in sorted(roles)],
    )
    link_facilities(staff, facilities)
    session.add(staff)
    session.flush()
    return staff
