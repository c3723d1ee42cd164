"""Coupon services: campaigns and facilities, verification attempts, card holders, grants.

Verb-first functions that take a session, flush and never commit (the caller's unit of
work does). Nothing here talks to the identity provider or LINE: the views and handlers
call :mod:`coupons.verification` between transactions and queue messages themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from bot.db import insert_ignore
from coupons.campaigns import (
    TOKYO,
    CampaignFile,
    CampaignInvalid,
    CampaignSpec,
    FacilitySpec,
    Problem,
)
from coupons.identity import CardHolderFacts, person_key
from coupons.verification import Wanted
from models import Facility, Resident
from models.coupons import (
    Campaign,
    CampaignStatus,
    CardHolder,
    Entitlement,
    Verification,
    VerificationFailure,
    VerificationStatus,
)

logger = logging.getLogger(__name__)

#: The window of the per-resident limit on verification attempts.
ATTEMPT_WINDOW = timedelta(hours=1)


# Campaigns and facilities --------------------------------------------------------------------


def open_campaigns(session: Session, now: datetime) -> list[Campaign]:
    """Campaigns granted now: published, within their period, budget not used up."""
    query = (
        select(Campaign)
        .options(selectinload(Campaign.facilities))
        .where(
            Campaign.status == CampaignStatus.PUBLISHED,
            Campaign.starts_at <= now,
            Campaign.ends_at > now,
            (Campaign.budget_uses.is_(None)) | (Campaign.uses_redeemed < Campaign.budget_uses),
        )
        .order_by(Campaign.starts_at, Campaign.id)
    )
    return list(session.scalars(query))


def wanted_for(campaigns: Sequence[Campaign]) -> Wanted:
    """The facts these campaigns check (and so the scopes to ask for)."""
    return Wanted(
        prefecture=any(c.checks_prefecture for c in campaigns),
        birth_date=any(c.checks_age for c in campaigns),
    )


def list_campaigns(session: Session) -> list[tuple[Campaign, int]]:
    """Every campaign, newest period first, with how many people were granted it."""
    granted = (
        select(Entitlement.campaign_id, func.count().label("n"))
        .group_by(Entitlement.campaign_id)
        .subquery()
    )
    query = (
        select(Campaign, func.coalesce(granted.c.n, 0))
        .outerjoin(granted, granted.c.campaign_id == Campaign.id)
        .order_by(Campaign.starts_at.desc(), Campaign.id.desc())
    )
    return [(campaign, int(count)) for campaign, count in session.execute(query).all()]


def save_facility(session: Session, spec: FacilitySpec) -> tuple[Facility, bool]:
    """Create the facility of this code, or update its names, address and hours.

    :return: the facility and whether it was created.
    """
    facility = session.scalars(select(Facility).where(Facility.code == spec.code)).first()
    created = facility is None
    if facility is None:
        facility = Facility(code=spec.code)
        session.add(facility)
    facility.name_ja, facility.name_en = spec.name_ja, spec.name_en
    facility.address_ja, facility.address_en = spec.address_ja, spec.address_en
    facility.opening_hours_ja = spec.opening_hours_ja
    facility.opening_hours_en = spec.opening_hours_en
    session.flush()
    return facility, created


def _stored_problems(
    session: Session, spec: CampaignSpec, campaign: Campaign | None, path: str
) -> list[Problem]:
    """What the database says against storing ``spec`` (unknown facilities, a lowered cap)."""
    problems = []
    known = set(
        session.scalars(select(Facility.code).where(Facility.code.in_(spec.facility_codes)))
    )
    for index, code in enumerate(spec.facility_codes):
        if code not in known:
            message = _l("there is no facility %(code)s", code=code)
            problems.append(Problem(f"{path}.facilities[{index}]", message))
    if campaign is None:
        return problems
    granted = session.scalar(
        select(func.count()).select_from(Entitlement).where(Entitlement.campaign_id == campaign.id)
    )
    if granted and spec.uses_per_person < campaign.uses_per_person:
        problems.append(
            Problem(
                f"{path}.uses_per_person",
                _l(
                    "cannot go below %(uses)s: %(count)s people have the coupons already",
                    uses=campaign.uses_per_person,
                    count=granted,
                ),
            )
        )
    if spec.budget_uses is not None and spec.budget_uses < campaign.uses_redeemed:
        problems.append(
            Problem(
                f"{path}.budget_uses",
                _l("cannot be below the %(count)s uses already made", count=campaign.uses_redeemed),
            )
        )
    return problems


def check_new_code(session: Session, code: str, *, path: str = "campaign") -> None:
    """Refuse a code another campaign has (a new campaign in the console).

    :raises CampaignInvalid: the code is taken.
    """
    if session.scalar(select(Campaign.id).where(Campaign.code == code)) is not None:
        message = _l("campaign %(code)s exists already", code=code)
        raise CampaignInvalid([Problem(f"{path}.code", message)])


def save_campaign(
    session: Session,
    spec: CampaignSpec,
    *,
    campaign: Campaign | None = None,
    path: str = "campaign",
) -> Campaign:
    """Create a campaign, or update ``campaign`` (its code stays).

    Raising ``uses_per_person`` gives everyone already granted the extra uses; lowering it
    after grants is refused.

    :raises CampaignInvalid: an unknown facility, a lowered cap after grants, a budget below
        the uses already made.
    """
    problems = _stored_problems(session, spec, campaign, path)
    if problems:
        raise CampaignInvalid(problems)
    created = campaign is None
    if campaign is None:
        campaign = Campaign(code=spec.code)
        session.add(campaign)
    raised = 0 if created else spec.uses_per_person - campaign.uses_per_person
    campaign.name_ja, campaign.name_en = spec.name_ja, spec.name_en
    campaign.benefit_ja, campaign.benefit_en = spec.benefit_ja, spec.benefit_en
    campaign.status = spec.status
    campaign.uses_per_person = spec.uses_per_person
    campaign.uses_per_day, campaign.uses_per_facility = spec.uses_per_day, spec.uses_per_facility
    campaign.starts_at, campaign.ends_at = spec.starts_at, spec.ends_at
    campaign.budget_uses = spec.budget_uses
    campaign.prefecture = spec.prefecture
    campaign.min_age, campaign.max_age = spec.min_age, spec.max_age
    campaign.facilities = list(
        session.scalars(
            select(Facility).where(Facility.code.in_(spec.facility_codes)).order_by(Facility.code)
        )
    )
    session.flush()
    if raised > 0:
        session.execute(
            update(Entitlement)
            .where(Entitlement.campaign_id == campaign.id)
            .values(
                uses_total=Entitlement.uses_total + raised,
                uses_left=Entitlement.uses_left + raised,
            )
        )
    return campaign


@dataclass(frozen=True)
class Imported:
    """What importing a campaign file stored."""

    campaign: Campaign
    created: bool
    facilities_created: list[str]
    facilities_updated: list[str]


def import_campaign(session: Session, file: CampaignFile) -> Imported:
    """Store a checked campaign file: its facilities (by code), then its campaign (by code).

    A refusal raises out of the caller's unit of work, which rolls back: all or nothing.

    :raises CampaignInvalid: with every problem the database shows.
    """
    spec = file.campaign
    existing = session.scalars(select(Campaign).where(Campaign.code == spec.code)).first()
    created: list[str] = []
    updated: list[str] = []
    for facility_spec in file.facilities:
        _facility, new = save_facility(session, facility_spec)
        (created if new else updated).append(facility_spec.code)
    campaign = save_campaign(session, spec, campaign=existing)
    return Imported(campaign, existing is None, created, updated)


# Verification attempts -----------------------------------------------------------------------


@dataclass(frozen=True)
class TooManyAttempts:
    """The resident used up their verification attempts for now."""

    #: When the next attempt will be allowed.
    retry_at: datetime


def issue_verification(
    session: Session, resident: Resident, *, now: datetime, lifetime: timedelta, per_hour: int
) -> Verification | TooManyAttempts:
    """Start an attempt for a one-time link, unless the resident made ``per_hour`` already
    in the last hour (counted in the database: every process sees the same count).

    Call it with the resident's row locked (a webhook event's unit of work does), so two
    taps at once cannot both take the last attempt.
    """
    recent = list(
        session.scalars(
            select(Verification.created_at)
            .where(
                Verification.resident_id == resident.id,
                Verification.created_at > now - ATTEMPT_WINDOW,
            )
            .order_by(Verification.created_at)
        )
    )
    if len(recent) >= per_hour:
        return TooManyAttempts(recent[len(recent) - per_hour] + ATTEMPT_WINDOW)
    verification = Verification(
        resident_id=resident.id,
        status=VerificationStatus.LINK_SENT,
        link_expires_at=now + lifetime,
        created_at=now,
    )
    session.add(verification)
    session.flush()
    return verification


def start_verification(
    session: Session, verification_id: int, *, state_hash: str, now: datetime
) -> bool:
    """Spend the one-time link: ``link_sent`` → ``started``, if it is unused and in time.

    :return: False when the link was used already or has expired (nothing changed).
    """
    result = session.execute(
        update(Verification)
        .where(
            Verification.id == verification_id,
            Verification.status == VerificationStatus.LINK_SENT,
            Verification.link_expires_at > now,
        )
        .values(status=VerificationStatus.STARTED, state_hash=state_hash, started_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def find_by_state(session: Session, state_hash: str) -> Verification | None:
    """The attempt an OpenID Connect state belongs to."""
    return session.scalars(
        select(Verification).where(Verification.state_hash == state_hash)
    ).first()


def take_answer(session: Session, verification_id: int) -> bool:
    """Take the provider's answer once: ``started`` → ``exchanging``.

    :return: False when it was taken already (a replayed or repeated answer).
    """
    result = session.execute(
        update(Verification)
        .where(
            Verification.id == verification_id,
            Verification.status == VerificationStatus.STARTED,
        )
        .values(status=VerificationStatus.EXCHANGING)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def fail_verification(
    session: Session, verification: Verification, reason: VerificationFailure, now: datetime
) -> bool:
    """Record why an attempt failed (nothing is granted).

    :return: False when the attempt had finished already (its outcome stands).
    """
    if verification.status in (VerificationStatus.VERIFIED, VerificationStatus.FAILED):
        return False
    verification.status = VerificationStatus.FAILED
    verification.failure = reason
    verification.finished_at = now
    session.flush()
    logger.info(
        "coupon verification failed",
        extra={"verification": verification.id, "reason": reason.value},
    )
    return True


# Card holders and grants ----------------------------------------------------------------------


def is_eligible(campaign: Campaign, facts: CardHolderFacts, day: date) -> bool:
    """True when the verified facts meet the campaign's conditions on ``day``."""
    if campaign.prefecture is not None and facts.prefecture != campaign.prefecture:
        return False
    if campaign.checks_age:
        age = facts.age_on(day)
        if age is None:
            return False
        if campaign.min_age is not None and age < campaign.min_age:
            return False
        if campaign.max_age is not None and age > campaign.max_age:
            return False
    return True


