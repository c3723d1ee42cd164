"""The survey builder in the console, through the test client: every page, the editor's
changes (audited), errors at their fields, roles, CSRF, changes made meanwhile, and texts
that look like formulas, markup or control characters."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from bot.db import Database
from models import AuditEntry, Role, Staff
from models.surveys import Survey, SurveyQuota, SurveyStatus
from surveys.builder import revision
from surveys.definition import Definition, Question, Section, definition_of, normalised
from surveys.services import create_survey, publish
from tests.console.conftest import csrf_token, sign_in
from tests.surveys.test_definition import CHOICES
from tests.surveys.test_xlsform import FIXTURES, workbook

#: As stored (settings normalised by their kinds).
PETS = normalised(
    Definition(
        title={"ja": "ペット調査", "en": "Pets"},
        sections=(Section("home", {"ja": "家庭"}, relevant="${age} > 0"),),
        questions=(
            Question("age", "integer", {"ja": "年齢は？"}, required=True, config={"min": 0}),
            Question(
                "pets", "multiple_choice", {"ja": "ペットは？"}, config=CHOICES, section="home"
            ),
            Question("dog_name", "text", {"ja": "犬の名前"}, relevant="selected(${pets}, 'dog')"),
        ),
    )
)


@pytest.fixture
def editor(signed_in: Callable[..., Staff]) -> Staff:
    return signed_in(Role.EDITOR)


def _create(db: Database, definition: Definition = PETS, **options: Any) -> int:
    with db.unit_of_work() as session:
        return create_survey(session, definition, **options).id


def _definition(db: Database, survey_id: int) -> Definition:
    with db.reading() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        version = survey.draft or survey.current_version
        assert version is not None
        return definition_of(version, survey.default_language)


def _no_survey(db: Database) -> bool:
    with db.reading() as session:
        return session.scalars(select(Survey)).first() is None


def _survey_state(db: Database, survey_id: int) -> tuple[SurveyStatus, list[int]]:
    with db.reading() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        return survey.status, [v.number for v in survey.versions]


def _audit(db: Database) -> list[tuple[str, dict[str, Any]]]:
    with db.reading() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(e.action, e.detail) for e in entries if e.action.startswith("survey.")]


def _post(
    client: FlaskClient, path: str, data: dict[str, Any] | list[tuple[str, str]], **kw: Any
) -> TestResponse:
    """Post a builder form the way its page does: with the CSRF token and the revision the
    page carries (when the page has one)."""
    page = client.get(kw.pop("page", path)).get_data(as_text=True)
    found = re.search(r'name="revision" value="([0-9a-f]+)"', page)
    extra = [("csrf_token", csrf_token(client, "/admin/account"))]
    if found:
        extra.append(("revision", found.group(1)))
    items = list(data.items()) if isinstance(data, dict) else list(data)
    return client.post(path, data=MultiDict(items + extra), **kw)


def _text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def _upload(client: FlaskClient, path: str, data: bytes, filename: str) -> TestResponse:
    """Upload a workbook with the page's form (its CSRF token)."""
    return client.post(
        path,
        data={"csrf_token": csrf_token(client, path), "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


# -- pages and roles -------------------------------------------------------------------------------


def test_every_page_renders_for_an_editor(client: FlaskClient, db: Database, editor: Staff) -> None:
    survey_id = _create(db)
    base = f"/admin/surveys/{survey_id}"
    for path in (
        "/admin/surveys/",
        "/admin/surveys/new",
        "/admin/surveys/import",
        base,
        f"{base}/texts",
        f"{base}/settings",
        f"{base}/questions/new?kind=range",
        f"{base}/q/pets",
        f"{base}/q/pets/delete",
        f"{base}/sections/new",
        f"{base}/s/home",
        f"{base}/preview",
        f"{base}/publish",
        f"{base}/delete",
        f"{base}/import",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "<h1>" in _text(response), path
    page = _text(client.get(base))
    assert 'draggable="true"' in page  # the list can be dragged
    assert 'value="up"' in page  # and moved with buttons
    assert "builder.js" in page


def test_a_viewer_looks_but_cannot_change(
    client: FlaskClient, db: Database, signed_in: Callable[..., Staff]
) -> None:
    survey_id = _create(db)
    signed_in(Role.VIEWER)
    page = client.get(f"/admin/surveys/{survey_id}")
    assert page.status_code == 200
    assert "年齢は？" in _text(page)
    assert 'draggable="true"' not in _text(page)
    assert "/q/age" not in _text(page)  # no edit links
    assert "builder.js" not in _text(page)
    assert client.get(f"/admin/surveys/{survey_id}/preview").status_code == 200
    assert client.get(f"/admin/surveys/{survey_id}/survey.xlsx").status_code == 200
    assert client.get(f"/admin/surveys/{survey_id}/q/age").status_code == 403
    token = csrf_token(client, "/admin/account")
    response = client.post(
        f"/admin/surveys/{survey_id}/q/age/move", data={"csrf_token": token, "direction": "down"}
    )
    assert response.status_code == 403
    assert [q.name for q in _definition(db, survey_id).questions] == ["age", "pets", "dog_name"]


def test_facility_staff_cannot_see_surveys(
    client: FlaskClient, db: Database, signed_in: Callable[..., Staff]
) -> None:
    survey_id = _create(db)
    signed_in(Role.FACILITY)
    assert client.get("/admin/surveys/").status_code == 403
    assert client.get(f"/admin/surveys/{survey_id}").status_code == 403
    assert client.get(f"/admin/surveys/{survey_id}/survey.xlsx").status_code == 403


def test_the_list_shows_status_responses_and_times(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db)
    with db.unit_of_work() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        from datetime import UTC, datetime

        survey.opens_at = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
        survey.max_responses = 50
    page = _text(client.get("/admin/surveys/"))
    assert "ペット調査" in page
    assert "2026-04-01 09:00" in page  # Japan time
    assert "0 / 50" in page


# -- creating --------------------------------------------------------------------------------------


def test_a_survey_is_created_with_its_first_question(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    response = _post(
        client,
        "/admin/surveys/new",
        {
            "title.ja": "満足度調査",
            "title.en": "Satisfaction",
            "kind": "single_choice",
            "name": "satisfied",
            "label.ja": "満足していますか",
            "choice_rows": "3",
            "choice.0.label.ja": "はい",
            "choice.1.code": "no",
            "choice.1.label.ja": "いいえ",
        },
    )
    assert response.status_code == 302
    survey_id = int(response.headers["Location"].rsplit("/", 1)[1])
    definition = _definition(db, survey_id)
    assert definition.title == {"ja": "満足度調査", "en": "Satisfaction"}
    [question] = definition.questions
    assert question.config["choices"] == [
        {"code": "1", "label": {"ja": "はい"}},  # no code given: numbered
        {"code": "no", "label": {"ja": "いいえ"}},
    ]
    assert _audit(db) == [("survey.create", {"version": 1})]


def test_creating_shows_every_problem_at_its_field_and_stores_nothing(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    response = _post(
        client,
        "/admin/surveys/new",
        {"kind": "integer", "name": "1st", "label.en": "Age", "min": "ten"},
    )
    assert response.status_code == 200
    page = _text(response)
    assert 'id="f-title-error"' in page
    assert "is missing in the default language (ja)" in page
    assert 'id="f-name-error"' in page
    assert 'aria-invalid="true"' in page
    assert 'role="alert"' in page
    assert _no_survey(db)
    assert _audit(db) == []


def test_changing_the_kind_shows_its_settings_without_saving(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    response = _post(
        client,
        "/admin/surveys/new",
        {"kind": "range", "name": "score", "label.ja": "評価", "change_kind": "1"},
    )
    assert response.status_code == 200
    page = _text(response)
    assert 'name="start"' in page
    assert 'value="score"' in page  # what was typed stays
    assert _no_survey(db)


# -- questions -------------------------------------------------------------------------------------


def test_a_question_of_every_kind_can_be_added(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db)
    path = f"/admin/surveys/{survey_id}/questions/new"
    forms: dict[str, dict[str, str]] = {
        "yes_no": {
            "choice_rows": "2",
            "choice.0.code": "yes",
            "choice.0.label.ja": "はい",
            "choice.1.code": "no",
            "choice.1.label.ja": "いいえ",
        },
        "text": {"max_length": "40"},
        "decimal": {"min": "0.5", "max": "99.5", "unit.ja": "kg"},
        "range": {"start": "0", "end": "10", "step": "1"},
        "date": {"min": "2026-04-01"},
        "time": {"max": "17:30"},
        "datetime": {"min": "2026-04-01T09:00"},
        "photo": {},
        "location": {},
        "acknowledge": {},
        "note": {},
    }
    for kind, settings in forms.items():
        response = _post(
            client,
            path,
            {"kind": kind, "name": f"new_{kind}", "label.ja": f"{kind}の質問", **settings},
            page=f"{path}?kind={kind}",
        )
        assert response.status_code == 302, (kind, _text(response)[:2000])
    added = {q.name: q for q in _definition(db, survey_id).questions}
    assert added["new_text"].config == {"max_length": 40}
    assert added["new_decimal"].config == {"min": 0.5, "max": 99.5, "unit": {"ja": "kg"}}
    assert added["new_range"].config == {"start": 0, "end": 10, "step": 1}
    assert added["new_datetime"].config == {"min": "2026-04-01T09:00", "max": None}
    assert added["new_yes_no"].kind == "yes_no"
    updates = [detail["change"] for action, detail in _audit(db) if action == "survey.update"]
    assert updates == ["question added"] * len(forms)


def test_a_condition_on_a_later_question_is_refused_at_its_field(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db)
    response = _post(
        client,
        f"/admin/surveys/{survey_id}/q/age",
        {"kind": "integer", "name": "age", "label.ja": "年齢は？", "relevant": "${pets} = 'dog'"},
    )
    assert response.status_code == 200
    page = _text(response)
    error = re.search(r'<ul class="field-errors" id="f-relevant-error"><li>([^<]*)</li>', page)
    assert error is not None
    assert error.group(1) == "${pets} is not an earlier question"
    assert 'aria-describedby="f-relevant-hint f-relevant-error" aria-invalid="true"' in page
    assert _definition(db, survey_id) == PETS  # nothing saved


def test_option_problems_show_at_their_row(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db)
    response = _post(
        client,
        f"/admin/surveys/{survey_id}/q/pets",
        {
            "kind": "multiple_choice",
            "name": "pets",
            "label.ja": "ペットは？",
            "choice_rows": "4",
            "choice.0.code": "dog",
            "choice.0.label.ja": "犬",
            "choice.2.code": "dog",  # row 2 is empty: the second option is in row 3
            "choice.2.label.ja": "猫",
        },
    )
    assert response.status_code == 200
    page = _text(response)
    assert 'id="f-choices-2-error"><li>option 2: the code &#39;dog&#39; is used twice' in page


def test_a_change_elsewhere_is_named(client: FlaskClient, db: Database, editor: Staff) -> None:
    survey_id = _create(db)
    # Renaming pets breaks dog_name's condition: the page says so and nothing changes.
    response = _post(
        client,
        f"/admin/surveys/{survey_id}/q/pets",
        {
            "kind": "multiple_choice",
            "name": "animals",
            "label.ja": "ペットは？",
            "choice_rows": "1",
            "choice.0.code": "dog",
            "choice.0.label.ja": "犬",
        },
    )
    assert response.status_code == 200
    assert "dog_name: relevant: ${pets} is not a question of this survey" in _text(response)
    assert _definition(db, survey_id) == PETS


def test_a_bad_new_name_is_shown_as_typed_with_its_problem(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db)
    response = _post(
        client,
        f"/admin/surveys/{survey_id}/q/age",
        {"kind": "integer", "name": "1st age", "label.ja": "年齢は？"},
    )
    assert response.status_code == 200
    page = _text(response)
    assert 'value="1st age"' in page
    assert '<ul class="field-errors" id="f-name-error"><li>must start with a letter' in page
    assert "<h1>質問 age</h1>" in page
    assert _definition(db, survey_id) == PETS


def test_editing_a_question_keeps_its_place_and_audits(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db)
    response = _post(
        client,
        f"/admin/surveys/{survey_id}/q/age",
        {
            "kind": "integer",
            "name": "age",
            "label.ja": "おいくつですか",
            "label.en": "Age?",
            "required": "required",
            "max": "120",
            "unit.ja": "歳",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("#q-age")
    age = _definition(db, survey_id).questions[0]
    assert age.label == {"ja": "おいくつですか", "en": "Age?"}
    assert age.config == {"min": None, "max": 120, "unit": {"ja": "歳"}}
    assert _audit(db) == [
        ("survey.update", {"version": 1, "change": "question changed", "question": "age"})
    ]


def test_questions_move_with_the_keyboard_buttons(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db, replace_questions(PETS, relevant=None))
    response = _post(
        client,
        f"/admin/surveys/{survey_id}/q/dog_name/move",
        {"direction": "up"},
        page=f"/admin/surveys/{survey_id}",
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("#q-dog_name")
    names = [q.name for q in _definition(db, survey_id).questions]
    assert names == ["age", "dog_name", "pets"]


def replace_questions(definition: Definition, **changes: Any) -> Definition:
    """The definition with every question changed so (and no sections, if they leave)."""
    questions = tuple(replace(q, **changes) for q in definition.questions)
    sections = definition.sections if "section" not in changes else ()
    return replace(definition, questions=questions, sections=sections)


def test_a_move_that_breaks_a_condition_is_refused(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db)
    response = _post(
        client,
        f"/admin/surveys/{survey_id}/q/dog_name/move",
        {"direction": "up"},
        page=f"/admin/surveys/{survey_id}",
    )
    assert response.status_code == 302
    page = _text(client.get(response.headers["Location"]))
    assert "dog_name: relevant: ${pets} is not an earlier question" in page
    assert _definition(db, survey_id) == PETS


def test_dragging_posts_the_whole_order(client: FlaskClient, db: Database, editor: Staff) -> None:
    survey_id = _create(db, replace_questions(PETS, relevant=None))
    path = f"/admin/surveys/{survey_id}/order"
    order = [("order", "dog_name"), ("order", "age"), ("order", "pets")]
    response = _post(client, path, order, page=f"/admin/surveys/{survey_id}")
    assert response.status_code == 200
    assert [q.name for q in _definition(db, survey_id).questions] == ["dog_name", "age", "pets"]
    assert response.get_json() == {"revision": revision(_definition(db, survey_id))}
    missing = _post(client, path, order[:2], page=f"/admin/surveys/{survey_id}")
    assert missing.status_code == 400
    assert missing.get_json() == {"problems": ["並び順にはすべての質問を一度ずつ含めてください。"]}
    stale = client.post(
        path,
        data=MultiDict(
            [*order, ("csrf_token", csrf_token(client, "/admin/account")), ("revision", "0" * 16)]
        ),
    )
    assert stale.status_code == 409


def test_a_question_is_deleted_after_confirming(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db)
    path = f"/admin/surveys/{survey_id}/q/dog_name/delete"
    assert client.get(path).status_code == 200
    assert _post(client, path, {}).status_code == 302
    assert [q.name for q in _definition(db, survey_id).questions] == ["age", "pets"]
    # pets is the only question of section home; dog_name's condition needs it.
    survey_id = _create(db)
    response = _post(client, f"/admin/surveys/{survey_id}/q/pets/delete", {})
    assert response.status_code == 200
    assert "dog_name: relevant: ${pets} is not a question of this survey" in _text(response)
    assert _definition(db, survey_id) == PETS


def test_deleting_the_last_question_of_a_section_removes_the_section(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db, replace_questions(PETS, relevant=None))
    assert _post(client, f"/admin/surveys/{survey_id}/q/pets/delete", {}).status_code == 302
    assert _definition(db, survey_id).sections == ()


# -- sections, texts, settings ---------------------------------------------------------------------


def test_a_section_gathers_the_chosen_questions(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db, replace_questions(PETS, relevant=None, section=None))
    response = _post(
        client,
        f"/admin/surveys/{survey_id}/sections/new",
        [
            ("name", "adults"),
            ("label.ja", "大人の方"),
            ("relevant", "${age} >= 18"),
            ("questions", "pets"),
            ("questions", "dog_name"),
        ],
    )
    assert response.status_code == 302
    definition = _definition(db, survey_id)
    assert [s.name for s in definition.sections] == ["adults"]
    assert {q.name: q.section for q in definition.questions} == {
        "age": None,
        "pets": "adults",
        "dog_name": "adults",
    }
    nested = _post(
        client,
        f"/admin/surveys/{survey_id}/sections/new",
        [("name", "dogs"), ("parent", "adults"), ("questions", "dog_name")],
    )
    assert nested.status_code == 302
    definition = _definition(db, survey_id)
    assert definition.sections[1] == Section("dogs", {}, None, "adults")
    removed = _post(
        client,
        f"/admin/surveys/{survey_id}/s/adults/delete",
        {},
        page=f"/admin/surveys/{survey_id}",
    )
    assert removed.status_code == 302
    definition = _definition(db, survey_id)
    assert definition.sections == (Section("dogs", {}, None, None),)


def test_a_section_condition_on_a_later_question_is_refused(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db, replace_questions(PETS, relevant=None, section=None))
    response = _post(
        client,
        f"/admin/surveys/{survey_id}/sections/new",
        [("name", "first"), ("relevant", "${dog_name} != ''"), ("questions", "age")],
    )
    assert response.status_code == 200
    assert 'id="f-relevant-error"><li>${dog_name} is not an earlier question' in _text(response)


def test_texts_are_saved_in_each_language(client: FlaskClient, db: Database, editor: Staff) -> None:
    survey_id = _create(db)
    path = f"/admin/surveys/{survey_id}/texts"
    response = _post(
        client,
        path,
        {
            "default_language": "ja",
            "title.ja": "新しい題",
            "title.en": "New title",
            "intro.ja": "はじめに\n二行目",
            "thanks.en": "Thank you, ${age}",
        },
    )
    assert response.status_code == 302
    definition = _definition(db, survey_id)
    assert definition.title == {"ja": "新しい題", "en": "New title"}
    assert definition.intro == {"ja": "はじめに\n二行目"}
    assert definition.thanks == {"en": "Thank you, ${age}"}
    missing = _post(client, path, {"default_language": "en", "title.ja": "題"})
    assert missing.status_code == 200
    assert "is missing in the default language (en)" in _text(missing)


def test_settings_are_saved_with_every_problem_at_its_field(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db)
    path = f"/admin/surveys/{survey_id}/settings"
    bad = _post(
        client,
        path,
        {
            "answers": "many",
            "estimated_minutes": "0",
            "opens_at": "2026-05-01T09:00",
            "closes_at": "2026-04-01T09:00",
            "audience": "Municipality = 10201\nnonsense",
            "quota_rows": "2",
            "quota.0.name": "young",
            "quota.0.condition": "${gone} < 20",
            "quota.0.limit": "10",
            "quota.1.name": "old",
            "quota.1.limit": "x",
        },
    )
    assert bad.status_code == 200
    page = _text(bad)
    for field in ("estimated_minutes", "closes_at", "audience"):
        assert f'id="f-{field}-error"' in page, field
    assert "young (condition): ${gone} is not a question of this survey" in page
    assert "old (limit): must be a whole number" in page
    good = _post(
        client,
        path,
        {
            "answers": "many",
            "estimated_minutes": "5",
            "opens_at": "2026-04-01T09:00",
            "closes_at": "2026-05-01T18:00",
            "max_responses": "300",
            "reminder_hours": "24",
            "audience": "municipality = 10201、10202\nage_band: 20-29",
            "quota_rows": "1",
            "quota.0.name": "adults",
            "quota.0.condition": "${age} >= 18",
            "quota.0.limit": "100",
            "quota.0.action": "skip",
        },
    )
    assert good.status_code == 302
    with db.reading() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        assert not survey.one_answer
        assert survey.estimated_minutes == 5
        assert survey.opens_at is not None
        assert survey.opens_at.isoformat() == "2026-04-01T00:00:00+00:00"  # 09:00 in Tokyo
        assert survey.audience == {"municipality": ["10201", "10202"], "age_band": ["20-29"]}
        [quota] = survey.quotas
        assert (quota.name, quota.limit, quota.action.value) == ("adults", 100, "skip")
    assert ("survey.update", {"change": "settings"}) in _audit(db)


def test_anonymity_cannot_change_once_published_nor_with_attributes(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    town = Question("town", "single_choice", {"ja": "町"}, config=CHOICES, attribute="town")
    survey_id = _create(db, Definition(title={"ja": "題"}, questions=(town,)))
    path = f"/admin/surveys/{survey_id}/settings"
    response = _post(client, path, {"answers": "one", "anonymous": "y"})
    assert response.status_code == 200
    assert "town: an anonymous survey cannot set resident attributes" in _text(response)
    survey_id = _create(db)
    with db.unit_of_work() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        from models.base import utcnow

        publish(session, survey, now=utcnow())
    response = _post(client, f"/admin/surveys/{survey_id}/settings", {"anonymous": "y"})
    assert response.status_code == 200
    assert "cannot change once published" in _text(response)


def test_a_quota_keeps_its_count_when_saved_again(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db)
    with db.unit_of_work() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        survey.quotas.append(
            SurveyQuota(name="adults", condition="${age} >= 18", limit=10, filled=7)
        )
    path = f"/admin/surveys/{survey_id}/settings"
    below = _post(
        client,
        path,
        {
            "quota_rows": "1",
            "quota.0.name": "adults",
            "quota.0.condition": "${age} >= 18",
            "quota.0.limit": "5",
        },
    )
    assert below.status_code == 200
    assert "is below the 7 counted so far" in _text(below)
    ok = _post(
        client,
        path,
        {
            "quota_rows": "1",
            "quota.0.name": "adults",
            "quota.0.condition": "${age} >= 20",
            "quota.0.limit": "20",
        },
    )
    assert ok.status_code == 302
    with db.reading() as session:
        [quota] = session.scalars(select(SurveyQuota)).all()
        assert (quota.condition, quota.limit, quota.filled) == ("${age} >= 20", 20, 7)


# -- publishing, versions, closing, deleting -------------------------------------------------------


def test_publish_then_edit_makes_a_new_version_and_close_ends_it(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db)
    base = f"/admin/surveys/{survey_id}"
    assert client.get(f"{base}/publish").status_code == 200
    assert _post(client, f"{base}/publish", {}).status_code == 302
    assert _survey_state(db, survey_id) == (SurveyStatus.OPEN, [1])
    # Published: the question pages send the editor back; the page offers the next version.
    refused = client.get(f"{base}/q/age")
    assert refused.status_code == 302
    page = _text(client.get(base))
    assert f'action="{base}/edit"' in page
    assert 'draggable="true"' not in page
    token = csrf_token(client, "/admin/account")
    assert client.post(f"{base}/edit", data={"csrf_token": token}).status_code == 302
    assert client.post(f"{base}/edit", data={"csrf_token": token}).status_code == 302  # twice
    assert _survey_state(db, survey_id) == (SurveyStatus.OPEN, [1, 2])
    assert 'draggable="true"' in _text(client.get(base))
    changed = _post(
        client, f"{base}/q/age", {"kind": "integer", "name": "age", "label.ja": "年齢（満）"}
    )
    assert changed.status_code == 302
    with db.reading() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        first, second = survey.versions
        assert definition_of(first, "ja").questions[0].label == {"ja": "年齢は？"}
        assert definition_of(second, "ja").questions[0].label == {"ja": "年齢（満）"}
    assert _post(client, f"{base}/publish", {}).status_code == 302
    assert client.get(f"{base}/close").status_code == 200
    token = csrf_token(client, "/admin/account")
    assert client.post(f"{base}/close", data={"csrf_token": token}).status_code == 302
    assert _survey_state(db, survey_id) == (SurveyStatus.CLOSED, [1, 2])
    assert client.post(f"{base}/edit", data={"csrf_token": token}).status_code == 302
    assert _survey_state(db, survey_id) == (SurveyStatus.CLOSED, [1, 2])
    actions = [(action, detail.get("version")) for action, detail in _audit(db)]
    assert actions == [
        ("survey.publish", 1),
        ("survey.update", 2),
        ("survey.update", 2),
        ("survey.publish", 2),
        ("survey.close", None),
    ]


def test_publishing_names_what_stops_it(client: FlaskClient, db: Database, editor: Staff) -> None:
    survey_id = _create(db)
    with db.unit_of_work() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        survey.quotas.append(SurveyQuota(name="gone", condition="${nobody} = 1", limit=5))
    response = _post(client, f"/admin/surveys/{survey_id}/publish", {})
    assert response.status_code == 200
    assert "gone: condition: ${nobody} is not a question of this survey" in _text(response)
    assert _survey_state(db, survey_id) == (SurveyStatus.DRAFT, [1])


def test_only_a_draft_survey_is_deleted(client: FlaskClient, db: Database, editor: Staff) -> None:
    survey_id = _create(db)
    token = csrf_token(client, "/admin/account")
    assert (
        client.post(f"/admin/surveys/{survey_id}/delete", data={"csrf_token": token}).status_code
        == 302
    )
    with db.reading() as session:
        assert session.get(Survey, survey_id) is None
    assert _audit(db)[-1][0] == "survey.delete"
    published = _create(db)
    with db.unit_of_work() as session:
        survey = session.get(Survey, published)
        assert survey is not None
        from models.base import utcnow

        publish(session, survey, now=utcnow())
    client.post(f"/admin/surveys/{published}/delete", data={"csrf_token": token})
    assert _survey_state(db, published) == (SurveyStatus.OPEN, [1])


# -- files -----------------------------------------------------------------------------------------


def test_a_workbook_upload_creates_a_survey(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    data = (FIXTURES / "kobo_style.xlsx").read_bytes()
    response = _upload(client, "/admin/surveys/import", data, "来庁者.xlsx")
    assert response.status_code == 302
    survey_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert _definition(db, survey_id).title["ja"] == "県庁来庁者アンケート"
    assert _audit(db) == [("survey.import", {"questions": 7})]


def test_an_invalid_workbook_shows_every_problem_and_imports_nothing(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    data = (FIXTURES / "every_error.xlsx").read_bytes()
    response = _upload(client, "/admin/surveys/import", data, "errors.xlsx")
    assert response.status_code == 200
    page = _text(response)
    assert page.count("<li><code>") == 12
    assert "<code>survey!E7 (relevant): ${after} is not an earlier question</code>" in page
    assert _no_survey(db)
    assert _audit(db) == []


def test_a_workbook_replaces_the_drafts_questions(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db)
    data = workbook([["type", "name", "label"], ["text", "opinion", "ご意見"]])
    response = _upload(client, f"/admin/surveys/{survey_id}/import", data, "x.xlsx")
    assert response.status_code == 302
    assert [q.name for q in _definition(db, survey_id).questions] == ["opinion"]


def test_the_download_reads_back_as_the_survey(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    from surveys.xlsform import read_workbook

    survey_id = _create(db)
    response = client.get(f"/admin/surveys/{survey_id}/survey.xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=survey-{survey_id}-v1.xlsx"
    )
    assert read_workbook(response.get_data()) == _definition(db, survey_id)
    assert _audit(db) == [("survey.export", {"version": 1, "format": "xlsform"})]


# -- what an attacker or a hurried colleague would do ----------------------------------------------


def test_a_form_without_its_csrf_token_changes_nothing(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db)
    page = _text(client.get(f"/admin/surveys/{survey_id}/texts"))
    rev = re.search(r'name="revision" value="([0-9a-f]+)"', page)
    assert rev is not None
    response = client.post(
        f"/admin/surveys/{survey_id}/texts",
        data={"revision": rev.group(1), "title.ja": "乗っ取り", "default_language": "ja"},
    )
    assert response.status_code == 400
    token = csrf_token(client, "/admin/account")
    publish_forged = client.post(f"/admin/surveys/{survey_id}/publish", data={})
    assert publish_forged.status_code == 400
    delete_forged = client.post(f"/admin/surveys/{survey_id}/delete", data={"csrf": token})
    assert delete_forged.status_code == 400
    assert _definition(db, survey_id) == PETS
    assert _survey_state(db, survey_id) == (SurveyStatus.DRAFT, [1])


def test_a_form_filled_before_a_colleagues_change_is_refused(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db)
    page = _text(client.get(f"/admin/surveys/{survey_id}/texts"))
    old = re.search(r'name="revision" value="([0-9a-f]+)"', page)
    assert old is not None
    # A colleague saves first...
    assert (
        _post(
            client,
            f"/admin/surveys/{survey_id}/texts",
            {"default_language": "ja", "title.ja": "同僚の題"},
        ).status_code
        == 302
    )
    # ...then the older form arrives: refused, the colleague's title stays.
    response = client.post(
        f"/admin/surveys/{survey_id}/texts",
        data={
            "csrf_token": csrf_token(client, "/admin/account"),
            "revision": old.group(1),
            "default_language": "ja",
            "title.ja": "古い題",
        },
    )
    assert response.status_code == 302
    assert _definition(db, survey_id).title == {"ja": "同僚の題"}


def test_parallel_edits_of_one_draft_save_one(
    app: Flask, db: Database, staff_factory: Callable[..., Staff], database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("parallel writers need PostgreSQL (SQLite takes one writer at a time)")
    survey_id = _create(db)
    clients = []
    for _ in range(4):
        client = app.test_client()
        assert sign_in(client, staff_factory(Role.EDITOR).email).status_code == 302
        clients.append(client)
    path = f"/admin/surveys/{survey_id}/texts"
    prepared = []
    for number, client in enumerate(clients):
        page = _text(client.get(path))
        rev = re.search(r'name="revision" value="([0-9a-f]+)"', page)
        assert rev is not None
        token = csrf_token(client, "/admin/account")
        data = {
            "csrf_token": token,
            "revision": rev.group(1),
            "default_language": "ja",
            "title.ja": f"題{number}",
        }
        prepared.append((client, data))
    barrier = threading.Barrier(len(prepared))
    results: list[int] = []

    def send(client: FlaskClient, data: dict[str, str]) -> None:
        barrier.wait()
        results.append(client.post(path, data=data).status_code)

    threads = [threading.Thread(target=send, args=pair) for pair in prepared]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [302] * 4
    saved = [e for e in _audit(db) if e[1].get("change") == "texts"]
    assert len(saved) == 1  # one won; the others were told the survey changed meanwhile
    assert _definition(db, survey_id).title["ja"] in {f"題{n}" for n in range(4)}


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://evil.example","押す")',
        "+1+2",
        "@SUM(A1)",
        "-2+3",
        "<script>alert(1)</script>",
    ],
)
def test_formula_and_markup_texts_are_stored_as_text_and_escaped(
    client: FlaskClient, db: Database, editor: Staff, text: str
) -> None:
    survey_id = _create(db)
    response = _post(
        client,
        f"/admin/surveys/{survey_id}/q/age",
        {"kind": "integer", "name": "age", "label.ja": text, "hint.ja": text, "unit.ja": "歳"},
    )
    assert response.status_code == 302
    assert _definition(db, survey_id).questions[0].label == {"ja": text}
    for path in (f"/admin/surveys/{survey_id}", f"/admin/surveys/{survey_id}/preview"):
        page = _text(client.get(path))
        assert "<script>alert(1)" not in page, path
    sheet = openpyxl.load_workbook(
        io.BytesIO(client.get(f"/admin/surveys/{survey_id}/survey.xlsx").get_data())
    )["survey"]
    assert sheet["C2"].value == text
    assert sheet["C2"].data_type == "s"  # text, never a formula


@pytest.mark.parametrize("field", ["label.ja", "hint.ja", "constraint_message.ja", "title.ja"])
def test_control_characters_are_refused_in_every_text(
    client: FlaskClient, db: Database, editor: Staff, field: str
) -> None:
    survey_id = _create(db)
    if field == "title.ja":
        path, data = f"/admin/surveys/{survey_id}/texts", {"default_language": "ja"}
    else:
        path, data = (
            f"/admin/surveys/{survey_id}/q/age",
            {"kind": "integer", "name": "age", "label.ja": "年齢"},
        )
    response = _post(client, path, {**data, field: "色\x1b[31m赤"})
    assert response.status_code == 200
    assert "contains a control character (ja)" in _text(response)
    assert _definition(db, survey_id) == PETS


def test_control_characters_in_an_option_are_refused_at_its_row(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    survey_id = _create(db)
    response = _post(
        client,
        f"/admin/surveys/{survey_id}/q/pets",
        {
            "kind": "multiple_choice",
            "name": "pets",
            "label.ja": "ペットは？",
            "choice_rows": "2",
            "choice.0.code": "dog",
            "choice.0.label.ja": "犬",
            "choice.1.code": "cat",
            "choice.1.label.ja": "猫\x1b[31m",
        },
    )
    assert response.status_code == 200
    assert 'id="f-choices-1-error"><li>option 2: contains a control character (ja)</li>' in _text(
        response
    )
    assert _definition(db, survey_id) == PETS


# -- the preview -----------------------------------------------------------------------------------


def test_the_preview_shows_the_conversation_as_line_does(
    client: FlaskClient, db: Database, editor: Staff
) -> None:
    many = {"choices": [{"code": f"c{n}", "label": {"ja": f"選択肢{n}"}} for n in range(15)]}
    definition = Definition(
        title={"ja": "題", "en": "Title"},
        intro={"ja": "ようこそ"},
        thanks={"ja": "ありがとう"},
        questions=(
            Question("age", "integer", {"ja": "年齢は？"}, hint={"ja": "数字で"}),
            Question(
                "pets",
                "multiple_choice",
                {"ja": "${age}歳のペット", "en": "Pets"},
                config=CHOICES,
                relevant="${age} > 3",
            ),
            Question("town", "single_choice", {"ja": "町"}, config=many),
            Question("day", "date", {"ja": "日"}),
            Question("note", "note", {"ja": "おわり"}),
        ),
    )
    survey_id = _create(db, definition)
    page = _text(client.get(f"/admin/surveys/{survey_id}/preview"))
    assert "ようこそ" in page
    assert "(1/4) 年齢は？\n数字で" in page
    assert "(2/4) ‹age›歳のペット" in page
    assert "<li>☐ 犬</li><li>☐ 猫</li><li>完了</li>" in page  # toggles, as residents get them
    assert "<code>${age} &gt; 3</code>" in page  # when it is asked
    assert 'class="bubble card-bubble"' in page  # 15 options: a Flex list
    assert "<li>選択肢14</li>" in page
    assert "(4/4) 日" in page
    assert "ありがとう" in page
    english = _text(client.get(f"/admin/surveys/{survey_id}/preview?lang=en"))
    assert "(2/4) Pets" in english
    assert "<li>☐ Dog</li><li>☐ Cat</li><li>Done</li>" in english
