"""Coupon reports: who may see them, what they count (aggregated in SQL), small cells hidden
on the page and in the exports, filters refused with a clear error, exports audited."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from sqlalchemy import select

from coupons.reports import Filters, Report, build_report, suppress
from models import AuditEntry, Facility, Role, Staff
from models.coupons import Campaign, VerificationFailure, VerificationStatus
from tests.console.conftest import add_staff, sign_in
from tests.coupons.report_data import FIRST, LAST, Seeded, add_attempts, add_person, seed_campaign

Day = date(2030, 4, 10)
Other = date(2030, 4, 11)


@pytest.fixture
def seeded(app: Flask) -> Seeded:
    return seed_campaign(app)


def report_of(app: Flask, seeded: Seeded, *, k: int = 5, **filters: object) -> Report:
    values: dict[str, object] = {"first": FIRST, "last": LAST, **filters}
    with app.extensions["db"].sessions() as session, app.test_request_context():
        campaign = session.get(Campaign, seeded.campaign)
        assert campaign is not None
        return build_report(session, campaign, Filters(**values), k=k, language="ja")  # type: ignore[arg-type]


def rows(report: Report, key: str) -> dict[tuple[str, ...], tuple[int | None, ...]]:
    return {row.labels: row.counts for row in report.table(key).rows}


def exports_of(app: Flask) -> list[AuditEntry]:
    """The audit log's export entries, oldest first."""
    with app.extensions["db"].sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "coupons.report.export")
                .order_by(AuditEntry.id)
            )
        )


def page_of(client: FlaskClient, seeded: Seeded, query: str = "") -> str:
    answer = client.get(f"/admin/coupons/reports/{seeded.campaign}{query}")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_data(as_text=True)


# --- who may see them ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.VIEWER, True),
        (Role.EDITOR, True),
        (Role.APPROVER, True),
        (Role.ADMIN, True),
        (Role.FACILITY, False),
        (Role.COUNSELLOR, False),
    ],
)
def test_viewers_and_up_see_reports_facility_staff_do_not(
    app: Flask,
    client: FlaskClient,
    signed_in: Callable[..., Staff],
    seeded: Seeded,
    role: Role,
    allowed: bool,
) -> None:
    me = signed_in(role)
    paths = [
        "/admin/coupons/reports/",
        f"/admin/coupons/reports/{seeded.campaign}",
        f"/admin/coupons/reports/{seeded.campaign}/age_bands.csv",
        f"/admin/coupons/reports/{seeded.campaign}/report.xlsx",
    ]
    for path in paths:
        assert client.get(path).status_code == (200 if allowed else 403), path
    menu = client.get("/admin/account").get_data(as_text=True)
    assert ('href="/admin/coupons/reports/"' in menu) is allowed
    with app.extensions["db"].sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.actor_id == me.id)
        ).all()
    if allowed:
        assert actions.count("coupons.report.export") == 2
    else:
        assert actions.count("forbidden") == len(paths)
        assert "coupons.report.export" not in actions


def test_nobody_signed_in_is_sent_to_sign_in(client: FlaskClient, seeded: Seeded) -> None:
    answer = client.get(f"/admin/coupons/reports/{seeded.campaign}/report.xlsx")
    assert answer.status_code == 302
    assert "/admin/signin" in answer.headers["Location"]


def test_an_unknown_campaign_or_table_is_not_found(
    client: FlaskClient, signed_in: Callable[..., Staff], seeded: Seeded
) -> None:
    signed_in(Role.VIEWER)
    assert client.get(f"/admin/coupons/reports/{seeded.campaign + 99}").status_code == 404
    assert client.get(f"/admin/coupons/reports/{seeded.campaign}/people.csv").status_code == 404


# --- what they count ----------------------------------------------------------------------


