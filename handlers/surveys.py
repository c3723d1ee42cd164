"""Surveys in LINE: the list behind the rich menu's アンケート, and the guard before the
dialog engine (a closed survey, a survey already answered, a tampered start).

The answering itself is the dialog ``surveys.flow``; this adapter turns events into the
service calls of ``surveys.answering`` and their messages.
"""

from __future__ import annotations

import logging

from flask_babel import gettext as _
from sqlalchemy import select

from bot.context import EventContext
from bot.messages import (
    Container,
    bubble,
    carousel,
    flex,
    flex_text,
    postback_button,
    with_main_menu,
)
from bot.postback import PostbackData
from handlers.residents import on_follow
from models import Dialog, DialogStatus
from models.surveys import Survey
from surveys import answering, rehearsal
from surveys.answering import TEST, Refusal
from surveys.flow import REHEARSE, START
from surveys.kinds import localized
from surveys.services import is_open, open_surveys

logger = logging.getLogger(__name__)

#: The most surveys the list shows (a carousel holds 12 bubbles).
MAX_LISTED = 12


def _secret(ctx: EventContext) -> str:
    return str(ctx.config["SECRET_KEY"])


def refusal_text(reason: Refusal) -> str:
    """What a resident is told when they may not start a survey."""
    return {
        Refusal.UNKNOWN: _("That survey is not available."),
        Refusal.CLOSED: _("This survey has closed. Thank you for your interest."),
        Refusal.AUDIENCE: _("This survey is not open to you."),
        Refusal.ANSWERED: _("You have already answered this survey. Thank you!"),
        Refusal.FULL: _("This survey has all the answers it needs. Thank you for your interest."),
    }[reason]


def list_surveys(ctx: EventContext) -> None:
    """アンケート: the surveys open to this resident, each to start or resume."""
    session, resident = ctx.session, ctx.resident
    in_progress = answering.dialogs_in_progress(session, resident, ctx.now)
    cards: list[Container] = []
    for survey in open_surveys(session, resident, ctx.now):
        version_id = survey.current_version_id
        if version_id is None:
            continue
        resuming = version_id in in_progress
        if not resuming and answering.refusal(session, survey, resident, ctx.now, _secret(ctx)):
            continue
        form = answering.form_of(session, version_id)
        if form is None:
            continue
        title = localized(form.title, resident.language, form.default_language) or "—"
        lines = [flex_text(_("%(count)d questions", count=form.total))]
        if survey.estimated_minutes:
            minutes = _("About %(minutes)d minutes", minutes=survey.estimated_minutes)
            lines.append(flex_text(minutes))
        if survey.anonymous:
            lines.append(flex_text(_("Anonymous: your answers are not linked to you.")))
        label = _("Resume answering") if resuming else _("Answer")
        data = PostbackData(START, {"id": str(survey.id)})
        cards.append(
            bubble(
                lines,
                title=title[:100],
                buttons=[postback_button(label, data, display_text=title[:300])],
                button_style="primary",
            )
        )
        if len(cards) == MAX_LISTED:
            break
    if not cards:
        ctx.reply(with_main_menu(_("There are no surveys for you to answer right now.")))
        return
    heading = _("Surveys you can answer")
    contents = carousel(cards) if len(cards) > 1 else cards[0]
    ctx.reply(flex(heading, contents))


def guard(ctx: EventContext) -> bool:
    """Before the dialog engine: refuse a start the resident may not make, and end a survey
    dialog whose survey has closed meanwhile. Claims the event only then."""
    postback = ctx.incoming.postback
    dialog = ctx.dialog
    if postback is not None and postback.action == START:
        return _guard_start(ctx, postback)
    if (
        (dialog is None or dialog.flow != answering.FLOW)
        and postback is not None
        and postback.dialog_id is not None
        and (dialog is None or dialog.id != postback.dialog_id)
    ):
        found = ctx.session.get(Dialog, postback.dialog_id)
        if (
            found is not None
            and found.resident_id == ctx.resident.id
            and found.status == DialogStatus.PARKED
        ):
            dialog = found
    if dialog is None or dialog.flow != answering.FLOW or dialog.subject_id is None:
        return False
    if dialog.data.get(TEST):
        return False
    form = answering.form_of(ctx.session, dialog.subject_id)
    survey = answering.survey_of(ctx.session, form.survey_id) if form is not None else None
    if survey is not None and is_open(survey, ctx.now):
        return False
    dialog.status = DialogStatus.CANCELLED
    dialog.ended_at = ctx.now
    dialog.data = {}
    if ctx.dialog is dialog:
        ctx.dialog = None
    ctx.session.flush()
    ctx.reply(with_main_menu(_("This survey has closed. Your answers were not sent.")))
    return True


