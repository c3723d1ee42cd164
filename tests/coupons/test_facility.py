"""The facility's coupon page through HTTP: staff scan or type, check, confirm and undo; the
resident hears of each use in LINE; staff act only at their own facility; a retried confirm
counts once and two staff confirming the same code at once make one use."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.console.facilities import link_facilities
from coupons import redemption
from coupons.tokens import app_key
from models import AuditEntry, Facility, Role, Staff
from models import Resident as ResidentRow
from models.base import utcnow
from models.coupons import Campaign, Entitlement, Redemption, RedemptionAttempt
from tests.console.conftest import StaffFactory, csrf_token, sign_in
from tests.coupons.conftest import Coupon, at_once, facility_id, form_token, grant
from tests.support import Resident


@dataclass
class Clerk:
    """A facility staff member signed in on their own phone (a test client)."""

    staff: Staff
    client: FlaskClient

    def page(self, facility: int) -> str:
        response = self.client.get(f"/admin/redeem/{facility}")
        assert response.status_code == 200, response.status_code
        return response.get_data(as_text=True)

    def check(self, facility: int, code: str) -> tuple[int, str]:
        token = csrf_token(self.client, f"/admin/redeem/{facility}")
        response = self.client.post(
            f"/admin/redeem/{facility}/check", data={"code": code, "csrf_token": token}
        )
        return response.status_code, response.get_data(as_text=True)

    def confirm(self, facility: int, page: str) -> tuple[int, str]:
        scan = re.search(r'name="scan" type="hidden" value="([^"]+)"', page)
        assert scan, page
        response = self.client.post(
            f"/admin/redeem/{facility}/confirm",
            data={"scan": scan.group(1), "csrf_token": form_token(page)},
        )
        return response.status_code, response.get_data(as_text=True)

    def undo(self, facility: int, redemption_id: int) -> tuple[int, str]:
        token = csrf_token(self.client, f"/admin/redeem/{facility}")
        response = self.client.post(
            f"/admin/redeem/{facility}/undo/{redemption_id}", data={"csrf_token": token}
        )
        return response.status_code, response.get_data(as_text=True)


@pytest.fixture
def clerk_at(app: Flask, staff_factory: StaffFactory) -> Callable[..., Clerk]:
    """A signed-in facility staff member working at the facilities of these codes."""

    def make(*codes: str) -> Clerk:
        staff = staff_factory(Role.FACILITY)
        ids = [facility_id(app, code) for code in codes]
        with app.extensions["db"].unit_of_work() as session:
            facilities = session.scalars(select(Facility).where(Facility.id.in_(ids))).all()
            link_facilities(session.get_one(Staff, staff.id), facilities)
        client = app.test_client()
        assert sign_in(client, staff.email).status_code == 302
        return Clerk(staff, client)

    return make


@pytest.fixture
def visitor(app: Flask, resident: Resident, campaign: Callable[..., Campaign]) -> Coupon:
    """A resident who follows the account and holds the pilot's coupon (3 uses)."""
    resident.follow()
    with app.extensions["db"].sessions() as session:
        row = session.scalars(
            select(ResidentRow).where(ResidentRow.line_user_id == resident.user_id)
        ).one()
    return grant(app, campaign(), resident_id=row.id)


def current_code(app: Flask, coupon: Coupon, *, qr: bool = False) -> str:
    """What the resident's page shows now."""
    with app.extensions["db"].unit_of_work() as session:
        entitlement = session.get_one(Entitlement, coupon.entitlement_id)
        shown = redemption.show_code(session, entitlement, key=app_key(app), now=utcnow())
    return shown.token if qr else shown.code


def uses_left(app: Flask, coupon: Coupon) -> int:
    with app.extensions["db"].sessions() as session:
        return session.get_one(Entitlement, coupon.entitlement_id).uses_left


def reason_code(page: str) -> str:
    match = re.search(r"(?:Reason code|理由コード)[:：]\s*([a-z_]+)", page)
    assert match, page
    return match.group(1)


