"""The rehearsal page in a real browser: an editor makes a link code and sends it from LINE;
axe-core finds no WCAG 2.2 A/AA violation before and after.

Screenshots land in tests/artifacts/ (survey-rehearsal-*.png).
"""

from __future__ import annotations

import re

from flask import Flask
from playwright.sync_api import Page, expect

from tests.browser import screenshot
from tests.browser.axe import assert_accessible
from tests.browser.test_console import sign_in
from tests.browser.test_survey_builder import editor

__all__ = ["editor"]


def test_an_editor_makes_a_link_code(
    page: Page, base_url: str, live_app: Flask, editor: str, browser_errors: list[str]
) -> None:
    sign_in(page, base_url, editor)
    page.goto(f"{base_url}/admin/surveys")
    page.get_by_role("link", name="LINEでリハーサル").click()
    expect(page.get_by_role("heading", name="LINEでアンケートをリハーサル")).to_be_visible()
    expect(page.get_by_text("連携していません。")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "survey-rehearsal-page")
    page.get_by_role("button", name="連携コードを作る").click()
    code = page.locator("output.code")
    expect(code).to_have_text(re.compile(r"連携 [A-Z0-9]{4}-[A-Z0-9]{4}"))
    assert_accessible(page)
    screenshot(page, "survey-rehearsal-code")
    assert browser_errors == []
