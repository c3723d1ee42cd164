"""A feature that claims the toy booking's entry word as a route (start-up must refuse it)."""

from __future__ import annotations

from flask import Flask

from bot.context import EventContext
from bot.features import seam
from bot.routing import Text


def book(ctx: EventContext) -> None:
    """Would answer 予約 (never reached: the app refuses to start)."""


def init_app(app: Flask) -> None:
    """Register a route on the toy flow's entry word."""
    seam(app).add_route("other.booking", Text("予約"), book)
