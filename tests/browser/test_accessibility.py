"""WCAG 2.2 A/AA in the real browser (axe-core): the resident pages, and the console pages
that test_console.py (which checks the dashboard, residents, audit, staff and account
pages) does not visit.

Screenshots land in tests/artifacts/ (a11y-*.png) for a person to look at.
"""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from bot.console.facilities import add_facility
from bot.console.users import create_staff
from bot.residents import lock_resident
from bot.residentweb import pages
from bot.residentweb.links import signed_url
from bot.residentweb.views import sign_in_url
from models import InboxEvent, InboxStatus, Role
from models.base import utcnow
from simulator.events import text_event
from tests.browser import screenshot
from tests.browser.axe import assert_accessible, violations
from tests.browser.test_console import sign_in
from tests.support import PASSWORD
from tests.toy_feature.resident_pages import PURPOSE


def local(url: str, base_url: str) -> str:
    """A link made on PUBLIC_BASE_URL, opened on the live server instead."""
    parts = urlsplit(url)
    return f"{base_url}{parts.path}"


@pytest.fixture
def resident(live_app: Flask) -> int:
    with live_app.extensions["db"].unit_of_work() as session:
        return lock_resident(session, "U" + "a" * 32).id


def test_axe_finds_violations(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/r/test/open")
    page.evaluate(
        "() => { const img = document.createElement('img'); img.src = '/static/x.png';"
        " document.querySelector('main').appendChild(img);"
        " document.documentElement.removeAttribute('lang'); }"
    )
    found = {v["id"] for v in violations(page)}
    assert {"image-alt", "html-has-lang"} <= found


def test_console_pages(page: Page, base_url: str, live_app: Flask) -> None:
    """The pages test_console.py does not check: sign-in, code, the facilities form, 404."""
    with live_app.extensions["db"].unit_of_work() as session:
        museum = add_facility(session, code="museum", name_ja="県立美術館", name_en="Museum")
        for email, role, secret in (
            ("admin@pref.example.jp", Role.ADMIN, None),
            ("desk@pref.example.jp", Role.FACILITY, pyotp.random_base32()),
        ):
            person = create_staff(
                session,
                email=email,
                display_name=email.split("@")[0],
                password=PASSWORD,
                roles={role},
                facilities=[museum],
            )
            person.totp_secret = secret
    page.goto(f"{base_url}/admin/signin")
    assert_accessible(page)
    screenshot(page, "a11y-console-sign-in")
    sign_in(page, base_url, "desk@pref.example.jp")  # has a second factor: the code page
    expect(page.get_by_label("コード", exact=True)).to_be_visible()
    assert_accessible(page)
    screenshot(page, "a11y-console-totp")
    page.context.clear_cookies()
    sign_in(page, base_url, "admin@pref.example.jp")
    expect(page.get_by_role("heading", name="ダッシュボード")).to_be_visible()
    page.goto(f"{base_url}/admin/staff")
    page.get_by_text("施設を変更").first.click()  # the facilities form, opened
    expect(page.get_by_role("button", name="施設を保存").first).to_be_visible()
    assert_accessible(page)
    screenshot(page, "a11y-console-staff-facilities")
    page.goto(f"{base_url}/admin/no-such-page")
    expect(page.locator("h1")).to_contain_text("404")
    assert_accessible(page)


def test_event_inbox_page(
    page: Page, base_url: str, live_app: Flask, resident: int, admin: str
) -> None:
    """An admin retries a parked event from the list."""
    user_id = "U" + "a" * 32
    with live_app.extensions["db"].unit_of_work() as session:
        event = text_event(user_id, "メニュー", reply_token="r" * 32)
        parked = InboxEvent(
            webhook_event_id=event["webhookEventId"],
            type="message",
            source_key=user_id,
            occurred_at=utcnow(),
            payload=json.dumps(event),
            status=InboxStatus.PARKED,
            attempts=3,
            available_at=utcnow(),
            last_error="OperationalError",
        )
        session.add(parked)
        session.flush()
        parked_id = parked.id
    sign_in(page, base_url, admin)
    page.get_by_role("link", name="受信イベント").click()
    expect(page.get_by_role("heading", name="保留中のイベント")).to_be_visible()
    expect(page.get_by_text(f"#{resident:06d}")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "a11y-console-event-inbox")
    page.get_by_label(f"イベント {parked_id} を選択").check()
    page.get_by_role("button", name="選択したイベントを再処理").click()
    expect(page.get_by_text("1 件のイベントを再処理待ちにしました。")).to_be_visible()
    assert_accessible(page)


def test_resident_pages(
    page: Page,
    base_url: str,
    live_app: Flask,
    resident: int,
    monkeypatch: pytest.MonkeyPatch,
    browser_errors: list[str],
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    with live_app.app_context():
        link = signed_url(
            "resident_test.link", purpose=PURPOSE, expires_in=timedelta(minutes=5), number=3
        )
        enter = sign_in_url(resident, "resident_test.me")
    page.goto(local(link, base_url))
    expect(page.locator("#who")).to_have_text("number 3")
    assert_accessible(page)

    page.goto(local(enter, base_url))  # follows the sign-in link to the resident's page
    expect(page.get_by_role("heading", name="あなたのページ")).to_be_visible()
    expect(page.locator("#who")).to_have_text(f"resident {resident}")
    assert_accessible(page)
    screenshot(page, "a11y-resident-page")
    page.goto(f"{base_url}/r/test/form")
    expect(page.get_by_label("ニックネーム / Nickname")).to_be_visible()
    assert_accessible(page)

    now = pages(live_app).now()
    monkeypatch.setattr(pages(live_app), "clock", lambda: now + 31 * 60)  # link and session
    page.goto(local(link, base_url))
    expect(page.get_by_role("heading", name="リンクの有効期限が切れました")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "a11y-resident-expired-link")
    for path, heading in (
        ("/r/test/link/forged", "このリンクは無効です"),
        ("/r/test/me", "このページは表示できません"),  # the session ended too
        ("/r/no-such-page", "ページが見つかりません"),
        ("/r/test/boom", "問題が発生しました"),
    ):
        page.goto(base_url + path)
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        assert_accessible(page)
    assert [e for e in browser_errors if "status of" not in e] == []


def test_resident_pages_in_english(browser: Browser, base_url: str) -> None:
    context = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(f"{base_url}/r/no-such-page")
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
        assert page.get_attribute("html", "lang") == "en"
        assert_accessible(page)
        screenshot(page, "a11y-resident-not-found-en")
    finally:
        context.close()
