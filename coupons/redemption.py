"""Using a coupon: the code a resident shows, the clerk's scan, the use, and its undo.

Verb-first services that take a session, flush and never commit (the caller's unit of work
does). Nothing here talks to LINE: the facility page queues the resident's message.

A use, in one transaction (:func:`redeem_coupon`):

1. the entitlement's row is locked (``SELECT ... FOR UPDATE``; SQLite's ``BEGIN
   IMMEDIATE`` serialises writers anyway), so everything below sees every earlier use of
   this person's coupon;
2. the scan's idempotency key (issued with the clerk's confirm form) is looked up: a retried
   request finds the use it made and counts once;
3. the rules, in the order a clerk needs them (:func:`_refusal`); a refusal changes nothing
   but the attempt's log row;
4. with a budget, the campaign's ``uses_redeemed = uses_redeemed + 1 WHERE uses_redeemed <
   budget_uses`` (a spent budget refuses here, before anything is written); then
   ``uses_left = uses_left - 1 WHERE uses_left > 0 AND revoked_at IS NULL``; then the
   :class:`~models.coupons.Redemption` row, whose ``(entitlement, code_step)`` is unique: a
   code shown once is used once, so two staff scanning the same screen at once make one use;
   without a budget the campaign's count comes last, just before the commit, because its row
   is every clerk's and stays locked until the commit.

Every attempt, refused or not, is a :class:`~models.coupons.RedemptionAttempt` row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Select, delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from coupons.campaigns import TOKYO
from coupons.tokens import (
    STEPS_ACCEPTED,
    Subject,
    is_current,
    normalise_code,
    parse_token,
    qr_token,
    six_digits,
    step_ends,
    step_of,
    token_is_genuine,
)
from models.coupons import (
    Campaign,
    CampaignStatus,
    CouponCode,
    Entitlement,
    Redemption,
    RedemptionAttempt,
    RedemptionOutcome,
    RefusalReason,
    ScanVia,
    campaign_facilities,
)

logger = logging.getLogger(__name__)

#: How long the staff member who confirmed a use may undo it.
UNDO_WINDOW = timedelta(minutes=5)
#: Derivations tried for a code no neighbouring step has (one collision in a million).
CODE_DERIVATIONS = 8
#: How far back a typed code is still recognised, to say "expired" rather than "unknown".
RECOGNISED_STEPS = 10
#: Codes are kept this long, then purged (a clock job).
KEEP_CODES = timedelta(hours=1)


def subject_of(entitlement: Entitlement) -> Subject:
    """What an entitlement's codes are made of."""
    return Subject(entitlement.id, entitlement.holder_id, entitlement.campaign_id)


# Showing a code ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """What the resident's page shows in one step."""

    #: The 6-digit code.
    code: str
    #: The QR code's text.
    token: str
    step: int
    #: When the next step starts (seconds since the epoch).
    next_at: float


