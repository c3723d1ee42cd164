"""A survey's whole life in a real browser: an editor builds a small survey in the console and
publishes it, a resident answers it in LINE (the simulator's chat page, in a browser context
of its own), and the editor sees the answer in the results' chart.
"""

from __future__ import annotations

from flask import Flask
from playwright.sync_api import Browser, Page, expect

from models.surveys import SurveySubmission
from tests.browser import screenshot
from tests.browser.axe import assert_accessible
from tests.browser.conftest import VIEWPORT
from tests.browser.test_console import sign_in
from tests.browser.test_survey_builder import _menu, editor  # noqa: F401 - the fixture


def test_built_in_the_console_answered_in_line_counted_in_the_chart(
    page: Page,
    browser: Browser,
    base_url: str,
    live_app: Flask,
    editor: str,  # noqa: F811 - the fixture imported above
    browser_errors: list[str],
) -> None:
    # The editor builds a one-question survey and publishes it.
    sign_in(page, base_url, editor)
    _menu(page).click()
    page.get_by_role("link", name="新しいアンケート").click()
    page.locator("#f-title-ja").fill("ペットの調査")
    page.get_by_label("名前（コード）").fill("pets")
    page.locator("#f-label-ja").fill("飼っているペットは？")
    page.get_by_label("選択肢1のコード").fill("dog")
    page.get_by_label("選択肢1（日本語）").fill("犬")
    page.get_by_label("選択肢2のコード").fill("cat")
    page.get_by_label("選択肢2（日本語）").fill("猫")
    page.get_by_role("button", name="アンケートを作成").click()
    page.get_by_role("link", name="公開…").click()
    page.get_by_role("button", name="アンケートを公開します").click()
    expect(page.get_by_text("第1版を公開しました。")).to_be_visible()

    # A resident, on their own phone, answers it in LINE.
    phone = browser.new_context(viewport=VIEWPORT, locale="ja-JP", timezone_id="Asia/Tokyo")
    try:
        chat = phone.new_page()
        chat.goto(f"{base_url}/simulator")
        chat.locator("#new-name").fill("県民 花子")
        chat.locator("#add-resident button[type=submit]").click()
        chat.locator("#follow-button").click()
        bot = chat.locator(".row.from-bot")
        expect(bot.first).to_contain_text("友だち追加ありがとうございます")
        chat.locator("#quick-replies .chip").filter(has_text="アンケート").click()
        expect(bot.last).to_contain_text("ペットの調査")
        bot.last.get_by_role("button", name="回答する").click()
        expect(bot.last).to_contain_text("飼っているペットは？")
        chat.locator("#quick-replies .chip").filter(has_text="犬").click()
        expect(bot.last).to_contain_text("回答内容をご確認ください")  # the summary
        expect(bot.last).to_contain_text("犬")
        chat.locator("#quick-replies .chip").filter(has_text="送信").click()
        expect(chat.locator(".row.from-resident").last).to_have_text("送信")
        screenshot(chat, "survey-e2e-answered")
    finally:
        phone.close()

    # The editor sees the answer counted: one 犬, 100 %.
    with live_app.extensions["db"].reading() as session:
        assert session.query(SurveySubmission).count() == 1
    page.goto(f"{base_url}/admin/surveys/1/results")
    chart = page.locator("table").filter(has_text="犬").first
    expect(chart).to_be_visible()
    dog = chart.get_by_role("row").filter(has=page.get_by_role("rowheader", name="犬"))
    expect(dog).to_contain_text("1")
    expect(dog).to_contain_text("100.0%")
    assert_accessible(page)
    screenshot(page, "survey-e2e-results")
    assert browser_errors == []