def test_uses_per_facility_per_day_and_unique_people(app: Flask, seeded: Seeded) -> None:
    museum, forest = seeded.museum, seeded.forest
    for _ in range(5):
        add_person(app, seeded, [(museum, Day), (forest, Other)])
    for _ in range(2):  # two uses the same day at the museum: 2 uses, 1 person each
        add_person(app, seeded, [(museum, Day), (museum, Day)], undone=[(forest, Other)])
    # Undone uses, and uses of another campaign or outside the range, are not counted.
    add_person(app, seeded, [(museum, date(2030, 7, 1))], undone=[(museum, Day)])
    report = report_of(app, seeded)
    assert rows(report, "facility_days") == {
        ("2030-04-10", "県立近代美術館"): (9, 7),
        ("2030-04-11", "ぐんま昆虫の森"): (5, 5),
    }
    assert (report.summary.uses, report.summary.persons, report.summary.granted) == (14, 7, 8)
    only_forest = report_of(app, seeded, facility_id=forest)
    assert rows(only_forest, "facility_days") == {("2030-04-11", "ぐんま昆虫の森"): (5, 5)}
    first_day = report_of(app, seeded, last=Day)
    assert first_day.summary.uses == 9


def test_distribution_of_uses_per_person(app: Flask, seeded: Seeded) -> None:
    for _ in range(5):
        add_person(app, seeded, [(seeded.museum, Day)])
    for _ in range(6):
        add_person(app, seeded, [(seeded.museum, Day), (seeded.forest, Other)])
    for _ in range(3):
        add_person(app, seeded, [(seeded.museum, Day)] * 3)
    add_person(app, seeded, [])  # granted, never used: not a user
    assert rows(report_of(app, seeded), "uses_per_person") == {
        ("1回",): (None,),  # 5 people, hidden too: with the total, it would give 3回 away
        ("2回",): (6,),
        ("3回",): (None,),  # 3 people: hidden
    }


def test_age_bands_at_the_use_with_an_unknown_row(app: Flask, seeded: Seeded) -> None:
    for _ in range(5):  # 39 in 2030
        add_person(app, seeded, [(seeded.museum, Day)], birth_year=1991)
    for _ in range(5):  # 40 in 2030
        add_person(app, seeded, [(seeded.museum, Day)], birth_year=1990)
    for _ in range(6):
        add_person(app, seeded, [(seeded.museum, Day)], birth_year=1940)  # 90
    for _ in range(5):
        add_person(app, seeded, [(seeded.museum, Day)], birth_year=None)
    for _ in range(5):  # a birth year after the use is no age: unknown, never a guess
        add_person(app, seeded, [(seeded.museum, Day)], birth_year=2031)
    assert rows(report_of(app, seeded), "age_bands") == {
        ("30〜39歳",): (5, 5),
        ("40〜49歳",): (5, 5),
        ("80歳以上",): (6, 6),
        ("不明",): (10, 10),
    }


def test_prefecture_and_municipality_with_unknown_rows(app: Flask, seeded: Seeded) -> None:
    for _ in range(5):
        add_person(app, seeded, [(seeded.museum, Day)], municipality="10201")
    for _ in range(6):
        add_person(app, seeded, [(seeded.museum, Day)], prefecture=None)
    for _ in range(7):
        add_person(app, seeded, [(seeded.museum, Day)], prefecture="埼玉県", municipality="11100")
    report = report_of(app, seeded)
    in_order = [(r.labels, r.counts) for r in report.table("prefectures").rows]
    assert in_order == [(("群馬県",), (5, 5)), (("埼玉県",), (7, 7)), (("不明",), (6, 6))]
    assert [(r.labels, r.counts) for r in report.table("municipalities").rows] == [
        (("前橋市 (10201)",), (5, 5)),
        (("11100",), (7, 7)),  # not one of the municipalities shipped: the code as it is
        (("不明",), (6, 6)),
    ]


