"""Message builders shared by every feature: text, quick replies, actions, Flex, the main menu.

Messages are LINE's JSON (``{"type": "text", "text": ...}``), built here within LINE's
documented limits and sent as they are: no round trip through the SDK's models, whose
serialisation of nested quick replies cost more CPU than the rest of a reply. The tests
check every builder's output against the SDK's own models, and the fake LINE platform
validates every message it receives with them.

Limits (reference/LINE_PLATFORM.md 1.3): a builder refuses what LINE would refuse with a
``ValueError`` (over-long text, a Flex bubble over 30 KB, a URI with another scheme), except
action labels, which are cut to fit where the action is shown: 20 characters in a quick
reply, 40 on a Flex button. An action is a plain dict, so one action can be offered both ways.

The main menu's entries are ``bot.menu.MAIN_MENU``, the same list the rich menu shows.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask_babel import get_locale
from flask_babel import gettext as _

from bot.i18n import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES
from bot.menu import MAIN_MENU
from bot.postback import PostbackData

#: A LINE message object, as JSON.
Message = dict[str, Any]
#: A LINE action object, as JSON.
Action = dict[str, Any]
#: A Flex component (box, text, image, button, separator), as JSON.
Component = dict[str, Any]
#: A Flex container (bubble or carousel), as JSON.
Container = dict[str, Any]

#: LINE shows at most 13 quick-reply buttons; labels are at most 20 characters.
MAX_QUICK_REPLIES = 13
MAX_LABEL = 20
#: A Flex button's label may be 40 characters.
MAX_FLEX_LABEL = 40
#: LINE's limit on a text message, in UTF-16 code units.
MAX_TEXT_UNITS = 5000
#: LINE's limit on a postback's displayText and a message action's text.
MAX_ACTION_TEXT = 300
#: LINE's limits on a Flex message: altText, bubbles per carousel, JSON sizes.
MAX_ALT_TEXT = 1500
MAX_BUBBLES = 12
MAX_BUBBLE_BYTES = 30 * 1024
MAX_CAROUSEL_BYTES = 50 * 1024
#: LINE's limits on a URI action and an image URL.
MAX_URI = 1000
MAX_IMAGE_URL = 2000
URI_SCHEMES = frozenset({"http", "https", "line", "tel"})
#: Action types LINE accepts only as quick-reply buttons.
QUICK_REPLY_ONLY = frozenset({"camera", "cameraRoll", "location"})
#: Flex button styles.
BUTTON_STYLES = ("primary", "secondary", "link")
#: Flex text sizes (keywords).
TEXT_SIZES = ("xxs", "xs", "sm", "md", "lg", "xl", "xxl", "3xl", "4xl", "5xl")

PickerMode = Literal["date", "time", "datetime"]
PickerValue = str | date | time
#: Each picker mode's value format and LINE's range for it (no time zone: LINE has none).
_PICKER_FORMATS: dict[str, str] = {
    "date": "%Y-%m-%d",
    "time": "%H:%M",
    "datetime": "%Y-%m-%dT%H:%M",
}
_PICKER_RANGES: dict[str, tuple[str, str]] = {
    "date": ("1900-01-01", "2100-12-31"),
    "time": ("00:00", "23:59"),
    "datetime": ("1900-01-01T00:00", "2100-12-31T23:59"),
}
_PICKER_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}|\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}")
#: Residents' time: an aware datetime given to a picker is shown in it.
_TOKYO = ZoneInfo("Asia/Tokyo")
_ASPECT_RATIO = re.compile(r"^([1-9][0-9]{0,5}):([1-9][0-9]{0,5})$")
_ROW_LABEL_COLOR = "#8c8c8c"


def utf16_length(text: str) -> int:
    """Length as LINE counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _json_size(value: Any) -> int:
    """Bytes of compact UTF-8 JSON: how the Flex size limits are measured here.

    LINE does not say how it counts; the fake platform counts the same way.
    """
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


# Actions ---------------------------------------------------------------------------------------


