"""Using a coupon, at the service level: codes that rotate and expire, tampering, the rules
and their reasons, idempotent retries, two staff at once, undo, and the attempts' log.

Runs on SQLite and on PostgreSQL (``TEST_DATABASE_URL``); the parallel tests use real
threads, each with its own unit of work, released together.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from bot.console.users import create_staff
from bot.features import seam
from bot.jobs import run_job
from coupons import redemption
from coupons.redemption import Redeemed, Refused, Scan, Shown, Undone, UndoRefusal
from coupons.tokens import STEP_SECONDS, app_key, qr_token, six_digits, step_of
from models import Role
from models.base import utcnow
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
)
from tests.coupons.conftest import Coupon, at_once, facility_id, grant, stored_campaign
from tests.support import PASSWORD

#: The middle of a time step (far from its edges, so a test's own seconds do not matter).
NOW = datetime.fromtimestamp((step_of(utcnow()) * STEP_SECONDS) + 10, tz=utcnow().tzinfo)


def later(steps: int) -> datetime:
    return NOW + timedelta(seconds=steps * STEP_SECONDS)


def _staff(app: Flask, email: str) -> int:
    with app.extensions["db"].unit_of_work() as session:
        return create_staff(
            session, email=email, display_name="受付", password=PASSWORD, roles={Role.FACILITY}
        ).id


@pytest.fixture
def museum(app: Flask) -> int:
    return facility_id(app, "museum")


@pytest.fixture
def clerk(app: Flask) -> int:
    return _staff(app, "clerk@museum.example.jp")


@pytest.fixture
def coupon(app: Flask, campaign: Callable[..., Campaign]) -> Coupon:
    return grant(app, campaign())


def show(app: Flask, coupon: Coupon, now: datetime = NOW) -> Shown:
    with app.extensions["db"].unit_of_work() as session:
        entitlement = session.get(Entitlement, coupon.entitlement_id)
        assert entitlement is not None
        return redemption.show_code(session, entitlement, key=app_key(app), now=now)


def scan(app: Flask, text: str, now: datetime = NOW) -> Scan | Refused:
    with app.extensions["db"].unit_of_work() as session:
        return redemption.read_scan(session, text, key=app_key(app), now=now)


def redeem(
    app: Flask,
    text: str,
    facility: int,
    staff: int,
    *,
    now: datetime = NOW,
    key: str | None = None,
) -> Redeemed | Refused:
    """Scan and redeem in one unit of work, as the facility page's confirm does."""
    with app.extensions["db"].unit_of_work() as session:
        found = redemption.read_scan(session, text, key=app_key(app), now=now)
        if isinstance(found, Refused):
            redemption.record_refusal(
                session, found, facility_id=facility, staff_id=staff, via=ScanVia.QR, now=now
            )
            return found
        return redemption.redeem_coupon(
            session,
            found,
            facility_id=facility,
            staff_id=staff,
            idempotency_key=key or secrets.token_urlsafe(24),
            now=now,
        )


def uses_left(app: Flask, coupon: Coupon) -> int:
    with app.extensions["db"].sessions() as session:
        entitlement = session.get(Entitlement, coupon.entitlement_id)
        assert entitlement is not None
        return entitlement.uses_left


def reason(outcome: object) -> RefusalReason:
    assert isinstance(outcome, Refused), outcome
    return outcome.reason


def attempts(app: Flask) -> list[tuple[str, str | None]]:
    with app.extensions["db"].sessions() as session:
        rows = session.scalars(select(RedemptionAttempt).order_by(RedemptionAttempt.id))
        return [(r.outcome.value, r.reason.value if r.reason else None) for r in rows]


# The codes -----------------------------------------------------------------------------------


def test_the_codes_change_every_step_and_stay_within_one(app: Flask, coupon: Coupon) -> None:
    first = show(app, coupon)
    assert first == show(app, coupon, NOW + timedelta(seconds=15))  # the same step
    assert len(first.code) == 6
    assert first.code.isdigit()
    assert first.token.startswith(f"MC1.{coupon.entitlement_id}.{first.step}.")
    following = show(app, coupon, later(1))
    assert following.step == first.step + 1
    assert following.token != first.token
    assert following.code != first.code
    assert following.next_at == first.next_at + STEP_SECONDS


