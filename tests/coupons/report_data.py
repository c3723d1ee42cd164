"""Report test data, stored directly through the models: a campaign at two facilities, card
holders with their uses, and verification attempts (shared by the report tests and the
browser test)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask import Flask

from bot.attributes import set_attribute
from bot.residents import lock_resident
from coupons.campaigns import TOKYO
from models import Facility
from models.coupons import (
    Campaign,
    CampaignStatus,
    CardHolder,
    Entitlement,
    Redemption,
    Verification,
    VerificationFailure,
    VerificationStatus,
)

#: The campaign's first and last Tokyo days.
FIRST = date(2030, 4, 1)
LAST = date(2030, 6, 30)
_numbers = itertools.count(1)


@dataclass(frozen=True)
class Seeded:
    """Ids of what :func:`seed_campaign` stored."""

    campaign: int
    museum: int
    forest: int


def seed_campaign(app: Flask, *, museum_name: str = "県立近代美術館") -> Seeded:
    """A published campaign (April to June 2030, Tokyo) at a museum and the insect forest."""
    with app.extensions["db"].unit_of_work() as session:
        museum = Facility(code="museum", name_ja=museum_name, name_en="Museum of Modern Art")
        forest = Facility(code="insect-forest", name_ja="ぐんま昆虫の森", name_en="Insect World")
        campaign = Campaign(
            code="pilot",
            name_ja="県有施設無料クーポン",
            name_en="Free entry",
            benefit_ja="入館無料",
            benefit_en="Free entry",
            status=CampaignStatus.PUBLISHED,
            uses_per_person=3,
            starts_at=datetime(2030, 4, 1, tzinfo=TOKYO).astimezone(UTC),
            ends_at=datetime(2030, 7, 1, tzinfo=TOKYO).astimezone(UTC),
            prefecture="群馬県",
            min_age=0,
            facilities=[museum, forest],
        )
        session.add(campaign)
        session.flush()
        return Seeded(campaign.id, museum.id, forest.id)


def add_person(
    app: Flask,
    seeded: Seeded,
    uses: Sequence[tuple[int, date]] = (),
    *,
    birth_year: int | None = 1990,
    prefecture: str | None = "群馬県",
    municipality: str | None = None,
    undone: Sequence[tuple[int, date]] = (),
    campaign: int | None = None,
) -> int:
    """A card holder granted the campaign, with uses ``(facility id, Tokyo day)`` and undone
    uses; ``municipality`` is their LINE account's attribute. Returns the holder's id."""
    number = next(_numbers)
    with app.extensions["db"].unit_of_work() as session:
        resident = lock_resident(session, f"U{number:032x}")
        if municipality is not None:
            set_attribute(session, resident, "municipality", municipality)
        holder = CardHolder(
            person_key=hashlib.sha256(f"person-{number}".encode()).hexdigest(),
            resident_id=resident.id,
            prefecture=prefecture,
            birth_year=birth_year,
            verified_at=datetime(2030, 4, 1, 3, tzinfo=UTC),
        )
        session.add(holder)
        session.flush()
        entitlement = Entitlement(
            campaign_id=campaign or seeded.campaign,
            holder_id=holder.id,
            uses_total=3,
            uses_left=3,
            granted_at=datetime(2030, 4, 1, 3, tzinfo=UTC),
        )
        session.add(entitlement)
        session.flush()
        for facility, day, undone_use in [(*u, False) for u in uses] + [(*u, True) for u in undone]:
            at = datetime.combine(day, datetime.min.time(), TOKYO) + timedelta(hours=10)
            session.add(
                Redemption(
                    entitlement_id=entitlement.id,
                    facility_id=facility,
                    idempotency_key=f"scan-{next(_numbers):012d}-key",
                    redeemed_at=at,
                    tokyo_day=day,
                    undone_at=at + timedelta(minutes=2) if undone_use else None,
                )
            )
        entitlement.uses_left -= len(uses)
        return holder.id


def add_attempts(
    app: Flask,
    count: int,
    status: VerificationStatus,
    failure: VerificationFailure | None = None,
    *,
    on: date = date(2030, 4, 10),
) -> None:
    """``count`` verification attempts, each from its own LINE account, created on ``on``."""
    created = datetime.combine(on, datetime.min.time(), TOKYO) + timedelta(hours=12)
    with app.extensions["db"].unit_of_work() as session:
        for _ in range(count):
            number = next(_numbers)
            resident = lock_resident(session, f"U{number:032x}")
            started = status != VerificationStatus.LINK_SENT
            finished = status in (VerificationStatus.VERIFIED, VerificationStatus.FAILED)
            session.add(
                Verification(
                    resident_id=resident.id,
                    status=status,
                    failure=failure,
                    link_expires_at=created + timedelta(minutes=10),
                    state_hash=hashlib.sha256(f"state-{number}".encode()).hexdigest()
                    if started
                    else None,
                    started_at=created + timedelta(minutes=1) if started else None,
                    finished_at=created + timedelta(minutes=2) if finished else None,
                    created_at=created,
                )
            )