def test_a_clerk_types_the_code_confirms_and_the_resident_is_told(
    app: Flask, clerk_at: Callable[..., Clerk], visitor: Coupon, resident: Resident
) -> None:
    clerk = clerk_at("museum")
    museum = facility_id(app, "museum")
    assert (
        clerk.client.get("/admin/redeem/").headers["Location"].endswith(f"/admin/redeem/{museum}")
    )
    response = clerk.client.get(f"/admin/redeem/{museum}")
    assert response.headers["Permissions-Policy"].startswith("camera=(self)")
    assert "vendor/jsQR.js" in response.get_data(as_text=True)

    status, page = clerk.check(museum, current_code(app, visitor))
    assert status == 200
    assert "常設展の観覧料が無料" in page
    assert "3" in re.search(r'id="uses-left">([^<]+)<', page).group(1)  # type: ignore[union-attr]
    assert uses_left(app, visitor) == 3  # checking uses nothing

    status, done = clerk.confirm(museum, page)
    assert status == 200
    assert uses_left(app, visitor) == 2
    assert "2" in re.search(r'id="uses-left">([^<]+)<', done).group(1)  # type: ignore[union-attr]
    [told] = [t for t in resident.texts() if "県立近代美術館" in t]
    assert "2" in told
    # The push went with a stored retry key.
    pushes = [d for d in resident.platform.state.deliveries(resident.user_id) if d.method == "push"]
    assert pushes[-1].retry_key

    # The same form again (a double tap, a reload): counted once, nobody told twice.
    status, _again = clerk.confirm(museum, page)
    assert status == 200
    assert uses_left(app, visitor) == 2
    assert len([t for t in resident.texts() if "県立近代美術館" in t]) == 1
    with app.extensions["db"].sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("coupons.%"))
        ).all()
        outcomes = session.scalars(select(RedemptionAttempt.outcome)).all()
    assert actions == ["coupons.redeem"]
    assert [o.value for o in outcomes] == ["redeemed", "replayed"]


def test_the_qr_text_works_like_the_code(
    app: Flask, clerk_at: Callable[..., Clerk], visitor: Coupon
) -> None:
    clerk = clerk_at("museum")
    museum = facility_id(app, "museum")
    status, page = clerk.check(museum, current_code(app, visitor, qr=True))
    assert status == 200
    assert clerk.confirm(museum, page)[0] == 200
    assert uses_left(app, visitor) == 2


@pytest.mark.parametrize(
    ("code", "reason"),
    [("MC1.1.1.AAAAAAAAAAAAAAAAAAAAAA", "tampered"), ("000000", "unknown_code")],
)
def test_a_refused_code_says_why_and_is_logged(
    app: Flask, clerk_at: Callable[..., Clerk], visitor: Coupon, code: str, reason: str
) -> None:
    clerk = clerk_at("museum")
    museum = facility_id(app, "museum")
    status, page = clerk.check(museum, code)
    assert status == 200
    assert reason_code(page) == reason
    with app.extensions["db"].sessions() as session:
        [attempt] = session.scalars(select(RedemptionAttempt)).all()
    assert attempt.reason is not None
    assert attempt.reason.value == reason
    assert attempt.staff_id == clerk.staff.id


def test_an_empty_code_is_asked_for_again(
    app: Flask, clerk_at: Callable[..., Clerk], visitor: Coupon
) -> None:
    clerk = clerk_at("museum")
    museum = facility_id(app, "museum")
    status, page = clerk.check(museum, "")
    assert status == 400
    assert 'aria-invalid="true"' in page


def test_a_used_code_says_here_and_when(
    app: Flask, clerk_at: Callable[..., Clerk], visitor: Coupon
) -> None:
    clerk = clerk_at("museum")
    museum = facility_id(app, "museum")
    code = current_code(app, visitor)
    clerk.confirm(museum, clerk.check(museum, code)[1])
    _status, page = clerk.check(museum, code)
    assert reason_code(page) == "code_used"
    with app.extensions["db"].sessions() as session:
        used = session.scalars(select(Redemption)).one()
    assert used.redeemed_at.astimezone(redemption.TOKYO).strftime("%H:%M") in page


def test_staff_act_only_at_their_own_facility(
    app: Flask, clerk_at: Callable[..., Clerk], visitor: Coupon
) -> None:
    forest_clerk = clerk_at("insect-forest")
    museum = facility_id(app, "museum")
    assert forest_clerk.client.get(f"/admin/redeem/{museum}").status_code == 403
    token = csrf_token(forest_clerk.client, "/admin/account")
    refused = forest_clerk.client.post(
        f"/admin/redeem/{museum}/check",
        data={"code": current_code(app, visitor), "csrf_token": token},
    )
    assert refused.status_code == 403
    assert uses_left(app, visitor) == 3
    with app.extensions["db"].sessions() as session:
        forbidden = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "forbidden")
        ).all()
    assert {(e.object_type, e.object_id) for e in forbidden} == {("facility", str(museum))}


def test_a_closed_facility_is_refused(
    app: Flask, clerk_at: Callable[..., Clerk], visitor: Coupon
) -> None:
    clerk = clerk_at("museum")
    museum = facility_id(app, "museum")
    with app.extensions["db"].unit_of_work() as session:
        session.get_one(Facility, museum).active = False
    assert clerk.client.get(f"/admin/redeem/{museum}").status_code == 403
    assert clerk.client.get("/admin/redeem/").status_code == 200  # no facility to choose


def test_a_facility_outside_the_campaign_is_refused(
    app: Flask, clerk_at: Callable[..., Clerk], visitor: Coupon
) -> None:
    clerk = clerk_at("library")
    library = facility_id(app, "library")
    _status, page = clerk.check(library, current_code(app, visitor))
    assert reason_code(page) == "wrong_facility"
    assert "県立近代美術館" in page  # where it is valid