def _insert_code(session: Session, values: dict[str, object]) -> bool:
    """``INSERT ... ON CONFLICT DO NOTHING`` on any unique constraint of ``coupon_codes``."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(CouponCode).values(**values).on_conflict_do_nothing().returning(CouponCode.id)
    )
    return session.execute(statement).first() is not None


def _stored_code(session: Session, entitlement_id: int, step: int) -> str | None:
    return session.scalar(
        select(CouponCode.code).where(
            CouponCode.entitlement_id == entitlement_id, CouponCode.step == step
        )
    )


def show_code(session: Session, entitlement: Entitlement, *, key: bytes, now: datetime) -> Shown:
    """The QR token and 6-digit code of ``entitlement`` for the step ``now`` is in.

    The 6-digit code is stored the first time it is shown in a step (the clerk's typed code
    is found by it). A derived code that a coupon shows in this step or a neighbouring one
    is derived again with the next counter, so a typed code names one coupon.

    :raises RuntimeError: no free code after several derivations (never in practice).
    """
    step = step_of(now)
    subject = subject_of(entitlement)
    token = qr_token(key, subject, step)
    code = _stored_code(session, entitlement.id, step)
    counter = 0
    while code is None:
        if counter >= CODE_DERIVATIONS:
            raise RuntimeError("no free 6-digit code for this step")
        candidate = six_digits(key, subject, step, counter)
        taken = session.scalar(
            select(CouponCode.id)
            .where(CouponCode.code == candidate, CouponCode.step.between(step - 1, step + 1))
            .limit(1)
        )
        if taken is None and _insert_code(
            session,
            {
                "entitlement_id": entitlement.id,
                "step": step,
                "code": candidate,
                "attempt": counter,
                "created_at": now,
            },
        ):
            code = candidate
        else:
            # Taken, or this coupon's code for the step was stored meanwhile (another tab).
            code = _stored_code(session, entitlement.id, step)
        counter += 1
    return Shown(code=code, token=token, step=step, next_at=step_ends(step))


def purge_codes(session: Session, now: datetime) -> int:
    """Forget codes shown more than :data:`KEEP_CODES` ago.

    :return: how many were deleted.
    """
    before = step_of(now - KEEP_CODES)
    result = session.execute(
        delete(CouponCode)
        .where(CouponCode.step < before)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# Reading a scan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    """A code the clerk scanned or typed, recognised: whose coupon, shown in which step."""

    entitlement_id: int
    step: int
    via: ScanVia


@dataclass(frozen=True)
class Refused:
    """Why a code cannot be used, and what the clerk needs to say so."""

    reason: RefusalReason
    #: The coupon the code named (``None``: it names none).
    entitlement_id: int | None = None
    #: The use that stands in the way (the same code's, the day's last, this facility's last).
    previous: Redemption | None = None


def _find_code(session: Session, code: str, now: datetime) -> Scan | Refused:
    current = step_of(now)
    rows = session.execute(
        select(CouponCode.entitlement_id, CouponCode.step).where(
            CouponCode.code == code, CouponCode.step.between(current - RECOGNISED_STEPS, current)
        )
    ).all()
    live = [row for row in rows if row.step >= current - STEPS_ACCEPTED]
    if len({row.entitlement_id for row in live}) > 1:
        return Refused(RefusalReason.AMBIGUOUS_CODE)
    if live:
        newest = max(live, key=lambda row: row.step)
        return Scan(newest.entitlement_id, newest.step, ScanVia.CODE)
    if rows:
        return Refused(RefusalReason.EXPIRED, rows[0].entitlement_id)
    return Refused(RefusalReason.UNKNOWN_CODE)


def read_scan(session: Session, text: str, *, key: bytes, now: datetime) -> Scan | Refused:
    """Recognise what the clerk scanned (a QR token) or typed (6 digits).

    :return: the scan, or ``tampered`` (not a code of ours, or altered), ``expired`` (ours,
        but its minute is over), ``unknown_code``/``ambiguous_code`` (six digits no coupon,
        or two, show now).
    """
    parsed = parse_token(text)
    if parsed is not None:
        entitlement = session.get(Entitlement, parsed.entitlement_id)
        if entitlement is None or not token_is_genuine(key, subject_of(entitlement), parsed):
            return Refused(RefusalReason.TAMPERED)
        if not is_current(parsed.step, now):
            return Refused(RefusalReason.EXPIRED, entitlement.id)
        return Scan(entitlement.id, parsed.step, ScanVia.QR)
    code = normalise_code(text)
    if code is not None:
        return _find_code(session, code, now)
    return Refused(RefusalReason.TAMPERED)


def via_of(text: str) -> ScanVia:
    """How a text came in, for the log: a QR token or typed digits."""
    return ScanVia.CODE if normalise_code(text) is not None else ScanVia.QR


# The rules -----------------------------------------------------------------------------------


def _uses(entitlement_id: int) -> Select[Redemption]:
    """The entitlement's uses that stand (not undone), newest first."""
    return (
        select(Redemption)
        .where(Redemption.entitlement_id == entitlement_id, Redemption.undone_at.is_(None))
        .order_by(Redemption.redeemed_at.desc(), Redemption.id.desc())
    )


def _count(session: Session, query: Select[Redemption]) -> tuple[int, Redemption | None]:
    found = list(session.scalars(query))
    return len(found), (found[0] if found else None)


