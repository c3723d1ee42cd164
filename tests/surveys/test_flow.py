"""Answering a survey in LINE: scripted conversations through the real webhook pipeline."""

from __future__ import annotations

from flask import Flask

from bot.db import Database
from models import DialogStatus
from tests.support import Resident
from tests.surveys.answering_support import (
    answers,
    publish_survey,
    start,
    submissions,
    survey_dialogs,
    tap,
)


def test_a_resident_answers_a_survey_end_to_end(
    app: Flask, db: Database, resident: Resident
) -> None:
    survey_id = publish_survey(db)
    resident.follow()
    start(resident, survey_id)
    assert "ペット調査" in resident.texts()[-2]
    assert resident.texts()[-1] == "(1/4) ペットを飼っていますか？"
    [dialog] = survey_dialogs(app)
    assert dialog.state == "q:0"
    tap(resident, "はい")
    assert resident.texts()[-1] == "(2/4) 種類は？"
    tap(resident, "猫")
    assert resident.texts()[-1].startswith("(3/4) 猫は何匹？")
    resident.say("13")
    assert resident.texts()[-2] == "13匹は受け付けません"
    resident.say("25匹")
    assert resident.texts()[-2] == "1から20までの数でお答えください。"
    resident.say("２匹")
    assert resident.texts()[-1].startswith("(4/4) ご意見")
    resident.say("とても良い")
    assert survey_dialogs(app)[0].state == "summary"
    assert "猫" in resident.texts()[-1]
    assert "2匹" in resident.texts()[-1]
    tap(resident, "送信")
    assert resident.texts()[-1] == "ご回答ありがとうございました。"
    [submission] = submissions(db)
    assert submission.resident_id is not None
    assert submission.submitted_at is not None
    values = [(a.option, a.number, a.text) for a in answers(db)]
    assert values == [
        ("yes", None, None),
        ("cat", None, None),
        (None, 2.0, None),
        (None, None, "とても良い"),
    ]
    [dialog] = survey_dialogs(app)
    assert dialog.status == DialogStatus.COMPLETED
    assert dialog.data == {}
