"""Answering in LINE: anonymity, quotas, attributes, resuming, languages and the media kinds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from flask import Flask
from sqlalchemy import select, update

from bot.attributes import read_attributes
from bot.db import Database
from models import Dialog, DialogStatus
from models import Resident as ResidentRow
from models.base import utcnow
from models.surveys import QuotaAction, Survey, SurveyParticipant, SurveyPhoto, SurveyQuota
from surveys.answering import participant_key
from surveys.definition import Definition, Question
from surveys.settings import Quota, settings_of, update_settings
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

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

EVERY_KIND = Definition(
    title={"ja": "いろいろ"},
    questions=(
        Question("consent", "acknowledge", {"ja": "同意しますか"}, required=True),
        Question("intro_note", "note", {"ja": "ここから本題です"}),
        Question(
            "pets",
            "multiple_choice",
            {"ja": "飼っている動物"},
            config={
                "choices": [
                    {"code": c, "label": {"ja": label}}
                    for c, label in (("dog", "犬"), ("cat", "猫"), ("bird", "鳥"))
                ],
                "min": 1,
                "max": 2,
            },
        ),
        Question(
            "town",
            "single_choice",
            {"ja": "お住まい"},
            config={
                "choices": [{"code": f"t{n:02}", "label": {"ja": f"町{n}"}} for n in range(20)]
            },
        ),
        Question(
            "visit", "date", {"ja": "来庁日"}, config={"min": "2026-01-01", "max": "2026-12-31"}
        ),
        Question("score", "range", {"ja": "満足度"}, config={"start": 1, "end": 5}),
        Question("photo", "photo", {"ja": "写真"}),
        Question("place", "location", {"ja": "場所"}),
    ),
)


def test_every_kind_in_one_conversation(app: Flask, db: Database, resident: Resident) -> None:
    survey_id = publish_survey(db, EVERY_KIND)
    resident.follow()
    start(resident, survey_id)
    assert resident.texts()[-1] == "(1/7) 同意しますか"
    tap(resident, "OK")
    assert resident.texts()[-1].startswith("ここから本題です\n\n(2/7) 飼っている動物")  # the note
    tap(resident, "☐ 犬")
    assert "☑ 犬" in buttons(resident)
    tap(resident, "☐ 鳥")
    tap(resident, "☑ 犬")  # off again
    tap(resident, "☐ 猫")
    tap(resident, "完了")
    assert resident.received()[-1]["type"] == "flex"  # 20 towns: a paged list
    tap(resident, "町17")
    assert resident.texts()[-1].startswith("(4/7) 来庁日")
    tap(resident, "選ぶ", {"date": "2025-12-31"})  # before the picker's min: tampered
    assert "範囲で選んでください" in resident.texts()[-2]
    tap(resident, "選ぶ", {"date": "2026-04-01"})
    tap(resident, "4")
    resident.say("写真はありません")
    assert resident.texts()[-2] == "写真（JPEGまたはPNG）を送ってください。"
    resident.send_image(PNG, "image/jpeg")  # LINE's type is wrong; the bytes say PNG
    assert resident.texts()[-1].startswith("(7/7) 場所")
    resident.send(
        {
            **_location_event(resident),
        }
    )
    assert "確認" in resident.texts()[-1]
    tap(resident, "送信")
    stored = {(a.option, a.number, a.text) for a in answers(db) if a.extra is None}
    assert stored == {
        ("OK", None, None),
        ("cat", None, None),
        ("bird", None, None),
        ("t17", None, None),
        (None, None, "2026-04-01"),
        (None, 4.0, None),
    }
    extras = [a.extra for a in answers(db) if a.extra is not None]
    assert {"latitude": 36.39, "longitude": 139.06, "address": "前橋市大手町"} in extras
    with db.reading() as session:
        [photo] = session.scalars(select(SurveyPhoto)).all()
        assert photo.content_type == "image/png"
        assert photo.submission_id == submissions(db)[0].id
        assert {"photo": photo.id} in extras


def _location_event(resident: Resident) -> dict:
    from simulator import events

    event = events.text_event(
        resident.user_id,
        "x",
        reply_token=resident.platform.state.issue_reply_token(resident.user_id),
    )
    event["message"] = {
        "type": "location",
        "id": events.new_message_id(),
        "latitude": 36.39,
        "longitude": 139.06,
        "title": "県庁",
        "address": "前橋市大手町",
    }
    return event


def test_anonymous_answers_have_no_link_to_the_resident(
    app: Flask, db: Database, resident: Resident
) -> None:
    survey_id = publish_survey(db, anonymous=True)
    resident.follow()
    start(resident, survey_id)
    tap(resident, "いいえ")
    resident.say("特になし")
    tap(resident, "送信")
    [submission] = submissions(db)
    assert submission.resident_id is None
    assert submission.submitted_at is None
    assert submission.duration_seconds is None
    assert submission.anonymous
    with db.reading() as session:
        [participant] = session.scalars(select(SurveyParticipant)).all()
        user = session.scalars(select(ResidentRow)).one()
        assert participant.key == participant_key("test-secret-key", survey_id, user.line_user_id)
        assert user.line_user_id not in participant.key
    [dialog] = survey_dialogs(app)
    assert dialog.data == {}  # the pending answers are gone
    start_again = f"v=1&a=survey.start&id={survey_id}"
    resident.tap(start_again)
    assert resident.texts()[-1] == "このアンケートには回答済みです。ありがとうございました。"
    assert len(submissions(db)) == 1


def test_questions_set_resident_attributes_at_submission(
    app: Flask, db: Database, resident: Resident
) -> None:
    profile = Definition(
        title={"ja": "プロフィール"},
        questions=(
            Question(
                "age",
                "single_choice",
                {"ja": "年代"},
                config={
                    "choices": [
                        {"code": "30s", "label": {"ja": "30代"}},
                        {"code": "40s", "label": {"ja": "40代"}},
                    ]
                },
                attribute="age_band",
            ),
        ),
    )
    survey_id = publish_survey(db, profile)
    resident.follow()
    start(resident, survey_id)
    tap(resident, "40代")
    with db.reading() as session:
        user = session.scalars(select(ResidentRow)).one()
        assert read_attributes(session, user) == {}  # not before sending
    tap(resident, "送信")
    with db.reading() as session:
        user = session.scalars(select(ResidentRow)).one()
        assert read_attributes(session, user) == {"age_band": "40s"}


def test_a_full_stopping_quota_ends_politely_and_keeps_nothing(
    app: Flask, db: Database, resident: Resident
) -> None:
    survey_id = publish_survey(db)
    with db.unit_of_work() as session:
        session.add(
            SurveyQuota(
                survey_id=survey_id,
                name="cats",
                condition="${kind} = 'cat'",
                limit=1,
                filled=1,
                action=QuotaAction.STOP,
            )
        )
    resident.follow()
    start(resident, survey_id)
    tap(resident, "はい")
    tap(resident, "猫")
    assert "上限に達したため" in resident.texts()[-1]
    assert submissions(db) == []
    assert survey_dialogs(app)[0].data == {"@stopped": "quota"}


def test_a_full_skipping_quota_goes_to_the_end(
    app: Flask, db: Database, resident: Resident
) -> None:
    survey_id = publish_survey(db)
    with db.unit_of_work() as session:
        session.add(
            SurveyQuota(
                survey_id=survey_id,
                name="dogs",
                condition="${kind} = 'dog'",
                limit=1,
                filled=1,
                action=QuotaAction.SKIP,
            )
        )
        session.add(
            SurveyQuota(
                survey_id=survey_id,
                name="all",
                condition="${has_pet} = 'yes'",
                limit=5,
                action=QuotaAction.STOP,
            )
        )
    resident.follow()
    start(resident, survey_id)
    tap(resident, "はい")
    tap(resident, "犬")
    assert survey_dialogs(app)[0].state == "summary"
    tap(resident, "送信")
    assert [a.option for a in answers(db)] == ["yes", "dog"]
    with db.reading() as session:
        filled = dict(session.execute(select(SurveyQuota.name, SurveyQuota.filled)).all())
    assert filled == {"dogs": 1, "all": 1}  # the full one stays at its limit


def test_the_response_limit_closes_the_survey(app: Flask, db: Database, resident: Resident) -> None:
    survey_id = publish_survey(db, max_responses=1)
    resident.follow()
    start(resident, survey_id)
    tap(resident, "いいえ")
    tap(resident, "スキップ")
    tap(resident, "送信")
    assert survey_row(db, survey_id).status == "closed"


def test_resume_days_later_where_they_stopped(app: Flask, db: Database, resident: Resident) -> None:
    survey_id = publish_survey(db)
    resident.follow()
    start(resident, survey_id)
    tap(resident, "はい")
    with db.unit_of_work() as session:  # three days of silence
        session.execute(update(Dialog).values(expires_at=utcnow() - timedelta(days=3)))
    resident.say("こんにちは")
    assert survey_dialogs(app)[0].status == DialogStatus.PARKED
    resident.tap("v=1&a=menu.surveys")
    assert "続きから回答" in str(resident.received()[-1])
    start(resident, survey_id)
    assert resident.texts()[-1] == "(2/4) 種類は？"
    [dialog] = survey_dialogs(app)
    assert dialog.status == DialogStatus.ACTIVE
    assert dialog.data["has_pet"] == "yes"


def test_residents_see_their_language_else_the_default(
    app: Flask, db: Database, resident_factory: Callable[..., Resident]
) -> None:
    survey_id = publish_survey(db)
    english = resident_factory("Alex", language="en")
    english.follow()
    start(english, survey_id)
    assert english.texts()[-1] == "(1/4) Do you have a pet?"
    tap(english, "Yes")
    tap(english, "Dog")
    english.say("2")
    assert english.texts()[-1].startswith("(4/4) Comments")
    english.say("x" * 11)
    assert english.texts()[-2] == "Please answer in at most 10 characters (yours has 11)."
    tap(english, "Skip")
    tap(english, "Send")
    assert english.texts()[-1] == "Thank you for answering."
    assert submissions(db)[0].language == "en"


def test_a_quota_added_while_residents_answer_applies_at_once(
    app: Flask, db: Database, resident: Resident
) -> None:
    survey_id = publish_survey(db)
    resident.follow()
    start(resident, survey_id)
    tap(resident, "はい")  # no quotas yet: known as such
    with db.unit_of_work() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        quota = Quota("cats", "${kind} = 'cat'", 1, QuotaAction.STOP)
        update_settings(session, survey, replace(settings_of(survey), quotas=(quota,)))
        session.execute(update(SurveyQuota).values(filled=1))
    tap(resident, "猫")
    assert "上限に達したため" in resident.texts()[-1]
