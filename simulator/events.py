"""Builders of LINE webhook JSON, exactly as the LINE Platform sends it.

This module owns the shape of webhook events (camelCase dicts per ``webhook.yml``), the
callback body and its ``X-Line-Signature``. Everything here is pure: no state, no I/O.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import time
from typing import Any, TypedDict, Unpack

from ulid import ULID

#: The simulated bot's own user ID, sent as ``destination`` (``^U[0-9a-f]{32}$``).
BOT_USER_ID = "U" + "5a1" * 10 + "d0"

Event = dict[str, Any]


def new_user_id() -> str:
    """Returns a fresh LINE user ID ("U" + 32 lowercase hex digits)."""
    return "U" + secrets.token_hex(16)


def new_event_id() -> str:
    """Returns a fresh ``webhookEventId`` (a ULID string, as LINE uses)."""
    return str(ULID())


def new_reply_token() -> str:
    """Returns a fresh reply token (32 hex digits)."""
    return secrets.token_hex(16)


def new_message_id() -> str:
    """Returns a fresh message ID (a decimal string of 18 digits, like LINE's)."""
    return str(10**17 + secrets.randbelow(9 * 10**17))


def new_quote_token() -> str:
    """Returns a fresh opaque quote token."""
    return secrets.token_urlsafe(48)


def user_source(user_id: str) -> dict[str, str]:
    """Returns the ``source`` of an event in a one-to-one chat."""
    return {"type": "user", "userId": user_id}


def group_source(group_id: str, user_id: str | None = None) -> dict[str, str]:
    """Returns the ``source`` of an event in a group chat (``userId`` only for messages)."""
    source = {"type": "group", "groupId": group_id}
    if user_id is not None:
        source["userId"] = user_id
    return source


def room_source(room_id: str, user_id: str | None = None) -> dict[str, str]:
    """Returns the ``source`` of an event in a multi-person chat."""
    source = {"type": "room", "roomId": room_id}
    if user_id is not None:
        source["userId"] = user_id
    return source


class EventOptions(TypedDict, total=False):
    """What every event builder also accepts (defaults: fresh id, now, 1:1 chat)."""

    event_id: str | None
    timestamp_ms: int | None
    redelivery: bool
    source: dict[str, str] | None


def _event(
    event_type: str,
    user_id: str,
    options: EventOptions,
    *,
    reply_token: str | None,
    **fields: Any,
) -> Event:
    """Returns an event with the fields every LINE webhook event carries."""
    timestamp_ms, source = options.get("timestamp_ms"), options.get("source")
    event: Event = {
        "type": event_type,
        "mode": "active",
        "timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
        "source": source if source is not None else user_source(user_id),
        "webhookEventId": options.get("event_id") or new_event_id(),
        "deliveryContext": {"isRedelivery": options.get("redelivery", False)},
    }
    if reply_token is not None:
        event["replyToken"] = reply_token
    event.update(fields)
    return event


#: Message types whose webhook message carries a ``quoteToken`` (audio, file, location do not).
_QUOTABLE = frozenset({"text", "image", "video", "sticker"})
#: Message types whose content the platform serves (``GET .../content``).
MEDIA_TYPES = ("image", "video", "audio", "file")


def _message(message_type: str, message_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """Returns a message object with the id (and quote token) LINE gives the message type."""
    message: dict[str, Any] = {"id": message_id or new_message_id(), "type": message_type}
    if message_type in _QUOTABLE:
        message["quoteToken"] = new_quote_token()
    message.update(fields)
    return message


def text_event(
    user_id: str, text: str, *, reply_token: str, **options: Unpack[EventOptions]
) -> Event:
    """Returns a message event for a text the user typed."""
    message = _message("text", text=text)
    return _event("message", user_id, options, reply_token=reply_token, message=message)


def line_provider() -> dict[str, str]:
    """Returns the ``contentProvider`` of media kept on LINE (served by ``.../content``)."""
    return {"type": "line"}


def external_provider(original_url: str, preview_url: str | None = None) -> dict[str, str]:
    """Returns the ``contentProvider`` of media sent from another service (not on LINE).

    LINE keeps no content for it: ``GET .../content`` cannot serve it.
    """
    provider = {"type": "external", "originalContentUrl": original_url}
    if preview_url is not None:
        provider["previewImageUrl"] = preview_url
    return provider


def image_event(
    user_id: str,
    message_id: str,
    *,
    reply_token: str,
    provider: dict[str, str] | None = None,
    **options: Unpack[EventOptions],
) -> Event:
    """Returns a message event for an image the user sent (content served by the platform)."""
    message = _message("image", message_id, contentProvider=provider or line_provider())
    return _event("message", user_id, options, reply_token=reply_token, message=message)


def video_event(
    user_id: str,
    message_id: str,
    duration_ms: int,
    *,
    reply_token: str,
    provider: dict[str, str] | None = None,
    **options: Unpack[EventOptions],
) -> Event:
    """Returns a message event for a video the user sent (``duration`` in milliseconds)."""
    message = _message(
        "video", message_id, duration=duration_ms, contentProvider=provider or line_provider()
    )
    return _event("message", user_id, options, reply_token=reply_token, message=message)


def audio_event(
    user_id: str,
    message_id: str,
    duration_ms: int,
    *,
    reply_token: str,
    provider: dict[str, str] | None = None,
    **options: Unpack[EventOptions],
) -> Event:
    """Returns a message event for a voice message the user sent (no quote token)."""
    message = _message(
        "audio", message_id, duration=duration_ms, contentProvider=provider or line_provider()
    )
    return _event("message", user_id, options, reply_token=reply_token, message=message)


def file_event(
    user_id: str,
    message_id: str,
    file_name: str,
    file_size: int,
    *,
    reply_token: str,
    **options: Unpack[EventOptions],
) -> Event:
    """Returns a message event for a file the user sent (always kept on LINE; no quote token)."""
    message = _message("file", message_id, fileName=file_name, fileSize=file_size)
    return _event("message", user_id, options, reply_token=reply_token, message=message)


def sticker_event(
    user_id: str,
    package_id: str = "446",
    sticker_id: str = "1988",
    *,
    reply_token: str,
    **options: Unpack[EventOptions],
) -> Event:
    """Returns a message event for a sticker the user sent."""
    message = _message(
        "sticker", packageId=package_id, stickerId=sticker_id, stickerResourceType="STATIC"
    )
    return _event("message", user_id, options, reply_token=reply_token, message=message)


def postback_event(
    user_id: str,
    data: str,
    *,
    reply_token: str,
    params: dict[str, str] | None = None,
    **options: Unpack[EventOptions],
) -> Event:
    """Returns a postback event for a tapped postback action (``params`` from pickers)."""
    postback: dict[str, Any] = {"data": data}
    if params is not None:
        postback["params"] = params
    return _event("postback", user_id, options, reply_token=reply_token, postback=postback)


def follow_event(
    user_id: str,
    *,
    reply_token: str,
    is_unblocked: bool = False,
    **options: Unpack[EventOptions],
) -> Event:
    """Returns a follow event (friend added, or unblocked when ``is_unblocked``)."""
    follow = {"isUnblocked": is_unblocked}
    return _event("follow", user_id, options, reply_token=reply_token, follow=follow)


def unfollow_event(user_id: str, **options: Unpack[EventOptions]) -> Event:
    """Returns an unfollow event (the user blocked the account); it has no reply token."""
    return _event("unfollow", user_id, options, reply_token=None)


def redelivered(event: Event) -> Event:
    """Returns a copy of ``event`` as LINE redelivers it: same ID and token, isRedelivery."""
    again = copy.deepcopy(event)
    again["deliveryContext"] = {"isRedelivery": True}
    return again


def callback_body(events: list[Event], destination: str = BOT_USER_ID) -> bytes:
    """Returns the raw webhook body (compact UTF-8 JSON) carrying ``events``."""
    payload = {"destination": destination, "events": events}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(body: bytes, channel_secret: str) -> str:
    """Returns LINE's ``X-Line-Signature`` for ``body``: Base64 of HMAC-SHA256."""
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")
