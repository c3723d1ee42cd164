"""The example workbooks of examples/: each imports, is what scripts/build_examples.py writes,
and holds what it promises (every type in the template; Gunma's 35 municipalities with their
official codes and consent first in the profile survey)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import openpyxl
import pytest
from flask import Flask
from pyxform.xls2xform import convert

from bot import municipalities
from bot.db import Database
from models.surveys import Survey
from surveys.definition import normalised
from surveys.kinds import KINDS
from surveys.xlsform import read_survey

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
NAMES = ("survey-template-ja.xlsx", "resident-satisfaction.xlsx", "resident-profile.xlsx")
#: The official codes of Gunma's municipalities (総務省 全国地方公共団体コード), written out
#: here apart from the script that builds the examples.
GUNMA = {
    "10201": "前橋市", "10202": "高崎市", "10203": "桐生市", "10204": "伊勢崎市",
    "10205": "太田市", "10206": "沼田市", "10207": "館林市", "10208": "渋川市",
    "10209": "藤岡市", "10210": "富岡市", "10211": "安中市", "10212": "みどり市",
    "10344": "榛東村", "10345": "吉岡町", "10366": "上野村", "10367": "神流町",
    "10382": "下仁田町", "10383": "南牧村", "10384": "甘楽町", "10421": "中之条町",
    "10424": "長野原町", "10425": "嬬恋村", "10426": "草津町", "10428": "高山村",
    "10429": "東吾妻町", "10443": "片品村", "10444": "川場村", "10448": "昭和村",
    "10449": "みなかみ町", "10464": "玉村町", "10521": "板倉町", "10522": "明和町",
    "10523": "千代田町", "10524": "大泉町", "10525": "邑楽町",
}  # fmt: skip


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_examples", ROOT / "scripts" / "build_examples.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gunma_has_35_municipalities() -> None:
    assert len(GUNMA) == 35
    assert {m.code: m.name for m in municipalities.GUNMA} == GUNMA
    assert municipalities.municipality_name("10201") == "前橋市"
    assert municipalities.municipality_name("10201", "en") == "Maebashi"
    assert municipalities.municipality_name("11100") == "11100"  # not shipped: as it is


@pytest.mark.parametrize("name", NAMES)
def test_each_example_imports_and_pyxform_converts_it(name: str) -> None:
    survey = read_survey(EXAMPLES / name)
    assert survey.definition.questions
    convert(xlsform=str(EXAMPLES / name))


def test_the_examples_are_what_the_script_writes() -> None:
    script = _script()
    built = script.build()
    assert set(built) == set(NAMES)
    for name, data in built.items():
        assert read_survey(data) == read_survey(EXAMPLES / name), (
            f"examples/{name} is out of date: run python scripts/build_examples.py"
        )
    template = read_survey(EXAMPLES / "survey-template-ja.xlsx").definition
    assert template == normalised(script.TEMPLATE)


def test_the_template_shows_every_type_with_help() -> None:
    definition = read_survey(EXAMPLES / "survey-template-ja.xlsx").definition
    assert {q.kind for q in definition.questions} == set(KINDS)
    assert definition.sections  # a begin_group / end_group too
    book = openpyxl.load_workbook(EXAMPLES / "survey-template-ja.xlsx")
    assert book.sheetnames == ["使い方", "survey", "choices", "settings"]
    survey = book["survey"]
    headers = {cell.value: cell for cell in survey[1]}
    for header in ("type", "name", "label::日本語 (ja)", "relevant", "madoguchi::min"):
        assert headers[header].comment is not None, header
    [types] = survey.data_validations.dataValidation
    assert "select_one" in str(types.formula1)
    assert "A2:A500" in str(types.sqref)


def test_the_satisfaction_survey_is_anonymous_and_in_two_languages() -> None:
    survey = read_survey(EXAMPLES / "resident-satisfaction.xlsx")
    assert survey.options.anonymous
    definition = survey.definition
    assert definition.languages == ["ja", "en"]
    for question in definition.questions:
        assert set(question.label) == {"ja", "en"}, question.name
        for choice in question.config.get("choices") or []:
            assert set(choice["label"]) == {"ja", "en"}, (question.name, choice["code"])
        assert question.attribute is None


def test_the_profile_survey_asks_consent_first_and_sets_attributes() -> None:
    survey = read_survey(EXAMPLES / "resident-profile.xlsx")
    assert not survey.options.anonymous
    assert not survey.options.one_answer  # answering again updates the profile
    first, *rest = survey.definition.questions
    assert first.kind == "acknowledge"
    assert first.required
    assert "同意" in first.label["ja"]
    assert "consent" in first.label["en"].lower()
    questions = {q.name: q for q in rest}
    municipality = questions["municipality"]
    assert municipality.attribute == "municipality"
    choices = {c["code"]: c["label"]["ja"] for c in municipality.config["choices"]}
    assert choices == GUNMA
    assert questions["age_band"].attribute == "age_band"
    assert questions["language"].attribute == "preferred_language"
    assert questions["interests"].kind == "multiple_choice"


def test_the_cli_imports_every_example(app: Flask, db: Database) -> None:
    runner = app.test_cli_runner()
    for name in NAMES:
        result = runner.invoke(args=["surveys", "import", str(EXAMPLES / name), "--publish"])
        assert result.exit_code == 0, result.output
    with db.reading() as session:
        surveys = session.query(Survey).order_by(Survey.id).all()
        assert [s.anonymous for s in surveys] == [False, True, False]
        assert all(s.current_version is not None for s in surveys)
