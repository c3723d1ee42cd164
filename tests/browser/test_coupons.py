"""Verifying a My Number card holder in a real browser, against the local OpenID provider,
with axe-core's WCAG 2.2 A/AA checks of every coupon page on the way.

The app is served on a port chosen first, so that its public URL (and the redirect URI
registered with the provider) is the served one: the browser really leaves for the
provider's consent page and is really sent back. The pages' content policy is enforced by
chromium, so a form or redirect it would block fails the test (``browser_errors``).
Screenshots land in tests/artifacts/ (coupons-*.png).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from joserfc.jwk import RSAKey
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from sqlalchemy import delete, select

import models
from bot import create_app
from bot.console.facilities import link_facilities
from bot.console.users import create_staff
from bot.residents import lock_resident, record_follow
from bot.residentweb import pages
from bot.residentweb.links import signed_url
from bot.residentweb.views import sign_in_url
from coupons.campaigns import TOKYO, read_campaign_file
from coupons.services import import_campaign, issue_verification
from coupons.tokens import STEP_SECONDS
from coupons.verification import load_private_key, public_jwks
from models import Facility, Role
from models.base import utcnow
from models.coupons import CardHolder, Entitlement, Verification
from simulator.oidc import RunningProvider, start_provider
from simulator.server import RunningPlatform, ServedApp
from tests.browser import screenshot
from tests.browser.axe import assert_accessible
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.test_console import sign_in
from tests.coupons.conftest import CAMPAIGN, CLIENT_ID, PERSON_SECRET
from tests.support import PASSWORD, app_settings

#: The scanner the facility page uses, vendored from npm by `make`.
JSQR = Path(__file__).parents[2] / "bot" / "static" / "vendor" / "jsQR.js"


@dataclass(frozen=True)
class _CouponsLive:
    app: Flask
    url: str
    provider: RunningProvider


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def coupons_live(database_url: str, platform: RunningPlatform) -> Iterator[_CouponsLive]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    key = RSAKey.generate_key(2048)
    pem = key.as_pem(private=True).decode()
    provider = start_provider()
    provider.state.register_client(
        CLIENT_ID, public_jwks(load_private_key(pem)), (f"{url}/r/coupons/callback",)
    )
    app = create_app(
        app_settings(
            database_url,
            platform.url,
            PUBLIC_BASE_URL=url,
            COUPONS_OIDC_ISSUER=provider.state.issuer,
            COUPONS_OIDC_CLIENT_ID=CLIENT_ID,
            COUPONS_OIDC_PRIVATE_KEY=pem,
            COUPONS_PERSON_SECRET=PERSON_SECRET,
        )
    )
    with ServedApp(app, port=port, name="coupons-live"):
        yield _CouponsLive(app, url, provider)
    provider.shutdown()
    app.extensions["line"].close()
    app.extensions["db"].dispose()


@pytest.fixture
def live(coupons_live: _CouponsLive, platform: RunningPlatform) -> Iterator[_CouponsLive]:
    yield coupons_live
    with coupons_live.app.extensions["db"].unit_of_work() as session:
        for table in reversed(models.Base.metadata.sorted_tables):
            session.execute(delete(table))
    coupons_live.provider.state.reset()
    platform.state.reset()


def one_time_link(live: _CouponsLive, platform: RunningPlatform) -> str:
    """An open campaign, a resident who follows the account, and the link クーポン sends."""
    today = utcnow().astimezone(TOKYO).date()
    text = CAMPAIGN.format(
        code="pilot",
        uses=3,
        starts=(today - timedelta(days=1)).isoformat(),
        ends=(today + timedelta(days=30)).isoformat(),
        extra='[campaign.eligibility]\nprefecture = "群馬県"',
    )
    user = platform.state.add_user(display_name="県民 太郎", language="ja")
    platform.state.set_friend(user.user_id, True)
    app = live.app
    with app.extensions["db"].unit_of_work() as session:
        import_campaign(session, read_campaign_file(text))
        resident = lock_resident(session, user.user_id)
        record_follow(resident, is_unblocked=False, at=utcnow())
        issued = issue_verification(
            session, resident, now=utcnow(), lifetime=timedelta(minutes=10), per_hour=5
        )
        assert isinstance(issued, Verification)
        verification = issued.id
    with app.app_context():
        return signed_url(
            "coupons_resident.verify",
            purpose="coupon-verify",
            expires_in=timedelta(minutes=10),
            verification=verification,
        )


def test_a_resident_verifies_in_a_real_browser(
    page: Page, live: _CouponsLive, platform: RunningPlatform, browser_errors: list[str]
) -> None:
    page.goto(one_time_link(live, platform))
    expect(page.get_by_role("heading", name="マイナンバーカードで本人確認")).to_be_visible()
    expect(
        page.get_by_text("住所：お住まいの確認のため、都道府県だけを保存します。")
    ).to_be_visible()
    assert_accessible(page)
    screenshot(page, "coupons-verify")

    page.get_by_role("button", name="本人確認に進む").click()
    assert page.url.startswith(f"{live.provider.state.issuer}/authorize?")
    provider_page = "マイナンバーカードで本人確認（開発用のプロバイダー）"
    expect(page.get_by_role("heading", name=provider_page)).to_be_visible()
    page.get_by_label("群馬 太郎（前橋市、1985年生まれ）").check()
    page.get_by_role("button", name="同意する / Allow").click()

    expect(page.get_by_role("heading", name="本人確認ができました")).to_be_visible()
    expect(page.get_by_text("残り 3回（3回中）")).to_be_visible()
    assert page.url.startswith(f"{live.url}/r/coupons/result/")
    assert_accessible(page)
    screenshot(page, "coupons-verified")

    page.get_by_role("link", name="クーポンを表示").click()
    expect(page.get_by_role("heading", name="県有施設無料クーポン")).to_be_visible()
    expect(page.get_by_text("群馬県高崎市綿貫町992-1")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "coupons-coupon")
    assert browser_errors == []


def test_a_declined_verification_shows_what_to_do(
    page: Page, live: _CouponsLive, platform: RunningPlatform, browser_errors: list[str]
) -> None:
    page.goto(one_time_link(live, platform))
    page.get_by_role("button", name="本人確認に進む").click()
    page.get_by_role("button", name="同意しない / Deny").click()
    expect(page.get_by_role("heading", name="本人確認が取り消されました")).to_be_visible()
    expect(page.get_by_text("エラーコード: consent_denied")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "coupons-declined")

    page.go_back()
    page.go_back()  # the explanation page again: its link is spent now
    page.reload()
    expect(page.get_by_role("heading", name="このリンクは使えません")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "coupons-link-used")
    assert [e for e in browser_errors if "410" not in e] == []


def test_an_admin_makes_a_campaign_in_a_real_browser(
    page: Page, live: _CouponsLive, browser_errors: list[str]
) -> None:
    with live.app.extensions["db"].unit_of_work() as session:
        session.add(Facility(code="museum", name_ja="県立近代美術館", name_en="Museum"))
        create_staff(
            session,
            email="admin@pref.example.jp",
            display_name="管理者",
            password=PASSWORD,
            roles={Role.ADMIN},
        )
    sign_in(page, live.url, "admin@pref.example.jp")
    page.get_by_role("link", name="クーポン", exact=True).click()
    expect(page.get_by_role("heading", name="クーポンのキャンペーン")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="新しいキャンペーン").click()
    page.get_by_label("コード").fill("autumn")
    page.get_by_label("名称（日本語）").fill("秋のクーポン")
    page.get_by_label("開始日時（日本時間）").fill("2030-10-01T09:00")
    page.get_by_label("終了日時（日本時間。この日時まで使えます）").fill("2030-09-01T09:00")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("開始日時より後にしてください")).to_be_visible()
    assert_accessible(page)  # the form with its problems at their fields
    screenshot(page, "coupons-console-form-errors")
    page.get_by_label("名称（英語）").fill("Autumn coupons")
    page.get_by_label("特典（日本語）").fill("入館無料")
    page.get_by_label("特典（英語）").fill("Free entry")
    page.get_by_label("終了日時（日本時間。この日時まで使えます）").fill("2030-11-30T17:00")
    page.get_by_label("県立近代美術館").check()
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("キャンペーンを保存しました。")).to_be_visible()
    expect(page.get_by_role("link", name="秋のクーポン")).to_be_visible()
    screenshot(page, "coupons-console-list")
    assert browser_errors == []


@contextlib.contextmanager
def phone(browser: Browser, errors: list[str], name: str) -> Iterator[Page]:
    """A phone-sized page in a browser context of its own (a resident's or a clerk's)."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="ja-JP", timezone_id="Asia/Tokyo"
    )
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        if message.type == "error" and not url.endswith("/favicon.ico"):
            errors.append(f"{name}: {message.text} {message.location.get('url', '')}")

    opened.on("console", on_console)
    opened.on("pageerror", lambda error: errors.append(f"{name}: {error.message}"))
    try:
        yield opened
    finally:
        context.close()


