"""Rehearsal: staff answer a draft survey in LINE before publishing it (stored as tests).

A staff member links their own LINE account once: their account page makes a one-time code
(valid :data:`CODE_LIFETIME`), which they send to the bot as ``連携 ABCD-EFGH``. Only the
code's keyed hash is stored and it is forgotten once used. A linked member who may edit
surveys sends ``リハーサル`` and gets the drafts to answer; their submissions have
``test=True`` and never count. In development (the simulator) every resident may rehearse.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console.roles import Permission, permissions_of
from bot.incoming import Incoming, normalise_text
from bot.routing import Predicate
from models import Resident, Staff
from models.surveys import Survey, SurveyRehearser, SurveyStatus

#: How long a link code can be used.
CODE_LIFETIME = timedelta(minutes=10)
#: Letters and digits that cannot be mistaken for each other.
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_CODE = re.compile(r"(?:連携|link)\s*([a-z0-9]{4})-?([a-z0-9]{4})")
#: The most drafts the rehearsal list shows.
MAX_LISTED = 12


class LinkCode(Predicate):
    """Matches a typed link code (``連携 ABCD-EFGH`` or ``link ABCD-EFGH``)."""

    def __call__(self, incoming: Incoming) -> bool:
        return incoming.kind == "message" and code_in(incoming.text) is not None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LinkCode)

    def __hash__(self) -> int:
        return hash(LinkCode)


def code_in(typed: str | None) -> str | None:
    """The code a typed message carries (upper case, without the dash), if any."""
    if not typed or len(typed) > 40:
        return None
    found = _CODE.fullmatch(normalise_text(typed))
    return (found.group(1) + found.group(2)).upper() if found else None


def _digest(code: str) -> str:
    secret = current_app.config["SECRET_KEY"]
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    key = hmac.new(raw, b"madoguchi.rehearsal-links", hashlib.sha256).digest()
    return hmac.new(key, code.encode("ascii"), hashlib.sha256).hexdigest()


def make_code(session: Session, staff: Staff, now: datetime) -> str:
    """A new one-time link code for ``staff`` (any earlier unused one stops working)."""
    code = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    row = session.get(SurveyRehearser, staff.id) or SurveyRehearser(staff_id=staff.id)
    row.code_hash = _digest(code)
    row.code_expires_at = now + CODE_LIFETIME
    session.add(row)
    session.flush()
    return f"{code[:4]}-{code[4:]}"


def link(session: Session, resident: Resident, typed: str, now: datetime) -> Staff | None:
    """Link the resident's LINE account to the staff member whose code they sent.

    :return: the staff member, or None for an unknown, used or expired code (nothing changes).
    """
    code = code_in(typed)
    if code is None:
        return None
    row = session.scalar(select(SurveyRehearser).where(SurveyRehearser.code_hash == _digest(code)))
    if row is None or row.code_expires_at is None or row.code_expires_at <= now:
        return None
    previous = session.scalar(
        select(SurveyRehearser).where(SurveyRehearser.resident_id == resident.id)
    )
    if previous is not None and previous is not row:
        previous.resident_id = None
        session.flush()
    row.resident_id = resident.id
    row.code_hash = None
    row.code_expires_at = None
    row.linked_at = now
    session.flush()
    return session.get(Staff, row.staff_id)


def linked_staff(session: Session, resident: Resident) -> Staff | None:
    """The active staff member whose LINE account this is, if any."""
    row = session.scalar(select(SurveyRehearser).where(SurveyRehearser.resident_id == resident.id))
    staff = session.get(Staff, row.staff_id) if row is not None else None
    return staff if staff is not None and staff.active else None


def unlink(session: Session, staff: Staff) -> None:
    """Forget the staff member's LINE account and any pending code."""
    row = session.get(SurveyRehearser, staff.id)
    if row is not None:
        session.delete(row)
        session.flush()


def linked_on(session: Session, staff: Staff) -> datetime | None:
    """When the staff member's LINE account was linked (None: not linked)."""
    row = session.get(SurveyRehearser, staff.id)
    return row.linked_at if row is not None and row.resident_id is not None else None


def may_rehearse(session: Session, resident: Resident) -> bool:
    """Whether this resident may answer drafts: a linked editor, or anyone in development."""
    if current_app.config.get("MADOGUCHI_ENV") == "development":
        return True
    staff = linked_staff(session, resident)
    if staff is None:
        return False
    roles = frozenset(role.role for role in staff.roles)
    return Permission.SURVEYS_EDIT in permissions_of(roles)


def rehearsable(session: Session) -> list[Survey]:
    """Surveys that have a draft version, newest first."""
    surveys = session.scalars(
        select(Survey).where(Survey.status != SurveyStatus.CLOSED).order_by(Survey.id.desc())
    ).all()
    return [survey for survey in surveys if survey.draft is not None][:MAX_LISTED]
