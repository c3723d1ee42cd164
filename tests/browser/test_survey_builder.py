"""The survey builder in a real browser: an editor builds a small survey (its first question,
more questions, a condition refused at its field and then corrected, an order changed with
the keyboard buttons and by dragging), previews it and publishes it; axe-core finds no WCAG
2.2 A/AA violation on any builder page.

Screenshots land in tests/artifacts/ (survey-*.png) for a person to look at.
"""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Locator, Page, expect

from bot.console.users import create_staff
from models import Role
from models.surveys import Survey, SurveyStatus
from surveys.definition import definition_of
from tests.browser import screenshot
from tests.browser.axe import assert_accessible
from tests.browser.test_console import sign_in
from tests.support import PASSWORD


@pytest.fixture
def editor(live_app: Flask) -> str:
    """An editor's account; its email."""
    with live_app.extensions["db"].unit_of_work() as session:
        create_staff(
            session,
            email="editor@pref.example.jp",
            display_name="編集 次郎",
            password=PASSWORD,
            roles={Role.EDITOR},
        )
    return "editor@pref.example.jp"


def _question_names(app: Flask) -> list[str]:
    with app.extensions["db"].reading() as session:
        survey = session.query(Survey).one()
        version = survey.draft or survey.current_version
        assert version is not None
        return [q.name for q in definition_of(version, survey.default_language).questions]


def _menu(page: Page) -> Locator:
    """The console menu's entry for surveys."""
    return page.get_by_role("navigation", name="メインメニュー").get_by_role(
        "link", name="アンケート"
    )


def _check(page: Page, name: str) -> None:
    assert_accessible(page)
    screenshot(page, f"survey-{name}")


def test_an_editor_builds_previews_and_publishes_a_survey(
    page: Page, base_url: str, live_app: Flask, editor: str, browser_errors: list[str]
) -> None:
    sign_in(page, base_url, editor)
    _menu(page).click()
    expect(page.get_by_role("heading", name="アンケート", exact=True)).to_be_visible()
    _check(page, "list-empty")

    # A new survey with its first question: a single choice.
    page.get_by_role("link", name="新しいアンケート").click()
    _check(page, "new")
    page.locator("#f-title-ja").fill("ペットの調査")
    page.get_by_label("名前（コード）").fill("pets")
    page.locator("#f-label-ja").fill("飼っているペットは？")
    page.get_by_label("選択肢1のコード").fill("dog")
    page.get_by_label("選択肢1（日本語）").fill("犬")
    page.get_by_label("選択肢2のコード").fill("cat")
    page.get_by_label("選択肢2（日本語）").fill("猫")
    page.get_by_role("button", name="アンケートを作成").click()
    expect(page.get_by_role("heading", name="ペットの調査")).to_be_visible()
    expect(page.get_by_text("アンケートを下書きとして作成しました。")).to_be_visible()
    _check(page, "show-new")

    # A whole number.
    page.get_by_label("新しい質問の種類").select_option("integer")
    page.get_by_role("button", name="質問を追加").click()
    _check(page, "question-new")
    page.get_by_label("名前（コード）").fill("age")
    page.locator("#f-label-ja").fill("年齢は？")
    page.get_by_label("最小値").fill("0")
    page.get_by_role("button", name="質問を保存").click()
    expect(page.get_by_text("質問を追加しました。")).to_be_visible()

    # A free text asked only for dog owners: first with a condition on a later question.
    page.get_by_label("新しい質問の種類").select_option("text")
    page.get_by_role("button", name="質問を追加").click()
    page.get_by_label("名前（コード）").fill("dog_name")
    page.locator("#f-label-ja").fill("犬の名前は？")
    page.get_by_label("次の場合だけ質問する（表示条件、任意）").fill("${later} = 1")
    page.get_by_role("button", name="質問を保存").click()
    relevant = page.get_by_label("次の場合だけ質問する（表示条件、任意）")
    expect(relevant).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-relevant-error")).to_have_text(
        "${later} is not a question of this survey"
    )
    expect(page.get_by_role("alert")).to_contain_text("保存していません")
    _check(page, "question-error")
    relevant.fill("selected(${pets}, 'dog')")
    page.get_by_role("button", name="質問を保存").click()
    expect(page.get_by_text("質問を追加しました。")).to_be_visible()
    assert _question_names(live_app) == ["pets", "age", "dog_name"]

    # The keyboard's way: focus "Up" on age and press Enter (no mouse, no script needed).
    page.get_by_role("button", name="上へ 質問 age").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#question-list > li").first).to_have_attribute("data-name", "age")
    assert _question_names(live_app) == ["age", "pets", "dog_name"]
    # A move that would put dog_name before pets is refused, with the reason.
    page.get_by_role("button", name="上へ 質問 dog_name").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("${pets} is not an earlier question")
    assert _question_names(live_app) == ["age", "pets", "dog_name"]
    # Dragging pets by its handle onto age puts it first.
    with page.expect_navigation():  # saved, then the page reloads
        page.locator("#q-pets .handle").drag_to(page.locator("#q-age .handle"))
    expect(page.locator("#question-list > li").first).to_have_attribute("data-name", "pets")
    assert _question_names(live_app) == ["pets", "age", "dog_name"]
    _check(page, "show-questions")

    # The other pages of the builder.
    for name, link in (
        ("texts", "文面を編集"),
        ("settings", "設定を編集"),
        ("section", "セクションを追加"),
    ):
        page.get_by_role("link", name=link).click()
        expect(page.locator("h1")).to_be_visible()
        _check(page, name)
        page.go_back()

    page.get_by_role("link", name="LINEでの表示を確認").click()
    expect(page.locator(".chat")).to_contain_text("(1/3) 飼っているペットは？")
    expect(page.locator(".quick-replies").first).to_contain_text("犬")
    _check(page, "preview")
    page.go_back()

    # Publishing asks first.
    page.get_by_role("link", name="公開…").click()
    expect(page.get_by_role("heading", name="アンケートを公開しますか？")).to_be_visible()
    _check(page, "publish-confirm")
    page.get_by_role("button", name="アンケートを公開します").click()
    expect(page.get_by_text("第1版を公開しました。")).to_be_visible()
    expect(page.get_by_role("button", name="編集する（第2版を作成）")).to_be_visible()
    _check(page, "show-published")
    with live_app.extensions["db"].reading() as session:
        assert session.query(Survey).one().status == SurveyStatus.OPEN

    _menu(page).click()
    expect(page.get_by_role("cell", name="公開中")).to_be_visible()
    _check(page, "list")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base_url}/admin/surveys/1")
    _check(page, "show-phone")
    assert browser_errors == []


def test_an_invalid_workbook_upload_shows_every_problem(
    page: Page, base_url: str, live_app: Flask, editor: str, browser_errors: list[str]
) -> None:
    from tests.surveys.test_xlsform import FIXTURES

    sign_in(page, base_url, editor)
    page.goto(f"{base_url}/admin/surveys/import")
    _check(page, "import")
    page.get_by_label("XLSForm ワークブック（.xlsx）").set_input_files(
        str(FIXTURES / "every_error.xlsx")
    )
    page.get_by_role("button", name="取り込む").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("問題 12 件")
    expect(alert).to_contain_text("survey!E7 (relevant): ${after} is not an earlier question")
    _check(page, "import-errors")
    page.get_by_label("XLSForm ワークブック（.xlsx）").set_input_files(
        str(FIXTURES / "kobo_style.xlsx")
    )
    page.get_by_role("button", name="取り込む").click()
    expect(page.get_by_role("heading", name="県庁来庁者アンケート")).to_be_visible()
    assert browser_errors == []
