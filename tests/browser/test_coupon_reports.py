"""A campaign's report in a real browser, as a viewer: the charts and tables with small cells
hidden, the filters (and a refused one), the workbook download; axe-core finding no WCAG
2.2 A/AA violation in any of these states. Screenshots: tests/artifacts/coupon-report-*.png.
"""

from __future__ import annotations

import io
from datetime import date

import openpyxl
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from bot.console.users import create_staff
from models import AuditEntry, Role
from models.coupons import VerificationFailure, VerificationStatus
from tests.browser import screenshot
from tests.browser.axe import assert_accessible
from tests.browser.test_console import sign_in
from tests.coupons.report_data import add_attempts, add_person, seed_campaign
from tests.support import PASSWORD

VIEWER = "viewer@pref.example.jp"


def _data(app: Flask) -> None:
    """Twelve people at the museum on 10 April, five at the insect forest on 11 April; the
    age bands hold 4, 3 and 5 people; a funnel with two failure reasons."""
    seeded = seed_campaign(app)
    for birth_year, people in ((1995, 4), (1975, 3), (1985, 5)):
        for _ in range(people):
            add_person(
                app,
                seeded,
                [(seeded.museum, date(2030, 4, 10))],
                birth_year=birth_year,
                municipality="10201",
            )
    for _ in range(5):
        add_person(app, seeded, [(seeded.forest, date(2030, 4, 11))], birth_year=None)
    add_attempts(app, 8, VerificationStatus.VERIFIED)
    add_attempts(app, 6, VerificationStatus.FAILED, VerificationFailure.CONSENT_DENIED)
    add_attempts(app, 2, VerificationStatus.FAILED, VerificationFailure.PROVIDER_DOWN)
    with app.extensions["db"].unit_of_work() as session:
        create_staff(
            session, email=VIEWER, display_name="閲覧 次郎", password=PASSWORD, roles={Role.VIEWER}
        )


def test_a_viewer_reads_and_downloads_a_campaign_report(
    page: Page, base_url: str, live_app: Flask, browser_errors: list[str]
) -> None:
    _data(live_app)
    sign_in(page, base_url, VIEWER)
    page.get_by_role("link", name="クーポンの報告").click()
    expect(page.get_by_role("heading", name="クーポンの報告")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="県有施設無料クーポン").click()

    expect(page.get_by_role("heading", name="報告：県有施設無料クーポン")).to_be_visible()
    expect(page.get_by_label("開始日（日本時間）")).to_have_value("2030-04-01")
    expect(page.get_by_label("終了日（日本時間）")).to_have_value("2030-06-30")
    ages = page.get_by_role("figure", name="利用時の年齢層")
    expect(ages.get_by_role("listitem")).to_have_text(
        ["30〜39歳 非表示", "40〜49歳 5", "50〜59歳 非表示", "不明 5"], use_inner_text=True
    )
    table = page.get_by_role("table", name="利用時の年齢層（表）")
    expect(table.get_by_role("row", name="40〜49歳")).to_have_text("40〜49歳55")
    expect(table.get_by_role("row", name="30〜39歳")).to_have_text("30〜39歳非表示非表示")
    expect(page.get_by_role("figure", name="本人確認の流れ")).to_contain_text("確認済み")
    assert_accessible(page)
    screenshot(page, "coupon-report")

    page.get_by_label("開始日（日本時間）").fill("2030-04-11")
    page.get_by_label("施設", exact=True).select_option(label="ぐんま昆虫の森")
    page.get_by_role("button", name="表示").click()
    days = page.get_by_role("table", name="施設別・日別の利用回数（表）")
    expect(days.get_by_role("row")).to_have_count(2)  # the header and 11 April
    expect(days).to_contain_text("ぐんま昆虫の森")
    assert "facility=insect-forest" in page.url
    assert_accessible(page)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="すべての表（Excelブック、XLSX）").click()
    download = download_info.value
    assert download.suggested_filename == "coupon-report-pilot-20300411-20300630.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(download.path().read_bytes()))
    assert list(book["施設別・日別の利用回数"].iter_rows(values_only=True)) == [
        ("日付", "施設", "利用回数", "人数"),
        ("2030-04-11", "ぐんま昆虫の森", 5, 5),
    ]

    page.get_by_label("終了日（日本時間）").fill("2030-04-01")
    page.get_by_role("button", name="表示").click()
    error = page.get_by_text("終了日が開始日より前です。")
    expect(error).to_be_visible()
    expect(page.get_by_label("終了日（日本時間）")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("heading", name="ダウンロード")).to_have_count(0)
    assert_accessible(page)
    screenshot(page, "coupon-report-refused")

    with live_app.extensions["db"].sessions() as session:
        exports = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "coupons.report.export")
        ).all()
    assert [(e["format"], e["facility"]) for e in exports] == [("xlsx", "insect-forest")]
    assert browser_errors == []
