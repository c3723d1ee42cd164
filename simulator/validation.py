"""Validation of Messaging API request bodies, as LINE validates them.

First the SDK's own request models (generated from LINE's OpenAPI spec), then LINE's
documented limits that the models do not encode: message counts, text length in UTF-16
code units, quick replies, template and Flex sizes, postback data, where actions may be, URI
schemes, datetime picker values, recipients, rich menu areas and images. Errors come back
as LINE's ``details`` list (``property`` + ``message``).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from linebot.v3.messaging import (
    BroadcastRequest,
    CreateRichMenuAliasRequest,
    MulticastRequest,
    NarrowcastRequest,
    PushMessageRequest,
    ReplyMessageRequest,
    RichMenuRequest,
    ShowLoadingAnimationRequest,
    UpdateRichMenuAliasRequest,
)
from PIL import Image
from pydantic.v1 import ValidationError

from simulator.state import PlatformError

MAX_RICH_MENU_IMAGE_BYTES = 1024 * 1024
RICH_MENU_IMAGE_TYPES = frozenset({"image/png", "image/jpeg"})

_USER_ID = re.compile(r"^U[0-9a-f]{32}$")
_CHAT_ID = re.compile(r"^[UCR][0-9a-f]{32}$")

Detail = dict[str, str]
Checker = Callable[[dict[str, Any], list[Detail]], None]

MESSAGE_TYPES = frozenset(
    {"text", "textV2", "sticker", "image", "video", "audio", "location", "imagemap"}
    | {"template", "flex", "coupon"}
)
#: Action types whose ``data`` is limited to 300 characters.
_DATA_ACTIONS = frozenset({"postback", "datetimepicker", "richmenuswitch"})
#: Action types LINE accepts only as quick-reply buttons.
_QUICK_REPLY_ONLY = frozenset({"camera", "cameraRoll", "location"})
_URI_SCHEMES = frozenset({"http", "https", "line", "tel"})
#: Datetime picker value shapes and LINE's range, by mode.
_PICKER_VALUES: Mapping[str, tuple[re.Pattern[str], str, str]] = MappingProxyType(
    {
        "date": (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "1900-01-01", "2100-12-31"),
        "time": (re.compile(r"^\d{2}:\d{2}$"), "00:00", "23:59"),
        "datetime": (
            re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}$"),
            "1900-01-01T00:00",
            "2100-12-31T23:59",
        ),
    }
)
_FLEX_BUBBLE_BYTES = 30 * 1024
_FLEX_CAROUSEL_BYTES = 50 * 1024


def _detail(prop: str, message: str) -> Detail:
    return {"message": message, "property": prop}


def _join(prop: str, key: str) -> str:
    return f"{prop}.{key}" if prop else key


def _utf16_length(text: str) -> int:
    """Counts characters as LINE does for text: UTF-16 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def _check_length(
    obj: Mapping[str, Any],
    key: str,
    limit: int,
    prop: str,
    errors: list[Detail],
    *,
    minimum: int = 0,
    utf16: bool = False,
) -> None:
    value = obj.get(key)
    if isinstance(value, str):
        length = _utf16_length(value) if utf16 else len(value)
        if not minimum <= length <= limit:
            message = f"Length must be between {minimum} and {limit}"
            errors.append(_detail(_join(prop, key), message))


def _check_count(value: Any, low: int, high: int, prop: str, errors: list[Detail]) -> None:
    if isinstance(value, list) and not low <= len(value) <= high:
        errors.append(_detail(prop, f"Size must be between {low} and {high}"))


