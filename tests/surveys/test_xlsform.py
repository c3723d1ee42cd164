"""XLSForm files: read with every problem at its cell, refusals by name, written so that
pyxform accepts the file and reading it back gives the same survey.

Workbooks are built here with plain openpyxl (``workbook(...)``), from the fixtures of
tests/fixtures/xlsform/ (tests/fixtures/xlsform/build.py writes them), and from the public
XLSForm files of ../shared/data/xlsform/ where that folder exists.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from datetime import datetime, time
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from pyxform.xls2xform import convert

from bot.db import Database
from surveys.definition import Definition, Question, Section, definition_of, normalised
from surveys.services import create_survey
from surveys.xlsform import SurveyOptions as Options
from surveys.xlsform import XlsFormError, read_survey, read_workbook, write_workbook
from tests.surveys.test_definition import CHOICES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "xlsform"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "xlsform"
TITLE = [["form_title"], ["テスト"]]

Rows = list[list[Any]]


def workbook(
    survey: Rows,
    choices: Rows | None = None,
    settings: Rows | None = TITLE,
    **other: Rows,
) -> bytes:
    """An .xlsx with these sheets (rows as lists; the first row is the header)."""
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    for title, rows in {
        "survey": survey,
        "choices": choices,
        "settings": settings,
        **other,
    }.items():
        if rows is None:
            continue
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def problems(data: bytes | Path, **options: Any) -> list[str]:
    """The problems a workbook is refused with, as the CLI prints them."""
    with pytest.raises(XlsFormError) as refused:
        read_survey(data, **options)
    return [str(problem) for problem in refused.value.problems]


#: Every kind, nested sections, translations, conditions, constraints and recall.
EVERYTHING = normalised(
    Definition(
        title={"ja": "ペット調査", "en": "Pets"},
        intro={"ja": "はじめに\n二行目です", "en": "Hello"},
        thanks={"ja": "ありがとうございました", "en": "Thank you"},
        sections=(
            Section("home", {"ja": "家庭", "en": "Home"}, relevant="${age} > 0"),
            Section("inner", {}, relevant=None, parent="home"),
        ),
        questions=(
            Question(
                "consent", "acknowledge", {"ja": "同意します", "en": "I agree"}, required=True
            ),
            Question(
                "age",
                "integer",
                {"ja": "年齢は？", "en": "Age?"},
                hint={"ja": "数字で"},
                required=True,
                config={"min": 0, "max": 120, "unit": {"ja": "歳", "en": " years"}},
            ),
            Question(
                "pets",
                "multiple_choice",
                {"ja": "${age}歳のあなたのペットは？", "en": "Pets?"},
                relevant="${age} >= 18",
                constraint="count-selected(.) <= 2",
                constraint_message={"ja": "2つまで", "en": "Two at most"},
                config={**CHOICES, "min": 1, "max": 2},
                section="home",
            ),
            Question(
                "dog_name",
                "text",
                {"ja": "犬の名前"},
                relevant="selected(${pets}, 'dog')",
                config={"max_length": 20},
                section="inner",
            ),
            Question(
                "favourite", "single_choice", {"ja": "好きなのは"}, config=CHOICES, section="home"
            ),
            Question("weight", "decimal", {"ja": "体重"}, config={"min": 0.5, "max": 99.5}),
            Question("rating", "range", {"ja": "評価"}, config={"start": 0, "end": 10, "step": 2}),
            Question("again", "yes_no", {"ja": "また来ますか"}),
            Question(
                "day", "date", {"ja": "日"}, config={"min": "2026-01-01", "max": "2026-12-31"}
            ),
            Question("at", "time", {"ja": "時刻"}, config={"min": "09:00"}),
            Question("when", "datetime", {"ja": "日時"}, config={"max": "2026-12-31T18:00"}),
            Question("picture", "photo", {"ja": "写真"}),
            Question("where", "location", {"ja": "場所"}),
            Question("memo", "note", {"ja": "${age}歳ですね"}),
            Question(
                "town",
                "single_choice",
                {"ja": "お住まいの市町村"},
                config={"choices": [{"code": "10201", "label": {"ja": "前橋市"}}]},
                attribute="municipality",
            ),
        ),
    )
)


# -- writing, then reading back --------------------------------------------------------------


def test_export_then_import_gives_the_same_survey() -> None:
    options = Options(anonymous=False, one_answer=False, estimated_minutes=7)
    data = write_workbook(EVERYTHING, options)
    back = read_survey(data)
    assert back.definition == EVERYTHING
    assert back.options == options


def test_pyxform_converts_the_export_to_an_xform() -> None:
    converted = convert(xlsform=write_workbook(EVERYTHING), file_type=".xlsx")
    assert "<h:title>ペット調査</h:title>" in converted.xform
    assert 'jr:constraintMsg="jr:itext(' in converted.xform  # translated messages


@pytest.mark.parametrize("question", EVERYTHING.questions, ids=lambda q: q.kind)
def test_every_kind_comes_back_alone(question: Question) -> None:
    alone = replace(
        EVERYTHING,
        sections=(),
        questions=(
            replace(question, relevant=None, label={"ja": "質問"}, section=None),
            Question("last", "text", {"ja": "最後"}),
        ),
    )
    alone = normalised(alone)
    assert read_workbook(write_workbook(alone)) == alone
    convert(xlsform=write_workbook(alone), file_type=".xlsx")


def test_a_stored_survey_comes_back_through_a_file(db: Database) -> None:
    with db.unit_of_work() as session:
        survey = create_survey(session, EVERYTHING)
        stored = definition_of(survey.versions[0], survey.default_language)
    assert read_workbook(write_workbook(stored)) == stored


def test_a_formula_like_text_stays_text_both_ways() -> None:
    tricky = replace(
        EVERYTHING,
        title={"ja": '=HYPERLINK("http://evil.example","click")'},
        questions=(Question("q", "text", {"ja": "+1+2", "en": "@SUM(A1)"}, hint={"ja": "-3"}),),
        sections=(),
    )
    tricky = normalised(tricky)
    data = write_workbook(tricky)
    sheet = openpyxl.load_workbook(io.BytesIO(data))["settings"]
    assert sheet["A2"].data_type == "s"  # a text cell, not a formula
    assert sheet["A2"].value == tricky.title["ja"]
    assert read_workbook(data) == tricky


def test_a_formula_cell_counts_as_its_value_only() -> None:
    # A real formula has no value until Excel computes it: the label is missing.
    data = workbook([["type", "name", "label"], ["text", "q", '=CONCAT("a","b")']])
    assert problems(data) == ["survey!C2 (label): is missing in the default language (ja)"]


def test_control_characters_are_refused_at_their_cell() -> None:
    data = workbook([["type", "name", "label", "hint"], ["text", "q", "色\x9b31m", "ok"]])
    assert problems(data) == ["survey!C2 (label): contains a control character (ja)"]


def test_control_characters_in_options_and_units_are_refused_at_their_cell() -> None:
    data = workbook(
        [
            ["type", "name", "label", "madoguchi::unit"],
            ["select_one l", "q", "色"],
            ["integer", "n", "数", "歳\x85分"],
        ],
        [["list_name", "name", "label"], ["l", "a", "赤"], ["l", "b", "青\x9b31m"]],
    )
    assert problems(data) == [
        "survey!D3 (unit): contains a control character (ja)",
        "choices!C3 (choices): option 2: contains a control character (ja) (list of q)",
    ]


def test_windows_line_breaks_become_line_breaks() -> None:
    data = workbook([["type", "name", "label"], ["text", "q", "一行目\r\n二行目"]])
    assert read_workbook(data).questions[0].label == {"ja": "一行目\n二行目"}


# -- reading: what the profile accepts ----------------------------------------------------------


def test_a_kobo_style_workbook_is_read_with_its_groups_and_translations() -> None:
    survey = read_survey(FIXTURES / "kobo_style.xlsx")
    definition = survey.definition
    assert definition.title == {"ja": "県庁来庁者アンケート", "en": "Visitor survey"}
    assert definition.thanks == {"ja": "ご協力ありがとうございました"}
    assert definition.default_language == "ja"
    assert definition.sections == (
        Section("adult", {"ja": "成人の方へ", "en": "For adults"}, "${age} >= 18"),
        Section(
            "apples", {"ja": "りんご", "en": "Apples"}, "selected(${bought}, 'apple')", "adult"
        ),
    )
    by_name = {q.name: q for q in definition.questions}
    assert [q.name for q in definition.questions] == [
        "consent",
        "age",
        "favourite",
        "bought",
        "rating",
        "visit",
        "bye",
    ]
    assert by_name["consent"].required  # an Excel TRUE
    assert by_name["age"].config == {"min": 0, "max": 120, "unit": {"ja": "歳"}}
    assert by_name["age"].hint == {"ja": "数字で"}
    assert by_name["favourite"].section == "adult"
    assert by_name["bought"].kind == "multiple_choice"
    assert by_name["bought"].config["choices"] == by_name["favourite"].config["choices"]
    assert by_name["bought"].constraint_message == {"ja": "2つまで", "en": "Two at most"}
    assert by_name["rating"].config == {"start": 1, "end": 5, "step": 1}
    assert by_name["rating"].section == "apples"
    assert by_name["visit"].config == {"min": "2026-04-01", "max": None}  # an Excel date cell
    assert survey.options == Options()


def test_older_spellings_are_read() -> None:
    definition = read_workbook(FIXTURES / "old_spellings.xlsx")
    assert definition.default_language == "en"  # its only language
    assert definition.title == {"en": "old_spellings"}  # no settings sheet: the file's name
    kinds = {q.name: q.kind for q in definition.questions}
    assert kinds == {
        "resident": "yes_no",
        "colors": "multiple_choice",
        "children": "integer",
        "where": "location",
        "picture": "photo",
    }
    assert definition.questions[0].required
    assert {q.section for q in definition.questions[1:]} == {"more"}


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("label::日本語 (ja)", "ja"),
        ("label::English (en)", "en"),
        ("label:english", "en"),
        ("LABEL::EN", "en"),
        ("label::Japanese", "ja"),
        ("label::中文 (zh-TW)", "zh-TW"),
        ("label", "ja"),
        ("label::default", "ja"),
    ],
)
def test_label_columns_name_their_language(header: str, language: str) -> None:
    data = workbook(
        [["type", "name", header], ["text", "q", "質問"]],
        settings=[["form_title", "default_language"], ["題", language]],
    )
    assert read_workbook(data).questions[0].label == {language: "質問"}


def test_a_plain_column_is_the_default_language() -> None:
    data = workbook(
        [
            ["type", "name", "label", "label::English (en)", "hint"],
            ["text", "q", "質問", "Q", "例"],
        ],
        settings=[["form_title", "default_language"], ["題", "ja"]],
    )
    question = read_workbook(data).questions[0]
    assert question.label == {"ja": "質問", "en": "Q"}
    assert question.hint == {"ja": "例"}


def test_a_text_given_twice_for_one_language_is_refused() -> None:
    data = workbook([["type", "name", "label", "label::日本語 (ja)"], ["text", "q", "一", "二"]])
    assert problems(data) == [
        "survey!C2 (label): gives the ja text twice: in 'label' and its language column"
    ]


def test_an_unknown_language_is_refused_at_its_column() -> None:
    data = workbook([["type", "name", "label", "label::Elvish"], ["text", "q", "質問", "Q"]])
    assert problems(data) == [
        "survey!D2: 'Elvish' is not a language madoguchi knows: write it as Name (code), "
        "e.g. label::English (en)"
    ]


def test_options_without_a_name_are_numbered() -> None:
    data = workbook(
        [["type", "name", "label"], ["select_one towns", "town", "どこ？"]],
        [["list_name", "label"], ["towns", "前橋市"], ["towns", "高崎市"]],
    )
    choices = read_workbook(data).questions[0].config["choices"]
    assert [c["code"] for c in choices] == ["1", "2"]


@pytest.mark.parametrize(
    ("codes", "kind"),
    [(["yes", "no"], "yes_no"), (["no", "yes"], "single_choice"), (["yes"], "single_choice")],
)
def test_yes_no_is_a_list_of_exactly_yes_and_no(codes: list[str], kind: str) -> None:
    data = workbook(
        [["type", "name", "label"], ["select_one yn", "q", "はい？"]],
        [["list_name", "name", "label"]] + [["yn", code, code] for code in codes],
    )
    assert read_workbook(data).questions[0].kind == kind


def test_kind_settings_travel_in_madoguchi_columns() -> None:
    data = workbook(
        [
            [
                "type",
                "name",
                "label",
                "madoguchi::min",
                "madoguchi::max",
                "madoguchi::max_length",
                "madoguchi::unit::日本語 (ja)",
                "parameters",
            ],
            ["text", "t", "名前", None, None, 40],
            ["decimal", "w", "体重", 0.5, 150, None, "kg"],
            ["select_multiple l", "m", "選択", 1, 2],
            ["time", "at", "時刻", time(9, 0), time(17, 30)],
            ["dateTime", "dt", "日時", datetime(2026, 4, 1, 9, 30)],
            ["range", "r", "評価", None, None, None, None, "start=0 end=1 step=0.25"],
            ["image", "p", "写真", None, None, None, None, "max-pixels=1024"],
        ],
        [["list_name", "name", "label"], ["l", "a", "A"], ["l", "b", "B"], ["l", "c", "C"]],
    )
    configs = {q.name: q.config for q in read_workbook(data).questions}
    assert configs["t"] == {"max_length": 40}
    assert configs["w"] == {"min": 0.5, "max": 150, "unit": {"ja": "kg"}}
    assert (configs["m"]["min"], configs["m"]["max"]) == (1, 2)
    assert configs["at"] == {"min": "09:00", "max": "17:30"}
    assert configs["dt"] == {"min": "2026-04-01T09:30", "max": None}
    assert configs["r"] == {"start": 0, "end": 1, "step": 0.25}
    assert configs["p"] == {}


def test_settings_give_the_survey_options() -> None:
    data = workbook(
        [["type", "name", "label"], ["text", "q", "質問"]],
        settings=[
            [
                "form_title",
                "madoguchi::anonymous",
                "madoguchi::one_answer",
                "madoguchi::estimated_minutes",
                "madoguchi::intro",
                "madoguchi::thanks::English (en)",
            ],
            ["題", "yes", "no", 3, "はじめに", "Thanks"],
        ],
    )
    survey = read_survey(data)
    assert survey.options == Options(anonymous=True, one_answer=False, estimated_minutes=3)
    assert survey.definition.intro == {"ja": "はじめに"}
    assert survey.definition.thanks == {"en": "Thanks"}


def test_staff_may_keep_notes_on_other_sheets_and_appearance_is_ignored() -> None:
    data = workbook(
        [["type", "name", "label", "appearance"], ["select_one l", "q", "質問", "minimal"]],
        [["list_name", "name", "label"], ["l", "a", "A"]],
        メモ=[["これは説明です"]],
    )
    assert read_workbook(data).questions[0].kind == "single_choice"


# -- reading: every problem at once, at its cell ---------------------------------------------------


def test_every_problem_is_given_with_its_cell_and_nothing_is_read() -> None:
    assert problems(FIXTURES / "every_error.xlsx") == [
        "survey!H2: 'klingon' is not a language madoguchi knows: write it as Name (code), "
        "e.g. label::English (en)",
        "survey!B3 (name): is used twice",
        "survey!D3 (required): must be yes or no",
        "survey!E4 (relevant): ${age} is not a question of this survey",
        "survey!A5 (type): the list 'colours' is not on the choices sheet",
        "survey!A6 (type): calculate (calculated values) is outside madoguchi's XLSForm profile",
        "survey!G6: the column 'calculation' is outside madoguchi's XLSForm profile",
        "survey!E7 (relevant): ${after} is not an earlier question",
        "survey!A8 (type): geotrace (lines drawn on a map) is outside madoguchi's XLSForm profile",
        "survey!C9 (label): is missing in the default language (ja)",
        "survey!F9 (constraint): function regex() is not supported",
        "survey!A10 (type): end group without a begin",
    ]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            [["integer", "age", "年齢", "madoguchi::min"], ["integer", "q", "x", "abc"]],
            "survey!D3 (min): must be a number",
        ),
        (
            [["text", "t", "名前", "madoguchi::min"], ["text", "q", "x", "3"]],
            "survey!D3 (min): is not a setting of text questions",
        ),
        (
            [["text", "t", "名前", "parameters"], ["range", "q", "x", "start=5 end=1"]],
            "survey!D3 (end): must be above the start",
        ),
        (
            [["text", "t", "名前", "parameters"], ["integer", "q", "x", "start=1"]],
            "survey!D3 (parameters): start is not a parameter of integer questions",
        ),
        (
            [["text", "t", "名前", "parameters"], ["range", "q", "x", "start=1 nonsense"]],
            "survey!D3 (parameters): 'nonsense' is not name=value",
        ),
        (
            [["text", "t", "名前", "madoguchi::attribute"], ["text", "q", "x", "town"]],
            "survey!D3 (attribute): only single choice and yes/no answers can be attributes",
        ),
        (
            [["text", "t", "名前", "constraint"], ["note", "q", "x", ". > 1"]],
            "survey!D3 (constraint): a note has no answer to check",
        ),
        (
            [["text", "t", "名前", "relevant"], ["text", "q", "x", "${t} = 'a' and"]],
            "survey!D3 (relevant): expected a value at the end",
        ),
        (
            [["text", "t", "${later}さん", "relevant"], ["text", "later", "x", None]],
            "survey!C2 (label): ${later} is not an earlier question",
        ),
        (
            [["text", "t", "名前", "madoguchi::color"], ["text", "q", "x", "red"]],
            "survey!D3: the column 'madoguchi::color' is outside madoguchi's XLSForm profile",
        ),
        (
            [["text", "t", "名前", "relevent"], ["text", "q", "x", "${t} = 'a'"]],
            "survey!D3: the column 'relevent' is outside madoguchi's XLSForm profile",
        ),
        (
            [["text", "t", "名前", None], ["select_one", "q", "x", None]],
            "survey!A3 (type): 'select_one': write select_one LIST or select_multiple LIST",
        ),
        (
            [["text", "t", "名前", None], ["text", "1st", "x", None]],
            "survey!B3 (name): must start with a letter or _ and have only letters, digits, _ . - "
            "(at most 64)",
        ),
        (
            [["text", "t", "名前", None], ["text", None, "x", None]],
            "survey!B3 (name): the question has no name",
        ),
        (
            [["text", "t", "名前", None], [None, "q", "x", None]],
            "survey!A3 (type): the row has no type",
        ),
        (
            [["text", "meta", "名前", None]],
            "survey!B2 (name): pyxform: On the 'survey' sheet, the 'name' value 'meta' is "
            "invalid. The name 'meta' is reserved for form metadata.",
        ),
    ],
)
def test_each_problem_names_its_cell(rows: Rows, expected: str) -> None:
    header = ["type", "name", "label", rows[0][3] if rows[0][3] else "hint"]
    body = [[*row[:3], row[3] if rows[0][3] else None] for row in rows[1:]]
    survey = [header, [*rows[0][:3], None], *body]
    assert problems(workbook(survey)) == [expected]


def test_choice_problems_point_at_the_option() -> None:
    data = workbook(
        [["type", "name", "label"], ["select_one l", "q", "質問"]],
        [["list_name", "name", "label"], ["l", "a", "A"], ["l", "a", "B"], ["l", "c", None]],
    )
    assert problems(data) == [
        "choices!B3 (choices): option 2: the code 'a' is used twice (list of q)"
    ]
    data = workbook(
        [["type", "name", "label"], ["select_one l", "q", "質問"]],
        [["list_name", "name", "label"], ["l", "a", "A"], ["l", "c", None]],
    )
    assert problems(data) == ["choices!C3 (choices): option 2 (c) has no label (list of q)"]


def test_settings_problems_point_at_the_settings_sheet() -> None:
    data = workbook(
        [["type", "name", "label"], ["text", "q", "質問"]],
        settings=[
            ["form_title", "default_language", "public_key", "madoguchi::anonymous"],
            [None, "Elvish", "MIIB...", "perhaps"],
        ],
    )
    assert problems(data) == [
        "settings!A2 (title): is missing in the default language (ja)",
        "settings!B2 (default_language): 'Elvish' is not a language: write e.g. 日本語 (ja)",
        "settings!C2: the column 'public_key' is outside madoguchi's XLSForm profile",
        "settings!D2 (anonymous): must be yes or no",
    ]


def test_groups_must_end() -> None:
    data = workbook([["type", "name", "label"], ["begin group", "g", "群"], ["text", "q", "質問"]])
    assert problems(data) == ["survey!A2 (type): the group g has no end group"]


def test_an_anonymous_survey_cannot_set_attributes() -> None:
    data = workbook(
        [["type", "name", "label", "madoguchi::attribute"], ["select_one l", "q", "町", "town"]],
        [["list_name", "name", "label"], ["l", "a", "A"]],
        settings=[["form_title", "madoguchi::anonymous"], ["題", "yes"]],
    )
    assert problems(data) == [
        "survey!D2 (attribute): an anonymous survey cannot set resident attributes"
    ]


# -- reading: refused by name -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "named"),
    [
        ("calculate", "calculate (calculated values)"),
        ("hidden", "hidden (hidden values)"),
        ("geotrace", "geotrace (lines drawn on a map)"),
        ("geoshape", "geoshape (shapes drawn on a map)"),
        ("audio", "audio (audio recordings)"),
        ("video", "video (video recordings)"),
        ("file", "file (file uploads)"),
        ("barcode", "barcode (barcode scans)"),
        ("phone number", "phone number (phone number metadata)"),
        ("start", "start (start time metadata)"),
        ("today", "today (today's date metadata)"),
        ("deviceid", "deviceid (device metadata)"),
        ("background-audio", "background-audio (background audio recording)"),
        ("rank l", "rank (ranking)"),
        ("osm l", "osm l (OpenStreetMap questions)"),
        ("select_one_external l", "select_one_external (external selects)"),
        ("select_one_from_file towns.csv", "select_one_from_file (choices from a file)"),
        ("select_one l or_other", "or_other (specify other)"),
        ("select one from l or specify other", "or specify other (specify other)"),
        ("select_multiple l or_other", "or_other (specify other)"),
        ("begin repeat", "repeats (begin repeat)"),
        ("begin loop over l", "loops (begin loop)"),
    ],
)
def test_types_outside_the_profile_are_refused_by_name(type_: str, named: str) -> None:
    data = workbook(
        [["type", "name", "label"], ["text", "q", "質問"], [type_, "x", "何か"]],
        [["list_name", "name", "label"], ["l", "a", "A"]],
    )
    verb = "are" if named.startswith(("repeats", "loops")) else "is"
    assert problems(data) == [
        f"survey!A3 (type): {named} {verb} outside madoguchi's XLSForm profile"
    ]


def test_an_unknown_type_is_refused() -> None:
    data = workbook([["type", "name", "label"], ["text", "q", "質問"], ["colour", "c", "色"]])
    assert problems(data) == [
        "survey!A3 (type): 'colour' is not a question type of madoguchi's XLSForm profile"
    ]


@pytest.mark.parametrize(
    "column",
    [
        "choice_filter",
        "calculation",
        "default",
        "read_only",
        "image",
        "audio",
        "video",
        "media::image",
        "required_message",
        "trigger",
        "repeat_count",
        "guidance_hint",
    ],
)
def test_columns_outside_the_profile_are_refused_by_name(column: str) -> None:
    data = workbook([["type", "name", "label", column], ["text", "q", "質問", "x"]])
    assert problems(data) == [
        f"survey!D2: the column '{column}' is outside madoguchi's XLSForm profile"
    ]


def test_an_empty_column_outside_the_profile_is_no_problem() -> None:
    data = workbook([["type", "name", "label", "choice_filter"], ["text", "q", "質問", None]])
    assert read_workbook(data).questions[0].name == "q"


@pytest.mark.parametrize(
    ("sheet", "named"),
    [
        ("external_choices", "external selects (the external_choices sheet)"),
        ("entities", "entities (the entities sheet)"),
        ("osm", "OpenStreetMap questions (the osm sheet)"),
    ],
)
def test_sheets_outside_the_profile_are_refused_by_name(sheet: str, named: str) -> None:
    data = workbook(
        [["type", "name", "label"], ["text", "q", "質問"]],
        **{sheet: [["list_name", "name", "label"], ["l", "a", "A"]]},
    )
    assert problems(data) == [f"{sheet}: {named} are outside madoguchi's XLSForm profile"]


# -- reading: the file itself ---------------------------------------------------------------------


def test_a_file_that_is_no_workbook_is_refused() -> None:
    assert problems(b"type,name,label\ntext,q,x\n") == [
        "file: this is not an Excel workbook (.xlsx)"
    ]


def test_a_workbook_that_unpacks_too_large_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    data = workbook([["type", "name", "label"], ["text", "q", "質問"]])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        unpacked = sum(item.file_size for item in archive.infolist())
    monkeypatch.setattr("surveys.xlsform.MAX_UNPACKED_BYTES", unpacked - 1)
    assert problems(data) == ["file: the workbook is too large once unpacked"]


def test_a_file_too_large_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    data = workbook([["type", "name", "label"], ["text", "q", "質問"]])
    monkeypatch.setattr("surveys.xlsform.MAX_FILE_BYTES", len(data) - 1)
    assert problems(data) == ["file: the file is larger than 0 MB"]


def test_a_column_given_twice_is_refused_at_its_cell() -> None:
    data = workbook([["type", "name", "label", "label"], ["text", "q", "質問", "x"]])
    assert problems(data) == ["survey!D1: the column 'label' is there twice"]


def test_a_file_is_read_from_a_path_or_an_open_file(tmp_path: Path) -> None:
    data = workbook([["type", "name", "label"], ["text", "q", "質問"]], settings=None)
    path = tmp_path / "市民の声.xlsx"
    path.write_bytes(data)
    assert read_workbook(path).title == {"ja": "市民の声"}
    with path.open("rb") as file:
        assert read_workbook(file, filename="声.xlsx").title == {"ja": "声"}


# -- the public XLSForm files ---------------------------------------------------------------

#: The public files that import, with their questions.
SHARED_IMPORTS: dict[str, list[str]] = {
    "text_and_integer.xlsx": ["your_name", "your_age"],
    "yes_or_no_question.xlsx": ["good_day"],
}
#: The public files refused, with (parts of) the refusals they must name.
SHARED_REFUSED: dict[str, list[str]] = {
    "group.xlsx": ["survey!A4 (type): phone number (phone number metadata)"],
    "loop.xlsx": ["survey!A2 (type): or specify other (specify other)", "loops (begin loop)"],
    "specify_other.xlsx": ["survey!A2 (type): or specify other (specify other)"],
    "or_other.xlsx": ["or_other (specify other)", "the column 'choice_filter'"],
    "choice_filter_test.xlsx": ["the column 'choice_filter'", "the column 'cf'"],
    "case_insensitivity.xlsx": [
        "EXTERNAL_CHOICES: external selects",
        "SURVEY!A3 (type): select_one_external (external selects)",
        "SURVEY!A4 (type): osm c1 (OpenStreetMap questions)",
        "SURVEY!D3: the column 'CHOICE_FILTER'",
    ],
    "xlsform_spec_test.xlsx": [
        "survey!A15 (type): repeats (begin repeat)",
        "survey!A40 (type): calculate (calculated values)",
        "survey!A35 (type): barcode (barcode scans)",
        "survey!S9: the column 'image'",
        "survey!N7 (relevant): function regex() is not supported",
    ],
}


def _shared(name: str | None = None) -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"the public XLSForm files are not here ({SHARED}: ../shared is absent)")
    return SHARED / name if name else SHARED


def test_every_public_file_is_expected() -> None:
    names = {path.name for path in _shared().glob("*.xlsx")}
    assert names == set(SHARED_IMPORTS) | set(SHARED_REFUSED)


@pytest.mark.parametrize(("name", "questions"), SHARED_IMPORTS.items())
def test_public_files_of_the_profile_import(name: str, questions: list[str]) -> None:
    definition = read_workbook(_shared(name))
    assert [q.name for q in definition.questions] == questions


@pytest.mark.parametrize(("name", "refusals"), SHARED_REFUSED.items())
def test_public_files_outside_the_profile_are_refused_by_name(
    name: str, refusals: list[str]
) -> None:
    found = problems(_shared(name))
    for part in refusals:
        assert any(part in problem for problem in found), (part, found)
    assert any("outside madoguchi's XLSForm profile" in problem for problem in found)
