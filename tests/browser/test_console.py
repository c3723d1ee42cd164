"""The staff console in a real browser: sign-in, lockout, CSRF, the dashboard chart, and
axe-core's WCAG 2.2 A/AA checks of each page (more in test_accessibility.py).

Screenshots of every page land in tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from bot.console.users import MAX_FAILED_SIGN_INS
from bot.residents import lock_resident, record_follow, record_unfollow
from models import AuditEntry, Staff
from models.base import utcnow
from tests.browser import screenshot
from tests.browser.axe import assert_accessible
from tests.support import PASSWORD


def sign_in(page: Page, base_url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/admin/signin")
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="サインイン").click()


def audit_actions(app: Flask) -> list[str]:
    with app.extensions["db"].sessions() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_sign_in_shows_the_dashboard_chart(
    page: Page, base_url: str, live_app: Flask, admin: str, browser_errors: list[str]
) -> None:
    with live_app.extensions["db"].unit_of_work() as session:
        for index in range(6):
            resident = lock_resident(session, f"U{index:032x}")
            record_follow(resident, is_unblocked=False, at=utcnow() - timedelta(days=index * 4))
            if index == 5:
                record_unfollow(resident, at=utcnow())
    sign_in(page, base_url, admin)
    expect(page.get_by_role("heading", name="ダッシュボード")).to_be_visible()
    chart = page.locator("#friends-chart")
    expect(chart).to_have_attribute("data-rendered", "4")  # Chart.js drew four series
    box = chart.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 200
    painted = page.evaluate(
        "() => { const c = document.getElementById('friends-chart');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } return n; }"
    )
    assert painted > 1000  # pixels were drawn, not an empty canvas
    assert_accessible(page)
    screenshot(page, "console-dashboard")
    for path, name in (
        ("/admin/residents", "residents"),
        ("/admin/audit", "audit"),
        ("/admin/staff", "staff"),
        ("/admin/account", "account"),
    ):
        page.goto(base_url + path)
        expect(page.locator("h1")).to_be_visible()
        assert_accessible(page)
        screenshot(page, f"console-{name}")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base_url}/admin/")
    expect(chart).to_have_attribute("data-rendered", "4")
    assert_accessible(page)
    screenshot(page, "console-dashboard-phone")
    assert browser_errors == []


def test_wrong_password_is_refused(page: Page, base_url: str, live_app: Flask, admin: str) -> None:
    sign_in(page, base_url, admin, "not my password")
    expect(page.get_by_role("alert")).to_contain_text("メールアドレスまたはパスワードが違います")
    expect(page.get_by_role("heading", name="サインイン")).to_be_visible()
    screenshot(page, "console-wrong-password")
    assert audit_actions(live_app) == ["signin.failed"]


def test_lockout_after_repeated_failures(
    page: Page, base_url: str, live_app: Flask, admin: str
) -> None:
    for _ in range(MAX_FAILED_SIGN_INS):
        sign_in(page, base_url, admin, "guessing again")
    expect(page.get_by_role("alert")).to_contain_text("ロック")
    sign_in(page, base_url, admin)  # the right password, while locked
    expect(page.get_by_role("alert")).to_contain_text("ロック")
    screenshot(page, "console-locked")
    assert "signin.locked" in audit_actions(live_app)
    assert page.url.endswith("/admin/signin")


def test_too_many_sign_ins_from_one_address_get_the_japanese_429_page(
    page: Page, base_url: str, live_app: Flask, admin: str, browser_errors: list[str]
) -> None:
    limit = int(live_app.config["SIGN_IN_LIMIT_PER_ADDRESS"].split()[0])  # per minute
    for n in range(limit):
        sign_in(page, base_url, f"nobody{n}@pref.example.jp", "guessing")
        expect(page.get_by_role("alert")).to_be_visible()
    sign_in(page, base_url, admin)  # the right password, but this address is throttled
    expect(page.get_by_role("heading", name="429 試行回数が多すぎます")).to_be_visible()
    expect(page.get_by_text("1分ほど待ってから、もう一度お試しください。")).to_be_visible()
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background not in ("", "rgba(0, 0, 0, 0)")  # the console's style sheet applies
    assert_accessible(page)
    screenshot(page, "console-throttled")
    # The 401s and the 429 are the answers themselves; anything else (CSP) would be a fault.
    assert [e for e in browser_errors if "Failed to load resource" not in e] == []
    assert "signin" not in audit_actions(live_app)


def test_forged_cross_site_form_is_rejected(
    page: Page, base_url: str, live_app: Flask, admin: str
) -> None:
    sign_in(page, base_url, admin)
    expect(page.get_by_role("heading", name="ダッシュボード")).to_be_visible()
    # The same form the staff page has, but without the CSRF token, as a forger would send.
    page.evaluate(
        """(url) => {
            const form = document.createElement("form");
            form.method = "post"; form.action = url;
            for (const [name, value] of [["email", "evil@example.jp"], ["display_name", "x"],
                                         ["roles", "admin"], ["password", "a long password!"]]) {
                const input = document.createElement("input");
                input.name = name; input.value = value; form.appendChild(input);
            }
            document.body.appendChild(form); form.submit();
        }""",
        f"{base_url}/admin/staff",
    )
    expect(page.locator("h1")).to_contain_text("400")
    screenshot(page, "console-csrf-rejected")
    with live_app.extensions["db"].sessions() as session:
        forged = session.scalars(select(Staff).where(Staff.email == "evil@example.jp"))
        assert forged.first() is None


def test_keyboard_only_sign_in(page: Page, base_url: str, admin: str) -> None:
    page.goto(f"{base_url}/admin/signin")
    page.keyboard.press("Tab")  # skip link first
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.type(admin)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="ダッシュボード")).to_be_visible()
