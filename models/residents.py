"""Residents: the LINE users who talk to the official account, their friendship history
and their segment attributes (rows that belong to the resident and go when it goes)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
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
    #: How many times the resident came back after blocking (``isUnblocked`` follows).
    refollow_count: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[Created]
    updated_at: Mapped[Updated]

    friendship_events: WriteOnlyMapped[FriendshipEvent] = relationship(
        back_populates="resident", passive_deletes=True
    )
    #: Segment attributes by name, for lists (``selectinload``); written only through
    #: ``bot.attributes``, which keeps this collection in step with its writes.
    attributes: Mapped[list[ResidentAttribute]] = relationship(
        order_by="ResidentAttribute.name", viewonly=True
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


#: Longest attribute name (names are a small vocabulary chosen in code).
ATTRIBUTE_NAME_MAX = 40
#: Longest attribute value (codes and bands such as ``10201`` or ``30-39``, not free text).
ATTRIBUTE_VALUE_MAX = 100
_LOWER = "abcdefghijklmnopqrstuvwxyz"


class ResidentAttribute(Base):
    """One segment attribute of a resident (``municipality = 10201``).

    Features record attributes from the resident's own answers; announcements pick their
    recipients by them (``bot.attributes.select_segment``). One row per name, so two writers
    never overwrite each other's names, and segment queries use an index on every database.
    """

    __tablename__ = "resident_attributes"
    __table_args__ = (
        # ^[a-z][a-z0-9_]{0,39}$ without regular expressions, which SQLite lacks: two-argument
        # ltrim strips the allowed characters on both databases and must leave nothing.
        CheckConstraint(
            f"length(name) BETWEEN 1 AND {ATTRIBUTE_NAME_MAX}"
            f" AND ltrim(substr(name, 1, 1), '{_LOWER}') = ''"
            f" AND ltrim(name, '{_LOWER}0123456789_') = ''",
            name="name_shape",
        ),
        CheckConstraint(f"length(value) BETWEEN 1 AND {ATTRIBUTE_VALUE_MAX}", name="value_length"),
        # Segment queries look up (name, value) pairs and want resident ids: with the id as
        # the last key column the index alone answers them.
        Index("ix_resident_attributes_name_value", "name", "value", "resident_id"),
    )

    #: The resident; their attributes are deleted with them.
    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), primary_key=True
    )
    #: Attribute name from the vocabulary (``municipality``, ``age_band``).
    name: Mapped[str] = mapped_column(String(ATTRIBUTE_NAME_MAX), primary_key=True)
    #: The value, compared exactly in segments. Personal data: never logged.
    value: Mapped[str] = mapped_column(String(ATTRIBUTE_VALUE_MAX))
    #: When the value was last set.
    updated_at: Mapped[Updated]
