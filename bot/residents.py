"""Resident bookkeeping: find-or-create with a row lock, profile, follow and unfollow."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bot.db import insert_ignore
from bot.i18n import supported_language
from bot.incoming import clean_text
from models import (
    Dialog,
    DialogStatus,
    FollowState,
    FriendshipChange,
    FriendshipEvent,
    Resident,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Profile:
    """The parts of a LINE profile madoguchi keeps."""

    display_name: str | None
    language: str | None


#: Built once: these run for every webhook event.
_LOCK_RESIDENT = (
    select(Resident)
    .where(Resident.line_user_id == bindparam("line_user_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_ACTIVE_DIALOG = (
    select(Dialog)
    .where(
        Dialog.resident_id == bindparam("resident_id"),
        Dialog.status == DialogStatus.ACTIVE,
    )
    .execution_options(populate_existing=True)
)


def lock_resident_and_dialog(session: Session, line_user_id: str) -> tuple[Resident, Dialog | None]:
    """Find or create the resident, lock the row, then read their active dialog.

    The lock lasts until the unit of work ends and serialises events for one resident across
    processes (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write lock does the same for
    the whole database). The dialog is read by a second statement *after* the lock is held:
    under READ COMMITTED that statement sees what the previous event for this resident
    committed, where a join in the locking statement would return its snapshot from before
    the wait (tests/bot/test_concurrency.py catches exactly that).

    :param line_user_id: the LINE user id from the event source.
    :return: the locked resident and their active dialog, if any.
    """
    params = {"line_user_id": line_user_id}
    resident = session.scalars(_LOCK_RESIDENT, params).first()
    if resident is None:  # a new resident (or one a concurrent event inserted just now)
        insert_ignore(session, Resident, params, ["line_user_id"])
        resident = session.scalars(_LOCK_RESIDENT, params).one()
    dialog = session.scalars(_ACTIVE_DIALOG, {"resident_id": resident.id}).one_or_none()
    return resident, dialog


def lock_resident(session: Session, line_user_id: str) -> Resident:
    """Find or create the resident and lock the row (see :func:`lock_resident_and_dialog`)."""
    return lock_resident_and_dialog(session, line_user_id)[0]


def apply_profile(resident: Resident, profile: Profile | None) -> None:
    """Copy the profile's display name and language (a supported one) onto the resident."""
    if profile is None:
        return
    # LINE's JSON may carry a NUL or a lone surrogate, which PostgreSQL refuses to store.
    resident.display_name = clean_text(profile.display_name or "")[:200] or None
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
