"""The main menu and the one fallback (a short help with the menu). A core feature."""

from __future__ import annotations

from flask import Flask
from flask_babel import gettext as _

from bot.context import EventContext
from bot.features import seam
from bot.messages import with_main_menu
from bot.routing import Text


def show_menu(ctx: EventContext) -> None:
    """Shows the main menu."""
    ctx.reply(with_main_menu(_("What would you like to do? Choose from the menu.")))


def fallback(ctx: EventContext) -> None:
    """Explains briefly what the account can do and shows the menu (nothing else matched)."""
    if ctx.incoming.kind not in ("message", "postback"):
        return  # e.g. a sticker's sibling events, video-play ends: nothing to say
    ctx.reply(
        with_main_menu(
            _(
                "Sorry, I did not understand that. Please choose from the menu below, "
                'or send "menu" at any time.'
            )
        )
    )


def init_app(app: Flask) -> None:
    """Register the menu keywords and the fallback."""
    features = seam(app)
    features.add_route("menu.show", Text("メニュー", "menu", "ヘルプ", "help"), show_menu)
    features.set_fallback(fallback)