def _label(label: str) -> str:
    """A label as given (containers cut it to their limit); an empty one is refused."""
    if not label.strip():
        raise ValueError("an action needs a non-empty label")
    return label


def _fitted(action: Action, limit: int) -> Action:
    """The action with its label cut to ``limit`` characters (a copy only when cut)."""
    label = action.get("label")
    if isinstance(label, str) and len(label) > limit:
        return {**action, "label": label[:limit]}
    return action


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


def uri_button(label: str, uri: str) -> Action:
    """An action that opens ``uri`` (http, https, line or tel; at most 1,000 characters).

    :raises ValueError: another scheme, no host for a web link, or too long.
    """
    parts = urlsplit(uri)
    if parts.scheme.lower() not in URI_SCHEMES:
        raise ValueError(f"URI actions take {', '.join(sorted(URI_SCHEMES))} links only")
    if parts.scheme.lower() in ("http", "https") and not parts.hostname:
        raise ValueError("a web link needs a host")
    if len(uri) > MAX_URI or any(c.isspace() for c in uri):
        raise ValueError(f"a URI action's link is at most {MAX_URI} characters, without spaces")
    return {"type": "uri", "label": _label(label), "uri": uri}


def _picker_value(mode: str, value: PickerValue) -> str:
    """``value`` in LINE's format for ``mode``, within LINE's range.

    :raises ValueError: the wrong kind of value for the mode, a malformed or impossible
        value, or one outside 1900-01-01 .. 2100-12-31T23:59.
    """
    fmt = _PICKER_FORMATS[mode]
    if isinstance(value, str):
        if not _PICKER_SHAPE.fullmatch(value):
            raise ValueError(f"{value!r} is not a {mode} value in LINE's format ({fmt})")
        value = value.replace("t", "T")
        try:
            datetime.strptime(value, fmt)  # a calendar check: LINE's pickers have no time zone
        except ValueError as error:
            raise ValueError(f"{value!r} is not a valid {mode} ({fmt})") from error
        text = value
    else:
        kind = "datetime" if isinstance(value, datetime) else type(value).__name__
        if kind != mode or (isinstance(value, time) and value.tzinfo is not None):
            raise ValueError(f"{value!r} is not a {mode} value (times must be naive)")
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(_TOKYO)
        text = value.strftime(fmt)
    low, high = _PICKER_RANGES[mode]
    if not low <= text <= high:
        raise ValueError(f"{text} is outside LINE's range {low} .. {high}")
    return text


def datetime_picker_button(
    label: str,
    data: PostbackData,
    mode: PickerMode = "date",
    *,
    initial: PickerValue | None = None,
    min_value: PickerValue | None = None,
    max_value: PickerValue | None = None,
) -> Action:
    """An action that opens LINE's date/time picker; the choice comes back as a postback.

    The postback carries ``data`` (with its dialog guard) and ``params`` ``{mode: value}``.
    Values are LINE's strings (``2025-04-01``, ``09:30``, ``2025-04-01T09:30``) or Python
    dates and times; an aware datetime is shown in Asia/Tokyo (LINE has no time zones).

    :raises ValueError: an unknown mode, a value of the wrong kind or outside LINE's range,
        ``min_value`` not before ``max_value``, or ``initial`` outside them.
    :raises bot.postback.PostbackError: the data does not fit LINE's 300 characters.
    """
    if mode not in _PICKER_FORMATS:
        raise ValueError(f"picker mode must be date, time or datetime, not {mode!r}")
    action: Action = {"type": "datetimepicker", "label": _label(label), "data": data.encode()}
    action["mode"] = mode
    values = {"initial": initial, "min": min_value, "max": max_value}
    for key, value in values.items():
        if value is not None:
            action[key] = _picker_value(mode, value)
    low, high, start = action.get("min"), action.get("max"), action.get("initial")
    if low is not None and high is not None and not low < high:
        raise ValueError(f"the picker's min {low} must be before its max {high}")
    too_early = start is not None and low is not None and start < low
    if too_early or (start is not None and high is not None and start > high):
        raise ValueError(f"the picker's initial value {start} is outside its min and max")
    return action


