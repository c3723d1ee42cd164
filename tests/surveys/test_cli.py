"""``madoguchi surveys import`` and ``export``: a workbook in, its survey's id out; every
problem with its cell and nothing imported; export then import gives the same survey."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from bot.db import Database
from models import AuditEntry
from models.surveys import Survey, SurveyStatus
from surveys.definition import definition_of
from surveys.xlsform import read_survey
from tests.surveys.test_xlsform import FIXTURES, workbook


def _audit(db: Database) -> list[tuple[str, str | None, dict[str, object]]]:
    with db.reading() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(e.action, e.object_id, e.detail) for e in entries]


def _import(app: Flask, *args: str) -> tuple[int, str, str]:
    result = app.test_cli_runner().invoke(args=["surveys", "import", *args])
    return result.exit_code, result.stdout, result.stderr


def test_import_prints_the_new_surveys_id(app: Flask, db: Database) -> None:
    code, out, _ = _import(app, str(FIXTURES / "kobo_style.xlsx"))
    assert code == 0
    survey_id = int(out.strip())
    with db.reading() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        assert survey.status == SurveyStatus.DRAFT
        stored = definition_of(survey.versions[0], survey.default_language)
    assert stored == read_survey(FIXTURES / "kobo_style.xlsx").definition
    assert _audit(db) == [
        ("survey.import", str(survey_id), {"questions": 7, "via": "cli"}),
    ]


def test_import_can_publish_at_once(app: Flask, db: Database) -> None:
    code, out, _ = _import(app, str(FIXTURES / "kobo_style.xlsx"), "--publish")
    assert code == 0
    with db.reading() as session:
        survey = session.get(Survey, int(out))
        assert survey is not None
        assert survey.status == SurveyStatus.OPEN
        assert survey.current_version is survey.versions[0]
    assert [action for action, _, _ in _audit(db)] == ["survey.import", "survey.publish"]


def test_an_invalid_file_prints_every_problem_and_imports_nothing(app: Flask, db: Database) -> None:
    code, out, err = _import(app, str(FIXTURES / "every_error.xlsx"), "--publish")
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    assert lines[1] == "survey!B3 (name): is used twice"
    assert "survey!E7 (relevant): ${after} is not an earlier question" in lines
    assert lines[-1] == "Error: every_error.xlsx: 12 problem(s); nothing was imported"
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Survey)) == 0
    assert _audit(db) == []


def test_import_refuses_what_is_no_workbook(app: Flask, tmp_path: Path, db: Database) -> None:
    text = tmp_path / "survey.xlsx"
    text.write_text("type,name,label\n", encoding="utf-8")
    code, _, err = _import(app, str(text))
    assert code == 1
    assert err.splitlines()[0] == "file: this is not an Excel workbook (.xlsx)"
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Survey)) == 0


def test_export_then_import_gives_the_same_survey(app: Flask, db: Database, tmp_path: Path) -> None:
    _, out, _ = _import(app, str(FIXTURES / "kobo_style.xlsx"))
    first = int(out)
    exported = tmp_path / "exported.xlsx"
    result = app.test_cli_runner().invoke(
        args=["surveys", "export", str(first), "-o", str(exported)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"survey {first} version 1 written to {exported}\n"
    code, out, _ = _import(app, str(exported))
    assert code == 0
    with db.reading() as session:
        one, two = (session.get(Survey, i) for i in (first, int(out)))
        assert one is not None
        assert two is not None
        assert definition_of(two.versions[0], "ja") == definition_of(one.versions[0], "ja")
    actions = [(action, detail.get("version")) for action, _, detail in _audit(db)]
    assert actions == [("survey.import", None), ("survey.export", 1), ("survey.import", None)]


def test_export_refuses_an_unknown_survey_or_version(
    app: Flask, db: Database, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    out = tmp_path / "x.xlsx"
    result = runner.invoke(args=["surveys", "export", "999", "-o", str(out)])
    assert result.exit_code == 1
    assert "there is no survey 999" in result.stderr
    survey_id = _import(app, str(FIXTURES / "kobo_style.xlsx"))[1].strip()
    result = runner.invoke(args=["surveys", "export", survey_id, "-o", str(out), "--version", "2"])
    assert result.exit_code == 1
    assert f"survey {survey_id} has no version 2" in result.stderr
    assert not out.exists()


def test_the_settings_sheet_sets_the_surveys_options(
    app: Flask, db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "anonymous.xlsx"
    path.write_bytes(
        workbook(
            [["type", "name", "label"], ["text", "q", "ご意見"]],
            settings=[
                [
                    "form_title",
                    "madoguchi::anonymous",
                    "madoguchi::one_answer",
                    "madoguchi::estimated_minutes",
                ],
                ["ご意見箱", "yes", "no", "2"],
            ],
        )
    )
    code, out, _ = _import(app, str(path))
    assert code == 0
    with db.reading() as session:
        survey = session.get(Survey, int(out))
        assert survey is not None
        assert (survey.anonymous, survey.one_answer, survey.estimated_minutes) == (True, False, 2)