def test_a_qr_token_works_in_its_step_and_the_next_only(app: Flask, coupon: Coupon) -> None:
    token = show(app, coupon).token
    expected = Scan(coupon.entitlement_id, step_of(NOW), ScanVia.QR)
    assert scan(app, token) == expected
    assert scan(app, token, later(1)) == expected
    assert reason(scan(app, token, later(2))) == RefusalReason.EXPIRED  # a screenshot, later
    assert reason(scan(app, token, NOW - timedelta(seconds=STEP_SECONDS))) == RefusalReason.EXPIRED


def test_a_typed_code_works_in_its_step_and_the_next_only(app: Flask, coupon: Coupon) -> None:
    code = show(app, coupon).code
    expected = Scan(coupon.entitlement_id, step_of(NOW), ScanVia.CODE)
    assert scan(app, code) == expected
    assert scan(app, f" {code[:3]}-{code[3:]} ") == expected  # as a clerk may type it
    full_width = code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert scan(app, full_width) == expected
    assert scan(app, code, later(1)) == expected
    assert reason(scan(app, code, later(2))) == RefusalReason.EXPIRED
    other = f"{(int(code) + 1) % 1_000_000:06d}"
    assert reason(scan(app, other)) == RefusalReason.UNKNOWN_CODE


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # the mac
        lambda t: t.replace(".", ".9", 1),  # the entitlement
        lambda t: ".".join([*t.split(".")[:2], str(int(t.split(".")[2]) + 1), t.split(".")[3]]),
        lambda t: t + "x",
        lambda t: "https://example.com/?" + t,
        lambda t: "",
        lambda t: "1234567",
    ],
    ids=["mac", "entitlement", "step", "longer", "url", "empty", "seven-digits"],
)
def test_an_altered_token_is_tampered(
    app: Flask, coupon: Coupon, change: Callable[[str], str]
) -> None:
    assert reason(scan(app, change(show(app, coupon).token))) == RefusalReason.TAMPERED


def test_a_token_of_another_key_is_tampered(app: Flask, coupon: Coupon) -> None:
    subject = redemption.subject_of
    with app.extensions["db"].sessions() as session:
        entitlement = session.get(Entitlement, coupon.entitlement_id)
        assert entitlement is not None
        forged = qr_token(b"not the server's key", subject(entitlement), step_of(NOW))
    assert reason(scan(app, forged)) == RefusalReason.TAMPERED


def test_a_code_another_coupon_shows_is_derived_again(
    app: Flask, campaign: Callable[..., Campaign]
) -> None:
    pilot = campaign()
    mine, other = grant(app, pilot, number=1), grant(app, pilot, number=2)
    with app.extensions["db"].unit_of_work() as session:
        entitlement = session.get(Entitlement, mine.entitlement_id)
        assert entitlement is not None
        subject = redemption.subject_of(entitlement)
        first_choice = six_digits(app_key(app), subject, step_of(NOW), 0)
        # The other coupon showed that code in the step before: it is taken for this one.
        session.add(
            CouponCode(
                entitlement_id=other.entitlement_id,
                step=step_of(NOW) - 1,
                code=first_choice,
                created_at=NOW,
            )
        )
    shown = show(app, mine)
    assert shown.code == six_digits(app_key(app), subject, step_of(NOW), 1)
    assert shown.code != first_choice
    assert scan(app, shown.code) == Scan(mine.entitlement_id, step_of(NOW), ScanVia.CODE)
    # The taken code still names the other coupon alone (it was shown a step ago).
    assert scan(app, first_choice) == Scan(other.entitlement_id, step_of(NOW) - 1, ScanVia.CODE)


def test_a_code_two_coupons_show_is_refused_as_ambiguous(
    app: Flask, campaign: Callable[..., Campaign]
) -> None:
    pilot = campaign()
    one, two = grant(app, pilot, number=1), grant(app, pilot, number=2)
    with app.extensions["db"].unit_of_work() as session:
        for coupon, step in ((one, step_of(NOW)), (two, step_of(NOW) - 1)):
            session.add(CouponCode(entitlement_id=coupon.entitlement_id, step=step, code="123456"))
    assert reason(scan(app, "123456")) == RefusalReason.AMBIGUOUS_CODE