def test_the_verification_funnel_and_failures_by_reason(app: Flask, seeded: Seeded) -> None:
    add_attempts(app, 5, VerificationStatus.LINK_SENT)
    add_attempts(app, 6, VerificationStatus.VERIFIED)
    add_attempts(app, 5, VerificationStatus.FAILED, VerificationFailure.CONSENT_DENIED)
    add_attempts(app, 7, VerificationStatus.FAILED, VerificationFailure.PROVIDER_DOWN)
    add_attempts(app, 2, VerificationStatus.FAILED, VerificationFailure.TOKEN_EXPIRED)
    add_attempts(app, 1, VerificationStatus.FAILED, VerificationFailure.BAD_SIGNATURE)
    add_attempts(app, 9, VerificationStatus.VERIFIED, on=date(2030, 7, 2))  # outside
    report = report_of(app, seeded)
    assert [row.counts for row in report.table("funnel").rows] == [
        (26, 26),
        (21, 21),
        (6, 6),
        (15, 15),
    ]
    failures = [
        (row.labels[0].split(" (")[-1], row.counts) for row in report.table("failures").rows
    ]
    assert failures == [
        ("consent_denied)", (5, 5)),
        ("token_expired)", (None, None)),
        ("bad_signature)", (None, None)),
        ("provider_down)", (7, 7)),
    ]


def test_labels_follow_the_staff_members_language(app: Flask, seeded: Seeded) -> None:
    for birth_year in (2025, 1991, 1930, None):
        for _ in range(5):
            add_person(app, seeded, [(seeded.museum, Day)], birth_year=birth_year)
    with app.extensions["db"].sessions() as session, app.test_request_context():
        campaign = session.get(Campaign, seeded.campaign)
        assert campaign is not None
        with force_locale("en"):
            report = build_report(session, campaign, Filters(FIRST, LAST), k=5, language="en")
    assert [row.labels[0] for row in report.table("age_bands").rows] == [
        "Under 10",
        "30–39",
        "80 and over",
        "Unknown",
    ]
    assert report.table("facility_days").rows[0].labels == ("2030-04-10", "Museum of Modern Art")
    assert report.table("age_bands").header == ["Age band", "Uses", "People"]


# --- small cells hidden -------------------------------------------------------------------


def test_a_cell_of_four_is_hidden_and_one_of_five_shown(app: Flask, seeded: Seeded) -> None:
    for birth_year, people in ((1995, 4), (1975, 3), (1985, 5)):
        for _ in range(people):
            add_person(app, seeded, [(seeded.museum, Day)], birth_year=birth_year)
    assert rows(report_of(app, seeded), "age_bands") == {
        ("30〜39歳",): (None, None),  # 4: hidden
        ("40〜49歳",): (5, 5),  # 5: shown
        ("50〜59歳",): (None, None),  # 3: hidden
    }


def test_one_hidden_cell_hides_the_smallest_other_too() -> None:
    raw = [(("a",), (9, 4)), (("b",), (8, 6)), (("c",), (20, 5)), (("d",), (0, 0))]
    assert [r.counts for r in suppress(raw, basis=1, k=5)] == [
        (None, None),
        (8, 6),
        (None, None),  # the smallest other non-empty row
        (0, 0),
    ]
    assert [r.counts for r in suppress(raw, basis=1, k=5, complementary=False)] == [
        (None, None),
        (8, 6),
        (20, 5),
        (0, 0),
    ]
    assert [r.counts for r in suppress(raw, basis=1, k=4)] == [(9, 4), (8, 6), (20, 5), (0, 0)]


def test_k_is_configurable_and_at_least_two(app: Flask, seeded: Seeded) -> None:
    for birth_year, people in ((1995, 3), (1975, 3)):
        for _ in range(people):
            add_person(app, seeded, [(seeded.museum, Day)], birth_year=birth_year)
    assert rows(report_of(app, seeded, k=3), "age_bands") == {
        ("30〜39歳",): (3, 3),
        ("50〜59歳",): (3, 3),
    }
    few = report_of(app, seeded, k=7).summary  # 6 people in all: the headline is hidden too
    assert (few.uses, few.persons, few.granted) == (None, None, None)
    with pytest.raises(ValueError, match="k must be at least 2"):
        report_of(app, seeded, k=1)


