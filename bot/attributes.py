"""Resident attributes: their vocabulary, writing and reading them, and segment queries.

Features record attributes from a resident's own answers (``municipality``, ``age_band``);
announcements pick recipients with :func:`select_segment`. Each attribute is a row of
``resident_attributes``, so concurrent writers never lose each other's changes and a segment
query is the same indexed statement on SQLite and PostgreSQL.

Names are a small vocabulary chosen in code: lower-case identifiers. Values are short exact
strings (codes, bands), compared as they are. Errors name the attribute, never the value:
values are personal data and error messages reach logs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from bot.db import upsert
from models import Resident, ResidentAttribute
from models.base import utcnow
from models.residents import ATTRIBUTE_NAME_MAX, ATTRIBUTE_VALUE_MAX

#: What an attribute name looks like (the schema checks the same shape).
NAME_PATTERN = re.compile(rf"[a-z][a-z0-9_]{{0,{ATTRIBUTE_NAME_MAX - 1}}}")
#: Most values one segment condition may list (a prefecture has fewer municipalities).
MAX_SEGMENT_VALUES = 500
#: Unicode categories refused in values: control characters (NUL included) and lone
#: surrogates, which no database can store as text.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs"})


def check_attribute_name(name: object) -> str:
    """Return ``name`` if it is a well-formed attribute name.

    :raises ValueError: not a string of the shape ``[a-z][a-z0-9_]{0,39}``.
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"attribute name {name!r} must be a lower-case identifier of at most "
            f"{ATTRIBUTE_NAME_MAX} characters ([a-z][a-z0-9_]*)"
        )
    return name


def check_attribute_value(name: str, value: object) -> str:
    """Return ``value`` if it can be stored as the value of attribute ``name``.

    :raises ValueError: not a string, empty, longer than the limit, with whitespace at
        either end (segments compare exactly), or with a control character.
    """
    if not isinstance(value, str):
        raise ValueError(f"the value of attribute {name!r} must be a string")
    if not 1 <= len(value) <= ATTRIBUTE_VALUE_MAX:
        raise ValueError(
            f"the value of attribute {name!r} must have 1 to {ATTRIBUTE_VALUE_MAX} characters"
        )
    if any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in value):
        raise ValueError(f"the value of attribute {name!r} must not contain control characters")
    if value != value.strip():
        raise ValueError(f"the value of attribute {name!r} must not start or end with spaces")
    return value


def set_attribute(session: Session, resident: Resident, name: str, value: str | None) -> None:
    """Set one attribute of a resident (insert or overwrite); ``None`` deletes it.

    One statement, atomic on both databases: concurrent writers of the same attribute never
    fail and the last one wins; writers of different attributes never touch each other.

    :param resident: a stored resident.
    :param name: an attribute name (see :data:`NAME_PATTERN`).
    :param value: the new value, or None to remove the attribute.
    :raises ValueError: a malformed name or value; nothing is written.
    """
    check_attribute_name(name)
    if value is None:
        session.execute(
            delete(ResidentAttribute).where(
                ResidentAttribute.resident_id == resident.id, ResidentAttribute.name == name
            )
        )
    else:
        row = {
            "resident_id": resident.id,
            "name": name,
            "value": check_attribute_value(name, value),
            "updated_at": utcnow(),
        }
        upsert(session, ResidentAttribute, row, ["resident_id", "name"])
    if resident in session:  # a loaded collection would miss an added or deleted name
        session.expire(resident, ["attributes"])


def read_attributes(session: Session, resident: Resident) -> dict[str, str]:
    """A resident's attributes as they are stored now.

    :return: value by name (empty when the resident has none).
    """
    rows = session.execute(
        select(ResidentAttribute.name, ResidentAttribute.value).where(
            ResidentAttribute.resident_id == resident.id
        )
    )
    return {name: value for name, value in rows}


def select_segment(conditions: Mapping[str, Collection[str]]) -> Select[int]:
    """The ids of the residents in a segment: every name matches one of its values.

    ``{"municipality": ["10201", "10202"], "age_band": ["30-39"]}`` selects residents of
    10201 or 10202 who are also 30-39. A name nobody has yet selects nobody. The statement
    looks up (name, value) pairs in ``ix_resident_attributes_name_value`` and keeps residents
    that matched every name (a resident has at most one row per name).

    :param conditions: accepted values by attribute name.
    :return: a select of ``resident_id``, for ``session.scalars`` or a subquery.
    :raises ValueError: no condition, a malformed name or value, a name given a bare string
        or no values, or more than :data:`MAX_SEGMENT_VALUES` values for one name.
    """
    if not conditions:
        raise ValueError("a segment needs at least one condition")
    matches = []
    for name, values in sorted(conditions.items()):
        check_attribute_name(name)
        if isinstance(values, str) or not values:
            raise ValueError(f"segment condition {name!r} needs a non-empty list of values")
        if len(values) > MAX_SEGMENT_VALUES:
            raise ValueError(
                f"segment condition {name!r} lists more than {MAX_SEGMENT_VALUES} values"
            )
        accepted = sorted({check_attribute_value(name, value) for value in values})
        matches.append(and_(ResidentAttribute.name == name, ResidentAttribute.value.in_(accepted)))
    return (
        select(ResidentAttribute.resident_id)
        .where(or_(*matches))
        .group_by(ResidentAttribute.resident_id)
        .having(func.count() == len(matches))
    )
