"""Facilities and the staff who work at them: adding facilities, linking staff to them.

Where the facility role may act is checked by ``bot.console.roles.require_facility``; this
module only keeps the records. Services flush, never commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Facility, Staff
from models.facilities import CODE_LENGTH, NAME_LENGTH

#: Lower-case letters, digits and inner hyphens, e.g. ``museum-01``.
CODE = re.compile(rf"^[a-z0-9](?:[a-z0-9-]{{0,{CODE_LENGTH - 2}}}[a-z0-9])?$")


def normalise_code(code: str) -> str:
    """A facility code as stored (trimmed, lower-case).

    :raises ValueError: not 1 to 32 letters, digits and inner hyphens.
    """
    normalised = code.strip().lower()
    if not CODE.match(normalised):
        raise ValueError(
            f"a facility code has 1 to {CODE_LENGTH} letters, digits and inner hyphens: {code!r}"
        )
    return normalised


def add_facility(session: Session, *, code: str, name_ja: str, name_en: str) -> Facility:
    """Add a facility.

    :raises ValueError: a bad code, an empty or overlong name, or the code is taken.
    """
    code = normalise_code(code)
    names = {"Japanese": name_ja.strip(), "English": name_en.strip()}
    for language, name in names.items():
        if not 0 < len(name) <= NAME_LENGTH:
            raise ValueError(f"the {language} name has 1 to {NAME_LENGTH} characters")
    if session.scalars(select(Facility).where(Facility.code == code)).first() is not None:
        raise ValueError(f"there is already a facility {code}")
    facility = Facility(code=code, name_ja=names["Japanese"], name_en=names["English"])
    session.add(facility)
    session.flush()
    return facility


def list_facilities(session: Session, *, active_only: bool = False) -> list[Facility]:
    """Facilities by code."""
    query = select(Facility).order_by(Facility.code)
    if active_only:
        query = query.where(Facility.active.is_(True))
    return list(session.scalars(query))


def find_facilities(session: Session, codes: Iterable[str]) -> list[Facility]:
    """The facilities with these codes, by code.

    :raises ValueError: a code is malformed or names no facility (the message lists them).
    """
    wanted = {normalise_code(code) for code in codes}
    if not wanted:
        return []
    found = list(
        session.scalars(select(Facility).where(Facility.code.in_(wanted)).order_by(Facility.code))
    )
    unknown = wanted - {f.code for f in found}
    if unknown:
        raise ValueError(f"no such facility: {', '.join(sorted(unknown))}")
    return found


def link_facilities(staff: Staff, facilities: Iterable[Facility]) -> None:
    """Make these the facilities the staff member works at (replacing the previous ones)."""
    staff.facilities = sorted(set(facilities), key=lambda f: f.code)
