"""Figures for the dashboard: friends over time, from the friendship events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from models import FriendshipChange, FriendshipEvent

TOKYO = ZoneInfo("Asia/Tokyo")


@dataclass(frozen=True)
class FriendsDay:
    """One day (Asia/Tokyo) of friendship figures."""

    day: date
    new: int
    returned: int
    blocked: int
    #: Friends at the end of the day.
    followers: int


def _tokyo_day(session: Session, column: Any) -> Any:
    """The Asia/Tokyo calendar day of a UTC timestamp column, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("Asia/Tokyo", column))
    return func.date(column, "+9 hours")  # Japan has no daylight saving time


def _net(change: Any) -> Any:
    return case((change == FriendshipChange.UNFOLLOW, -1), else_=1)


def friends_by_day(session: Session, *, days: int, today: date) -> list[FriendsDay]:
    """New friends, returns after a block, blocks and the friend count, per day.

    :param days: how many days, ending with ``today`` (Asia/Tokyo).
    """
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time.min, TOKYO)
    before = (
        session.scalar(
            select(func.coalesce(func.sum(_net(FriendshipEvent.change)), 0)).where(
                FriendshipEvent.at < start
            )
        )
        or 0
    )
    day = _tokyo_day(session, FriendshipEvent.at)
    rows = session.execute(
        select(day, FriendshipEvent.change, func.count())
        .where(FriendshipEvent.at >= start)
        .group_by(day, FriendshipEvent.change)
    ).all()
    counts: dict[tuple[str, str], int] = {(str(d), str(c)): n for d, c, n in rows}
    result, followers = [], int(before)
    for offset in range(days):
        current = first + timedelta(days=offset)
        key = current.isoformat()
        new = counts.get((key, FriendshipChange.FOLLOW), 0)
        returned = counts.get((key, FriendshipChange.REFOLLOW), 0)
        blocked = counts.get((key, FriendshipChange.UNFOLLOW), 0)
        followers += new + returned - blocked
        result.append(FriendsDay(current, new, returned, blocked, followers))
    return result
