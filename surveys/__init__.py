"""Surveys (LINEアンケート): built in the console or as XLSForm files, answered in LINE.

``init_app`` is the feature's one seam (docs/features.md): its calls only.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask_babel import lazy_gettext as _l

from bot.config import Setting, positive
from bot.console import NavItem
from bot.console.roles import Permission
from bot.dispatch import DIALOGS
from bot.features import seam
from bot.jobs import Job
from bot.routing import Postback, Text

#: The survey guard runs just before the dialog engine; the follow offer after it.
GUARD_ORDER = DIALOGS - 10
FOLLOW_ORDER = DIALOGS + 10


def init_app(app: Flask) -> None:
    """Plug surveys into the app."""
    from handlers import surveys as line
    from surveys import builder, linking, reminders, results_pages
    from surveys.cli import surveys_cli
    from surveys.flow import SURVEY_FLOW
    from surveys.rehearsal import LinkCode
    from surveys.results import DEFAULT_MIN_CELL

    features = seam(app)
    features.add_setting(
        Setting(
            "SURVEY_RESULTS_MIN_CELL",
            DEFAULT_MIN_CELL,
            int,
            "Anonymous surveys' results hide breakdown cells below this many responses",
            positive,
        )
    )
    features.add_command(surveys_cli)
    features.add_blueprint(builder.bp)
    features.add_blueprint(results_pages.bp)
    features.add_blueprint(builder.assets)
    features.add_blueprint(linking.bp)
    features.add_flow(SURVEY_FLOW)
    features.add_route("surveys.list", Postback("menu.surveys"), line.list_surveys)
    features.add_route("surveys.link", LinkCode(), line.link_staff)
    features.add_route("surveys.rehearsals", Text("リハーサル", "rehearsal"), line.list_rehearsals)
    features.add_interceptor("surveys.guard", line.guard, order=GUARD_ORDER)
    features.add_interceptor("surveys.follow", line.offer_on_follow, order=FOLLOW_ORDER)
    features.add_job(Job("surveys.remind", reminders.send_reminders, timedelta(minutes=10)))
    features.add_job(Job("surveys.purge_photos", reminders.purge_photos, timedelta(hours=6)))
    features.add_nav(NavItem("surveys_builder.index", _l("Surveys"), Permission.RESULTS, 30))
