"""Staff console sessions: the one place they are started, checked, listed and ended.

A session is a row of ``staff_sessions``. The browser holds a random session id in Flask's
signed cookie (key :data:`COOKIE_KEY`); the row stores only its SHA-256, so a copy of the
table signs nobody in. Every console request is checked against the row (Flask-Login's user
loader calls :func:`check`): a session ends when its row is gone (sign-out, ending it from
the account page, a password change, the account's deactivation, an admin's "end all
sessions"), ``STAFF_SESSION_HOURS`` after sign-in however active it is, and
``STAFF_SESSION_IDLE_MINUTES`` after its last request. A copied cookie is worth nothing
once its session has ended.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, not_, select
from sqlalchemy.orm import Session

from models import StaffSession

#: Where the session id lives in Flask's session.
COOKIE_KEY = "sid"
#: Last-seen is written at most this often, not on every request.
TOUCH_EVERY = timedelta(minutes=1)
#: Longest User-Agent kept (the column's size).
USER_AGENT_LENGTH = 400


@dataclass(frozen=True)
class Limits:
    """How long a session may last: from sign-in, and since its last request."""

    lifetime: timedelta
    idle: timedelta

    @classmethod
    def of(cls, config: Any) -> Limits:
        """The limits an app's configuration sets."""
        return cls(
            timedelta(hours=config["STAFF_SESSION_HOURS"]),
            timedelta(minutes=config["STAFF_SESSION_IDLE_MINUTES"]),
        )

    def alive(self, row: StaffSession, now: datetime) -> bool:
        """True while the session is within both limits."""
        return now < row.created_at + self.lifetime and now < row.last_seen_at + self.idle

    def alive_in_sql(self, now: datetime) -> ColumnElement[bool]:
        """:meth:`alive` as a condition on ``staff_sessions``."""
        return and_(
            StaffSession.created_at > now - self.lifetime,
            StaffSession.last_seen_at > now - self.idle,
        )


class SessionEnded(Exception):
    """The cookie's session is over; ``reason`` is ``expired`` (a limit) or ``ended``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Started:
    """A new session: its row id, and the id to put in the cookie (never stored)."""

    id: int
    token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start(
    session: Session, staff_id: int, *, ip: str | None, user_agent: str, now: datetime
) -> Started:
    """Open a session for a fully signed-in staff member.

    :return: the row id and the new session id for the cookie.
    """
    token = secrets.token_urlsafe(32)
    row = StaffSession(
        staff_id=staff_id,
        token_hash=_hash(token),
        created_at=now,
        last_seen_at=now,
        ip=ip,
        user_agent=user_agent[:USER_AGENT_LENGTH] or None,
    )
    session.add(row)
    session.flush()
    return Started(row.id, token)


def check(session: Session, token: object, *, staff_id: int, now: datetime, limits: Limits) -> int:
    """The session of a cookie, if still open; notes the request (at most once a minute).

    :param token: the session id from the cookie (anything: cookies are input).
    :param staff_id: who the cookie says is signed in (must be the session's owner).
    :return: the session's row id.
    :raises SessionEnded: ``ended`` (no such open session) or ``expired`` (over a limit;
        the row is deleted).
    """
    if not isinstance(token, str) or not token:
        raise SessionEnded("ended")
    row = session.scalars(
        select(StaffSession).where(StaffSession.token_hash == _hash(token))
    ).first()
    if row is None or row.staff_id != staff_id:
        raise SessionEnded("ended")
    if not limits.alive(row, now):
        session.delete(row)
        raise SessionEnded("expired")
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return row.id


def pending_secret(session: Session, session_id: int) -> str | None:
    """The TOTP secret being enrolled in this session, if any."""
    row = session.get(StaffSession, session_id)
    return row.totp_pending_secret if row else None


def set_pending_secret(session: Session, session_id: int, secret: str | None) -> None:
    """Keep (or forget, with ``None``) the TOTP secret being enrolled in this session."""
    row = session.get_one(StaffSession, session_id)
    row.totp_pending_secret = secret


def open_sessions(
    session: Session, staff_id: int, *, now: datetime, limits: Limits
) -> list[StaffSession]:
    """A staff member's open sessions, the most recently used first."""
    return list(
        session.scalars(
            select(StaffSession)
            .where(StaffSession.staff_id == staff_id, limits.alive_in_sql(now))
            .order_by(StaffSession.last_seen_at.desc(), StaffSession.id.desc())
        )
    )


def count_open(session: Session, *, now: datetime, limits: Limits) -> dict[int, int]:
    """How many open sessions each staff member has (those with none are left out)."""
    rows = session.execute(
        select(StaffSession.staff_id, func.count())
        .where(limits.alive_in_sql(now))
        .group_by(StaffSession.staff_id)
    )
    return {staff_id: count for staff_id, count in rows}


def end(session: Session, staff_id: int, session_id: int) -> bool:
    """End one of a staff member's sessions.

    :return: False when they have no such session (someone else's, or already over).
    """
    done = session.execute(
        delete(StaffSession).where(StaffSession.id == session_id, StaffSession.staff_id == staff_id)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def end_all(session: Session, staff_id: int, *, keep: int | None = None) -> int:
    """End every session of a staff member, but ``keep`` (the one making the change).

    :return: how many were ended.
    """
    query = delete(StaffSession).where(StaffSession.staff_id == staff_id)
    if keep is not None:
        query = query.where(StaffSession.id != keep)
    return int(session.execute(query).rowcount)  # type: ignore[attr-defined]


def end_everyone(session: Session) -> int:
    """End every staff member's every session.

    :return: how many were ended.
    """
    return int(session.execute(delete(StaffSession)).rowcount)  # type: ignore[attr-defined]


def purge(session: Session, *, now: datetime, limits: Limits) -> int:
    """Delete the rows of sessions over a limit (their cookies are refused already).

    :return: how many rows went.
    """
    over = delete(StaffSession).where(not_(limits.alive_in_sql(now)))
    return int(session.execute(over).rowcount)  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=256)
def browser(user_agent: str | None) -> str:
    """A short name of the browser and system of a User-Agent, e.g. ``Chrome 120 / Windows``."""
    if not user_agent:
        return "?"
    from ua_parser import parse  # its rules load on first use: only pages listing sessions

    parsed = parse(user_agent)
    agent, system = parsed.user_agent, parsed.os
    name = f"{agent.family} {agent.major}" if agent and agent.major else (agent and agent.family)
    parts = [name or "?"]
    if system and system.family != "Other":
        parts.append(system.family)
    return " / ".join(parts)
