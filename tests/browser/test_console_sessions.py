"""Sessions and two-step sign-in in a real browser: TOTP set up and used (codes computed with
pyotp, as the phone's app would), a recovery code in a second browser, the account page's
list of sessions, ending the other browser's session, a copied cookie after sign-out, and
axe-core's WCAG 2.2 A/AA checks of every page added or changed for them.

Screenshots land in tests/artifacts/ (console-sessions-*.png).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser import screenshot
from tests.browser.axe import assert_accessible
from tests.browser.conftest import TIMEOUT_MS, VIEWPORT
from tests.browser.test_console import audit_actions, sign_in
from tests.console.totp import code, steady_step

ENDED = "セッションは終了しています。もう一度サインインしてください。"


@pytest.fixture
def other_browser(browser: Browser) -> Iterator[BrowserContext]:
    """A second browser (its own cookies), as on another computer."""
    context = browser.new_context(viewport=VIEWPORT, locale="ja-JP", timezone_id="Asia/Tokyo")
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


def checked(page: Page, name: str) -> None:
    """axe finds nothing on the page as it is; a screenshot for a person to look at."""
    assert_accessible(page)
    screenshot(page, f"console-sessions-{name}")


def test_totp_sign_in_and_ending_another_browsers_session(
    page: Page,
    base_url: str,
    live_app: Flask,
    admin: str,
    other_browser: BrowserContext,
    browser_errors: list[str],
) -> None:
    # Set up TOTP from the account page.
    sign_in(page, base_url, admin)
    expect(page.get_by_role("heading", name="ダッシュボード")).to_be_visible()
    page.goto(f"{base_url}/admin/account")
    page.get_by_role("link", name="2段階認証を設定する").click()
    expect(page.get_by_role("heading", name="2段階認証を設定する")).to_be_visible()
    checked(page, "enrol")
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("コード").fill(code(secret, steady_step(secret) - 1))
    page.get_by_role("button", name="有効にする").click()
    expect(page.get_by_role("heading", name="回復コード")).to_be_visible()
    recovery_codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(recovery_codes) == 10
    checked(page, "recovery-codes")
    page.get_by_role("link", name="保管しました").click()
    expect(page.get_by_text("2段階認証は有効です。残りの回復コード: 10")).to_be_visible()

    # Sign out, then in again: the password, then the app's current code.
    page.get_by_role("banner").get_by_role("button", name="サインアウト").click()
    sign_in(page, base_url, admin)
    expect(page.get_by_label("コード", exact=True)).to_be_visible()
    page.get_by_text("スマートフォンをなくした場合は回復コードを使う").click()
    checked(page, "code-page")
    page.get_by_label("コード", exact=True).fill(code(secret, steady_step(secret)))
    page.get_by_role("button", name="次へ").first.click()
    expect(page.get_by_role("heading", name="ダッシュボード")).to_be_visible()

    # A second browser signs in with a recovery code (a lost phone).
    other = other_browser.new_page()
    sign_in(other, base_url, admin)
    other.get_by_text("スマートフォンをなくした場合は回復コードを使う").click()
    other.get_by_label("回復コード").fill(recovery_codes[0])
    other.locator("details").get_by_role("button", name="次へ").click()
    expect(other.get_by_role("heading", name="ダッシュボード")).to_be_visible()

    # The first lists both sessions, this one marked, and ends the other one.
    page.goto(f"{base_url}/admin/account")
    rows = page.get_by_role("table", name="サインイン中のセッション").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="このセッション")).to_have_count(1)
    expect(rows.first).to_contain_text("127.0.0.1")
    expect(rows.first).to_contain_text(re.compile(r"Chrome \d+"))
    checked(page, "account")
    page.get_by_role("button", name=re.compile("^終了")).click()
    expect(page.get_by_text("セッションを終了しました。")).to_be_visible()
    expect(rows).to_have_count(1)

    # The other browser is signed out, and told so.
    other.goto(f"{base_url}/admin/staff")
    expect(other.get_by_role("heading", name="サインイン")).to_be_visible()
    expect(other.get_by_role("status")).to_contain_text(ENDED)

    # An attacker with a copy of the first browser's cookie: in until it signs out.
    other_browser.clear_cookies()
    other_browser.add_cookies(
        [{"name": c["name"], "value": c["value"], "url": base_url} for c in page.context.cookies()]
    )
    other.goto(f"{base_url}/admin/staff")
    expect(other.get_by_role("heading", name="職員")).to_be_visible()
    checked(other, "staff")
    page.goto(f"{base_url}/admin/settings")
    expect(page.get_by_role("heading", name="設定")).to_be_visible()
    checked(page, "settings")
    page.get_by_role("banner").get_by_role("button", name="サインアウト").click()
    expect(page.get_by_role("heading", name="サインイン")).to_be_visible()
    other.goto(f"{base_url}/admin/staff")
    expect(other.get_by_role("heading", name="サインイン")).to_be_visible()

    actions = audit_actions(live_app)
    for action in ("staff.totp_enable", "signin.recovery_code", "session.end", "signout"):
        assert action in actions
    assert browser_errors == []


def test_required_totp_leads_to_enrolment(
    page: Page, base_url: str, live_app: Flask, admin: str
) -> None:
    sign_in(page, base_url, admin)
    page.goto(f"{base_url}/admin/settings")
    page.get_by_label("管理者と承認者のアカウントに2段階認証を必須にする").check()
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("設定を保存しました。")).to_be_visible()
    expect(page.get_by_role("heading", name="2段階認証を設定する")).to_be_visible()
    expect(page.get_by_text("コンソールを使う前に")).to_be_visible()
    checked(page, "enrol-required")
    page.goto(f"{base_url}/admin/audit")  # nothing else opens until TOTP is set up
    expect(page.get_by_role("heading", name="2段階認証を設定する")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("コード").fill(code(secret, steady_step(secret)))
    page.get_by_role("button", name="有効にする").click()
    expect(page.get_by_role("heading", name="回復コード")).to_be_visible()
    page.goto(f"{base_url}/admin/audit")
    expect(page.get_by_role("heading", name="監査ログ")).to_be_visible()
    checked(page, "audit")