def test_old_codes_are_purged_by_the_clock(app: Flask, coupon: Coupon) -> None:
    show(app, coupon, utcnow() - timedelta(hours=2))
    show(app, coupon, utcnow())
    [job] = [j for j in seam(app).jobs if j.id == "coupons.purge-codes"]
    assert job.every == timedelta(minutes=10)
    assert run_job(app, job) == 1
    with app.extensions["db"].sessions() as session:
        assert session.scalar(select(func.count()).select_from(CouponCode)) == 1


# Redeeming -----------------------------------------------------------------------------------


def test_a_use_takes_one_from_the_person_and_the_budget(
    app: Flask, coupon: Coupon, museum: int, clerk: int
) -> None:
    outcome = redeem(app, show(app, coupon).token, museum, clerk)
    assert isinstance(outcome, Redeemed)
    assert not outcome.replayed
    assert outcome.entitlement.uses_left == 2
    assert uses_left(app, coupon) == 2
    assert stored_campaign(app, "pilot").uses_redeemed == 1
    with app.extensions["db"].sessions() as session:
        row = session.scalars(select(Redemption)).one()
    assert (row.facility_id, row.staff_id, row.code_step) == (museum, clerk, step_of(NOW))
    assert row.tokyo_day == NOW.astimezone(redemption.TOKYO).date()
    assert attempts(app) == [("redeemed", None)]


def test_a_retried_request_counts_once(app: Flask, coupon: Coupon, museum: int, clerk: int) -> None:
    token = show(app, coupon).token
    key = secrets.token_urlsafe(24)
    first = redeem(app, token, museum, clerk, key=key)
    again = redeem(app, token, museum, clerk, key=key, now=NOW + timedelta(seconds=5))
    assert isinstance(first, Redeemed)
    assert isinstance(again, Redeemed)
    assert again.replayed
    assert again.redemption.id == first.redemption.id
    assert uses_left(app, coupon) == 2
    assert attempts(app) == [("redeemed", None), ("replayed", None)]


def test_the_same_code_is_used_once(app: Flask, coupon: Coupon, museum: int, clerk: int) -> None:
    shown = show(app, coupon)
    assert isinstance(redeem(app, shown.token, museum, clerk), Redeemed)
    second = redeem(app, shown.code, museum, clerk)  # the same screen, typed this time
    assert reason(second) == RefusalReason.CODE_USED
    assert isinstance(second, Refused)
    assert second.previous is not None
    assert uses_left(app, coupon) == 2
    # The next code (30 seconds later) is another use.
    assert isinstance(
        redeem(app, show(app, coupon, later(1)).token, museum, clerk, now=later(1)), Redeemed
    )
    assert uses_left(app, coupon) == 1


def test_two_staff_scanning_at_once_make_one_use(
    app: Flask, coupon: Coupon, museum: int, clerk: int
) -> None:
    other = _staff(app, "other@museum.example.jp")
    token = show(app, coupon).token
    outcomes = at_once(
        [lambda: redeem(app, token, museum, clerk), lambda: redeem(app, token, museum, other)] * 2
    )
    assert sum(isinstance(o, Redeemed) for o in outcomes) == 1
    assert (
        sorted(reason(o) for o in outcomes if isinstance(o, Refused))
        == [RefusalReason.CODE_USED] * 3
    )
    assert uses_left(app, coupon) == 2
    assert stored_campaign(app, "pilot").uses_redeemed == 1


def test_a_retry_racing_its_first_request_counts_once(
    app: Flask, coupon: Coupon, museum: int, clerk: int
) -> None:
    token = show(app, coupon).token
    key = secrets.token_urlsafe(24)
    outcomes = at_once([lambda: redeem(app, token, museum, clerk, key=key)] * 3)
    assert all(isinstance(o, Redeemed) for o in outcomes)
    assert sorted(o.replayed for o in outcomes if isinstance(o, Redeemed)) == [False, True, True]
    assert uses_left(app, coupon) == 2


def test_no_more_than_the_cap_across_facilities(
    app: Flask, coupon: Coupon, museum: int, clerk: int
) -> None:
    forest = facility_id(app, "insect-forest")
    for step, facility in enumerate([museum, forest, museum]):
        outcome = redeem(
            app, show(app, coupon, later(step)).token, facility, clerk, now=later(step)
        )
        assert isinstance(outcome, Redeemed), outcome
    over = redeem(app, show(app, coupon, later(3)).token, forest, clerk, now=later(3))
    assert reason(over) == RefusalReason.OVER_CAP
    assert uses_left(app, coupon) == 0
    assert stored_campaign(app, "pilot").uses_redeemed == 3


