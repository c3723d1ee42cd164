"""Signed webhook delivery from the simulated LINE Platform to the bot.

This module owns the platform's side of ``POST /callback``: it plays residents' actions
(follow, unfollow, text, postback, sending media), keeps friendship, reply tokens and sent
media in the platform state in step with the events it sends, signs bodies with the channel
secret like LINE, and can redeliver an event exactly as LINE's webhook redelivery does.
"""

from __future__ import annotations

import logging
import re
import threading
from types import TracebackType

import requests

from simulator.events import (
    MEDIA_TYPES,
    Event,
    audio_event,
    callback_body,
    file_event,
    follow_event,
    image_event,
    new_message_id,
    postback_event,
    redelivered,
    sign,
    text_event,
    unfollow_event,
    video_event,
)
from simulator.state import PlatformState

logger = logging.getLogger(__name__)

_MEDIA_TYPE = re.compile(r"^([a-z0-9][a-z0-9.+-]*)/[a-z0-9][a-z0-9.+-]*$")
MAX_FILE_NAME = 255


class WebhookSender:
    """Posts signed webhook events to the bot's callback URL over HTTP."""

    def __init__(
        self,
        state: PlatformState,
        *,
        webhook_url: str,
        channel_secret: str,
        timeout: float = 10.0,
    ) -> None:
        self.state = state
        self.webhook_url = webhook_url
        self._channel_secret = channel_secret
        self._timeout = timeout
        self._session = requests.Session()
        self._lock = threading.Lock()
        self._last_events: dict[str, Event] = {}

    def close(self) -> None:
        """Closes the HTTP connections to the bot."""
        self._session.close()

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def follow(self, user_id: str, is_unblocked: bool = False) -> int:
        """The user adds the account as a friend (or unblocks it); returns the bot's status."""
        self.state.set_friend(user_id, True)
        token = self.state.issue_reply_token(user_id)
        return self.send([follow_event(user_id, reply_token=token, is_unblocked=is_unblocked)])

    def unfollow(self, user_id: str) -> int:
        """The user blocks the account; returns the bot's status."""
        self.state.set_friend(user_id, False)
        return self.send([unfollow_event(user_id)])

    def text(self, user_id: str, text: str) -> int:
        """The user sends a text message; returns the bot's status."""
        token = self.state.issue_reply_token(user_id)
        return self.send([text_event(user_id, text, reply_token=token)])

    def postback(self, user_id: str, data: str, params: dict[str, str] | None = None) -> int:
        """The user taps a postback action; returns the bot's status."""
        token = self.state.issue_reply_token(user_id)
        return self.send([postback_event(user_id, data, reply_token=token, params=params)])

    def media(
        self,
        user_id: str,
        kind: str,
        data: bytes = b"",
        content_type: str = "",
        *,
        duration_ms: int | None = None,
        file_name: str | None = None,
        external: dict[str, str] | None = None,
        streamed: bool = False,
    ) -> int:
        """The user sends an image, video, voice message or file; returns the bot's status.

        Content kept on LINE (the default) is stored for ``GET .../content`` under the new
        message id (see :meth:`last_event`). Media from another service (``external``, from
        :func:`simulator.events.external_provider`) stores nothing, as on LINE.

        :param kind: ``image``, ``video``, ``audio`` or ``file``.
        :param content_type: the media type served, of the kind's family (``image/jpeg``).
        :param duration_ms: the length of a video or voice message.
        :param file_name: the name of a file.
        :param streamed: serve the content without ``Content-Length``.
        :raises ValueError: an unknown kind, missing or mismatched content, type, duration
            or file name (nothing is stored or sent).
        """
        check_media(
            kind,
            data,
            content_type,
            duration_ms=duration_ms,
            file_name=file_name,
            external=external,
        )
        message_id = new_message_id()
        if external is None:
            self.state.add_content(message_id, data, content_type, streamed=streamed)
        token = self.state.issue_reply_token(user_id)
        if kind == "image":
            event = image_event(user_id, message_id, reply_token=token, provider=external)
        elif kind == "file":
            event = file_event(user_id, message_id, str(file_name), len(data), reply_token=token)
        else:
            build = video_event if kind == "video" else audio_event
            length = int(duration_ms or 0)
            event = build(user_id, message_id, length, reply_token=token, provider=external)
        return self.send([event])

    def send(self, events: list[Event]) -> int:
        """Posts ``events`` in one signed webhook and returns the bot's HTTP status.

        :raises requests.RequestException: if the bot cannot be reached in time.
        """
        with self._lock:
            for event in events:
                user_id = event.get("source", {}).get("userId")
                if user_id:
                    self._last_events[user_id] = event
        body = callback_body(events)
        headers = {
            "Content-Type": "application/json",
            "X-Line-Signature": sign(body, self._channel_secret),
        }
        with self._session.post(
            self.webhook_url, data=body, headers=headers, timeout=self._timeout
        ) as response:
            logger.debug(
                "webhook with %d event(s): bot answered %s", len(events), response.status_code
            )
            return response.status_code

    def redeliver(self, event: Event) -> int:
        """Sends ``event`` again as LINE's redelivery does (same ID and reply token)."""
        if "replyToken" in event:
            self.state.renew_reply_token(event["replyToken"])
        return self.send([redelivered(event)])

    def last_event(self, user_id: str) -> Event | None:
        """Returns the last event sent on behalf of ``user_id``, for redelivery."""
        with self._lock:
            return self._last_events.get(user_id)


def check_media(
    kind: str,
    data: bytes,
    content_type: str,
    *,
    duration_ms: int | None = None,
    file_name: str | None = None,
    external: dict[str, str] | None = None,
) -> None:
    """Refuses media that LINE's apps could not send.

    :raises ValueError: naming what is wrong.
    """
    if kind not in MEDIA_TYPES:
        raise ValueError(f"media type must be one of {', '.join(MEDIA_TYPES)}")
    if external is not None:
        if kind == "file" or data or external.get("type") != "external":
            raise ValueError("external media is an image, video or audio with no content")
    else:
        family = _MEDIA_TYPE.match(content_type)
        if not data or family is None or (kind != "file" and family.group(1) != kind):
            raise ValueError(f"{kind} content needs bytes and a {kind} media type")
    if kind in ("video", "audio") and (
        not isinstance(duration_ms, int) or isinstance(duration_ms, bool) or duration_ms < 0
    ):
        raise ValueError(f"a {kind} needs its duration in milliseconds")
    if kind == "file" and not (file_name and file_name.strip() and len(file_name) <= MAX_FILE_NAME):
        raise ValueError(f"a file needs a name of 1 to {MAX_FILE_NAME} characters")