def _walk(value: Any, prop: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yields every JSON object inside ``value`` with its property path."""
    if isinstance(value, dict):
        yield prop, value
        for key, item in value.items():
            yield from _walk(item, f"{prop}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{prop}[{index}]")


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _check_template(template: Any, prop: str, errors: list[Detail]) -> None:
    if not isinstance(template, dict):
        return
    kind = template.get("type")
    if kind == "buttons":
        _check_count(template.get("actions"), 1, 4, f"{prop}.actions", errors)
    elif kind == "confirm":
        _check_count(template.get("actions"), 2, 2, f"{prop}.actions", errors)
    elif kind in ("carousel", "image_carousel"):
        columns = template.get("columns")
        _check_count(columns, 1, 10, f"{prop}.columns", errors)
        if kind == "carousel" and isinstance(columns, list):
            for index, column in enumerate(columns):
                if isinstance(column, dict):
                    actions = column.get("actions")
                    _check_count(actions, 1, 3, f"{prop}.columns[{index}].actions", errors)


def _check_flex(contents: Any, prop: str, errors: list[Detail]) -> None:
    if not isinstance(contents, dict):
        return
    if contents.get("type") == "bubble" and _json_size(contents) > _FLEX_BUBBLE_BYTES:
        errors.append(_detail(prop, "A bubble must be 30 KB or less"))
    elif contents.get("type") == "carousel":
        _check_count(contents.get("contents"), 1, 12, f"{prop}.contents", errors)
        if _json_size(contents) > _FLEX_CAROUSEL_BYTES:
            errors.append(_detail(prop, "A carousel must be 50 KB or less"))


def _check_message(message: Any, prop: str, errors: list[Detail]) -> None:
    if not isinstance(message, dict) or message.get("type") not in MESSAGE_TYPES:
        errors.append(_detail(f"{prop}.type", "Unsupported message type"))
        return
    kind = message["type"]
    if kind == "text":
        _check_length(message, "text", 5000, prop, errors, minimum=1, utf16=True)
    _check_length(message, "altText", 1500, prop, errors, minimum=1, utf16=True)
    if kind == "template":
        _check_template(message.get("template"), f"{prop}.template", errors)
    if kind == "flex":
        _check_flex(message.get("contents"), f"{prop}.contents", errors)
    quick_reply = message.get("quickReply")
    if isinstance(quick_reply, dict):
        items = quick_reply.get("items")
        _check_count(items, 1, 13, f"{prop}.quickReply.items", errors)
        for index, item in enumerate(items if isinstance(items, list) else []):
            action = item.get("action") if isinstance(item, dict) else None
            if isinstance(action, dict):
                item_prop = f"{prop}.quickReply.items[{index}].action"
                _check_length(action, "label", 20, item_prop, errors)
    _check_action_data(message, prop, errors)
    _check_actions(message, prop, errors)


def _check_action_data(value: Any, prop: str, errors: list[Detail]) -> None:
    """Checks the 300-character ``data`` of every postback-like action inside ``value``."""
    for node_prop, node in _walk(value, prop):
        if node.get("type") in _DATA_ACTIONS:
            _check_length(node, "data", 300, node_prop, errors)


def _check_actions(message: dict[str, Any], prop: str, errors: list[Detail]) -> None:
    """Checks where actions may be, URI actions' links and datetime pickers' values."""
    for node_prop, node in _walk(message, prop):
        kind = node.get("type")
        if node_prop == prop:
            continue  # the message itself (a location message is not an action)
        if kind in _QUICK_REPLY_ONLY and ".quickReply." not in node_prop:
            errors.append(_detail(f"{node_prop}.type", "This action is for quick replies only"))
        elif kind == "uri" and "uri" in node:
            uri = node["uri"]
            scheme = uri.split(":", 1)[0].lower() if isinstance(uri, str) else ""
            if scheme not in _URI_SCHEMES or len(uri) > 1000:
                errors.append(
                    _detail(
                        f"{node_prop}.uri",
                        "Must be an http, https, line or tel URI of at most 1000 characters",
                    )
                )
        elif kind == "datetimepicker" and node.get("mode") in _PICKER_VALUES:
            shape, low, high = _PICKER_VALUES[node["mode"]]
            for key in ("initial", "min", "max"):
                value = node.get(key)
                if value is not None and not (
                    isinstance(value, str)
                    and shape.match(value)
                    and low <= value.replace("t", "T") <= high
                ):
                    errors.append(_detail(f"{node_prop}.{key}", f"Invalid {node['mode']} value"))


def _check_messages(body: dict[str, Any], errors: list[Detail]) -> None:
    """Checks the limits of ``messages`` (reply, broadcast, narrowcast)."""
    messages = body.get("messages")
    _check_count(messages, 1, 5, "messages", errors)
    if isinstance(messages, list):
        for index, message in enumerate(messages):
            _check_message(message, f"messages[{index}]", errors)


def _check_push(body: dict[str, Any], errors: list[Detail]) -> None:
    """Checks a push: messages, and ``to`` a user, group or room ID."""
    _check_messages(body, errors)
    if isinstance(body.get("to"), str) and not _CHAT_ID.match(body["to"]):
        errors.append(_detail("to", "Invalid user, group or room ID"))


def _check_multicast(body: dict[str, Any], errors: list[Detail]) -> None:
    """Checks a multicast: messages, and 1-500 user IDs (no groups or rooms)."""
    _check_messages(body, errors)
    to = body.get("to")
    _check_count(to, 1, 500, "to", errors)
    if isinstance(to, list):
        errors.extend(
            _detail(f"to[{index}]", "Invalid user ID")
            for index, user_id in enumerate(to)
            if not (isinstance(user_id, str) and _USER_ID.match(user_id))
        )


def _check_loading(body: dict[str, Any], errors: list[Detail]) -> None:
    """Checks a loading animation: one-to-one chats only, 5-60 s in steps of 5."""
    if isinstance(body.get("chatId"), str) and not _USER_ID.match(body["chatId"]):
        errors.append(_detail("chatId", "The chat ID must be a user ID"))
    seconds = body.get("loadingSeconds", 20)
    if not isinstance(seconds, int) or seconds % 5 or not 5 <= seconds <= 60:
        errors.append(_detail("loadingSeconds", "Must be a multiple of 5 between 5 and 60"))


def _check_rich_menu(body: dict[str, Any], errors: list[Detail]) -> None:
    """Checks a rich menu object: required fields, size rules, at most 20 areas."""
    errors.extend(
        _detail(key, "Must be specified")
        for key in ("size", "selected", "name", "chatBarText", "areas")
        if body.get(key) is None
    )
    size = body.get("size")
    if isinstance(size, dict):
        width, height = size.get("width"), size.get("height")
        if not (isinstance(width, int) and isinstance(height, int) and _fits(width, height)):
            errors.append(_detail("size", "Width must be 800-2500, height >= 250, ratio >= 1.45"))
    _check_count(body.get("areas"), 0, 20, "areas", errors)
    _check_length(body, "chatBarText", 14, "", errors)
    _check_length(body, "name", 300, "", errors)
    _check_action_data(body.get("areas"), "areas", errors)


def _no_more_checks(body: dict[str, Any], errors: list[Detail]) -> None:
    """The SDK model checks everything LINE documents for this request."""


def _fits(width: int, height: int) -> bool:
    """True if a rich menu (or its image) has a size LINE accepts."""
    return 800 <= width <= 2500 and height >= 250 and width / height >= 1.45


#: Endpoint name -> (the SDK's request model, LINE's extra limits).
REQUEST_KINDS: Mapping[str, tuple[Any, Checker]] = MappingProxyType(
    {
        "reply": (ReplyMessageRequest, _check_messages),
        "push": (PushMessageRequest, _check_push),
        "multicast": (MulticastRequest, _check_multicast),
        "broadcast": (BroadcastRequest, _check_messages),
        "narrowcast": (NarrowcastRequest, _check_messages),
        "loading": (ShowLoadingAnimationRequest, _check_loading),
        "richmenu.create": (RichMenuRequest, _check_rich_menu),
        "richmenu.alias": (CreateRichMenuAliasRequest, _no_more_checks),
        "richmenu.alias.update": (UpdateRichMenuAliasRequest, _no_more_checks),
    }
)


def _sdk_errors(model: Any, body: dict[str, Any]) -> list[Detail]:
    """Returns what the SDK's own request model rejects in ``body``."""
    try:
        model.from_dict(body)
    except ValidationError as error:
        return [
            _detail(".".join(str(part) for part in item["loc"]), item["msg"])
            for item in error.errors()
        ]
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        return [{"message": f"Invalid request body: {error}"}]
    return []


def validate_request(endpoint: str, body: Any) -> dict[str, Any]:
    """Returns ``body`` if it is a valid request for ``endpoint``.

    :raises PlatformError: 400 ``The request body has N error(s)`` with ``details``.
    """
    model, check = REQUEST_KINDS[endpoint]
    errors: list[Detail] = []
    if not isinstance(body, dict):
        errors.append({"message": "The request body must be a JSON object"})
    else:
        check(body, errors)
        errors = errors or _sdk_errors(model, body)
    if errors:
        raise PlatformError(400, f"The request body has {len(errors)} error(s)", details=errors)
    return body


def check_rich_menu_image(data: bytes, content_type: str) -> None:
    """Refuses an image LINE would refuse as a rich menu image."""
    if content_type not in RICH_MENU_IMAGE_TYPES:
        raise PlatformError(415, "The Content-Type must be image/png or image/jpeg")
    if len(data) > MAX_RICH_MENU_IMAGE_BYTES:
        raise PlatformError(413, "The image must be 1 MB or less")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG", "JPEG"]) as image:
            image_type, (width, height) = f"image/{str(image.format).lower()}", image.size
    except (OSError, Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise PlatformError(400, "The image could not be read as PNG or JPEG") from error
    if image_type != content_type:
        raise PlatformError(400, f"The image is not {content_type}")
    if not _fits(width, height):
        raise PlatformError(
            400, "The image must be 800-2500 px wide, >= 250 px high, ratio >= 1.45"
        )
