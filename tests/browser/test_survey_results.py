"""Survey results in a real browser: a viewer opens a survey's results from the list, reads
the charts (their figures in tables), lists the free-text answers with a search, breaks an
answer down by another question, looks at a photo thumbnail and at an anonymous survey whose
small cells are hidden, and downloads the CSV; axe-core finds no WCAG 2.2 A/AA violation on
any results page.

Screenshots land in tests/artifacts/ (survey-results-*.png) for a person to look at.
"""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from bot.console.users import create_staff
from bot.db import Database
from models import Role
from tests.browser import screenshot
from tests.browser.axe import assert_accessible
from tests.browser.test_console import sign_in
from tests.support import PASSWORD
from tests.surveys.test_results import make_survey, write_submission


@pytest.fixture
def viewer(live_app: Flask) -> str:
    """A viewer's account; its email."""
    with live_app.extensions["db"].unit_of_work() as session:
        create_staff(
            session,
            email="viewer@pref.example.jp",
            display_name="閲覧 三郎",
            password=PASSWORD,
            roles={Role.VIEWER},
        )
    return "viewer@pref.example.jp"


def _seed(db: Database) -> tuple[int, int]:
    """An identified survey with answers of every kind, and an anonymous one."""
    survey_id = make_survey(db)
    answers = [
        {
            "area": "10201",
            "pets": ["dog", "cat"],
            "age": 34,
            "score": 5,
            "comment": "公園を増やして",
            "visit": "2026-11-01",
            "at": "09:30",
            "ok": "yes",
            "picture": None,
        },
        {
            "area": "10201",
            "pets": ["dog"],
            "age": 41,
            "score": 4,
            "comment": "駐車場が少ない",
            "ok": "yes",
            "place": {"latitude": 36.39, "longitude": 139.06, "address": "前橋市"},
        },
        {"area": "10202", "pets": [], "age": 58, "score": 2, "comment": "図書館を夜も", "ok": "no"},
        {"area": "10203", "pets": ["fish"], "age": 27, "score": 3, "height": 171.5},
    ]
    for number, answer in enumerate(answers):
        write_submission(db, survey_id, answer, duration=40 + 30 * number)
    anonymous_id = make_survey(db, anonymous=True)
    for _ in range(6):
        write_submission(db, anonymous_id, {"area": "10201", "ok": "yes"})
    write_submission(db, anonymous_id, {"area": "10202", "ok": "no", "comment": "個人が分かる"})
    return survey_id, anonymous_id


def _check(page: Page, name: str) -> None:
    assert_accessible(page)
    screenshot(page, f"survey-results-{name}")


def test_a_viewer_reads_results_lists_breaks_down_and_downloads(
    page: Page, base_url: str, live_app: Flask, viewer: str, browser_errors: list[str]
) -> None:
    survey_id, anonymous_id = _seed(live_app.extensions["db"])
    sign_in(page, base_url, viewer)
    page.goto(f"{base_url}/admin/surveys/")
    page.get_by_role("link", name="県民調査 の結果").last.click()  # the older, identified one
    expect(page.get_by_role("heading", name="結果: 県民調査", level=1)).to_be_visible()
    # The chart of a single choice: its figures are in the table beside the bars.
    area = page.get_by_role("table", name="2. お住まいは？")
    expect(area.get_by_role("row", name="前橋市")).to_contain_text("50.0%")
    expect(area.get_by_role("row", name="高崎市")).to_contain_text("1")
    expect(page.get_by_role("table", name="3. ペットは？")).to_contain_text("犬")
    expect(page.get_by_text("40.00")).to_be_visible()  # the mean age
    expect(page.locator("img[src*='thumb=1']")).to_have_count(1)
    _check(page, "page")

    page.get_by_role("link", name="回答 3 件をすべて見る（検索できます）").click()
    expect(page.get_by_role("heading", name="ご意見")).to_be_visible()
    page.get_by_label("回答を検索").fill("駐車")
    page.get_by_role("button", name="検索").click()
    expect(page.get_by_role("cell", name="駐車場が少ない")).to_be_visible()
    expect(page.get_by_role("cell", name="図書館を夜も")).to_have_count(0)
    _check(page, "answers")

    page.goto(f"{base_url}/admin/surveys/{survey_id}/results")
    page.get_by_role("link", name="クロス集計").click()
    page.get_by_label("集計する質問（列）").select_option("ok")
    page.get_by_label("分ける軸（行）").select_option("q:area")
    page.get_by_role("button", name="表示").click()
    table = page.get_by_role("table", name="同意 × お住まいは？")
    expect(table.get_by_role("row", name="前橋市")).to_contain_text("2")
    _check(page, "crosstab")

    page.goto(f"{base_url}/admin/surveys/{survey_id}/results")
    with page.expect_download() as download:
        page.get_by_role("button", name="CSVダウンロード").click()
    assert download.value.suggested_filename == f"survey-{survey_id}-v1-responses.csv"

    page.goto(f"{base_url}/admin/surveys/{anonymous_id}/results")
    expect(page.get_by_role("note")).to_contain_text("匿名")
    expect(page.get_by_role("table", name="2. お住まいは？")).to_contain_text("5 未満")
    expect(page.get_by_text("個人が分かる")).to_have_count(0)
    _check(page, "anonymous")
    assert browser_errors == []
