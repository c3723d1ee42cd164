"""The benchmark's baseline: a minimal Flask + line-bot-sdk v3 echo bot.

It does only what every LINE bot must do for a webhook: verify the signature and parse the
events (``WebhookParser``), then reply with ``MessagingApi.reply_message``: the text itself
for a text message, a fixed text for a postback or a follow. No database, no routing, no
profile call. It reads the same environment variables as madoguchi (``LINE_CHANNEL_SECRET``,
``LINE_CHANNEL_ACCESS_TOKEN``, ``LINE_API_BASE_URL``, ``LOG_LEVEL``) and is served by the same
``gunicorn.conf.py``: ``gunicorn --config gunicorn.conf.py --pythonpath bench
'echo_bot:create_app()'``. Each worker builds one ``ApiClient`` (a pooled HTTP client shared
by its threads), as madoguchi's gateway does, so the comparison is about the bot's own work.
"""

from __future__ import annotations

import logging
import os

from flask import Flask, Response, abort, request
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiClient,
    Configuration,
    MessagingApi,
    ReplyMessageRequest,
    TextMessage,
)
from linebot.v3.webhook import WebhookParser
from linebot.v3.webhooks import FollowEvent, MessageEvent, PostbackEvent, TextMessageContent

#: Seconds before a reply call times out (madoguchi's ``LINE_API_TIMEOUT`` default).
REQUEST_TIMEOUT = 5.0


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} must be set")
    return value


def create_app() -> Flask:
    """Build the echo bot from the environment.

    :raises RuntimeError: the channel secret or access token is missing.
    """
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING").upper())
    parser = WebhookParser(_required("LINE_CHANNEL_SECRET"))
    configuration = Configuration(
        host=os.environ.get("LINE_API_BASE_URL", "https://api.line.me").rstrip("/"),
        access_token=_required("LINE_CHANNEL_ACCESS_TOKEN"),
    )
    messaging = MessagingApi(ApiClient(configuration))
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz() -> Response:
        """Readiness probe."""
        return Response("ok\n", mimetype="text/plain")

    @app.post("/callback")
    def callback() -> Response:
        """Verify, parse, reply."""
        body = request.get_data(as_text=True)
        try:
            events = parser.parse(body, request.headers.get("X-Line-Signature", ""))
        except InvalidSignatureError:
            abort(400)
        for event in events:
            if isinstance(event, MessageEvent) and isinstance(event.message, TextMessageContent):
                answer = event.message.text
            elif isinstance(event, PostbackEvent):
                answer = "Thanks for tapping."
            elif isinstance(event, FollowEvent):
                answer = "Thanks for adding me as a friend!"
            else:
                continue
            messaging.reply_message(
                ReplyMessageRequest(
                    replyToken=event.reply_token, messages=[TextMessage(text=answer)]
                ),
                _request_timeout=REQUEST_TIMEOUT,
            )
        return Response("OK\n", mimetype="text/plain")

    return app