def camera_button(label: str) -> Action:
    """A quick reply that opens the camera; the photo arrives as an image message."""
    return {"type": "camera", "label": _label(label)}


def camera_roll_button(label: str) -> Action:
    """A quick reply that opens the photo library; the choice arrives as an image message."""
    return {"type": "cameraRoll", "label": _label(label)}


def location_button(label: str) -> Action:
    """A quick reply that opens the location picker; the place arrives as a location message."""
    return {"type": "location", "label": _label(label)}


def cancel_word_action() -> Action:
    """A quick reply that sends the cancel word."""
    word = _("Cancel")
    return message_button(word, word)


# Text messages and quick replies ---------------------------------------------------------------


def _quick_reply(actions: Sequence[Action]) -> dict[str, Any]:
    return {"items": [{"type": "action", "action": _fitted(a, MAX_LABEL)} for a in actions]}


def _with_quick_replies(message: Message, actions: Sequence[Action]) -> Message:
    if len(actions) > MAX_QUICK_REPLIES:
        raise ValueError(f"{len(actions)} quick replies (max {MAX_QUICK_REPLIES})")
    if actions:
        message["quickReply"] = _quick_reply(actions)
    return message


def _text_message(body: str) -> Message:
    if utf16_length(body) > MAX_TEXT_UNITS:
        raise ValueError("text message over LINE's 5,000-unit limit")
    return {"type": "text", "text": body}


def text(body: str, quick_replies: Sequence[Action] = ()) -> Message:
    """A text message, with quick-reply buttons if given (at most 13)."""
    return _with_quick_replies(_text_message(body), quick_replies)


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
    message = _text_message(body)
    message["quickReply"] = {"items": list(_main_menu_items(language))}
    return message


# Flex ------------------------------------------------------------------------------------------


def flex_text(body: str, *, size: str = "sm", bold: bool = False) -> Component:
    """A line or paragraph of text, wrapped to the bubble's width.

    :raises ValueError: empty text (LINE refuses it), or an unknown size keyword.
    """
    if not body.strip():
        raise ValueError("Flex text must not be empty")
    if size not in TEXT_SIZES:
        raise ValueError(f"Flex text size must be one of {', '.join(TEXT_SIZES)}")
    component: Component = {"type": "text", "text": body, "size": size, "wrap": True}
    if bold:
        component["weight"] = "bold"
    return component


def flex_rows(rows: Sequence[tuple[str, str]]) -> Component:
    """Labelled rows, such as ``日時 | 4月1日 10:00``: the label in grey, the value wrapped.

    :raises ValueError: no rows, or an empty label or value.
    """
    if not rows:
        raise ValueError("a list of rows needs at least one row")
    lines = []
    for label, value in rows:
        name, shown = flex_text(label), flex_text(value)
        name.update(color=_ROW_LABEL_COLOR, flex=2)
        shown["flex"] = 5
        row = {"type": "box", "layout": "baseline", "spacing": "sm", "contents": [name, shown]}
        lines.append(row)
    return {"type": "box", "layout": "vertical", "spacing": "sm", "contents": lines}


def flex_separator() -> Component:
    """A thin line between parts of a body."""
    return {"type": "separator", "margin": "md"}


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def flex_image(url: str, *, aspect_ratio: str = "20:13", fit: bool = False) -> Component:
    """An image across the bubble (a hero, or in the body): an announcement's picture, a QR.

    LINE fetches images over HTTPS only; plain http is accepted for a loopback host, which
    only the development simulator can show.

    :param aspect_ratio: ``width:height``, LINE's rule: the height at most three widths.
    :param fit: show the whole image (a QR code) instead of cropping it to fill the area.
    :raises ValueError: not an HTTPS URL, over 2,000 characters, or a bad aspect ratio.
    """
    parts = urlsplit(url)
    if not (parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname))):
        raise ValueError("a Flex image URL must be https (LINE fetches images over HTTPS)")
    if not parts.hostname or len(url) > MAX_IMAGE_URL:
        raise ValueError(f"a Flex image URL needs a host and at most {MAX_IMAGE_URL} characters")
    ratio = _ASPECT_RATIO.match(aspect_ratio)
    if ratio is None or int(ratio.group(2)) > 3 * int(ratio.group(1)):
        raise ValueError("aspect_ratio must be width:height with the height at most 3 widths")
    return {
        "type": "image",
        "url": url,
        "size": "full",
        "aspectRatio": aspect_ratio,
        "aspectMode": "fit" if fit else "cover",
        "animated": False,  # LINE's default, written out so the SDK's models read it back as is
    }


