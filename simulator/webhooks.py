"""Signed webhook delivery from the simulated LINE Platform to the bot.

This module owns the platform's side of ``POST /callback``: it plays residents' actions
(follow, unfollow, text, postback), keeps friendship and reply tokens in the platform state
in step with the events it sends, signs bodies with the channel secret like LINE, and can
redeliver an event exactly as LINE's webhook redelivery does.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

import requests

from simulator.events import (
    Event,
    callback_body,
    follow_event,
    postback_event,
    redelivered,
    sign,
    text_event,
    unfollow_event,
)
from simulator.state import PlatformState

logger = logging.getLogger(__name__)


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
