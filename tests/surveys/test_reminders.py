"""The one reminder to residents who stopped, quiet hours, photo retention, the follow offer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from bot.db import Database
from bot.work import unit_of_work
from models import Dialog, OutboundMessage, Staff
from models.base import utcnow
from models.staff import Role
from models.surveys import Survey, SurveyPhoto
from surveys import reminders
from surveys.services import import_survey, publish
from surveys.xlsform import read_survey
from tests.support import Resident
from tests.surveys.answering_support import publish_survey, start, submissions, survey_dialogs, tap
from tests.surveys.test_builder import _post

#: 12:00 and 22:30 in Japan.
NOON = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
NIGHT = datetime(2026, 12, 3, 13, 30, tzinfo=UTC)
EXAMPLES = Path(__file__).parents[2] / "examples"


def remind(app: Flask, now: datetime) -> int:
    with app.app_context(), unit_of_work(app) as work:
        return reminders.send_reminders(app, work, now)


def stop_mid_way(app: Flask, db: Database, resident: Resident, hours: int | None) -> int:
    survey_id = publish_survey(db, reminder_hours=hours)
    resident.follow()
    start(resident, survey_id)
    tap(resident, "はい")
    with db.unit_of_work() as session:
        session.execute(update(Dialog).values(updated_at=NOON - timedelta(hours=25)))
    return survey_id


def pushes(db: Database) -> list[OutboundMessage]:
    with db.reading() as session:
        return list(
            session.scalars(
                select(OutboundMessage).where(OutboundMessage.purpose == "survey.reminder")
            )
        )


def test_one_reminder_after_the_hours_never_at_night(
    app: Flask, db: Database, resident: Resident
) -> None:
    stop_mid_way(app, db, resident, 24)
    assert remind(app, NOON - timedelta(hours=2)) == 0  # 23 hours of 24: not yet
    assert remind(app, NIGHT) == 0  # due, but 22:30 in Japan: waits for the morning
    morning = NIGHT + timedelta(hours=10, minutes=30)  # 09:00 in Japan
    assert remind(app, morning) == 1
    assert remind(app, morning + timedelta(hours=1)) == 0  # once only
    [push] = pushes(db)
    assert push.retry_key is not None
    assert resident.texts()[-1].startswith("アンケート「ペット調査」")
    # The button resumes where they stopped.
    tap(resident, "続きから回答")
    assert resident.texts()[-1] == "(2/4) 種類は？"


def test_no_reminder_before_its_time_or_without_the_setting(
    app: Flask, db: Database, resident_factory: Callable[..., Resident]
) -> None:
    stop_mid_way(app, db, resident_factory(), None)
    assert remind(app, NOON) == 0
    stop_mid_way(app, db, resident_factory(), 48)
    assert remind(app, NOON) == 0  # 25 hours of 48
    assert pushes(db) == []


def test_quiet_hours_are_japan_time() -> None:
    assert reminders.quiet_hours(NIGHT)
    assert not reminders.quiet_hours(NOON)
    assert reminders.quiet_hours(datetime(2026, 12, 2, 22, 59, tzinfo=UTC))  # 07:59
    assert not reminders.quiet_hours(datetime(2026, 12, 2, 23, 0, tzinfo=UTC))  # 08:00
    assert reminders.quiet_hours(datetime(2026, 12, 3, 12, 0, tzinfo=UTC))  # 21:00


def test_unsubmitted_photos_are_purged_after_their_keeping_time(app: Flask, db: Database) -> None:
    survey_id = publish_survey(db)
    old = (utcnow() - timedelta(days=40)).date()
    with db.unit_of_work() as session:
        for day in (old, utcnow().date()):
            session.add(
                SurveyPhoto(
                    survey_id=survey_id,
                    content_type="image/png",
                    byte_size=1,
                    data=b"x",
                    received_on=day,
                )
            )
    with app.app_context(), unit_of_work(app) as work:
        assert reminders.purge_photos(app, work) == 1


def test_the_follow_survey_is_offered_in_the_greeting(
    app: Flask,
    db: Database,
    client: FlaskClient,
    signed_in: Callable[..., Staff],
    resident: Resident,
) -> None:
    signed_in(Role.EDITOR)
    with db.unit_of_work() as session:
        survey = import_survey(
            session, read_survey((EXAMPLES / "resident-profile.xlsx").read_bytes())
        )
        publish(session, survey, now=utcnow())
        profile_id = survey.id
    other_id = publish_survey(db)
    for survey_id in (other_id, profile_id):  # marking one unmarks the other
        response = _post(
            client,
            f"/admin/surveys/{survey_id}/settings",
            {"answers": "one", "offer_on_follow": "y"},
        )
        assert response.status_code == 302, response.get_data(as_text=True)
    with db.reading() as session:
        marked = session.scalars(select(Survey.id).where(Survey.offer_on_follow.is_(True))).all()
    assert marked == [profile_id]
    resident.follow()
    greeting, offer = resident.received()[-2:]
    assert greeting["text"].startswith("友だち追加ありがとうございます")
    assert offer["type"] == "flex"
    tap(resident, "回答する")
    assert survey_dialogs(app)[0].subject_id is not None
    assert submissions(db) == []


def test_no_offer_without_a_follow_survey(app: Flask, resident: Resident) -> None:
    resident.follow()
    assert [m["type"] for m in resident.received()] == ["text"]
