"""Surveys (LINEアンケート): built in the console or as XLSForm files, answered in LINE.

``init_app`` is the feature's one seam (docs/features.md): its calls only.
"""

from __future__ import annotations

from flask import Flask

from bot.features import seam


def init_app(app: Flask) -> None:
    """Plug surveys into the app."""
    from surveys.cli import surveys_cli

    features = seam(app)
    features.add_command(surveys_cli)