def _decode_qr(page: Page) -> str:
    """Read the page's QR image with the scanner the facility page uses (jsQR, vendored)."""
    page.wait_for_function("() => document.getElementById('coupon-qr').complete")
    page.evaluate(JSQR.read_text(encoding="utf-8"))
    text: str = page.evaluate(
        """() => {
          const image = document.getElementById("coupon-qr");
          const canvas = document.createElement("canvas");
          canvas.width = 400; canvas.height = 400;
          const context = canvas.getContext("2d");
          context.drawImage(image, 0, 0, 400, 400);
          const pixels = context.getImageData(0, 0, 400, 400);
          const found = jsQR(pixels.data, 400, 400);
          return found ? found.data : "";
        }"""
    )
    return text


@dataclass(frozen=True)
class _Holder:
    resident_id: int
    entitlement_id: int
    line_user_id: str


def _holder_and_clerk(live: _CouponsLive, platform: RunningPlatform) -> _Holder:
    """The pilot's campaign, a resident holding its coupon, and a clerk at the museum."""
    app = live.app
    today = utcnow().astimezone(TOKYO).date()
    text = CAMPAIGN.format(
        code="pilot",
        uses=3,
        starts=(today - timedelta(days=1)).isoformat(),
        ends=(today + timedelta(days=30)).isoformat(),
        extra="",
    )
    user = platform.state.add_user(display_name="県民 太郎", language="ja")
    platform.state.set_friend(user.user_id, True)
    with app.extensions["db"].unit_of_work() as session:
        campaign = import_campaign(session, read_campaign_file(text)).campaign
        resident = lock_resident(session, user.user_id)
        record_follow(resident, is_unblocked=False, at=utcnow())
        holder = CardHolder(person_key="b" * 64, resident_id=resident.id, verified_at=utcnow())
        session.add(holder)
        session.flush()
        entitlement = Entitlement(
            campaign_id=campaign.id, holder_id=holder.id, uses_total=3, uses_left=3
        )
        session.add(entitlement)
        clerk = create_staff(
            session,
            email="clerk@museum.example.jp",
            display_name="受付 花子",
            password=PASSWORD,
            roles={Role.FACILITY},
        )
        museum = session.scalars(select(Facility).where(Facility.code == "museum")).one()
        link_facilities(clerk, [museum])
        session.flush()
        resident_id, entitlement_id = resident.id, entitlement.id
    return _Holder(resident_id, entitlement_id, user.user_id)


