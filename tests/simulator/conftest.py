"""Fixtures for the LINE platform simulator's tests.

One platform and one stand-in bot are served over real HTTP for the whole session (starting a
server per test would dominate the run time); every test gets them back reset: empty state,
the fake clock at its start, the bot's records cleared.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask, request
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiClient,
    Configuration,
    MessagingApi,
    MessagingApiBlob,
    ReplyMessageRequest,
    TextMessage,
)
from linebot.v3.webhooks import Event, MessageEvent, TextMessageContent
from PIL import Image
from werkzeug.serving import make_server

from simulator.server import QuietRequestHandler, RunningPlatform, start_platform
from simulator.state import PlatformState
from simulator.webhooks import WebhookSender

ACCESS_TOKEN = "test-access-token"
CHANNEL_SECRET = "test-channel-secret"
CLOCK_START = 1_750_000_000.0


class FakeClock:
    """A clock that only moves when a test says so."""

    def __init__(self) -> None:
        self.now = CLOCK_START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Moves time forward."""
        self.now += seconds


class RecordingBot:
    """A stand-in for the bot: verifies signatures with the SDK's parser, records events.

    With ``echo_via`` set to a platform URL it answers each text with ``echo: <text>``.
    """

    def __init__(self) -> None:
        self.app = Flask(__name__)
        self.app.add_url_rule("/callback", "callback", self.callback, methods=["POST"])
        self.parser = WebhookParser(CHANNEL_SECRET)
        self.clear()

    def clear(self) -> None:
        """Forgets what was received and restores the defaults."""
        self.events: list[Event] = []
        self.payloads: list[dict[str, Any]] = []
        self.status = 200
        self.echo_via: str | None = None

    def callback(self) -> tuple[str, int]:
        """Receives one webhook like the real bot's /callback."""
        body = request.get_data(as_text=True)
        try:
            events = self.parser.parse(body, request.headers.get("X-Line-Signature", ""))
        except InvalidSignatureError:
            return "invalid signature", 400
        self.events.extend(events)
        self.payloads.append(json.loads(body))
        if self.echo_via is not None:
            self._echo(events, self.echo_via)
        return "OK", self.status

    @staticmethod
    def _echo(events: list[Event], platform_url: str) -> None:
        config = Configuration(host=platform_url, access_token=ACCESS_TOKEN)
        with ApiClient(config) as client:
            for event in events:
                if isinstance(event, MessageEvent) and isinstance(
                    event.message, TextMessageContent
                ):
                    reply = ReplyMessageRequest(
                        reply_token=event.reply_token,
                        messages=[TextMessage(text=f"echo: {event.message.text}")],
                    )
                    MessagingApi(client).reply_message(reply, _request_timeout=5)
            client.rest_client.pool_manager.clear()


@dataclass(frozen=True)
class _Session:
    """Everything served once per test session."""

    clock: FakeClock
    bot: RecordingBot
    webhook: WebhookSender
    running: RunningPlatform


@pytest.fixture(scope="session")
def _served() -> Iterator[_Session]:
    clock = FakeClock()
    bot = RecordingBot()
    bot_server = make_server(
        "127.0.0.1", 0, bot.app, threaded=True, request_handler=QuietRequestHandler
    )
    bot_thread = threading.Thread(
        target=bot_server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    bot_thread.start()
    state = PlatformState(channel_access_token=ACCESS_TOKEN, clock=clock)
    webhook = WebhookSender(
        state,
        webhook_url=f"http://127.0.0.1:{bot_server.port}/callback",
        channel_secret=CHANNEL_SECRET,
        timeout=5.0,
    )
    with webhook, start_platform(state, webhook=webhook) as running:
        yield _Session(clock, bot, webhook, running)
    bot_server.shutdown()
    bot_thread.join()


@pytest.fixture
def _fresh(_served: _Session) -> _Session:
    _served.running.state.reset()
    _served.clock.now = CLOCK_START
    _served.bot.clear()
    return _served


@pytest.fixture
def platform(_fresh: _Session) -> RunningPlatform:
    """The running platform, with empty state."""
    return _fresh.running


@pytest.fixture
def state(platform: RunningPlatform) -> PlatformState:
    """The platform's state, reset for this test."""
    return platform.state


@pytest.fixture
def clock(_fresh: _Session) -> FakeClock:
    """The platform's clock, back at its start."""
    return _fresh.clock


@pytest.fixture
def bot(_fresh: _Session) -> RecordingBot:
    """The stand-in bot that receives the platform's webhooks."""
    return _fresh.bot


@pytest.fixture
def webhook(_fresh: _Session) -> WebhookSender:
    """The platform's webhook sender, pointed at the stand-in bot."""
    return _fresh.webhook


@pytest.fixture
def channel_secret() -> str:
    """The channel secret the stand-in bot verifies signatures with."""
    return CHANNEL_SECRET


@pytest.fixture
def api_client(platform: RunningPlatform) -> Iterator[ApiClient]:
    """An SDK client configured the way the bot configures it, aimed at the platform."""
    config = Configuration(host=platform.url, access_token=ACCESS_TOKEN)
    # As in bot/line_api.py: no silent urllib3 retries (a dropped keep-alive connection
    # would otherwise be retried and turn a "no answer" fault into a 409).
    config.retries = False
    with ApiClient(config) as client:
        yield client
        client.rest_client.pool_manager.clear()


@pytest.fixture
def messaging(api_client: ApiClient) -> MessagingApi:
    """The SDK's Messaging API client."""
    return MessagingApi(api_client)


@pytest.fixture
def blob(api_client: ApiClient) -> MessagingApiBlob:
    """The SDK's blob (api-data) client, on the same host."""
    return MessagingApiBlob(api_client)


@pytest.fixture
def http(platform: RunningPlatform) -> Iterator[requests.Session]:
    """Plain HTTP with the right bearer token, for bodies the SDK refuses to build."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {ACCESS_TOKEN}"
        yield session


@pytest.fixture
def friend(state: PlatformState) -> str:
    """The user ID of a resident who has added the account as a friend."""
    return state.add_user("山田 花子", is_friend=True).user_id


@pytest.fixture
def make_image() -> Callable[..., bytes]:
    """Returns a function that encodes a blank image of the given size and format."""

    def make(width: int = 2500, height: int = 843, image_format: str = "PNG") -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (width, height), (0, 153, 68)).save(buffer, format=image_format)
        return buffer.getvalue()

    return make
