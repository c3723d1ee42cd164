"""Message builders shared by every feature: text, quick replies, the main menu.

Messages are LINE's JSON (``{"type": "text", "text": ...}``), built here within LINE's
documented limits and sent as they are: no round trip through the SDK's models, whose
serialisation of nested quick replies cost more CPU than the rest of a reply. The tests
check every builder's output against the SDK's own models, and the fake LINE platform
validates every message it receives with them.

The main menu's entries are ``bot.menu.MAIN_MENU``, the same list the rich menu shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _

from bot.i18n import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES
from bot.menu import MAIN_MENU
from bot.postback import PostbackData

#: A LINE message object, as JSON.
Message = dict[str, Any]
#: A LINE action object, as JSON.
Action = dict[str, Any]

#: LINE shows at most 13 quick-reply buttons; labels are at most 20 characters.
MAX_QUICK_REPLIES = 13
MAX_LABEL = 20
#: LINE's limit on a text message, in UTF-16 code units.
MAX_TEXT_UNITS = 5000
#: LINE's limit on a postback's displayText and a message action's text.
MAX_ACTION_TEXT = 300


def utf16_length(text: str) -> int:
    """Length as LINE counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _label(label: str) -> str:
    """A button label within LINE's 20 characters."""
    return label[:MAX_LABEL]


def postback_button(label: str, data: PostbackData, display_text: str | None = None) -> Action:
    """A postback action; the label is shown in the chat when tapped unless told otherwise."""
    return {
        "type": "postback",
        "label": _label(label),
        "data": data.encode(),
        "displayText": (display_text or label)[:MAX_ACTION_TEXT],
    }


def message_button(label: str, text: str) -> Action:
    """An action that sends ``text`` as the resident's message."""
    return {"type": "message", "label": _label(label), "text": text[:MAX_ACTION_TEXT]}


def _text_message(body: str, quick_reply: dict[str, Any] | None) -> Message:
    if utf16_length(body) > MAX_TEXT_UNITS:
        raise ValueError("text message over LINE's 5,000-unit limit")
    message: Message = {"type": "text", "text": body}
    if quick_reply is not None:
        message["quickReply"] = quick_reply
    return message


def _quick_reply(actions: Sequence[Action]) -> dict[str, Any]:
    return {"items": [{"type": "action", "action": action} for action in actions]}


def text(body: str, quick_replies: Sequence[Action] = ()) -> Message:
    """A text message, with quick-reply buttons if given (at most 13)."""
    if len(quick_replies) > MAX_QUICK_REPLIES:
        raise ValueError(f"{len(quick_replies)} quick replies (max {MAX_QUICK_REPLIES})")
    return _text_message(body, _quick_reply(quick_replies) if quick_replies else None)


def main_menu_actions() -> list[Action]:
    """Quick-reply buttons for the main menu, in the current locale."""
    return [postback_button(str(entry.label), PostbackData(entry.action)) for entry in MAIN_MENU]


@lru_cache(maxsize=len(SUPPORTED_LANGUAGES))
def _main_menu_items(language: str) -> tuple[dict[str, Any], ...]:
    """The main menu's quick-reply items in one language (built once: most replies carry it)."""
    return tuple(_quick_reply(main_menu_actions())["items"])


def with_main_menu(body: str) -> Message:
    """A text message followed by the main menu as quick replies."""
    language = str(get_locale() or DEFAULT_LANGUAGE)
    return _text_message(body, {"items": list(_main_menu_items(language))})


def cancel_word_action() -> Action:
    """A quick reply that sends the cancel word."""
    word = _("Cancel")
    return message_button(word, word)