def test_a_resident_shows_the_code_and_a_clerk_redeems_it(
    browser: Browser, live: _CouponsLive, platform: RunningPlatform
) -> None:
    app = live.app
    holder = _holder_and_clerk(live, platform)
    resident_id, entitlement_id = holder.resident_id, holder.entitlement_id
    with app.app_context():
        show = sign_in_url(resident_id, "coupons_resident.show", entitlement_id=entitlement_id)

    errors: list[str] = []
    with phone(browser, errors, "resident") as mine, phone(browser, errors, "clerk") as desk:
        # The resident taps 表示 in LINE: the code to show at the reception.
        mine.goto(show)
        expect(mine.get_by_role("heading", name="受付でこの画面を見せてください")).to_be_visible()
        expect(mine.get_by_text("残り 3回（3回中）")).to_be_visible()
        expect(mine.get_by_role("img", name="クーポンのQRコード")).to_be_visible()
        expect(mine.get_by_role("link", name="今のコードを表示する（再読み込み）")).to_be_hidden()
        assert_accessible(mine)
        screenshot(mine, "coupons-show-code")
        digits = (mine.locator("#coupon-digits").text_content() or "").replace(" ", "")
        assert len(digits) == 6
        scanned = _decode_qr(mine)
        assert scanned.startswith(f"MC1.{entitlement_id}.")  # the scanner reads our QR code

        # The clerk, on the facility's phone, types the code and confirms.
        sign_in(desk, live.url, "clerk@museum.example.jp")
        desk.goto(f"{live.url}/admin/redeem/")
        expect(desk.get_by_role("heading", name="クーポンの読み取り")).to_be_visible()
        expect(desk.get_by_role("button", name="カメラで読み取る")).to_be_visible()
        assert_accessible(desk)
        screenshot(desk, "coupons-desk-scan")
        desk.get_by_label("6桁のコード（またはQRコードの文字列）").fill(digits)
        desk.get_by_role("button", name="確認する").click()
        expect(desk.get_by_role("heading", name="利用の確定")).to_be_visible()
        expect(desk.get_by_text("常設展の観覧料が無料")).to_be_visible()
        expect(desk.get_by_text("残り 3回（3回中）")).to_be_visible()
        assert_accessible(desk)
        screenshot(desk, "coupons-desk-confirm")
        desk.get_by_role("button", name="確定する（1回使う）").click()
        expect(desk.get_by_role("heading", name="クーポンを利用しました")).to_be_visible()
        expect(desk.get_by_text("残り 2回（3回中）")).to_be_visible()
        assert_accessible(desk)
        screenshot(desk, "coupons-desk-done")

        # The same screen again: refused, with the reason and what to do.
        desk.get_by_role("link", name="次の来館者").click()
        desk.get_by_label("6桁のコード（またはQRコードの文字列）").fill(scanned)
        desk.get_by_role("button", name="確認する").click()
        expect(desk.get_by_role("heading", name="このクーポンは使えません")).to_be_visible()
        expect(desk.get_by_text("理由コード: code_used")).to_be_visible()
        assert_accessible(desk)
        screenshot(desk, "coupons-desk-refused")

        # The resident's page shows the uses left; LINE told them.
        mine.reload()
        expect(mine.get_by_text("残り 2回（3回中）")).to_be_visible()
        deliveries = platform.state.deliveries(holder.line_user_id)
        told = [m["text"] for d in deliveries for m in d.messages]
        assert any("県立近代美術館" in t and "残り 2回" in t for t in told)
    assert errors == []


def test_the_code_page_changes_by_itself(
    browser: Browser,
    live: _CouponsLive,
    platform: RunningPlatform,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    holder = _holder_and_clerk(live, platform)
    # The pages' clock, 1.5 seconds before the end of a step: the page's script asks for the
    # next code a second after loading, and by then the clock is in the next step.
    moment = {"now": float((int(time.time()) // STEP_SECONDS + 1) * STEP_SECONDS) - 1.5}
    monkeypatch.setattr(pages(live.app), "clock", lambda: moment["now"])
    with live.app.app_context():
        show = sign_in_url(
            holder.resident_id, "coupons_resident.show", entitlement_id=holder.entitlement_id
        )
    errors: list[str] = []
    with phone(browser, errors, "resident") as mine:
        mine.goto(show)
        digits = mine.locator("#coupon-digits")
        first = digits.text_content() or ""
        first_image = mine.locator("#coupon-qr").get_attribute("src")
        moment["now"] += 2.0
        expect(digits).not_to_have_text(first)
        assert mine.locator("#coupon-qr").get_attribute("src") != first_image
        assert _decode_qr(mine).split(".")[2] == str(int(moment["now"]) // STEP_SECONDS)
        assert_accessible(mine)
    assert errors == []
