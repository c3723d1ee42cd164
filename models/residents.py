"""Residents: the LINE users who talk to the official account."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from models.base import Base, Created, IntPK, Updated, str_enum


class FollowState(StrEnum):
    """Whether LINE lets us push to the resident."""

    #: Friend of the account: pushes arrive.
    FOLLOWING = "following"
    #: Blocked the account: nothing is pushed.
    UNFOLLOWED = "unfollowed"
    #: Seen only through a message (e.g. a friend from before madoguchi was deployed).
    UNKNOWN = "unknown"


class Resident(Base):
    """One LINE user of the official account, known internally by ``id``."""

    __tablename__ = "residents"
    __table_args__ = (
        CheckConstraint(
            "(follow_state = 'unfollowed') = (unfollowed_at IS NOT NULL)",
            name="unfollowed_at_iff_unfollowed",
        ),
    )

    #: Internal id; the only identifier that appears in logs.
    id: Mapped[IntPK]
    #: LINE user id (``U`` + 32 hex), unique per provider. Personal data: never logged.
    line_user_id: Mapped[str] = mapped_column(String(64), unique=True)
    #: Display name from the profile API at the last follow. Personal data.
    display_name: Mapped[str | None] = mapped_column(String(200))
    #: Language used for replies (``ja`` or ``en``), from the LINE profile.
    language: Mapped[str] = mapped_column(String(8), default="ja", server_default="ja")
    #: Follow state; pushes go only to ``following`` and ``unknown`` residents.
    follow_state: Mapped[FollowState] = mapped_column(
        str_enum(FollowState),
        default=FollowState.UNKNOWN,
    )
    #: First time the resident followed (kept across blocks and re-follows).
    first_followed_at: Mapped[datetime | None]
    #: Most recent follow or unblock.
    followed_at: Mapped[datetime | None]
    #: When the resident blocked the account; set exactly while ``unfollowed``.
    unfollowed_at: Mapped[datetime | None]
    #: Segment attributes (e.g. ``municipality``, ``age_band``) that features record from
    #: the resident's own answers; announcements are targeted on them.
    attributes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, server_default="{}")
    #: How many times the resident came back after blocking (``isUnblocked`` follows).
    refollow_count: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[Created]
    updated_at: Mapped[Updated]

    friendship_events: WriteOnlyMapped[FriendshipEvent] = relationship(
        back_populates="resident", passive_deletes=True
    )

    @property
    def reachable(self) -> bool:
        """True when a push can reach the resident."""
        return self.follow_state != FollowState.UNFOLLOWED


class FriendshipChange(StrEnum):
    """A change in a resident's friendship with the account."""

    FOLLOW = "follow"
    REFOLLOW = "refollow"
    UNFOLLOW = "unfollow"


class FriendshipEvent(Base):
    """One follow, re-follow or block, kept for the friends-over-time statistics."""

    __tablename__ = "friendship_events"

    id: Mapped[IntPK]
    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    change: Mapped[FriendshipChange] = mapped_column(str_enum(FriendshipChange))
    #: When LINE says it happened.
    at: Mapped[datetime] = mapped_column(index=True)

    resident: Mapped[Resident] = relationship(back_populates="friendship_events")
