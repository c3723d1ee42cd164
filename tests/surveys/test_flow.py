"""Answering a survey in LINE: scripted conversations through the real webhook pipeline."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from flask import Flask

from bot.db import Database
from models import DialogStatus
from models.base import utcnow
from models.surveys import Survey
from surveys.services import close
from tests.support import Resident
from tests.surveys.answering_support import (
    answers,
    buttons,
    publish_survey,
    start,
    submissions,
    survey_dialogs,
    survey_row,
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


def answer_pets(resident: Resident, survey_id: int) -> None:
    """はい, 犬, 2, a comment: to the summary."""
    start(resident, survey_id)
    tap(resident, "はい")
    tap(resident, "犬")
    resident.say("2")
    resident.say("良い")


def test_back_goes_to_the_previous_shown_question_and_keeps_answers(
    app: Flask, db: Database, resident: Resident
) -> None:
    survey_id = publish_survey(db)
    resident.follow()
    start(resident, survey_id)
    tap(resident, "いいえ")  # kind and count are hidden: straight to the comment
    assert resident.texts()[-1].startswith("(4/4) ご意見")
    tap(resident, "戻る")
    assert resident.texts()[-1] == "(1/4) ペットを飼っていますか？"
    assert survey_dialogs(app)[0].state == "q:0"
    resident.say("もどる")  # typed, on the first question
    assert resident.texts()[-2] == "これが最初の質問です。"
    tap(resident, "はい")
    assert resident.texts()[-1] == "(2/4) 種類は？"
    tap(resident, "犬")
    resident.say("3")
    tap(resident, "スキップ")  # the comment is optional
    summary = resident.texts()[-1]
    assert "犬" in summary
    assert "3匹" in summary
    assert "ご意見" not in summary
    tap(resident, "送信")
    assert len(answers(db)) == 3


def test_hidden_answers_are_not_submitted(app: Flask, db: Database, resident: Resident) -> None:
    survey_id = publish_survey(db)
    resident.follow()
    answer_pets(resident, survey_id)
    tap(resident, "戻る")  # from the summary to the comment
    tap(resident, "戻る")
    tap(resident, "戻る")
    tap(resident, "戻る")
    assert resident.texts()[-1] == "(1/4) ペットを飼っていますか？"
    tap(resident, "いいえ")
    resident.say("なし")
    assert "犬" not in resident.texts()[-1]
    tap(resident, "送信")
    assert [(a.option, a.text) for a in answers(db)] == [("no", None), (None, "なし")]


def test_fix_answers_from_the_summary(app: Flask, db: Database, resident: Resident) -> None:
    survey_id = publish_survey(db)
    resident.follow()
    answer_pets(resident, survey_id)
    tap(resident, "修正")
    assert resident.received()[-2]["type"] == "flex"
    tap(resident, "2. 種類は？")
    assert resident.texts()[-1] == "(2/4) 種類は？"
    tap(resident, "猫")
    assert survey_dialogs(app)[0].state == "summary"  # nothing new to ask: the summary
    assert "猫" in resident.texts()[-1]
    tap(resident, "送信")
    assert [a.option for a in answers(db)][:2] == ["yes", "cat"]


def test_cancel_word_works_at_every_step(app: Flask, db: Database, resident: Resident) -> None:
    survey_id = publish_survey(db)
    resident.follow()
    for steps in range(5):
        start(resident, survey_id)
        for label in ["はい", "犬"][:steps]:
            tap(resident, label)
        if steps >= 3:
            resident.say("2")
        if steps >= 4:
            resident.say("良い")
        resident.say("キャンセル")
        assert resident.texts()[-1] == "中断しました。回答は送信されていません。"
    assert submissions(db) == []
    assert all(d.status == DialogStatus.CANCELLED for d in survey_dialogs(app))
    start(resident, survey_id)  # and the survey can still be answered
    assert resident.texts()[-1] == "(1/4) ペットを飼っていますか？"


def test_two_quick_taps_on_send_submit_once(app: Flask, db: Database, resident: Resident) -> None:
    survey_id = publish_survey(db)
    resident.follow()
    answer_pets(resident, survey_id)
    send = tap(resident, "送信")
    resident.tap(send)
    assert resident.texts()[-1] == "このボタンの質問は、すでに終了しています。"
    assert len(submissions(db)) == 1
    assert survey_row(db, survey_id).response_count == 1


def test_stale_buttons_change_nothing(app: Flask, db: Database, resident: Resident) -> None:
    survey_id = publish_survey(db)
    resident.follow()
    start(resident, survey_id)
    old_no = buttons(resident)["いいえ"]
    tap(resident, "はい")
    resident.tap(old_no)  # a button of the first question, now answered
    assert resident.texts()[-2:] == [
        "このボタンの質問は、すでに終了しています。",
        "(2/4) 種類は？",
    ]
    [dialog] = survey_dialogs(app)
    assert dialog.state == "q:1"
    assert dialog.data["has_pet"] == "yes"


def test_tampered_and_foreign_postbacks_change_nothing(
    app: Flask, db: Database, resident_factory: Callable[..., Resident]
) -> None:
    survey_id = publish_survey(db)
    alice, bob = resident_factory(), resident_factory("県民 花子")
    alice.follow()
    bob.follow()
    start(alice, survey_id)
    yes = buttons(alice)["はい"]
    bob.tap(yes)  # another resident's button
    assert bob.texts()[-1] == "このボタンの質問は、すでに終了しています。"
    tampered = yes.replace("i=0", "i=7")
    alice.tap(tampered)
    assert alice.texts()[-2] == "そのボタンはこの質問の選択肢ではありません。"
    alice.tap(yes.replace("a=survey.answer", "a=survey.bogus"))  # an unknown action
    alice.tap("v=1&a=survey.answer&i=0")  # without the dialog guard: not the flow's button
    assert alice.texts()[-1].startswith("申し訳ありません、内容を理解できませんでした。")
    alice.tap("v=1&a=survey.submit")
    alice.tap("v=1&a=survey.start&id=abc")
    assert alice.texts()[-1] == "そのアンケートはご利用いただけません。"
    alice.tap(f"v=1&a=survey.start&id={survey_id + 1000}")
    assert alice.texts()[-1] == "そのアンケートはご利用いただけません。"
    [dialog] = survey_dialogs(app)
    assert dialog.state == "q:0"
    assert dialog.data.keys() == {"@started_at"}
    assert dialog.resident_id != 0
    assert len(survey_dialogs(app)) == 1


def test_already_answered_surveys_are_not_listed_nor_started(
    app: Flask, db: Database, resident: Resident
) -> None:
    survey_id = publish_survey(db)
    resident.follow()
    answer_pets(resident, survey_id)
    tap(resident, "送信")
    resident.tap("v=1&a=menu.surveys")
    assert resident.texts()[-1] == "現在回答できるアンケートはありません。"
    resident.tap(f"v=1&a=survey.start&id={survey_id}")  # an old list's button
    assert resident.texts()[-1] == "このアンケートには回答済みです。ありがとうございました。"
    assert len(submissions(db)) == 1


def test_several_answers_when_allowed(app: Flask, db: Database, resident: Resident) -> None:
    survey_id = publish_survey(db, one_answer=False)
    resident.follow()
    for _ in range(2):
        answer_pets(resident, survey_id)
        tap(resident, "送信")
    assert len(submissions(db)) == 2


def test_a_survey_closed_mid_way_ends_the_dialog(
    app: Flask, db: Database, resident: Resident
) -> None:
    survey_id = publish_survey(db)
    resident.follow()
    start(resident, survey_id)
    yes = buttons(resident)["はい"]
    with db.unit_of_work() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        close(session, survey, now=utcnow())
    resident.tap(yes)
    assert resident.texts()[-1] == "このアンケートは終了しました。回答は送信されていません。"
    assert survey_dialogs(app)[0].status == DialogStatus.CANCELLED
    resident.tap(f"v=1&a=survey.start&id={survey_id}")
    assert (
        resident.texts()[-1]
        == "このアンケートは終了しました。ご関心をお寄せいただきありがとうございます。"
    )
    assert submissions(db) == []


def test_open_and_close_times_and_audience_decide_the_list(
    app: Flask, db: Database, resident: Resident
) -> None:
    now = utcnow()
    later = publish_survey(db, opens_at=now + timedelta(days=1))
    over = publish_survey(db, opens_at=now - timedelta(days=2), closes_at=now - timedelta(days=1))
    for_maebashi = publish_survey(db, audience={"municipality": ["10201"]})
    everyone = publish_survey(db)
    resident.follow()
    resident.tap("v=1&a=menu.surveys")
    listed = json.dumps(resident.received()[-1])
    assert f"id={everyone}" in listed
    for hidden in (later, over, for_maebashi):
        assert f'id={hidden}"' not in listed
    resident.tap(f"v=1&a=survey.start&id={for_maebashi}")
    assert resident.texts()[-1] == "このアンケートは対象外のため回答できません。"
    resident.tap(f"v=1&a=survey.start&id={later}")
    assert resident.texts()[-1].startswith("このアンケートは終了しました")