@dataclass
class Verified:
    """The outcome of a successful verification."""

    holder: CardHolder | None
    #: The person's coupons of open campaigns (kept from before, and granted now).
    entitlements: list[Entitlement] = field(default_factory=list)
    #: Campaign ids granted by this verification.
    granted: list[int] = field(default_factory=list)
    #: The LINE account the person used before, which no longer gets their coupons.
    moved_from: Resident | None = None

    @property
    def eligible(self) -> bool:
        """False when nothing open is for this person (nothing was stored about them)."""
        return bool(self.entitlements)


def _lock_holder(session: Session, key: str) -> CardHolder | None:
    return session.scalars(
        select(CardHolder).where(CardHolder.person_key == key).with_for_update()
    ).first()


def record_verified(
    session: Session,
    verification: Verification,
    resident: Resident,
    facts: CardHolderFacts,
    *,
    secret: str,
    now: datetime,
) -> Verified:
    """Grant what the person may have and attach them to this LINE account.

    The person is found by their key (HMAC of issuer and subject). Coupons they have already
    stay as they are (the cap follows the person); open campaigns they are eligible for and
    do not have yet are granted. The LINE account is attached to them; the one they used
    before (if another) is detached and returned in ``moved_from`` to be told. A person for
    whom nothing is open is not stored at all, and the attempt fails ``not_eligible``.
    """
    campaigns = open_campaigns(session, now)
    key = person_key(secret, facts.issuer, facts.subject)
    holder = _lock_holder(session, key)
    have: dict[int, Entitlement] = {}
    if holder is not None:
        have = {
            e.campaign_id: e
            for e in holder.entitlements
            if any(c.id == e.campaign_id for c in campaigns)
        }
    day = now.astimezone(TOKYO).date()
    new = [c for c in campaigns if c.id not in have and is_eligible(c, facts, day)]
    if not have and not new:
        fail_verification(session, verification, VerificationFailure.NOT_ELIGIBLE, now)
        return Verified(holder=None)

    if holder is None:
        insert_ignore(
            session,
            CardHolder,
            {"person_key": key, "verified_at": now, "created_at": now, "updated_at": now},
            ["person_key"],
        )
        # Inserted just now, or by a concurrent verification of the same person.
        holder = session.scalars(
            select(CardHolder).where(CardHolder.person_key == key).with_for_update()
        ).one()
    moved_from = _attach(session, holder, resident)
    wanted = wanted_for(campaigns)
    holder.prefecture = facts.prefecture if wanted.prefecture else None
    holder.birth_year = facts.birth_date.year if wanted.birth_date and facts.birth_date else None
    holder.verified_at = now
    for campaign in new:
        insert_ignore(
            session,
            Entitlement,
            {
                "campaign_id": campaign.id,
                "holder_id": holder.id,
                "uses_total": campaign.uses_per_person,
                "uses_left": campaign.uses_per_person,
                "granted_at": now,
                "updated_at": now,
            },
            ["campaign_id", "holder_id"],
        )
    verification.status = VerificationStatus.VERIFIED
    verification.holder_id = holder.id
    verification.finished_at = now
    session.flush()
    session.expire(holder, ["entitlements"])
    entitlements = [e for e in holder.entitlements if any(c.id == e.campaign_id for c in campaigns)]
    logger.info(
        "coupon verification succeeded",
        extra={
            "verification": verification.id,
            "holder": holder.id,
            "granted": [c.id for c in new],
            "moved": moved_from is not None,
        },
    )
    return Verified(holder, entitlements, [c.id for c in new], moved_from)


