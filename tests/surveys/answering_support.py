"""Helpers for scripted survey conversations: publish a survey, tap its buttons, read rows."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from sqlalchemy import select

from bot.db import Database
from models import Dialog
from models.base import utcnow
from models.surveys import Survey, SurveyAnswer, SurveySubmission
from surveys.definition import Definition, Question
from surveys.services import create_survey, publish
from tests.support import Resident

#: A short survey of several kinds, with a condition, a constraint and recall.
PETS = Definition(
    title={"ja": "ペット調査", "en": "Pet survey"},
    intro={"ja": "ご協力ください。"},
    thanks={"ja": "ご回答ありがとうございました。", "en": "Thank you for answering."},
    questions=(
        Question(
            "has_pet",
            "yes_no",
            {"ja": "ペットを飼っていますか？", "en": "Do you have a pet?"},
            required=True,
        ),
        Question(
            "kind",
            "single_choice",
            {"ja": "種類は？", "en": "Which kind?"},
            required=True,
            relevant="${has_pet} = 'yes'",
            config={
                "choices": [
                    {"code": "dog", "label": {"ja": "犬", "en": "Dog"}},
                    {"code": "cat", "label": {"ja": "猫", "en": "Cat"}},
                ]
            },
        ),
        Question(
            "count",
            "integer",
            {"ja": "${kind}は何匹？", "en": "How many?"},
            required=True,
            relevant="${has_pet} = 'yes'",
            constraint=". != 13",
            constraint_message={"ja": "13匹は受け付けません"},
            config={"min": 1, "max": 20, "unit": {"ja": "匹"}},
        ),
        Question("comment", "text", {"ja": "ご意見", "en": "Comments"}, config={"max_length": 10}),
    ),
)


def publish_survey(db: Database, definition: Definition = PETS, **settings: Any) -> int:
    """Create and publish a survey with these settings; its id."""
    with db.unit_of_work() as session:
        survey = create_survey(
            session,
            definition,
            anonymous=settings.pop("anonymous", False),
            one_answer=settings.pop("one_answer", True),
        )
        for name, value in settings.items():
            setattr(survey, name, value)
        session.flush()
        publish(session, survey, now=utcnow())
        return survey.id


def start(resident: Resident, survey_id: int) -> None:
    """Open the list and tap the survey's button."""
    resident.tap("v=1&a=menu.surveys")
    card = resident.received()[-1]
    datas = [d for d in _postback_datas(card) if d.endswith(f"id={survey_id}")]
    assert datas, f"survey {survey_id} is not in the list: {json.dumps(card, ensure_ascii=False)}"
    resident.tap(datas[0])


def _postback_datas(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["data"]] if node.get("type") == "postback" else []
        for value in node.values():
            found += _postback_datas(value)
        return found
    if isinstance(node, list):
        return [d for item in node for d in _postback_datas(item)]
    return []


def buttons(resident: Resident) -> dict[str, str]:
    """The postback buttons of the last messages (quick replies and Flex), label -> data."""
    found: dict[str, str] = {}
    for message in resident.received()[-2:]:
        for action in _actions(message):
            if action.get("type") in ("postback", "datetimepicker"):
                found[action["label"]] = action["data"]
    return found


def _actions(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node["action"]] if isinstance(node.get("action"), dict) else []
        for key, value in node.items():
            if key != "action":
                found += _actions(value)
        return found
    if isinstance(node, list):
        return [a for item in node for a in _actions(item)]
    return []


def tap(resident: Resident, label: str, params: dict[str, str] | None = None) -> str:
    """Tap the button labelled ``label`` among the last messages; its data."""
    found = buttons(resident)
    assert label in found, f"no button {label!r} among {list(found)}"
    resident.tap(found[label], params)
    return found[label]


def submissions(db: Database) -> list[SurveySubmission]:
    with db.reading() as session:
        return list(session.scalars(select(SurveySubmission)))


def answers(db: Database) -> list[SurveyAnswer]:
    with db.reading() as session:
        return list(session.scalars(select(SurveyAnswer).order_by(SurveyAnswer.question_id)))


def survey_dialogs(app: Flask) -> list[Dialog]:
    with app.extensions["db"].reading() as session:
        return list(
            session.scalars(select(Dialog).where(Dialog.flow == "survey").order_by(Dialog.id))
        )


def survey_row(db: Database, survey_id: int) -> Survey:
    with db.reading() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        return survey
