"""The second factor: TOTP codes and the recovery codes that stand in for a lost phone.

* A TOTP code is accepted for the current 30-second time step or the one before (a code
  typed as the window turned), and each step once per account: the step accepted last is
  stored on the staff row and only a later one is accepted after it. The claim is one
  conditional UPDATE, so two parallel requests with the same code cannot both pass.
* Recovery codes are made ten at a time when TOTP is turned on (or made anew), shown once,
  and stored as keyed hashes (HMAC-SHA256 under a key derived from ``SECRET_KEY``): a copy
  of the table alone reveals none, and a changed ``SECRET_KEY`` voids them (make new
  ones). Each works once; using it is again one conditional UPDATE.
* A secret being enrolled stays on the server (the session's row, ``bot.console.sessions``),
  never in a cookie.
* Admins may require TOTP for admin and approver accounts (``console_settings``); such an
  account without it is sent to enrolment after its password and may do nothing else.

Counting failed attempts towards the lockout is the sign-in's business (``bot.console.users``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

import pyotp
from flask import current_app
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from models import ConsoleSettings, RecoveryCode, Role, Staff

#: Name shown for the account in authenticator apps.
ISSUER = "madoguchi"
#: Roles that the "require two-step sign-in" setting applies to.
REQUIRED_FOR = frozenset({Role.ADMIN, Role.APPROVER})
#: Recovery codes made at a time.
RECOVERY_CODES = 10
#: Crockford's base32 in lower case (no i, l, o, u): 5 bits a character, easy to read out.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
#: Characters of a recovery code (60 bits), shown in groups of four.
_RECOVERY_LENGTH = 12
_GROUP = 4
_SIX_DIGITS = re.compile(r"\d{6}")


def new_secret() -> str:
    """A fresh TOTP secret (base32, 160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code ``code`` is: the current one or the one before, else None."""
    if not _SIX_DIGITS.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current, current - 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def claim_step(session: Session, staff_id: int, step: int) -> bool:
    """Record that the code of ``step`` has been used.

    :return: False when this step or a later one was used already (a replayed code).
    """
    done = session.execute(
        update(Staff)
        .where(
            Staff.id == staff_id,
            or_(Staff.totp_last_step.is_(None), Staff.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def _key() -> bytes:
    secret = current_app.config["SECRET_KEY"]
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(raw, b"madoguchi.recovery-codes", hashlib.sha256).digest()


def _digest(code: str) -> str | None:
    """The stored form of a recovery code as typed, or None if it cannot be one."""
    normal = re.sub(r"[\s-]", "", code).lower()
    if len(normal) != _RECOVERY_LENGTH or not set(normal) <= set(_ALPHABET):
        return None
    return hmac.new(_key(), normal.encode("ascii"), hashlib.sha256).hexdigest()


def replace_recovery_codes(session: Session, staff_id: int) -> list[str]:
    """Make a new set of recovery codes (the old ones stop working).

    :return: the codes, to show once (only their hashes are stored).
    """
    session.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == staff_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append("-".join(raw[i : i + _GROUP] for i in range(0, _RECOVERY_LENGTH, _GROUP)))
    session.add_all(RecoveryCode(staff_id=staff_id, code_hash=_digest(code)) for code in codes)
    session.flush()
    return codes


def use_recovery_code(session: Session, staff_id: int, code: str, *, now: datetime) -> bool:
    """Use up one of a staff member's recovery codes.

    :return: False when it is not one of theirs, or was used before.
    """
    digest = _digest(code)
    if digest is None:
        return False
    done = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.staff_id == staff_id,
            RecoveryCode.code_hash == digest,
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def recovery_codes_left(session: Session, staff_id: int) -> int:
    """How many unused recovery codes a staff member has."""
    return int(
        session.scalar(
            select(func.count()).where(
                RecoveryCode.staff_id == staff_id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )


def verify(session: Session, staff: Staff, entry: str, *, now: datetime) -> str | None:
    """Check what a person typed as their second factor, and use it up.

    :param entry: a TOTP code, or one of their recovery codes.
    :return: ``totp`` or ``recovery_code``, or None when it is neither (or was used).
    """
    entry = entry.strip()
    if not staff.totp_secret:
        return None
    step = matching_step(staff.totp_secret, entry, now)
    if step is not None:
        return "totp" if claim_step(session, staff.id, step) else None
    if use_recovery_code(session, staff.id, entry, now=now):
        return "recovery_code"
    return None


def enable(session: Session, staff: Staff, secret: str, code: str, *, now: datetime) -> list[str]:
    """Turn TOTP on with a secret the person's app now shows codes for.

    :param code: the app's current code (its step counts as used).
    :return: the new recovery codes, to show once.
    :raises ValueError: the code does not belong to the secret (now or the step before).
    """
    step = matching_step(secret, code.strip(), now)
    if step is None:
        raise ValueError("the code does not match the secret")
    staff.totp_secret = secret
    staff.totp_last_step = max(step, staff.totp_last_step or step)
    return replace_recovery_codes(session, staff.id)


def disable(session: Session, staff: Staff) -> None:
    """Turn TOTP off and drop the recovery codes."""
    staff.totp_secret = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == staff.id))


def required_for(session: Session, staff: Staff) -> bool:
    """True when the setting requires TOTP of this account (an admin or approver)."""
    return bool(staff.role_set & REQUIRED_FOR) and totp_required(session)


def must_enrol(session: Session, staff: Staff) -> bool:
    """True when the account has to set up TOTP before anything else."""
    return not staff.totp_secret and required_for(session, staff)


def totp_required(session: Session) -> bool:
    """Whether admins have required TOTP for admin and approver accounts."""
    settings = session.get(ConsoleSettings, 1)
    return bool(settings and settings.totp_required)


def require_totp(session: Session, required: bool) -> None:
    """Require TOTP for admin and approver accounts, or stop requiring it."""
    settings = session.get(ConsoleSettings, 1) or ConsoleSettings(id=1)
    settings.totp_required = required
    session.add(settings)
