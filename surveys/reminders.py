"""Clock jobs of surveys: the one reminder to residents who stopped mid-way, and the
retention of photos never submitted.

A survey with ``reminder_hours`` gets one push per unfinished dialog, that many hours after
the resident's last answer, through the outbox (stored with its retry key, sent after the
commit), never between 21:00 and 08:00 Asia/Tokyo: a reminder due at night waits for the
morning. The dialog remembers it was reminded (``@reminded``) so it is sent once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import Flask
from flask_babel import gettext as _
from sqlalchemy import delete, select

from bot.i18n import resident_locale
from bot.messages import postback_button, text
from bot.postback import PostbackData
from bot.work import Work
from models import Dialog, DialogStatus, Resident
from models.base import utcnow
from models.surveys import Survey, SurveyPhoto, SurveyStatus, SurveyVersion
from surveys.answering import FLOW, REMINDED, TEST, TOKYO
from surveys.kinds import localized

logger = logging.getLogger(__name__)

#: Reminders are pushed from 08:00 until 21:00 Asia/Tokyo only.
FIRST_HOUR, LAST_HOUR = 8, 21
#: The most reminders one run sends (the next run takes the rest).
BATCH = 500
#: How long an unsubmitted photo is kept: as long as a parked dialog can be resumed, and a day.
PHOTO_KEEP = timedelta(days=31)


def quiet_hours(now: datetime) -> bool:
    """Whether it is between 21:00 and 08:00 in Japan (no reminders then)."""
    hour = now.astimezone(TOKYO).hour
    return not FIRST_HOUR <= hour < LAST_HOUR


def send_reminders(app: Flask, work: Work, now: datetime | None = None) -> int:
    """Push the one reminder to residents whose survey dialog has waited its hours.

    :return: how many reminders were queued.
    """
    now = now or utcnow()
    if quiet_hours(now):
        return 0
    session = work.session
    rows = session.execute(
        select(Dialog, Survey, SurveyVersion)
        .join(SurveyVersion, SurveyVersion.id == Dialog.subject_id)
        .join(Survey, Survey.id == SurveyVersion.survey_id)
        .where(
            Dialog.flow == FLOW,
            Dialog.status.in_((DialogStatus.ACTIVE, DialogStatus.PARKED)),
            Survey.reminder_hours.is_not(None),
            Survey.status == SurveyStatus.OPEN,
        )
        .order_by(Dialog.id)
    ).all()
    sent = 0
    for dialog, survey, version in rows:
        if sent >= BATCH:
            break
        data = dict(dialog.data)
        if data.get(REMINDED) or data.get(TEST):
            continue
        if dialog.updated_at + timedelta(hours=survey.reminder_hours or 0) > now:
            continue
        if survey.closes_at is not None and survey.closes_at <= now:
            continue
        resident = session.get(Resident, dialog.resident_id)
        if resident is None:
            continue
        with resident_locale(resident.language):
            title = localized(version.title, resident.language, survey.default_language)
            message = text(
                _(
                    "You started the survey 「%(title)s」. Would you like to finish it?",
                    title=title,
                ),
                [
                    postback_button(
                        _("Resume answering"), PostbackData("survey.start", {"id": str(survey.id)})
                    )
                ],
            )
        data[REMINDED] = True
        dialog.data = data
        work.outbox.push(session, resident, [message], purpose="survey.reminder")
        sent += 1
    session.flush()
    if sent:
        logger.info("survey reminders queued", extra={"count": sent})
    return sent


def purge_photos(app: Flask, work: Work) -> int:
    """Delete photos whose dialog ended without a submission (kept no longer than needed)."""
    cutoff = (utcnow() - PHOTO_KEEP).astimezone(TOKYO).date()
    done = work.session.execute(
        delete(SurveyPhoto)
        .where(SurveyPhoto.submission_id.is_(None), SurveyPhoto.received_on < cutoff)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(done, "rowcount", 0) or 0)