def test_only_at_the_campaigns_facilities(app: Flask, coupon: Coupon, clerk: int) -> None:
    library = facility_id(app, "library")
    assert reason(redeem(app, show(app, coupon).token, library, clerk)) == (
        RefusalReason.WRONG_FACILITY
    )
    assert uses_left(app, coupon) == 3
    assert attempts(app) == [("refused", "wrong_facility")]


@pytest.mark.parametrize(
    "values",
    [
        {"status": CampaignStatus.WITHDRAWN},
        {"starts_at": NOW + timedelta(days=1), "ends_at": NOW + timedelta(days=2)},
        {"starts_at": NOW - timedelta(days=2), "ends_at": NOW - timedelta(minutes=1)},
    ],
    ids=["withdrawn", "not-yet", "over"],
)
def test_only_within_the_validity_period(
    app: Flask, coupon: Coupon, museum: int, clerk: int, values: dict[str, object]
) -> None:
    with app.extensions["db"].unit_of_work() as session:
        session.execute(update(Campaign).where(Campaign.id == coupon.campaign_id).values(**values))
    assert reason(redeem(app, show(app, coupon).token, museum, clerk)) == (
        RefusalReason.OUTSIDE_VALIDITY
    )
    assert uses_left(app, coupon) == 3


def test_revoked_coupons_are_refused(app: Flask, coupon: Coupon, museum: int, clerk: int) -> None:
    with app.extensions["db"].unit_of_work() as session:
        session.execute(
            update(Entitlement)
            .where(Entitlement.id == coupon.entitlement_id)
            .values(revoked_at=NOW - timedelta(hours=1))
        )
    assert reason(redeem(app, show(app, coupon).token, museum, clerk)) == RefusalReason.REVOKED


def test_the_daily_limit_says_when_and_where_it_was_used(
    app: Flask, campaign: Callable[..., Campaign], museum: int, clerk: int
) -> None:
    coupon = grant(app, campaign(extra="uses_per_day = 1"))
    forest = facility_id(app, "insect-forest")
    first = redeem(app, show(app, coupon).token, museum, clerk)
    assert isinstance(first, Redeemed)
    refused = redeem(app, show(app, coupon, later(1)).token, forest, clerk, now=later(1))
    assert isinstance(refused, Refused)
    assert refused.reason == RefusalReason.DAY_LIMIT
    assert refused.previous is not None
    assert refused.previous.id == first.redemption.id
    assert refused.previous.facility_id == museum
    tomorrow = NOW + timedelta(days=1)
    assert isinstance(
        redeem(app, show(app, coupon, tomorrow).token, forest, clerk, now=tomorrow), Redeemed
    )
    assert uses_left(app, coupon) == 1


def test_the_per_facility_limit(
    app: Flask, campaign: Callable[..., Campaign], museum: int, clerk: int
) -> None:
    coupon = grant(app, campaign(extra="uses_per_facility = 1"))
    forest = facility_id(app, "insect-forest")
    assert isinstance(redeem(app, show(app, coupon).token, museum, clerk), Redeemed)
    again = redeem(app, show(app, coupon, later(1)).token, museum, clerk, now=later(1))
    assert reason(again) == RefusalReason.FACILITY_LIMIT
    assert isinstance(
        redeem(app, show(app, coupon, later(2)).token, forest, clerk, now=later(2)), Redeemed
    )


def test_the_budget_stops_everyone(
    app: Flask, campaign: Callable[..., Campaign], museum: int, clerk: int
) -> None:
    pilot = campaign(extra="budget_uses = 2")
    first, second = grant(app, pilot, number=1), grant(app, pilot, number=2)
    assert isinstance(redeem(app, show(app, first).token, museum, clerk), Redeemed)
    assert isinstance(redeem(app, show(app, second).token, museum, clerk), Redeemed)
    refused = redeem(app, show(app, first, later(1)).token, museum, clerk, now=later(1))
    assert reason(refused) == RefusalReason.BUDGET_SPENT
    assert uses_left(app, first) == 2
    assert stored_campaign(app, "pilot").uses_redeemed == 2