def test_the_page_uses_the_configured_k(make_app: Callable[..., Flask]) -> None:
    other = make_app(COUPONS_REPORT_K=3)
    seeded = seed_campaign(other)
    for birth_year, people in ((1995, 3), (1975, 2), (1985, 4)):
        for _ in range(people):
            add_person(other, seeded, [(seeded.museum, Day)], birth_year=birth_year)
    client = other.test_client()
    assert sign_in(client, add_staff(other, Role.VIEWER, email="k@pref.example.jp").email)
    page = page_of(client, seeded)
    assert "3人未満の集計は表示しません" in page
    assert '<th scope="row">40〜49歳</th><td>4</td><td>4</td>' in page  # 5 would hide it
    assert '<th scope="row">50〜59歳</th><td><span class="hidden-cell">' in page  # 2 < 3
    assert '<th scope="row">30〜39歳</th><td><span class="hidden-cell">' in page  # complement


def test_the_page_and_exports_hide_the_same_cells(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff], seeded: Seeded
) -> None:
    for birth_year, people in ((1995, 4), (1975, 3), (1985, 5)):
        for _ in range(people):
            add_person(app, seeded, [(seeded.museum, Day)], birth_year=birth_year)
    signed_in(Role.VIEWER)
    page = page_of(client, seeded)
    assert '<th scope="row">40〜49歳</th><td>5</td><td>5</td>' in page
    hidden = '<td><span class="hidden-cell">非表示</span></td>'
    assert f'<th scope="row">30〜39歳</th>{hidden}{hidden}' in page
    assert "5人未満の集計は表示しません" in page
    answer = client.get(f"/admin/coupons/reports/{seeded.campaign}/age_bands.csv")
    text = answer.get_data(as_text=True)
    assert text.startswith("\ufeff")
    assert list(csv.reader(io.StringIO(text.removeprefix("\ufeff")))) == [
        ["年齢層", "利用回数", "人数"],
        ["30〜39歳", "非表示", "非表示"],
        ["40〜49歳", "5", "5"],
        ["50〜59歳", "非表示", "非表示"],
    ]
    answer = client.get(f"/admin/coupons/reports/{seeded.campaign}/report.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(answer.get_data()))
    sheet = book["利用時の年齢層"]
    assert [list(r) for r in sheet.iter_rows(values_only=True)] == [
        ["年齢層", "利用回数", "人数"],
        ["30〜39歳", "非表示", "非表示"],
        ["40〜49歳", 5, 5],
        ["50〜59歳", "非表示", "非表示"],
    ]


# --- filters ------------------------------------------------------------------------------


def test_filters_by_range_and_facility_on_the_page(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff], seeded: Seeded
) -> None:
    for _ in range(5):
        add_person(app, seeded, [(seeded.museum, Day), (seeded.forest, Other)])
    signed_in(Role.VIEWER)
    whole = page_of(client, seeded)
    assert 'value="2030-04-01"' in whole
    assert 'value="2030-06-30"' in whole
    assert "ぐんま昆虫の森" in whole
    assert "2030-04-11" in whole
    one = page_of(client, seeded, "?first=2030-04-10&last=2030-04-10&facility=museum")
    assert "2030-04-11" not in one
    assert '<option selected value="museum">' in one
    answer = client.get(
        f"/admin/coupons/reports/{seeded.campaign}/facility_days.csv"
        "?first=2030-04-11&last=2030-04-11&facility=insect-forest"
    )
    assert answer.headers["Content-Disposition"] == (
        'attachment; filename="coupon-report-pilot-20300411-20300411-facility_days.csv"'
    )
    assert answer.get_data(as_text=True).splitlines()[1:] == [
        '"2030-04-11","ぐんま昆虫の森","5","5"'
    ]


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("?first=2030-05-01&last=2030-04-01", "終了日が開始日より前です。"),
        ("?first=yesterday", "無効な日付型です。"),
        ("?first=1999-12-31", "2000年から2100年までの日を選んでください。"),
        ("?last=9999-12-31", "2000年から2100年までの日を選んでください。"),
        ("?facility=park", "選択肢が正しくありません。"),
    ],
)
def test_a_bad_filter_is_shown_at_its_field_and_nothing_is_exported(
    app: Flask,
    client: FlaskClient,
    signed_in: Callable[..., Staff],
    seeded: Seeded,
    query: str,
    problem: str,
) -> None:
    add_person(app, seeded, [(seeded.museum, Day)])
    signed_in(Role.VIEWER)
    page = page_of(client, seeded, query)
    assert re.findall(r'class="flash error"[^>]*>([^<]*)<', page) == [problem]
    assert "ダウンロード" not in page  # no figures, no export links
    for export in ("age_bands.csv", "report.xlsx"):
        answer = client.get(f"/admin/coupons/reports/{seeded.campaign}/{export}{query}")
        assert answer.status_code == 302
        assert answer.headers["Location"].startswith(f"/admin/coupons/reports/{seeded.campaign}?")
    assert exports_of(app) == []


