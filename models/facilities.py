"""Facilities (prefectural museums, parks, ...) and the staff who work at them.

Staff with the facility role act only at the facilities they are linked to (coupon
redemption, for instance); ``bot.console.roles.require_facility`` enforces it.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Created, IntPK, Updated

#: Longest facility code.
CODE_LENGTH = 32
#: Longest facility name, in each language.
NAME_LENGTH = 200
#: Longest address, in each language.
ADDRESS_LENGTH = 300
#: Longest description of the opening hours, in each language.
HOURS_LENGTH = 500


class Facility(Base):
    """A place residents visit, where facility staff work."""

    __tablename__ = "facilities"
    __table_args__ = (
        CheckConstraint("code = lower(code)", name="code_lowercase"),
        CheckConstraint("length(code) > 0", name="code_not_empty"),
        CheckConstraint("length(name_ja) > 0 AND length(name_en) > 0", name="names_not_empty"),
    )

    id: Mapped[IntPK]
    #: Short code staff and the CLI name the facility by (``a-z``, ``0-9``, ``-``), unique.
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    #: Name shown to Japanese-speaking residents and staff.
    name_ja: Mapped[str] = mapped_column(String(NAME_LENGTH))
    #: Name shown in English.
    name_en: Mapped[str] = mapped_column(String(NAME_LENGTH))
    #: Postal address shown to residents (``群馬県高崎市綿貫町992-1``), in Japanese and English.
    address_ja: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    address_en: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    #: Opening hours and closing days as residents read them, in Japanese and English.
    opening_hours_ja: Mapped[str | None] = mapped_column(String(HOURS_LENGTH))
    opening_hours_en: Mapped[str | None] = mapped_column(String(HOURS_LENGTH))
    #: A closed facility stays for the records; nobody acts there any more.
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[Created]
    updated_at: Mapped[Updated]

    def name(self, language: str) -> str:
        """The name in ``language`` (Japanese unless English is asked for)."""
        return self.name_en if language == "en" else self.name_ja

    def address(self, language: str) -> str | None:
        """The address in ``language``, else in Japanese, else ``None``."""
        return (self.address_en if language == "en" else None) or self.address_ja

    def opening_hours(self, language: str) -> str | None:
        """The opening hours in ``language``, else in Japanese, else ``None``."""
        return (self.opening_hours_en if language == "en" else None) or self.opening_hours_ja


class StaffFacility(Base):
    """One staff member works at one facility."""

    __tablename__ = "staff_facilities"

    #: The staff member.
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True
    )
    #: The facility (indexed: who works here?).
    facility_id: Mapped[int] = mapped_column(
        ForeignKey("facilities.id", ondelete="CASCADE"), primary_key=True, index=True
    )