def test_the_last_budget_use_goes_to_one_of_two_people_at_once(
    app: Flask, campaign: Callable[..., Campaign], museum: int, clerk: int
) -> None:
    pilot = campaign(extra="budget_uses = 1")
    people = [grant(app, pilot, number=n) for n in (1, 2, 3)]
    tokens = [show(app, person).token for person in people]
    outcomes = at_once([lambda t=t: redeem(app, t, museum, clerk) for t in tokens])  # type: ignore[misc]
    assert sum(isinstance(o, Redeemed) for o in outcomes) == 1
    assert (
        sorted(reason(o) for o in outcomes if isinstance(o, Refused))
        == [RefusalReason.BUDGET_SPENT] * 2
    )
    assert sum(uses_left(app, person) for person in people) == 8
    assert stored_campaign(app, "pilot").uses_redeemed == 1


def test_every_attempt_is_logged(app: Flask, coupon: Coupon, museum: int, clerk: int) -> None:
    redeem(app, "garbage", museum, clerk)
    redeem(app, show(app, coupon).token, museum, clerk)
    redeem(app, show(app, coupon).token, museum, clerk)
    assert attempts(app) == [
        ("refused", "tampered"),
        ("redeemed", None),
        ("refused", "code_used"),
    ]
    with app.extensions["db"].sessions() as session:
        rows = list(session.scalars(select(RedemptionAttempt).order_by(RedemptionAttempt.id)))
    assert [r.entitlement_id for r in rows] == [None, coupon.entitlement_id, coupon.entitlement_id]
    assert {(r.facility_id, r.staff_id) for r in rows} == {(museum, clerk)}
    assert rows[1].redemption_id is not None
    assert rows[2].outcome == RedemptionOutcome.REFUSED


def test_a_key_of_the_wrong_length_is_a_programming_error(
    app: Flask, coupon: Coupon, museum: int, clerk: int
) -> None:
    with pytest.raises(ValueError, match="16 to 64"):
        redeem(app, show(app, coupon).token, museum, clerk, key="short")


# Undo ----------------------------------------------------------------------------------------


def undo(
    app: Flask, redemption_id: int, staff: int, facility: int, now: datetime
) -> Undone | UndoRefusal:
    with app.extensions["db"].unit_of_work() as session:
        return redemption.undo_redemption(
            session, redemption_id, facility_id=facility, staff_id=staff, now=now
        )


def test_undo_within_five_minutes_gives_the_use_back(
    app: Flask, coupon: Coupon, museum: int, clerk: int
) -> None:
    used = redeem(app, show(app, coupon).token, museum, clerk)
    assert isinstance(used, Redeemed)
    undone = undo(app, used.redemption.id, clerk, museum, NOW + timedelta(minutes=4, seconds=59))
    assert isinstance(undone, Undone)
    assert undone.entitlement.uses_left == 3
    assert uses_left(app, coupon) == 3
    assert stored_campaign(app, "pilot").uses_redeemed == 0
    assert undo(app, used.redemption.id, clerk, museum, NOW + timedelta(minutes=1)) == (
        UndoRefusal.UNDONE
    )


def test_undo_too_late_or_by_someone_else_is_refused(
    app: Flask, coupon: Coupon, museum: int, clerk: int
) -> None:
    other = _staff(app, "other@museum.example.jp")
    used = redeem(app, show(app, coupon).token, museum, clerk)
    assert isinstance(used, Redeemed)
    rid = used.redemption.id
    assert undo(app, rid, clerk, museum, NOW + timedelta(minutes=5, seconds=1)) == (
        UndoRefusal.TOO_LATE
    )
    assert undo(app, rid, other, museum, NOW + timedelta(minutes=1)) == UndoRefusal.OTHER_STAFF
    forest = facility_id(app, "insect-forest")
    assert undo(app, rid, clerk, forest, NOW + timedelta(minutes=1)) == UndoRefusal.UNKNOWN
    assert uses_left(app, coupon) == 2


def test_an_undone_use_counts_for_no_limit(
    app: Flask, campaign: Callable[..., Campaign], museum: int, clerk: int
) -> None:
    coupon = grant(app, campaign(extra="uses_per_day = 1"))
    used = redeem(app, show(app, coupon).token, museum, clerk)
    assert isinstance(used, Redeemed)
    assert isinstance(
        undo(app, used.redemption.id, clerk, museum, NOW + timedelta(minutes=1)), Undone
    )
    again = redeem(app, show(app, coupon, later(2)).token, museum, clerk, now=later(2))
    assert isinstance(again, Redeemed)
    assert uses_left(app, coupon) == 2
