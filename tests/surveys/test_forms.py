"""The builder's forms as pure functions: what staff typed, read into questions, sections and
settings; questions placed, moved and grouped without breaking sections."""

from __future__ import annotations

from datetime import UTC, datetime

from werkzeug.datastructures import MultiDict

from surveys import forms
from surveys.definition import Definition, Question, Section, check
from surveys.settings import Quota

LANGUAGES = ["ja", "en"]


def _form(**values: str) -> MultiDict[str, str]:
    return MultiDict({key.replace("__", "."): value for key, value in values.items()})


def test_options_without_a_code_get_the_first_free_number() -> None:
    form = _form(
        name="q",
        choice_rows="4",
        choice__0__label__ja="一",
        choice__1__code="1",
        choice__1__label__ja="二",
        choice__3__label__ja="三",
        choice__3__label__en="Three",
    )
    read = forms.read_question(form, LANGUAGES, "single_choice")
    assert read.question.config["choices"] == [
        {"code": "2", "label": {"ja": "一"}},
        {"code": "1", "label": {"ja": "二"}},
        {"code": "3", "label": {"ja": "三", "en": "Three"}},
    ]
    assert read.option_rows == [0, 1, 3]  # option 3 is the form's row 3 (row 2 was empty)


def test_yes_no_keeps_its_codes_and_default_labels() -> None:
    form = _form(name="q", choice_rows="2", choice__0__code="no", choice__1__label__ja="違う")
    read = forms.read_question(form, LANGUAGES, "yes_no")
    assert read.question.config["choices"] == [
        {"code": "yes", "label": {"ja": "はい", "en": "Yes"}},
        {"code": "no", "label": {"ja": "違う"}},
    ]


def test_a_question_reads_only_its_kinds_settings() -> None:
    form = _form(
        name="age",
        label__ja=" 年齢 ",
        required="required",
        min="0",
        max="120",
        max_length="3",
        unit__ja="歳",
        relevant=" ",
        constraint=". < 130",
        attribute="age",
    )
    read = forms.read_question(form, LANGUAGES, "integer")
    question = read.question
    assert question.label == {"ja": "年齢"}
    assert question.required
    assert question.relevant is None
    assert question.config == {"min": "0", "max": "120", "unit": {"ja": "歳"}}
    assert question.attribute is None
    assert [(p.field, p.message) for p in read.problems] == [
        ("attribute", "only single choice and yes/no answers can be attributes")
    ]
    note = forms.read_question(_form(name="n", constraint=". > 1"), LANGUAGES, "note").question
    assert note.constraint is None  # a note has nothing to check


SECTIONED = Definition(
    title={"ja": "題"},
    sections=(Section("outer"), Section("inner", parent="outer")),
    questions=(
        Question("a", "text", {"ja": "a"}),
        Question("b", "text", {"ja": "b"}, section="outer"),
        Question("c", "text", {"ja": "c"}, section="inner"),
        Question("d", "text", {"ja": "d"}),
    ),
)


def _names(definition: Definition) -> list[str]:
    return [q.name for q in definition.questions]


def test_a_new_question_goes_to_the_end_of_its_section() -> None:
    new = Question("e", "text", {"ja": "e"}, section="outer")
    placed = forms.place_question(SECTIONED, new, None)
    assert _names(placed) == ["a", "b", "c", "e", "d"]
    assert check(placed) == []
    assert _names(forms.place_question(SECTIONED, Question("f", "text", {"ja": "f"}), None)) == [
        "a",
        "b",
        "c",
        "d",
        "f",
    ]


def test_an_edited_question_keeps_its_place_unless_its_section_changes() -> None:
    renamed = Question("b2", "text", {"ja": "b"}, section="outer")
    assert _names(forms.place_question(SECTIONED, renamed, "b")) == ["a", "b2", "c", "d"]
    moved = Question("a", "text", {"ja": "a"}, section="inner")
    placed = forms.place_question(SECTIONED, moved, "a")
    assert _names(placed) == ["b", "c", "a", "d"]
    assert check(placed) == []


def test_moves_and_orders() -> None:
    assert _names(forms.move(SECTIONED, "a", -1)) == ["a", "b", "c", "d"]  # first stays
    assert _names(forms.move(SECTIONED, "d", -1)) == ["a", "b", "d", "c"]
    assert forms.reorder(SECTIONED, ["d", "c", "b"]) is None
    assert forms.reorder(SECTIONED, ["d", "c", "b", "b"]) is None
    reordered = forms.reorder(SECTIONED, ["d", "c", "b", "a"])
    assert reordered is not None
    assert _names(reordered) == ["d", "c", "b", "a"]


def test_a_section_gathers_its_questions_and_gives_back_the_others() -> None:
    flat = Definition(
        title={"ja": "題"},
        questions=tuple(Question(n, "text", {"ja": n}) for n in "abcd"),
    )
    grouped = forms.place_section(flat, Section("s", relevant="${a} = 'x'"), None, ["d", "b"])
    assert _names(grouped) == ["a", "b", "d", "c"]
    assert [q.section for q in grouped.questions] == [None, "s", "s", None]
    assert check(grouped) == []
    renamed = forms.place_section(grouped, Section("t"), "s", ["b"])
    assert [s.name for s in renamed.sections] == ["t"]
    assert [q.section for q in renamed.questions] == [None, "t", None, None]
    nested = forms.place_section(SECTIONED, Section("new", parent="outer"), None, ["b"])
    assert [q.section for q in nested.questions] == [None, "new", "inner", None]
    removed = forms.remove_section(SECTIONED, "outer")
    assert removed.sections == (Section("inner"),)
    assert [q.section for q in removed.questions] == [None, None, "inner", None]


def test_deleting_a_question_drops_sections_left_empty() -> None:
    without_c = forms.without_question(SECTIONED, "c")
    assert [s.name for s in without_c.sections] == ["outer"]
    without_b = forms.without_question(SECTIONED, "b")
    assert [s.name for s in without_b.sections] == ["outer", "inner"]  # outer holds inner


def test_settings_are_read_with_what_could_not_be() -> None:
    form = _form(
        answers="many",
        anonymous="y",
        estimated_minutes="5",
        max_responses="1e3",
        opens_at="2026-04-01T09:00",
        closes_at="tomorrow",
        reminder_hours="",
        audience="municipality = 10201、10202, \n\nage_band: 20-29\nnonsense",
        quota_rows="3",
        quota__0__name="adults",
        quota__0__condition="${age} >= 18",
        quota__0__limit="100",
        quota__0__action="skip",
        quota__2__name="x",
        quota__2__limit="ten",
        quota__2__action="explode",
    )
    settings, problems = forms.read_settings(form)
    assert not settings.one_answer
    assert settings.anonymous
    assert settings.estimated_minutes == 5
    assert settings.max_responses is None
    assert settings.opens_at == datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
    assert settings.closes_at is None
    assert settings.audience == {"municipality": ["10201", "10202"], "age_band": ["20-29"]}
    assert settings.quotas == (
        Quota("adults", "${age} >= 18", 100, forms.QuotaAction.SKIP),
        Quota("x", "", 0, forms.QuotaAction.STOP),
    )
    assert [(p.subject, p.field) for p in problems] == [
        (None, "audience"),
        ("x", "limit"),
        (None, "max_responses"),
        (None, "closes_at"),
    ]
    assert forms.audience_text(settings.audience) == (
        "municipality = 10201, 10202\nage_band = 20-29"
    )
    assert forms.local_input(settings.opens_at) == "2026-04-01T09:00"
