"""Friendship events: follow (welcome + menu) and unfollow (unreachable). A core feature."""

from __future__ import annotations

from flask import Flask
from flask_babel import gettext as _

from bot.context import EventContext
from bot.features import seam
from bot.messages import with_main_menu
from bot.residents import record_follow, record_unfollow
from bot.routing import Kind


def on_follow(ctx: EventContext) -> None:
    """Records the follow (or the return after a block) and welcomes the resident."""
    returning = bool(ctx.incoming.is_unblocked)
    record_follow(ctx.resident, is_unblocked=returning, at=ctx.now)
    greeting = (
        _("Welcome back! You can use every service again.")
        if returning
        else _(
            "Thank you for adding us as a friend! This is your prefecture's LINE counter: "
            "surveys, consultation, facility coupons and news."
        )
    )
    ctx.reply(with_main_menu(greeting + "\n" + _("Choose from the menu below.")))


def on_unfollow(ctx: EventContext) -> None:
    """Marks the resident unreachable: nothing is pushed to them from now on."""
    record_unfollow(ctx.resident, at=ctx.now)


def init_app(app: Flask) -> None:
    """Register the friendship routes."""
    features = seam(app)
    features.add_route("resident.follow", Kind("follow"), on_follow)
    features.add_route("resident.unfollow", Kind("unfollow"), on_unfollow)
