"""Surveys (LINEアンケート): built in the console or as XLSForm files, answered in LINE.

``init_app`` is the feature's one seam (docs/features.md): its calls only.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from bot.config import Setting, positive
from bot.console import NavItem
from bot.console.roles import Permission
from bot.features import seam


def init_app(app: Flask) -> None:
    """Plug surveys into the app."""
    from surveys import builder, results_pages
    from surveys.cli import surveys_cli
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
    features.add_nav(NavItem("surveys_builder.index", _l("Surveys"), Permission.RESULTS, 30))
