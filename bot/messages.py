"""Message builders shared by every feature: text, quick replies, the main menu.

The main menu is the same four entries as the rich menu, so a resident without the rich
menu (an old LINE client, a menu not yet deployed) can always reach every feature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from flask_babel import get_locale, lazy_gettext
from flask_babel import gettext as _
from linebot.v3.messaging import (
    Action,
    MessageAction,
    PostbackAction,
    QuickReply,
    QuickReplyItem,
    TextMessage,
)

from bot.i18n import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES
from bot.postback import PostbackData

#: LINE shows at most 13 quick-reply buttons; labels are at most 20 characters.
MAX_QUICK_REPLIES = 13
MAX_LABEL = 20
#: LINE's limit on a text message, in UTF-16 code units.
MAX_TEXT_UNITS = 5000


@dataclass(frozen=True)
class MenuEntry:
    """One entry of the main menu (and one area of the rich menu)."""

    action: str
    label: object  # a lazy string, evaluated in the resident's locale


#: The four features, in rich-menu order.
MAIN_MENU: tuple[MenuEntry, ...] = (
    MenuEntry("menu.surveys", lazy_gettext("Surveys")),
    MenuEntry("menu.consultation", lazy_gettext("Consultation")),
    MenuEntry("menu.coupons", lazy_gettext("Coupons")),
    MenuEntry("menu.announcements", lazy_gettext("News")),
)


def utf16_length(text: str) -> int:
    """Length as LINE counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def postback_button(label: str, data: PostbackData, display_text: str | None = None) -> Action:
    """A postback action; the label is shown in the chat when tapped unless told otherwise."""
    return PostbackAction(
        label=label[:MAX_LABEL], data=data.encode(), displayText=display_text or label
    )


def _text_message(body: str, quick_reply: QuickReply | None) -> TextMessage:
    if utf16_length(body) > MAX_TEXT_UNITS:
        raise ValueError("text message over LINE's 5,000-unit limit")
    return TextMessage(text=body, quickReply=quick_reply)


def text(body: str, quick_replies: Sequence[Action] = ()) -> TextMessage:
    """A text message, with quick-reply buttons if given (at most 13)."""
    if len(quick_replies) > MAX_QUICK_REPLIES:
        raise ValueError(f"{len(quick_replies)} quick replies (max {MAX_QUICK_REPLIES})")
    items = [QuickReplyItem(action=a) for a in quick_replies]
    return _text_message(body, QuickReply(items=items) if items else None)


def main_menu_actions() -> list[Action]:
    """Quick-reply buttons for the main menu, in the current locale."""
    return [postback_button(str(entry.label), PostbackData(entry.action)) for entry in MAIN_MENU]


@lru_cache(maxsize=len(SUPPORTED_LANGUAGES))
def _main_menu_quick_reply(language: str) -> QuickReply:
    """The main menu's quick replies in one language (built once: most replies carry it)."""
    return QuickReply(items=[QuickReplyItem(action=a) for a in main_menu_actions()])


def with_main_menu(body: str) -> TextMessage:
    """A text message followed by the main menu as quick replies."""
    language = str(get_locale() or DEFAULT_LANGUAGE)
    return _text_message(body, _main_menu_quick_reply(language))


def cancel_word_action() -> Action:
    """A quick reply that sends the cancel word."""
    word = _("Cancel")
    return MessageAction(label=word, text=word)
