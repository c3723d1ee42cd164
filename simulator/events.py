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
from typing import Any

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


def _event(
    event_type: str,
    user_id: str,
    *,
    reply_token: str | None,
    event_id: str | None,
    timestamp_ms: int | None,
    redelivery: bool,
    source: dict[str, str] | None,
    **fields: Any,
) -> Event:
    """Returns an event with the fields every LINE webhook event carries."""
    event: Event = {
        "type": event_type,
        "mode": "active",
        "timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
        "source": source if source is not None else user_source(user_id),
        "webhookEventId": event_id or new_event_id(),
        "deliveryContext": {"isRedelivery": redelivery},
    }
    if reply_token is not None:
        event["replyToken"] = reply_token
    event.update(fields)
    return event


def text_event(
    user_id: str,
    text: str,
    *,
    reply_token: str,
    event_id: str | None = None,
    timestamp_ms: int | None = None,
    redelivery: bool = False,
    source: dict[str, str] | None = None,
) -> Event:
    """Returns a message event for a text the user typed."""
    message = {
        "id": new_message_id(),
        "type": "text",
        "quoteToken": new_quote_token(),
        "text": text,
    }
    return _event(
        "message",
        user_id,
        reply_token=reply_token,
        event_id=event_id,
        timestamp_ms=timestamp_ms,
        redelivery=redelivery,
        source=source,
        message=message,
    )


def image_event(
    user_id: str,
    message_id: str,
    *,
    reply_token: str,
    event_id: str | None = None,
    timestamp_ms: int | None = None,
    redelivery: bool = False,
    source: dict[str, str] | None = None,
) -> Event:
    """Returns a message event for an image the user sent (content served by the platform)."""
    message = {
        "id": message_id,
        "type": "image",
        "quoteToken": new_quote_token(),
        "contentProvider": {"type": "line"},
    }
    return _event(
        "message",
        user_id,
        reply_token=reply_token,
        event_id=event_id,
        timestamp_ms=timestamp_ms,
        redelivery=redelivery,
        source=source,
        message=message,
    )


def sticker_event(
    user_id: str,
    package_id: str = "446",
    sticker_id: str = "1988",
    *,
    reply_token: str,
    event_id: str | None = None,
    timestamp_ms: int | None = None,
    redelivery: bool = False,
    source: dict[str, str] | None = None,
) -> Event:
    """Returns a message event for a sticker the user sent."""
    message = {
        "id": new_message_id(),
        "type": "sticker",
        "quoteToken": new_quote_token(),
        "packageId": package_id,
        "stickerId": sticker_id,
        "stickerResourceType": "STATIC",
    }
    return _event(
        "message",
        user_id,
        reply_token=reply_token,
        event_id=event_id,
        timestamp_ms=timestamp_ms,
        redelivery=redelivery,
        source=source,
        message=message,
    )


def postback_event(
    user_id: str,
    data: str,
    *,
    reply_token: str,
    params: dict[str, str] | None = None,
    event_id: str | None = None,
    timestamp_ms: int | None = None,
    redelivery: bool = False,
    source: dict[str, str] | None = None,
) -> Event:
    """Returns a postback event for a tapped postback action (``params`` from pickers)."""
    postback: dict[str, Any] = {"data": data}
    if params is not None:
        postback["params"] = params
    return _event(
        "postback",
        user_id,
        reply_token=reply_token,
        event_id=event_id,
        timestamp_ms=timestamp_ms,
        redelivery=redelivery,
        source=source,
        postback=postback,
    )


def follow_event(
    user_id: str,
    *,
    reply_token: str,
    is_unblocked: bool = False,
    event_id: str | None = None,
    timestamp_ms: int | None = None,
    redelivery: bool = False,
    source: dict[str, str] | None = None,
) -> Event:
    """Returns a follow event (friend added, or unblocked when ``is_unblocked``)."""
    return _event(
        "follow",
        user_id,
        reply_token=reply_token,
        event_id=event_id,
        timestamp_ms=timestamp_ms,
        redelivery=redelivery,
        source=source,
        follow={"isUnblocked": is_unblocked},
    )


def unfollow_event(
    user_id: str,
    *,
    event_id: str | None = None,
    timestamp_ms: int | None = None,
    redelivery: bool = False,
    source: dict[str, str] | None = None,
) -> Event:
    """Returns an unfollow event (the user blocked the account); it has no reply token."""
    return _event(
        "unfollow",
        user_id,
        reply_token=None,
        event_id=event_id,
        timestamp_ms=timestamp_ms,
        redelivery=redelivery,
        source=source,
    )


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
