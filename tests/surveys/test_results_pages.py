"""The results pages and downloads in the console, and ``madoguchi surveys results``: every
role, unknown ids, another survey's photo, the charts' figures, the downloads' contents and
their audit entries."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.db import Database
from models import AuditEntry, Role, Staff
from models.surveys import Survey, SurveyPhoto
from surveys.results_pages import XLSX
from tests.surveys.test_results import PNG, Submit, make_survey, seed_five, submit

__all__ = ["submit"]

#: Results are for the viewer role and up, admins too (not counsellors or facility staff).
ALLOWED = {Role.VIEWER, Role.EDITOR, Role.APPROVER, Role.ADMIN}


def _audit(db: Database) -> list[tuple[str, str | None, dict[str, Any]]]:
    with db.reading() as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "survey.results_export")
            .order_by(AuditEntry.id)
        )
        return [(e.action, e.object_id, e.detail) for e in entries]


def _photo_id(db: Database, survey_id: int) -> str:
    with db.reading() as session:
        found = session.scalar(select(SurveyPhoto.id).where(SurveyPhoto.survey_id == survey_id))
        assert found is not None
        return found


def _paths(survey_id: int, photo_id: str) -> list[str]:
    base = f"/admin/surveys/{survey_id}"
    return [
        f"{base}/results",
        f"{base}/results?version=1",
        f"{base}/results/q/comment",
        f"{base}/results/q/picture",
        f"{base}/results/crosstab?rows=q:area&columns=pets",
        f"{base}/results.csv",
        f"{base}/results.xlsx",
        f"{base}/results-aggregate.csv",
        f"{base}/photos/{photo_id}",
        f"{base}/photos/{photo_id}?thumb=1",
    ]


@pytest.mark.parametrize("role", [None, *Role])
def test_every_results_page_checks_the_role(
    client: FlaskClient,
    db: Database,
    submit: Submit,
    signed_in: Callable[..., Staff],
    role: Role | None,
) -> None:
    survey_id = make_survey(db)
    seed_five(submit, survey_id)
    photo_id = _photo_id(db, survey_id)
    if role is not None:
        signed_in(role)
    for path in _paths(survey_id, photo_id):
        status = client.get(path).status_code
        if role is None:
            assert status == 302, path  # to the sign-in page
        elif role in ALLOWED:
            assert status == 200, f"{role} {path}"
        else:
            assert status == 403, f"{role} {path}"
    exports = _audit(db)
    assert len(exports) == (3 if role in ALLOWED else 0)


def test_unknown_surveys_versions_questions_and_photos_are_not_found(
    client: FlaskClient, db: Database, submit: Submit, signed_in: Callable[..., Staff]
) -> None:
    survey_id = make_survey(db)
    other_id = make_survey(db)
    seed_five(submit, survey_id)
    submit(other_id, {"picture": None})
    photo_id = _photo_id(db, survey_id)
    other_photo = _photo_id(db, other_id)
    signed_in(Role.VIEWER)
    base = f"/admin/surveys/{survey_id}"
    for path in [
        "/admin/surveys/999999/results",
        "/admin/surveys/999999/results.csv",
        "/admin/surveys/999999/results.xlsx",
        "/admin/surveys/999999/results-aggregate.csv",
        f"/admin/surveys/999999/photos/{photo_id}",
        f"{base}/results?version=2",
        f"{base}/results?version=x",
        f"{base}/results.csv?version=9",
        f"{base}/results/q/nothing",
        f"{base}/results/q/area",  # a chart, not a list
        f"{base}/photos/{other_photo}",  # another survey's photo
        f"/admin/surveys/{other_id}/photos/{photo_id}",
        f"{base}/photos/0000",
    ]:
        assert client.get(path).status_code == 404, path
    assert client.get(f"{base}/results.csv?headers=odd").status_code == 400
    assert _audit(db) == []  # refused downloads are not recorded as exports


def test_an_unsubmitted_photo_is_not_served(
    client: FlaskClient, db: Database, signed_in: Callable[..., Staff]
) -> None:
    survey_id = make_survey(db)
    with db.unit_of_work() as session:
        photo = SurveyPhoto(
            survey_id=survey_id,
            content_type="image/png",
            byte_size=len(PNG),
            data=PNG,
            received_on=__import__("datetime").date(2026, 11, 1),
        )
        session.add(photo)
        session.flush()
        photo_id = photo.id
    signed_in(Role.VIEWER)
    assert client.get(f"/admin/surveys/{survey_id}/photos/{photo_id}").status_code == 404


def test_photos_have_their_type_and_are_never_cached(
    client: FlaskClient, db: Database, submit: Submit, signed_in: Callable[..., Staff]
) -> None:
    survey_id = make_survey(db)
    submit(survey_id, {"picture": None})
    photo_id = _photo_id(db, survey_id)
    signed_in(Role.VIEWER)
    full = client.get(f"/admin/surveys/{survey_id}/photos/{photo_id}")
    assert full.mimetype == "image/png"
    assert full.data == PNG
    assert "no-store" in full.headers["Cache-Control"]
    assert "private" in full.headers["Cache-Control"]
    assert full.headers["X-Content-Type-Options"] == "nosniff"
    thumb = client.get(f"/admin/surveys/{survey_id}/photos/{photo_id}?thumb=1")
    assert thumb.mimetype == "image/png"
    from PIL import Image

    with Image.open(io.BytesIO(thumb.data)) as image:
        assert max(image.size) == 320
    page = client.get(f"/admin/surveys/{survey_id}/results").get_data(as_text=True)
    assert f"/photos/{photo_id}?thumb=1" in page


def test_the_results_page_shows_every_chart_with_its_figures(
    client: FlaskClient, db: Database, submit: Submit, signed_in: Callable[..., Staff]
) -> None:
    survey_id = make_survey(db)
    seed_five(submit, survey_id)
    signed_in(Role.VIEWER)
    page = client.get(f"/admin/surveys/{survey_id}/results").get_data(as_text=True)
    assert "県民調査" in page
    assert "前橋市" in page
    assert "40.0%" in page
    assert "猫" in page
    assert "25.0%" in page
    assert "40.20" in page  # mean age
    assert "駐車場" in page  # a free text, escaped like any text
    assert "=1+1 公園を増やして" in page
    assert "<script" not in page  # charts are drawn on the server
    assert 'width="40.00"' in page  # a bar of 40%
    listed = client.get(f"/admin/surveys/{survey_id}/results/q/comment?q=駐車").get_data(
        as_text=True
    )
    assert "駐車場" in listed
    assert "図書館" not in listed
    table = client.get(
        f"/admin/surveys/{survey_id}/results/crosstab?rows=q:area&columns=ok"
    ).get_data(as_text=True)
    assert "高崎市" in table
    assert "はい" in table
    bad = client.get(f"/admin/surveys/{survey_id}/results/crosstab?rows=q:area&columns=area")
    assert bad.status_code == 400
    assert client.get(f"/admin/surveys/{survey_id}/results/crosstab?rows=q:area").status_code == 400


def test_the_survey_pages_link_to_the_results(
    client: FlaskClient, db: Database, signed_in: Callable[..., Staff]
) -> None:
    survey_id = make_survey(db)
    signed_in(Role.VIEWER)
    link = f'href="/admin/surveys/{survey_id}/results"'
    assert link in client.get("/admin/surveys/").get_data(as_text=True)
    assert link in client.get(f"/admin/surveys/{survey_id}").get_data(as_text=True)


def test_anonymous_results_pages_hide_small_cells(
    client: FlaskClient, db: Database, submit: Submit, signed_in: Callable[..., Staff]
) -> None:
    survey_id = make_survey(db, anonymous=True)
    for _ in range(5):
        submit(survey_id, {"area": "10201"})
    submit(survey_id, {"area": "10202", "comment": "だれか分かる"})
    signed_in(Role.VIEWER)
    page = client.get(f"/admin/surveys/{survey_id}/results").get_data(as_text=True)
    assert "fewer than 5" in page or "5 未満" in page
    assert "だれか分かる" not in page
    listed = client.get(f"/admin/surveys/{survey_id}/results/q/comment").get_data(as_text=True)
    assert "だれか分かる" not in listed
    aggregate = client.get(f"/admin/surveys/{survey_id}/results-aggregate.csv")
    rows = list(csv.reader(io.StringIO(aggregate.get_data(as_text=True).removeprefix("\ufeff"))))
    area = {row[3]: row[5] for row in rows if row[0] == "area"}
    assert area["10201"] == "5"
    assert area["10202"] == "<5"


def test_csv_download_is_streamed_defused_and_audited(
    client: FlaskClient, db: Database, submit: Submit, signed_in: Callable[..., Staff]
) -> None:
    survey_id = make_survey(db)
    seed_five(submit, survey_id)
    me = signed_in(Role.VIEWER)
    response = client.get(f"/admin/surveys/{survey_id}/results.csv?headers=labels&lang=en")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="survey-{survey_id}-v1-responses.csv"'
    )
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8").removeprefix("\ufeff"))))
    assert rows[0][0] == "Response ID"
    assert len(rows) == 6
    comments = {row[rows[0].index("Comment")] for row in rows[1:]}
    assert "'=1+1 公園を増やして" in comments  # the formula is defused
    with db.reading() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "survey.results_export")
        ).one()
        assert entry.actor_id == me.id
        assert entry.detail == {
            "version": 1,
            "format": "csv",
            "headers": "labels",
            "language": "en",
        }


def test_xlsx_download_opens_in_a_spreadsheet(
    client: FlaskClient, db: Database, submit: Submit, signed_in: Callable[..., Staff]
) -> None:
    survey_id = make_survey(db)
    seed_five(submit, survey_id)
    signed_in(Role.APPROVER)
    response = client.get(f"/admin/surveys/{survey_id}/results.xlsx")
    assert response.status_code == 200
    assert response.mimetype == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:2] == ("_id", "_version")
    assert len(values) == 6
    assert [e[2]["format"] for e in _audit(db)] == ["xlsx"]


# -- the command line ----------------------------------------------------------------------------


def _results(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["surveys", "results", *args])


def test_cli_writes_csv_xlsx_and_aggregate_and_audits_each(
    app: Flask, db: Database, submit: Submit, tmp_path: Path
) -> None:
    survey_id = make_survey(db)
    seed_five(submit, survey_id)
    target = tmp_path / "out.csv"
    result = _results(app, str(survey_id), "--format", "csv", "-o", str(target))
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0][7:9] == ["area", "pets"]
    assert len(rows) == 6
    book = tmp_path / "out.xlsx"
    result = _results(
        app, str(survey_id), "--format", "xlsx", "--headers", "labels", "-o", str(book)
    )
    assert result.exit_code == 0, result.output
    workbook = openpyxl.load_workbook(book, read_only=True)
    try:
        assert next(workbook["responses"].iter_rows(values_only=True))[0] == "回答ID"
    finally:
        workbook.close()
    counts = tmp_path / "counts.csv"
    result = _results(app, str(survey_id), "--aggregate", "-o", str(counts))
    assert result.exit_code == 0, result.output
    assert "10201" in counts.read_text(encoding="utf-8")
    assert [detail for _a, _o, detail in _audit(db)] == [
        {"version": 1, "format": "csv", "headers": "codes", "via": "cli"},
        {"version": 1, "format": "xlsx", "headers": "labels", "via": "cli"},
        {"version": 1, "format": "csv", "aggregate": True, "via": "cli"},
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["999999"], "there is no survey 999999"),
        (["{survey}", "--version", "7"], "has no version 7"),
        (["{survey}", "--aggregate", "--format", "xlsx"], "CSV only"),
        (["{survey}", "--headers", "odd"], "Invalid value"),
        (["{survey}", "--format", "pdf"], "Invalid value"),
    ],
)
def test_cli_refuses_bad_requests_and_writes_nothing(
    app: Flask, db: Database, tmp_path: Path, args: list[str], message: str
) -> None:
    survey_id = make_survey(db)
    target = tmp_path / "out.csv"
    filled = [a.format(survey=survey_id) for a in args]
    result = _results(app, *filled, "-o", str(target))
    assert result.exit_code != 0
    assert message in result.output
    assert not target.exists()
    assert _audit(db) == []
    with db.reading() as session:
        assert session.get(Survey, survey_id) is not None