def _guard_start(ctx: EventContext, postback: PostbackData) -> bool:
    survey_id = postback.get_int("id")
    survey = ctx.session.get(Survey, survey_id) if survey_id is not None else None
    reason = answering.refusal(ctx.session, survey, ctx.resident, ctx.now, _secret(ctx))
    if reason is None:
        return False
    ctx.reply(with_main_menu(refusal_text(reason)))
    return True


def link_staff(ctx: EventContext) -> None:
    """``連携 ABCD-EFGH``: link this LINE account to the staff member who made the code."""
    staff = rehearsal.link(ctx.session, ctx.resident, ctx.incoming.text or "", ctx.now)
    if staff is None:
        logger.info("rehearsal link refused")
        ctx.reply(with_main_menu(_("That code is not valid. Make a new one on your account page.")))
        return
    logger.info("rehearsal link made", extra={"staff": staff.id})
    ctx.reply(
        with_main_menu(
            _("Your LINE account is linked for rehearsals. Send リハーサル to answer a draft.")
        )
    )


def list_rehearsals(ctx: EventContext) -> None:
    """``リハーサル``: the drafts a linked editor (or anyone in development) may answer."""
    if not rehearsal.may_rehearse(ctx.session, ctx.resident):
        ctx.reply(with_main_menu(_("Rehearsals are for staff with a linked LINE account.")))
        return
    cards: list[Container] = []
    for survey in rehearsal.rehearsable(ctx.session):
        draft = survey.draft
        if draft is None:
            continue
        title = localized(draft.title, ctx.resident.language, survey.default_language) or "—"
        data = PostbackData(REHEARSE, {"id": str(survey.id)})
        cards.append(
            bubble(
                [flex_text(_("Draft, version %(number)d", number=draft.number))],
                title=title[:100],
                buttons=[postback_button(_("Rehearse"), data, display_text=title[:300])],
            )
        )
    if not cards:
        ctx.reply(with_main_menu(_("There are no drafts to rehearse.")))
        return
    ctx.reply(flex(_("Drafts to rehearse"), carousel(cards) if len(cards) > 1 else cards[0]))


def offer_on_follow(ctx: EventContext) -> bool:
    """A follow, when a survey is marked to be offered then (the profile survey): the usual
    greeting, then the survey's card. Without such a survey the greeting route answers."""
    if ctx.incoming.kind != "follow":
        return False
    session = ctx.session
    survey = session.scalar(select(Survey).where(Survey.offer_on_follow.is_(True)).limit(1))
    if survey is None or survey.current_version_id is None:
        return False
    if answering.refusal(session, survey, ctx.resident, ctx.now, _secret(ctx)) is not None:
        return False
    form = answering.form_of(session, survey.current_version_id)
    if form is None:
        return False
    on_follow(ctx)
    title = localized(form.title, ctx.resident.language, form.default_language) or "—"
    intro = localized(form.intro, ctx.resident.language, form.default_language)
    body = [flex_text(_("Would you tell us a little about yourself?"))]
    if intro:
        body.append(flex_text(intro[:300]))
    data = PostbackData(START, {"id": str(survey.id)})
    card = bubble(
        body,
        title=title[:100],
        buttons=[postback_button(_("Answer"), data, display_text=title[:300])],
        button_style="primary",
    )
    ctx.reply(flex(title[:100], card))
    return True