def test_a_control_character_in_the_filters_is_refused(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff], seeded: Seeded
) -> None:
    signed_in(Role.VIEWER)
    answer = client.get(f"/admin/coupons/reports/{seeded.campaign}/report.xlsx?facility=a%00")
    assert answer.status_code == 400
    assert "制御文字" in answer.get_data(as_text=True)
    with app.extensions["db"].sessions() as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "coupons.report.export" not in actions


# --- exports ------------------------------------------------------------------------------


def test_exports_are_audited_with_their_filters(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff], seeded: Seeded
) -> None:
    me = signed_in(Role.APPROVER)
    client.get(f"/admin/coupons/reports/{seeded.campaign}/funnel.csv?facility=museum")
    client.get(f"/admin/coupons/reports/{seeded.campaign}/report.xlsx?first=2030-05-01")
    entries = exports_of(app)
    assert [(e.actor_id, e.object_type, e.object_id) for e in entries] == [
        (me.id, "campaign", str(seeded.campaign))
    ] * 2
    assert [e.detail for e in entries] == [
        {
            "code": "pilot",
            "format": "csv",
            "table": "funnel",
            "from": "2030-04-01",
            "to": "2030-06-30",
            "facility": "museum",
            "k": 5,
        },
        {
            "code": "pilot",
            "format": "xlsx",
            "table": None,
            "from": "2030-05-01",
            "to": "2030-06-30",
            "facility": None,
            "k": 5,
        },
    ]


def test_the_workbook_has_a_sheet_per_table_and_text_stays_text(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff], seeded: Seeded
) -> None:
    with app.extensions["db"].unit_of_work() as session:
        museum = session.get(Facility, seeded.museum)
        assert museum is not None
        museum.name_ja = '=HYPERLINK("http://x.example","美術館")'
    for _ in range(5):
        add_person(app, seeded, [(seeded.museum, Day)], municipality="+10201")
    signed_in(Role.VIEWER)
    answer = client.get(f"/admin/coupons/reports/{seeded.campaign}/report.xlsx")
    assert answer.status_code == 200
    assert answer.mimetype == ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    book = openpyxl.load_workbook(io.BytesIO(answer.get_data()))
    assert book.sheetnames == [
        "概要",
        "施設別・日別の利用回数",
        "1人あたりの利用回数の分布",
        "利用時の年齢層",
        "都道府県（確認済みの住所）",
        "市区町村（住民の回答）",
        "本人確認の流れ",
        "本人確認の失敗（理由別）",
    ]
    day_rows = list(book["施設別・日別の利用回数"].iter_rows(values_only=True))
    assert day_rows[1] == ("2030-04-10", '=HYPERLINK("http://x.example","美術館")', 5, 5)
    assert book["施設別・日別の利用回数"]["B2"].data_type == "s"
    assert list(book["市区町村（住民の回答）"].iter_rows(values_only=True))[1] == ("+10201", 5, 5)
    summary = dict(book["概要"].iter_rows(min_row=2, values_only=True))
    assert summary["キャンペーン"] == "pilot"
    assert summary["利用回数"] == 5
    csv_text = client.get(f"/admin/coupons/reports/{seeded.campaign}/municipalities.csv").get_data(
        as_text=True
    )
    assert '"\'+10201","5","5"' in csv_text  # the CSV writer defuses it