def test_a_confirmation_for_one_facility_is_refused_at_another(
    app: Flask, clerk_at: Callable[..., Clerk], visitor: Coupon
) -> None:
    clerk = clerk_at("museum", "insect-forest")
    museum, forest = facility_id(app, "museum"), facility_id(app, "insect-forest")
    _status, page = clerk.check(museum, current_code(app, visitor))
    status, _answer = clerk.confirm(forest, page)
    assert status == 400
    assert uses_left(app, visitor) == 3


def test_two_clerks_confirming_the_same_code_at_once_make_one_use(
    app: Flask, clerk_at: Callable[..., Clerk], visitor: Coupon
) -> None:
    museum = facility_id(app, "museum")
    clerks = [clerk_at("museum"), clerk_at("museum")]
    code = current_code(app, visitor)
    pages = [clerk.check(museum, code)[1] for clerk in clerks]
    answers = at_once(
        [lambda c=c, p=p: c.confirm(museum, p) for c, p in zip(clerks, pages, strict=True)]  # type: ignore[misc]
    )
    assert sorted("理由コード" in page or "Reason code" in page for _s, page in answers) == [
        False,
        True,
    ]
    assert uses_left(app, visitor) == 2


def test_undo_by_the_same_clerk_gives_the_use_back_and_tells_the_resident(
    app: Flask, clerk_at: Callable[..., Clerk], visitor: Coupon, resident: Resident
) -> None:
    clerk, colleague = clerk_at("museum"), clerk_at("museum")
    museum = facility_id(app, "museum")
    clerk.confirm(museum, clerk.check(museum, current_code(app, visitor))[1])
    with app.extensions["db"].sessions() as session:
        used = session.scalars(select(Redemption)).one()
    status, page = colleague.undo(museum, used.id)
    assert status == 409
    assert reason_code(page) == "other_staff"
    assert uses_left(app, visitor) == 2

    status, page = clerk.undo(museum, used.id)
    assert status == 200
    assert uses_left(app, visitor) == 3
    assert any("取り消" in t and "3" in t for t in resident.texts())
    with app.extensions["db"].sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "coupons.redemption.undo")
        ).one()
    assert (entry.actor_id, entry.object_id) == (clerk.staff.id, str(used.id))
    assert clerk.undo(museum, used.id)[0] == 409  # once


def test_facility_staff_start_at_the_coupon_desk(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory
) -> None:
    clerk = staff_factory(Role.FACILITY)
    signed = sign_in(client, clerk.email)
    assert signed.headers["Location"] == "/admin/redeem/"  # not the dashboard they cannot see
    page = client.get("/admin/redeem/").get_data(as_text=True)
    assert 'class="brand" href="/admin/redeem/"' in page
    assert "管理者に登録を依頼してください" in page  # linked to no facility yet


def test_a_clerk_checking_too_many_codes_is_stopped_even_in_parallel(
    app: Flask, clerk_at: Callable[..., Clerk], visitor: Coupon
) -> None:
    """Guessing codes from a stolen or shared phone: 30 checks a minute per clerk
    (COUPONS_CODE_CHECKS_PER_MINUTE), however many requests are sent at once; then even the
    right code is refused, audited, and nothing is used. Other clerks are not affected."""
    clerk, colleague = clerk_at("museum"), clerk_at("museum")
    museum = facility_id(app, "museum")
    phones = [_same_session(app, clerk.client) for _ in range(8)]
    guesses = [f"{n:06d}" for n in range(40)]  # 40 wrong codes, 8 at a time

    def guess(phone: FlaskClient, code: str) -> int:
        return Clerk(clerk.staff, phone).check(museum, code)[0]

    statuses = []
    for start in range(0, len(guesses), len(phones)):
        batch = zip(phones, guesses[start : start + len(phones)], strict=False)
        statuses += at_once([lambda p=p, c=c: guess(p, c) for p, c in batch])  # type: ignore[misc]
    assert sorted(statuses) == [200] * 30 + [429] * 10
    status, page = clerk.check(museum, current_code(app, visitor))
    assert status == 429
    assert "1分" in page or "minute" in page
    assert uses_left(app, visitor) == 3
    with app.extensions["db"].sessions() as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert actions.count("coupons.checks_throttled") == 11
    status, page = colleague.check(museum, current_code(app, visitor))
    assert status == 200
    assert colleague.confirm(museum, page)[0] == 200
    assert uses_left(app, visitor) == 2


def _same_session(app: Flask, signed_in: FlaskClient) -> FlaskClient:
    """Another client holding the same cookies (the same signed-in session)."""
    client = app.test_client()
    jar = signed_in._cookies  # the test client's cookie jar
    assert jar is not None
    for cookie in jar.values():
        client.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
    return client