def _attach(session: Session, holder: CardHolder, resident: Resident) -> Resident | None:
    """Make ``resident`` the holder's LINE account; return the one it replaces, if any."""
    previous = holder.resident_id
    if previous == resident.id:
        return None
    # The account may hold another person's coupons (a shared phone): it now holds these.
    session.execute(
        update(CardHolder)
        .where(CardHolder.resident_id == resident.id, CardHolder.id != holder.id)
        .values(resident_id=None)
        .execution_options(synchronize_session=False)
    )
    holder.resident_id = resident.id
    session.flush()
    return session.get(Resident, previous) if previous is not None else None


def holder_of(session: Session, resident: Resident) -> CardHolder | None:
    """The card holder attached to this LINE account, if any."""
    return session.scalars(select(CardHolder).where(CardHolder.resident_id == resident.id)).first()


def usable_entitlements(session: Session, holder: CardHolder, now: datetime) -> list[Entitlement]:
    """The holder's coupons of campaigns that are published and not over (budget aside)."""
    query = (
        select(Entitlement)
        .join(Campaign, Campaign.id == Entitlement.campaign_id)
        .options(selectinload(Entitlement.campaign).selectinload(Campaign.facilities))
        .where(
            Entitlement.holder_id == holder.id,
            Entitlement.revoked_at.is_(None),
            Campaign.status == CampaignStatus.PUBLISHED,
            Campaign.ends_at > now,
        )
        .order_by(Campaign.ends_at, Entitlement.id)
    )
    return list(session.scalars(query))