# --- the command line ---------------------------------------------------------------------


def test_the_command_writes_a_workbook_or_a_table_and_audits_it(
    app: Flask, seeded: Seeded, tmp_path: Path
) -> None:
    for birth_year, people in ((1995, 4), (1975, 3), (1985, 5)):
        for _ in range(people):
            add_person(app, seeded, [(seeded.museum, Day)], birth_year=birth_year)
    runner = app.test_cli_runner()
    book_path = tmp_path / "pilot.xlsx"
    result = runner.invoke(
        args=["coupons", "report", "pilot", "--format", "xlsx", "-o", str(book_path)]
    )
    assert result.exit_code == 0, result.output
    assert "k=5" in result.output
    book = openpyxl.load_workbook(book_path)
    assert list(book["利用時の年齢層"].iter_rows(values_only=True))[2] == ("40〜49歳", 5, 5)
    csv_path = tmp_path / "ages.csv"
    args = ["--format", "csv", "--table", "age_bands", "-o", str(csv_path)]
    more = ["--from", "2030-04-10", "--to", "2030-04-10", "--facility", "museum"]
    result = runner.invoke(args=["coupons", "report", "pilot", *args, *more])
    assert result.exit_code == 0, result.output
    text = csv_path.read_bytes().decode("utf-8")
    assert text.startswith("\ufeff")
    assert '"30〜39歳","非表示","非表示"' in text
    entries = exports_of(app)
    assert [(e.actor_label, e.detail["format"], e.detail["via"]) for e in entries] == [
        ("system", "xlsx", "cli"),
        ("system", "csv", "cli"),
    ]
    assert entries[1].detail["facility"] == "museum"
    assert entries[1].detail["from"] == "2030-04-10"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--format", "xlsx"], "no campaign has the code 'nope'"),
        (["pilot", "--format", "csv"], "--format csv needs --table"),
        (["pilot", "--format", "xlsx", "--table", "funnel"], "--table is for CSV"),
        (["pilot", "--format", "xlsx", "--facility", "park"], "does not take part"),
        (
            ["pilot", "--format", "xlsx", "--from", "2030-05-02", "--to", "2030-05-01"],
            "The last day comes before the first day.",
        ),
        (["pilot", "--format", "xlsx", "--from", "1999-01-01"], "between 2000 and 2100"),
        (["pilot", "--format", "xlsx", "--from", "yesterday"], "does not match the format"),
        (["pilot", "--format", "pdf"], "'pdf' is not one of 'csv', 'xlsx'"),
    ],
)
def test_the_command_refuses_bad_input_and_writes_nothing(
    app: Flask, seeded: Seeded, tmp_path: Path, args: list[str], message: str
) -> None:
    output = tmp_path / "out"
    result = app.test_cli_runner().invoke(args=["coupons", "report", *args, "-o", str(output)])
    assert result.exit_code != 0
    assert message in result.output
    assert not output.exists()
    with app.extensions["db"].sessions() as session:
        assert session.scalars(select(AuditEntry)).all() == []