@dataclass(frozen=True)
class _Facts:
    """What the rules look at, read in two statements."""

    entitlement: Entitlement
    campaign: Campaign
    #: The campaign includes the facility.
    at_facility: bool
    #: The use made with the scan's idempotency key, if any.
    earlier: Redemption | None
    #: The use made with the same code (entitlement and step), if any.
    same_code: Redemption | None


def _facts(
    session: Session, scan: Scan, *, facility_id: int, key: str | None, lock: bool
) -> _Facts | None:
    """The coupon (row-locked if ``lock``), its campaign, whether the facility takes part,
    and the uses the scan's key or code made already; ``None`` for no such coupon."""
    here = exists().where(
        campaign_facilities.c.campaign_id == Campaign.id,
        campaign_facilities.c.facility_id == facility_id,
    )
    query = (
        select(Entitlement, Campaign, here.label("here"))
        .join(Campaign, Campaign.id == Entitlement.campaign_id)
        .where(Entitlement.id == scan.entitlement_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        query = query.with_for_update(of=Entitlement)
    found = session.execute(query).first()
    if found is None:
        return None
    entitlement, campaign, at_facility = found
    same = (Redemption.entitlement_id == entitlement.id) & (Redemption.code_step == scan.step)
    clashes = list(
        session.scalars(
            select(Redemption).where(same | (Redemption.idempotency_key == key) if key else same)
        )
    )
    return _Facts(
        entitlement,
        campaign,
        bool(at_facility),
        next((r for r in clashes if key and r.idempotency_key == key), None),
        next(
            (r for r in clashes if r.entitlement_id == entitlement.id and r.code_step == scan.step),
            None,
        ),
    )


def _refusal(session: Session, facts: _Facts, *, facility_id: int, now: datetime) -> Refused | None:
    """The first rule the use would break, in the order a clerk acts on them; ``None``."""
    entitlement, campaign = facts.entitlement, facts.campaign
    refused = entitlement.id

    def refuse(reason: RefusalReason, previous: Redemption | None = None) -> Refused:
        return Refused(reason, refused, previous)

    if entitlement.revoked_at is not None:
        return refuse(RefusalReason.REVOKED)
    if not facts.at_facility:
        return refuse(RefusalReason.WRONG_FACILITY)
    if not (
        campaign.status == CampaignStatus.PUBLISHED and campaign.starts_at <= now < campaign.ends_at
    ):
        return refuse(RefusalReason.OUTSIDE_VALIDITY)
    if facts.same_code is not None:
        return refuse(RefusalReason.CODE_USED, facts.same_code)
    if entitlement.uses_left <= 0:
        return refuse(RefusalReason.OVER_CAP)
    if campaign.uses_per_day is not None:
        today = now.astimezone(TOKYO).date()
        count, last = _count(session, _uses(entitlement.id).where(Redemption.tokyo_day == today))
        if count >= campaign.uses_per_day:
            return refuse(RefusalReason.DAY_LIMIT, last)
    if campaign.uses_per_facility is not None:
        count, last = _count(
            session, _uses(entitlement.id).where(Redemption.facility_id == facility_id)
        )
        if count >= campaign.uses_per_facility:
            return refuse(RefusalReason.FACILITY_LIMIT, last)
    if campaign.budget_uses is not None and campaign.uses_redeemed >= campaign.budget_uses:
        return refuse(RefusalReason.BUDGET_SPENT)
    return None


def _log(
    session: Session,
    *,
    now: datetime,
    facility_id: int,
    staff_id: int | None,
    via: ScanVia,
    outcome: RedemptionOutcome,
    entitlement_id: int | None = None,
    reason: RefusalReason | None = None,
    redemption_id: int | None = None,
) -> None:
    session.add(
        RedemptionAttempt(
            attempted_at=now,
            facility_id=facility_id,
            staff_id=staff_id,
            entitlement_id=entitlement_id,
            via=via,
            outcome=outcome,
            reason=reason,
            redemption_id=redemption_id,
        )
    )


def record_refusal(
    session: Session,
    refused: Refused,
    *,
    facility_id: int,
    staff_id: int | None,
    via: ScanVia,
    now: datetime,
) -> None:
    """Log a refused attempt (a scan refused before it could be confirmed)."""
    _log(
        session,
        now=now,
        facility_id=facility_id,
        staff_id=staff_id,
        via=via,
        outcome=RedemptionOutcome.REFUSED,
        entitlement_id=refused.entitlement_id,
        reason=refused.reason,
    )
    logger.info(
        "coupon refused",
        extra={"facility": facility_id, "reason": refused.reason.value, "via": via.value},
    )


@dataclass(frozen=True)
class Preview:
    """A recognised code that could be used now: what the clerk confirms."""

    entitlement: Entitlement
    campaign: Campaign


def check_scan(
    session: Session, scan: Scan, *, facility_id: int, now: datetime
) -> Preview | Refused:
    """Whether the scanned coupon could be used here now (nothing is changed)."""
    facts = _facts(session, scan, facility_id=facility_id, key=None, lock=False)
    if facts is None:
        return Refused(RefusalReason.TAMPERED)
    refused = _refusal(session, facts, facility_id=facility_id, now=now)
    return refused or Preview(facts.entitlement, facts.campaign)


# Redeeming -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Redeemed:
    """A use made (or found again for a retried request)."""

    redemption: Redemption
    entitlement: Entitlement
    #: A retry of a request that had made it already: nothing changed this time.
    replayed: bool


def redeem_coupon(
    session: Session,
    scan: Scan,
    *,
    facility_id: int,
    staff_id: int | None,
    idempotency_key: str,
    now: datetime,
) -> Redeemed | Refused:
    """Use one of the scanned coupon's uses at ``facility_id``, once per scan.

    Call it with the staff member's right to act at the facility checked (the facility
    page does). Logs the attempt whatever the outcome.

    :param idempotency_key: the scan's key (16 to 64 characters): the same key again finds
        the use it made.
    :return: the use, or why not (nothing changed but the attempt's log row).
    :raises ValueError: a key of the wrong length.
    """
    if not 16 <= len(idempotency_key) <= 64:
        raise ValueError("an idempotency key has 16 to 64 characters")

    def log(outcome: RedemptionOutcome, **values: object) -> None:
        _log(
            session,
            now=now,
            facility_id=facility_id,
            staff_id=staff_id,
            via=scan.via,
            outcome=outcome,
            **values,  # type: ignore[arg-type]
        )

    facts = _facts(session, scan, facility_id=facility_id, key=idempotency_key, lock=True)
    refused: Refused | None
    if facts is None:
        refused = Refused(RefusalReason.TAMPERED)
        record_refusal(
            session, refused, facility_id=facility_id, staff_id=staff_id, via=scan.via, now=now
        )
        return refused
    entitlement, campaign = facts.entitlement, facts.campaign
    earlier = facts.earlier
    if earlier is not None:
        if earlier.entitlement_id != entitlement.id or earlier.facility_id != facility_id:
            refused = Refused(RefusalReason.TAMPERED, entitlement.id)
            record_refusal(
                session, refused, facility_id=facility_id, staff_id=staff_id, via=scan.via, now=now
            )
            return refused
        log(
            RedemptionOutcome.REPLAYED,
            entitlement_id=entitlement.id,
            redemption_id=earlier.id,
        )
        return Redeemed(earlier, entitlement, replayed=True)

    refused = _refusal(session, facts, facility_id=facility_id, now=now)
    budgeted = campaign.budget_uses is not None
    if refused is None and budgeted and not _count_use(session, campaign):
        refused = Refused(RefusalReason.BUDGET_SPENT, entitlement.id)
    if refused is None and not _take_use(session, entitlement):
        if budgeted:
            _count_use(session, campaign, by=-1)
        refused = Refused(RefusalReason.OVER_CAP, entitlement.id)
    if refused is not None:
        record_refusal(
            session, refused, facility_id=facility_id, staff_id=staff_id, via=scan.via, now=now
        )
        return refused

    redemption = Redemption(
        entitlement_id=entitlement.id,
        facility_id=facility_id,
        staff_id=staff_id,
        idempotency_key=idempotency_key,
        code_step=scan.step,
        redeemed_at=now,
        tokyo_day=now.astimezone(TOKYO).date(),
    )
    session.add(redemption)
    session.flush()
    log(RedemptionOutcome.REDEEMED, entitlement_id=entitlement.id, redemption_id=redemption.id)
    if not budgeted:
        # Last, just before the commit: the campaign's row is every clerk's, and it stays
        # locked from this update to the commit. (Without a budget it cannot refuse.)
        session.flush()
        _count_use(session, campaign)
    logger.info(
        "coupon redeemed",
        extra={"redemption": redemption.id, "facility": facility_id, "via": scan.via.value},
    )
    return Redeemed(redemption, entitlement, replayed=False)


def _take_use(session: Session, entitlement: Entitlement) -> bool:
    """Take one of the entitlement's uses (a conditional update: none left, nothing taken).

    :return: False when none was left or the coupon is revoked.
    """
    left = session.execute(
        update(Entitlement)
        .where(
            Entitlement.id == entitlement.id,
            Entitlement.uses_left > 0,
            Entitlement.revoked_at.is_(None),
        )
        .values(uses_left=Entitlement.uses_left - 1)
        .returning(Entitlement.uses_left)
        .execution_options(synchronize_session=False)
    ).scalar()
    if left is None:
        return False
    set_committed_value(entitlement, "uses_left", left)
    return True


def _count_use(session: Session, campaign: Campaign, *, by: int = 1) -> bool:
    """Count a use in the campaign's total (a conditional update: a budget that is reached
    counts nothing); ``by=-1`` gives one back.

    :return: False when the budget was reached.
    """
    query = update(Campaign).where(Campaign.id == campaign.id)
    if by > 0:
        query = query.where(
            Campaign.budget_uses.is_(None) | (Campaign.uses_redeemed < Campaign.budget_uses)
        )
    counted = session.execute(
        query.values(uses_redeemed=Campaign.uses_redeemed + by).execution_options(
            synchronize_session=False
        )
    )
    return bool(counted.rowcount)  # type: ignore[attr-defined]


# Undoing -------------------------------------------------------------------------------------


class UndoRefusal(StrEnum):
    """Why a use cannot be undone."""

    #: No such use (or not at this facility).
    UNKNOWN = "unknown"
    #: Undone already.
    UNDONE = "undone"
    #: Someone else confirmed it: only they may undo it.
    OTHER_STAFF = "other_staff"
    #: More than five minutes ago.
    TOO_LATE = "too_late"


@dataclass(frozen=True)
class Undone:
    """A use given back."""

    redemption: Redemption
    entitlement: Entitlement


def undo_redemption(
    session: Session, redemption_id: int, *, facility_id: int, staff_id: int, now: datetime
) -> Undone | UndoRefusal:
    """Give a use back: only the staff member who confirmed it, within five minutes.

    :return: the use undone, or why not (nothing changed).
    """
    redemption = session.scalars(
        select(Redemption)
        .where(Redemption.id == redemption_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if redemption is None or redemption.facility_id != facility_id:
        return UndoRefusal.UNKNOWN
    if redemption.undone_at is not None:
        return UndoRefusal.UNDONE
    if redemption.staff_id != staff_id:
        return UndoRefusal.OTHER_STAFF
    if now - redemption.redeemed_at > UNDO_WINDOW:
        return UndoRefusal.TOO_LATE
    entitlement = session.scalars(
        select(Entitlement)
        .where(Entitlement.id == redemption.entitlement_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    redemption.undone_at = now
    redemption.undone_by_id = staff_id
    session.execute(
        update(Entitlement)
        .where(Entitlement.id == entitlement.id, Entitlement.uses_left < Entitlement.uses_total)
        .values(uses_left=Entitlement.uses_left + 1)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Campaign)
        .where(Campaign.id == entitlement.campaign_id, Campaign.uses_redeemed > 0)
        .values(uses_redeemed=Campaign.uses_redeemed - 1)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    session.refresh(entitlement, ["uses_left"])
    logger.info("coupon use undone", extra={"redemption": redemption.id})
    return Undone(redemption, entitlement)
