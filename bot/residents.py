"""Resident bookkeeping: find-or-create with a row lock, profile, follow and unfollow."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.db import insert_or_lock
from bot.i18n import supported_language
from models import FollowState, FriendshipChange, FriendshipEvent, Resident

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Profile:
    """The parts of a LINE profile madoguchi keeps."""

    display_name: str | None
    language: str | None


def lock_resident(session: Session, line_user_id: str) -> Resident:
    """Find or create the resident and lock the row until the unit of work ends.

    The lock serialises events for one resident across processes (a PostgreSQL row lock;
    SQLite's write lock does the same for the whole database).

    :param line_user_id: the LINE user id from the event source.
    :return: the locked resident.
    """
    return insert_or_lock(session, Resident, {"line_user_id": line_user_id}, ["line_user_id"])


def apply_profile(resident: Resident, profile: Profile | None) -> None:
    """Copy the profile's display name and language (a supported one) onto the resident."""
    if profile is None:
        return
    resident.display_name = (profile.display_name or "")[:200] or None
    resident.language = supported_language(profile.language)


def record_follow(resident: Resident, *, is_unblocked: bool, at: datetime) -> None:
    """Mark the resident as a friend again, keeping history (first follow, re-follows)."""
    returning = resident.follow_state == FollowState.UNFOLLOWED or is_unblocked
    if returning:
        resident.refollow_count += 1
    change = FriendshipChange.REFOLLOW if returning else FriendshipChange.FOLLOW
    resident.friendship_events.add(FriendshipEvent(change=change, at=at))
    resident.follow_state = FollowState.FOLLOWING
    resident.first_followed_at = resident.first_followed_at or at
    resident.followed_at = at
    resident.unfollowed_at = None


def record_unfollow(resident: Resident, *, at: datetime) -> None:
    """Mark the resident unreachable: nothing is pushed to them until they follow again."""
    resident.follow_state = FollowState.UNFOLLOWED
    resident.unfollowed_at = at
    resident.friendship_events.add(FriendshipEvent(change=FriendshipChange.UNFOLLOW, at=at))
