"""LINE adapters, one module per feature: event -> service call -> messages."""

from __future__ import annotations

from bot.dialog import DialogEngine
from bot.routing import Router
from handlers import menu, residents


def register_all(router: Router, dialogs: DialogEngine) -> None:
    """Register every feature's routes and dialog flows (the menu and fallback last)."""
    residents.register(router)
    menu.register(router)
