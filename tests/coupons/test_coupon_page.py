"""The resident's coupon page: the QR code and 6-digit code of the current 30-second step,
the QR image at a signed link bound to the resident that works for a minute and is never
cached, the script's JSON for the next code, and what another person cannot see."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from bot.residentweb import pages
from bot.residentweb.views import sign_in_url
from coupons import redemption
from coupons.redemption import Scan
from coupons.tokens import STEP_SECONDS, app_key, step_of
from models import Resident as ResidentRow
from models.coupons import Campaign, Entitlement, ScanVia
from tests.coupons.conftest import Coupon, grant, local
from tests.support import Resident


@dataclass
class Clock:
    """The resident shell's clock (links and code steps), moved by the test."""

    now: float

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Frozen in the middle of a step, so a test's own seconds never cross one."""
    fake = Clock(float(step_of(datetime.now(UTC)) * STEP_SECONDS + 5))
    monkeypatch.setattr(pages(app), "clock", fake)
    return fake


def _resident_row(app: Flask, resident: Resident) -> int:
    resident.follow()
    with app.extensions["db"].sessions() as session:
        return session.scalars(
            select(ResidentRow.id).where(ResidentRow.line_user_id == resident.user_id)
        ).one()


@pytest.fixture
def visitor(
    app: Flask, resident: Resident, campaign: Callable[..., Campaign], clock: Clock
) -> Coupon:
    return grant(app, campaign(), resident_id=_resident_row(app, resident))


def open_coupon(
    app: Flask, coupon: Coupon, resident_id: int | None = None
) -> tuple[FlaskClient, str]:
    """Open the coupon card's 表示 link in a new browser; the page."""
    client = app.test_client()
    with app.app_context():
        url = sign_in_url(
            resident_id or coupon.resident_id or 0,
            "coupons_resident.show",
            entitlement_id=coupon.entitlement_id,
        )
    response = client.get(local(url), follow_redirects=True)
    return client, response.get_data(as_text=True)


def page_code(page: str) -> tuple[str, str]:
    """The six digits and the QR image's URL a page shows."""
    digits = re.search(r'id="coupon-digits">([0-9 ]+)<', page)
    image = re.search(r'id="coupon-qr" src="([^"]+)"', page)
    assert digits, page
    assert image, page
    return digits.group(1).replace(" ", ""), image.group(1).replace("&amp;", "&")


def read(app: Flask, text: str, at: float) -> object:
    with app.extensions["db"].sessions() as session:
        return redemption.read_scan(
            session, text, key=app_key(app), now=datetime.fromtimestamp(at, UTC)
        )


def test_the_page_shows_the_current_code_and_its_qr_image(
    app: Flask, visitor: Coupon, clock: Clock
) -> None:
    client, page = open_coupon(app, visitor)
    code, image_url = page_code(page)
    assert "coupon-code.js" in page
    # The digits are the ones the facility will find.
    assert read(app, code, clock.now) == Scan(
        visitor.entitlement_id, step_of_clock(clock), ScanVia.CODE
    )
    image = client.get(local(image_url))
    assert image.status_code == 200
    assert image.mimetype == "image/svg+xml"
    assert image.headers["Cache-Control"] == "no-store"
    assert image.get_data(as_text=True).startswith("<svg")
    # The page itself is never cached either.
    assert client.get(f"/r/coupons/coupon/{visitor.entitlement_id}").headers["Cache-Control"] == (
        "no-store"
    )


def step_of_clock(clock: Clock) -> int:
    return int(clock.now) // STEP_SECONDS


def test_the_code_changes_every_30_seconds(app: Flask, visitor: Coupon, clock: Clock) -> None:
    client, page = open_coupon(app, visitor)
    first, first_image = page_code(page)
    answer = client.get(f"/r/coupons/coupon/{visitor.entitlement_id}/code").get_json()
    assert answer["usable"] is True
    assert answer["code"].replace(" ", "") == first
    assert 1 <= answer["changes_in"] <= STEP_SECONDS
    assert answer["uses"] == "残り 3回（3回中）"

    clock.advance(STEP_SECONDS)
    following = client.get(f"/r/coupons/coupon/{visitor.entitlement_id}/code").get_json()
    assert following["code"].replace(" ", "") != first
    assert following["qr"] != first_image
    # The first image still works a step later (the facility accepts it too)...
    assert client.get(local(first_image)).status_code == 200
    assert isinstance(read(app, first, clock.now), Scan)
    # ...and not a minute later: the link's time is up, and so is the code's.
    clock.advance(STEP_SECONDS + 1)
    assert client.get(local(first_image)).status_code == 410
    assert getattr(read(app, first, clock.now), "reason", None) == "expired"


def test_an_image_of_an_old_step_is_gone_even_with_a_fresh_link(
    app: Flask, visitor: Coupon, clock: Clock
) -> None:
    client, _page = open_coupon(app, visitor)
    clock.advance(-3 * STEP_SECONDS)  # a link made now for a step three steps old
    with app.app_context():
        from bot.residentweb.links import signed_url
        from coupons.pages import QR, QR_LINK_LIFETIME

        old = signed_url(
            "coupons_resident.qr",
            purpose=QR,
            expires_in=QR_LINK_LIFETIME,
            entitlement=visitor.entitlement_id,
            step=step_of_clock(clock),
            resident=visitor.resident_id or 0,
        )
    clock.advance(3 * STEP_SECONDS)
    assert client.get(local(old)).status_code == 410


def test_a_tampered_image_link_is_refused(app: Flask, visitor: Coupon, clock: Clock) -> None:
    client, page = open_coupon(app, visitor)
    _code, image_url = page_code(page)
    token = image_url.rsplit("/", 1)[1]
    changed = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.get(f"/r/coupons/qr/{changed}").status_code == 400


def test_another_person_sees_neither_the_page_nor_the_image(
    app: Flask,
    visitor: Coupon,
    clock: Clock,
    resident_factory: Callable[..., Resident],
    campaign: Callable[..., Campaign],
) -> None:
    _client, page = open_coupon(app, visitor)
    _code, image_url = page_code(page)
    other = _resident_row(app, resident_factory(display_name="他人"))
    stranger, _page = open_coupon(app, visitor, resident_id=other)
    assert stranger.get(f"/r/coupons/coupon/{visitor.entitlement_id}").status_code == 404
    assert stranger.get(f"/r/coupons/coupon/{visitor.entitlement_id}/code").status_code == 404
    # The image link is bound to the resident it was made for: once the person's coupons move
    # to another LINE account, the old account's links show nothing.
    with app.extensions["db"].unit_of_work() as session:
        holder = session.get_one(Entitlement, visitor.entitlement_id).holder
        holder.resident_id = other
    assert stranger.get(local(image_url)).status_code == 404
    assert app.test_client().get(f"/r/coupons/coupon/{visitor.entitlement_id}").status_code == 403


def test_a_used_up_coupon_shows_no_code(app: Flask, visitor: Coupon, clock: Clock) -> None:
    with app.extensions["db"].unit_of_work() as session:
        session.execute(
            update(Entitlement).where(Entitlement.id == visitor.entitlement_id).values(uses_left=0)
        )
    client, page = open_coupon(app, visitor)
    assert 'id="coupon-qr"' not in page
    assert "このクーポンはすべて使い終わりました。" in page
    answer = client.get(f"/r/coupons/coupon/{visitor.entitlement_id}/code").get_json()
    assert answer == {"usable": False, "uses": "残り 0回（3回中）"}
