"""The survey results benchmark's functions on a tiny size, so the script keeps working:
loading (COPY on PostgreSQL, INSERT on SQLite), the timed results page and exports, the
memory measurement in a fresh process, and the verdicts against the targets."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import openpyxl
from flask import Flask
from sqlalchemy import create_engine, text

from bot.db import Database
from models.surveys import Survey
from surveys.results import compute_results

_PATH = Path(__file__).resolve().parents[1] / "bench" / "surveys.py"
_SPEC = importlib.util.spec_from_file_location("bench_surveys", _PATH)
assert _SPEC is not None
assert _SPEC.loader is not None
bench = importlib.util.module_from_spec(_SPEC)
sys.modules["bench_surveys"] = bench
_SPEC.loader.exec_module(bench)


def _scalar(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(text(sql)) or 0)
    finally:
        engine.dispose()


def test_seed_loads_submissions_answers_and_dialogs(
    app: Flask, database_url: str, db: Database
) -> None:
    loaded = bench.seed(database_url, 40)
    assert loaded["submissions"] == 40
    total = _scalar(database_url, "SELECT count(*) FROM survey_submissions")
    assert total == 40 + bench.REHEARSALS
    assert loaded["answers"] == _scalar(database_url, "SELECT count(*) FROM survey_answers")
    assert loaded["dialogs"] >= total  # each submission's dialog, and some that stopped
    with db.reading() as session:
        survey = session.get(Survey, loaded["survey_id"])
        assert survey is not None
        assert survey.current_version is not None
        results = compute_results(session, survey, survey.current_version, language="ja")
    assert results.responses == 40  # rehearsals left out
    assert len(results.questions) == 10
    assert results.funnel.completed == total


def test_timed_page_and_exports(app: Flask, database_url: str, tmp_path: Path) -> None:
    loaded = bench.seed(database_url, 25)
    page = bench.time_results(database_url, loaded["survey_id"], runs=2)
    assert page["seconds"] > 0
    assert len(page["runs"]) == 2
    assert page["page_bytes"] > 10_000
    out = tmp_path / "export.csv"
    exported = bench.time_export(database_url, loaded["survey_id"], "csv", out)
    assert exported["rows"] == 25
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 26
    assert rows[0][0] == "_id"
    book = tmp_path / "export.xlsx"
    exported = bench.time_export(database_url, loaded["survey_id"], "xlsx", book)
    assert exported["rows"] == 25
    workbook = openpyxl.load_workbook(book, read_only=True)
    try:
        assert len(list(workbook["responses"].iter_rows())) == 26
    finally:
        workbook.close()


def test_a_task_runs_in_a_fresh_process_and_reports_its_memory(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    loaded = bench.seed(database_url, 10)
    result = bench.run_task("csv", database_url, loaded["survey_id"], tmp_path / "out.csv")
    assert "error" not in result, result
    assert result["rows"] == 10
    assert result["memory_growth_mb"] >= 0


def test_verdicts_and_report() -> None:
    judged = bench.verdicts(
        {
            "results": {"seconds": 0.2, "memory_growth_mb": 10.0},
            "csv": {"seconds": 12.0, "memory_growth_mb": 10.0},
            "xlsx": {"seconds": 20.0, "memory_growth_mb": 80.0},
        }
    )
    assert judged["results"]["time_met"]
    assert judged["results"]["memory_met"]
    assert not judged["csv"]["time_met"]
    assert judged["xlsx"]["time_met"]
    assert not judged["xlsx"]["memory_met"]
    table = bench.report(
        {"survey_id": 1, "submissions": 100, "answers": 1000, "dialogs": 115}, judged
    )
    assert "MISSED" in table
    assert "results      0.200" in table
