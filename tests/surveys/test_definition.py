"""A survey's definition: every problem found at once, named; stored and read back unchanged."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from bot.db import Database
from models.surveys import Survey, SurveyQuestion, SurveyVersion
from surveys.definition import (
    Definition,
    DefinitionError,
    Question,
    Section,
    check,
    check_condition,
    definition_of,
    store,
)

CHOICES = {
    "choices": [
        {"code": "dog", "label": {"ja": "犬", "en": "Dog"}},
        {"code": "cat", "label": {"ja": "猫", "en": "Cat"}},
    ]
}


def _survey(*questions: Question, sections: tuple[Section, ...] = ()) -> Definition:
    return Definition(
        title={"ja": "ペット調査", "en": "Pets"},
        thanks={"ja": "ありがとうございました"},
        sections=sections,
        questions=questions,
    )


GOOD = _survey(
    Question("age", "integer", {"ja": "年齢は？"}, required=True, config={"min": 0, "max": 120}),
    Question(
        "pets",
        "multiple_choice",
        {"ja": "${age}歳のあなたの飼っているペットは？", "en": "Pets?"},
        relevant="${age} >= 18",
        constraint="count-selected(.) <= 2",
        constraint_message={"ja": "2つまで選んでください"},
        config=CHOICES,
        section="home",
    ),
    Question("dog_name", "text", {"ja": "犬の名前"}, relevant="selected(${pets}, 'dog')"),
    sections=(Section("home", {"ja": "家庭"}, relevant="${age} > 0"),),
)


def _fields(problems: list) -> set[tuple[str | None, str]]:
    return {(p.subject, p.field) for p in problems}


def test_a_good_definition_has_no_problems() -> None:
    assert check(GOOD) == []


def test_every_problem_is_found_at_once_and_named() -> None:
    bad = _survey(
        Question("q1", "text", {"ja": "名前"}, relevant="${q3} = 'x'"),  # a later question
        Question("q2", "integer", {"en": "Only English"}, config={"min": 5, "max": 1}),
        Question("q3", "text", {"ja": "住所"}, constraint="regex(., 'x')"),
        Question("q3", "nonsense", {"ja": "?"}),
        Question("q5", "text", {"ja": "${nobody}さん"}, relevant="${q1} = . "),
        Question("1bad", "note", {"ja": "注"}, constraint=". = 1"),
    )
    problems = check(bad)
    assert _fields(problems) >= {
        ("q1", "relevant"),
        ("q2", "label"),
        ("q2", "max"),
        ("q3", "constraint"),
        ("q3", "name"),
        ("q3", "kind"),
        ("q5", "label"),
        ("q5", "relevant"),
        ("1bad", "name"),
        ("1bad", "constraint"),
    }
    messages = {str(p) for p in problems}
    assert "q1: relevant: ${q3} is not an earlier question" in messages
    assert "q3: constraint: function regex() is not supported" in messages
    assert "q5: label: ${nobody} is not a question of this survey" in messages
    assert "q5: relevant: '.' (this answer) may be used only in a constraint" in messages


def test_conditions_may_not_read_notes_or_use_choice_functions_on_other_kinds() -> None:
    problems = check(
        _survey(
            Question("intro", "note", {"ja": "説明"}),
            Question("name", "text", {"ja": "名前"}, relevant="${intro} = ''"),
            Question("x", "text", {"ja": "x"}, relevant="selected(${name}, 'a')"),
        )
    )
    assert {str(p) for p in problems} == {
        "name: relevant: ${intro} is a note: it has no answer",
        "x: relevant: selected() needs a choice question",
    }


def test_a_survey_needs_a_title_and_a_question_to_answer() -> None:
    problems = check(
        Definition(title={"en": "English only"}, questions=(Question("n", "note", {"ja": "x"}),))
    )
    assert _fields(problems) == {(None, "title"), (None, "questions")}


def test_sections_must_exist_be_contiguous_and_have_questions() -> None:
    problems = check(
        _survey(
            Question("a", "text", {"ja": "a"}, section="one"),
            Question("b", "text", {"ja": "b"}),
            Question("c", "text", {"ja": "c"}, section="one"),
            Question("d", "text", {"ja": "d"}, section="ghost"),
            sections=(
                Section("one", {"ja": "1"}),
                Section("empty", {"ja": "空"}),
                Section("orphan", {"ja": "孤"}, parent="nowhere"),
            ),
        )
    )
    assert {str(p) for p in problems} >= {
        "c: section: section 'one' is split in two",
        "d: section: 'ghost' is not a section",
        "empty: questions: the section has no questions",
        "orphan: parent: 'nowhere' is not an earlier section",
    }


def test_nested_sections_and_their_conditions() -> None:
    nested = _survey(
        Question("a", "integer", {"ja": "a"}),
        Question("b", "text", {"ja": "b"}, section="inner"),
        Question("c", "text", {"ja": "c"}, section="outer"),
        sections=(
            Section("outer", {"ja": "外"}, relevant="${a} > 1"),
            Section("inner", {"ja": "内"}, parent="outer", relevant="${b} = ''"),
        ),
    )
    assert [str(p) for p in check(nested)] == ["inner: relevant: ${b} is not an earlier question"]


def test_texts_refuse_control_characters_and_bad_languages() -> None:
    problems = check(
        _survey(Question("a", "text", {"ja": "名前\x00", "english": "Name", "en": "x" * 1001}))
    )
    assert {str(p) for p in problems} == {
        "a: label: contains a control character (ja)",
        "a: label: 'english' is not a language code (ja, en, ...)",
        "a: label: is longer than 1000 characters (en)",
    }


def test_option_labels_and_units_are_checked_like_other_texts() -> None:
    options = {
        "choices": [
            {"code": "a", "label": {"ja": "犬"}},
            {"code": "b", "label": {"ja": "猫\x1b[31m", "en": "x" * 1001}},
        ]
    }
    survey = _survey(
        Question("q", "single_choice", {"ja": "質問"}, config=options),
        Question("n", "integer", {"ja": "数"}, config={"unit": {"ja": "歳\x07", "en": "y" * 21}}),
    )
    assert [str(p) for p in check(survey)] == [
        "q: choices: option 2: contains a control character (ja)",
        "q: choices: option 2: is longer than 1000 characters (en)",
        "n: unit: contains a control character (ja)",
        "n: unit: is longer than 20 characters (en)",
    ]


def test_attributes_only_from_choices_and_never_in_anonymous_surveys() -> None:
    municipality = Question(
        "city",
        "single_choice",
        {"ja": "お住まいは？"},
        config={"choices": [{"code": "10201", "label": {"ja": "前橋市"}}]},
        attribute="municipality",
    )
    assert check(_survey(municipality)) == []
    assert [str(p) for p in check(_survey(municipality), anonymous=True)] == [
        "city: attribute: an anonymous survey cannot set resident attributes"
    ]
    typed = Question("age", "integer", {"ja": "年齢"}, attribute="age")
    assert [str(p) for p in check(_survey(typed))] == [
        "age: attribute: only single choice and yes/no answers can be attributes"
    ]
    badly_named = replace(municipality, attribute="Municipality!")
    assert _fields(check(_survey(badly_named))) == {("city", "attribute")}


def test_a_quota_condition_may_read_any_question() -> None:
    assert check_condition(GOOD, "${dog_name} != ''", "q") == []
    assert [str(p) for p in check_condition(GOOD, "${ghost} = 1", "q")] == [
        "q: condition: ${ghost} is not a question of this survey"
    ]


def test_stored_and_read_back_unchanged(db: Database) -> None:
    with db.unit_of_work() as session:
        survey = Survey()
        version = SurveyVersion(number=1)
        survey.versions.append(version)
        session.add(survey)
        session.flush()
        store(session, version, GOOD, anonymous=False)
        version_id = version.id
    with db.unit_of_work() as session:
        version = session.get_one(SurveyVersion, version_id)
        read = definition_of(version, "ja")
    assert replace(read, questions=()) == replace(GOOD, questions=())
    assert [q.name for q in read.questions] == ["age", "pets", "dog_name"]
    # Settings come back normalised by their kind.
    assert read.questions[0].config == {"min": 0, "max": 120, "unit": {}}
    assert read.questions[1].config == {**CHOICES, "min": None, "max": None}
    assert read.questions[2].config == {"max_length": 500}
    assert check(read) == []
    # Storing the read definition again changes nothing.
    with db.unit_of_work() as session:
        version = session.get_one(SurveyVersion, version_id)
        store(session, version, read, anonymous=False)
    with db.unit_of_work() as session:
        again = definition_of(session.get_one(SurveyVersion, version_id), "ja")
    assert again == read


def test_a_definition_with_problems_changes_nothing(db: Database) -> None:
    with db.unit_of_work() as session:
        survey = Survey()
        version = SurveyVersion(number=1)
        survey.versions.append(version)
        session.add(survey)
        session.flush()
        store(session, version, GOOD, anonymous=False)
        version_id = version.id
    bad = replace(GOOD, questions=(*GOOD.questions, Question("x", "text", {})))
    with db.unit_of_work() as session, pytest.raises(DefinitionError) as raised:
        store(session, session.get_one(SurveyVersion, version_id), bad, anonymous=False)
    assert [str(p) for p in raised.value.problems] == [
        "x: label: is missing in the default language (ja)"
    ]
    with db.unit_of_work() as session:
        names = session.scalars(
            select(SurveyQuestion.name)
            .where(SurveyQuestion.version_id == version_id)
            .order_by(SurveyQuestion.position)
        ).all()
    assert names == ["age", "pets", "dog_name"]


def test_a_published_version_is_frozen(db: Database) -> None:
    from models.base import utcnow

    with db.unit_of_work() as session:
        version = SurveyVersion(number=1, published_at=utcnow())
        survey = Survey()
        survey.versions.append(version)
        session.add(survey)
        session.flush()
        with pytest.raises(ValueError, match="published version cannot change"):
            store(session, version, GOOD, anonymous=False)
