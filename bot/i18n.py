"""Translations: Japanese first, English alongside, through Babel catalogs.

Message ids in code are English; ``bot/translations/ja`` holds the Japanese text residents
see by default. A resident's language comes from the LINE profile; anything but a supported
language falls back to Japanese. ``make i18n`` extracts and updates the catalogs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, has_request_context, request
from flask_babel import Babel, force_locale, get_locale

from bot.surfaces import current_surface

DEFAULT_LANGUAGE = "ja"
SUPPORTED_LANGUAGES = ("ja", "en")
TRANSLATIONS_DIR = Path(__file__).parent / "translations"


def supported_language(language: str | None) -> str:
    """Map a LINE profile language (``ja``, ``en``, ``zh-TW``, ...) to one we speak."""
    base = (language or "").replace("_", "-").split("-")[0].lower()
    return base if base in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE


def browser_language() -> str:
    """The browser's preferred language among ours (``Accept-Language``), else ja."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    return request.accept_languages.best_match(SUPPORTED_LANGUAGES) or DEFAULT_LANGUAGE


def _request_language() -> str:
    """A page's language: the person's own (the surface knows it), else the browser's, else ja.

    The console knows a signed-in staff member's choice; resident pages know the signed-in
    resident's LINE language.
    """
    surface = current_surface()
    chosen = surface.language() if surface is not None else None
    return supported_language(chosen) if chosen else browser_language()


def init_app(app: Flask) -> None:
    """Attach Flask-Babel (residents' replies choose their locale with ``resident_locale``)."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    Babel(app, locale_selector=_request_language)
    app.jinja_env.globals["get_locale"] = get_locale  # every layout's <html lang>


@contextmanager
def resident_locale(language: str | None) -> Iterator[str]:
    """Speak the resident's language for the duration of the block."""
    chosen = supported_language(language)
    with force_locale(chosen):
        yield chosen
