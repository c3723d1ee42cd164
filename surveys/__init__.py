"""Surveys (LINEアンケート): built in the console or as XLSForm files, answered in LINE.

``init_app`` is the feature's one seam (docs/features.md): its calls only.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from bot.console import NavItem
from bot.console.roles import Permission
from bot.features import seam


def init_app(app: Flask) -> None:
    """Plug surveys into the app."""
    from surveys import builder
    from surveys.cli import surveys_cli

    features = seam(app)
    features.add_command(surveys_cli)
    features.add_blueprint(builder.bp)
    features.add_blueprint(builder.assets)
    features.add_nav(NavItem("surveys_builder.index", _l("Surveys"), Permission.RESULTS, 30))
