"""Helpers for tests: signed webhooks and simulated residents (fixtures are in conftest)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from bot.inbox import backlog
from models import OutboundMessage, OutboundStatus
from simulator import events as line_events
from simulator.server import RunningPlatform

CHANNEL_SECRET = "test-channel-secret"
ACCESS_TOKEN = "test-access-token"
#: The password of every staff account the tests create.
PASSWORD = "plum kettle orbit lantern"
FIXTURES = Path(__file__).parent / "fixtures"


def app_settings(database_url: str, platform_url: str, **overrides: Any) -> dict[str, Any]:
    """Settings of a test app aimed at the test database and the fake platform."""
    return {
        "TESTING": True,
        "MADOGUCHI_ENV": "production",
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": database_url,
        "LINE_CHANNEL_SECRET": CHANNEL_SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
        "LINE_API_BASE_URL": platform_url,
        "LINE_API_TIMEOUT": 2.0,
        "LINE_API_MAX_ATTEMPTS": 3,
        "LINE_API_RETRY_WAIT": 0.01,
        # No worker threads: signed_post drains the inbox in the test's own thread, so a
        # test sees every answer as soon as the webhook request returns.
        "EVENT_WORKERS": 0,
        "EVENT_RETRY_SECONDS": 0,
        **overrides,
    }


def signed_post(
    client: FlaskClient, body: bytes, *, secret: str = CHANNEL_SECRET, drain: bool = True
) -> TestResponse:
    """POST a webhook body signed like LINE signs it, then let the app's workers process
    what it stored (in this thread; ``drain=False`` leaves it in the inbox)."""
    response = client.post(
        "/callback",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Line-Signature": line_events.sign(body, secret),
        },
    )
    if drain:
        client.application.extensions["workers"].drain()
    return response


def settle(app: Flask, *, timeout: float = 5.0) -> None:
    """Wait until the app's workers have processed every event and sent every message
    (for tests of an app served with running workers).

    :raises AssertionError: still busy after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        with app.extensions["db"].reading() as session:
            waiting = backlog(session).pending
            unsent = session.scalar(
                select(func.count()).where(OutboundMessage.status == OutboundStatus.PENDING)
            )
        if not waiting and not unsent:
            return
        assert time.monotonic() < deadline, f"{waiting} events and {unsent} messages still waiting"
        time.sleep(0.02)


def load_fixture(name: str, **values: str) -> dict[str, Any]:
    """A webhook event from ``tests/fixtures/webhook/<name>.json`` with ``{placeholders}``."""
    raw = (FIXTURES / "webhook" / f"{name}.json").read_text(encoding="utf-8")
    for key, value in values.items():
        raw = raw.replace("{" + key + "}", value)
    event: dict[str, Any] = json.loads(raw)
    return event


@dataclass
class Resident:
    """A simulated resident talking to the app under test through signed webhooks."""

    client: FlaskClient
    platform: RunningPlatform
    user_id: str
    last_event: dict[str, Any] | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)

    def send(self, event: dict[str, Any]) -> TestResponse:
        """Sign and post one event (kept for redelivery)."""
        self.last_event = event
        self.sent.append(event)
        return signed_post(self.client, line_events.callback_body([event]))

    def _token(self) -> str:
        return self.platform.state.issue_reply_token(self.user_id)

    def follow(self, *, is_unblocked: bool = False) -> TestResponse:
        """Add the account as a friend (or unblock it)."""
        self.platform.state.set_friend(self.user_id, True)
        return self.send(
            line_events.follow_event(
                self.user_id, reply_token=self._token(), is_unblocked=is_unblocked
            )
        )

    def unfollow(self) -> TestResponse:
        """Block the account."""
        self.platform.state.set_friend(self.user_id, False)
        return self.send(line_events.unfollow_event(self.user_id))

    def say(self, text: str) -> TestResponse:
        """Send a text message."""
        return self.send(line_events.text_event(self.user_id, text, reply_token=self._token()))

    def tap(self, data: str, params: dict[str, str] | None = None) -> TestResponse:
        """Tap a postback button with this data."""
        return self.send(
            line_events.postback_event(self.user_id, data, reply_token=self._token(), params=params)
        )

    def send_image(self, data: bytes, content_type: str = "image/png") -> TestResponse:
        """Send an image; the platform keeps its content for the bot to fetch."""
        message_id = line_events.new_message_id()
        self.platform.state.add_content(message_id, data, content_type)
        return self.send(
            line_events.image_event(self.user_id, message_id, reply_token=self._token())
        )

    def redeliver(self) -> TestResponse:
        """Send the last event again, as LINE's redelivery does."""
        assert self.last_event is not None
        event = {**self.last_event, "deliveryContext": {"isRedelivery": True}}
        return signed_post(self.client, line_events.callback_body([event]))

    def received(self) -> list[dict[str, Any]]:
        """Every message this resident has received, in order."""
        return [m for d in self.platform.state.deliveries(self.user_id) for m in d.messages]

    def texts(self) -> list[str]:
        """The text of every text message received, in order."""
        return [m["text"] for m in self.received() if m.get("type") == "text"]

    def last_quick_replies(self) -> list[dict[str, Any]]:
        """The actions of the quick replies on the last message received."""
        messages = self.received()
        quick = messages[-1].get("quickReply") if messages else None
        return [item["action"] for item in quick["items"]] if quick else []


def break_router(app: Flask, monkeypatch: pytest.MonkeyPatch, word: str) -> None:
    """Make the router raise for one text, as a handler bug would."""
    router = app.extensions["router"]
    original = router.resolve

    def resolve(incoming: Any) -> Any:
        if incoming.text == word:
            raise RuntimeError("handler bug")
        return original(incoming)

    monkeypatch.setattr(router, "resolve", resolve)