def _flex_button(action: Action, style: str) -> Component:
    if action.get("type") in QUICK_REPLY_ONLY:
        raise ValueError(f"a {action.get('type')} action can only be a quick reply")
    fitted = _fitted(action, MAX_FLEX_LABEL)
    return {"type": "button", "style": style, "height": "sm", "action": fitted}


def _vertical(contents: Sequence[Component], spacing: str) -> Component:
    return {"type": "box", "layout": "vertical", "spacing": spacing, "contents": list(contents)}


def bubble(
    body: Sequence[Component] = (),
    *,
    title: str | None = None,
    hero: Component | None = None,
    buttons: Sequence[Action] = (),
    button_style: str = "link",
) -> Container:
    """A Flex bubble: a title (header), a hero image, body components, a footer of buttons.

    :param body: components from :func:`flex_text`, :func:`flex_rows`, :func:`flex_image`,
        :func:`flex_separator`, top to bottom.
    :param buttons: actions shown as footer buttons, labels cut to Flex's 40 characters.
    :param button_style: ``primary`` (filled), ``secondary`` (grey) or ``link`` (plain).
    :raises ValueError: nothing to show, a quick-reply-only action among the buttons, an
        unknown style, or JSON over LINE's 30 KB.
    """
    if button_style not in BUTTON_STYLES:
        raise ValueError(f"button_style must be one of {', '.join(BUTTON_STYLES)}")
    container: Container = {"type": "bubble"}
    if title is not None:
        container["header"] = _vertical([flex_text(title, size="lg", bold=True)], "sm")
    if hero is not None:
        container["hero"] = hero
    if body:
        container["body"] = _vertical(body, "md")
    if buttons:
        container["footer"] = _vertical([_flex_button(a, button_style) for a in buttons], "sm")
    if len(container) == 1:
        raise ValueError("a bubble needs a title, a hero, a body or buttons")
    if _json_size(container) > MAX_BUBBLE_BYTES:
        raise ValueError("a Flex bubble must be 30 KB of JSON or less")
    return container


def carousel(bubbles: Sequence[Container]) -> Container:
    """Up to 12 bubbles side by side, such as a survey's paged options.

    :raises ValueError: no bubble, more than 12, or JSON over LINE's 50 KB.
    """
    if not 1 <= len(bubbles) <= MAX_BUBBLES:
        raise ValueError(f"a carousel has 1 to {MAX_BUBBLES} bubbles, not {len(bubbles)}")
    if any(b.get("type") != "bubble" for b in bubbles):
        raise ValueError("a carousel holds bubbles only")
    container: Container = {"type": "carousel", "contents": list(bubbles)}
    if _json_size(container) > MAX_CAROUSEL_BYTES:
        raise ValueError("a Flex carousel must be 50 KB of JSON or less")
    return container


def flex(alt_text: str, contents: Container, quick_replies: Sequence[Action] = ()) -> Message:
    """A Flex message; ``alt_text`` is what notifications and old clients show.

    :raises ValueError: an empty altText or one over 1,500 characters, contents that are
        not a bubble or carousel, or more than 13 quick replies.
    """
    if not alt_text.strip() or utf16_length(alt_text) > MAX_ALT_TEXT:
        raise ValueError(f"a Flex message's altText is 1 to {MAX_ALT_TEXT:,} characters")
    if contents.get("type") not in ("bubble", "carousel"):
        raise ValueError("a Flex message holds a bubble or a carousel")
    message: Message = {"type": "flex", "altText": alt_text, "contents": contents}
    return _with_quick_replies(message, quick_replies)
