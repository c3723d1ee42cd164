"""The benchmark's baseline: a minimal Flask + line-bot-sdk v3 echo bot.

It does only what every LINE bot must do for a webhook: verify the signature and parse the
events (``WebhookParser``), then reply with ``MessagingApi.reply_message``: the text itself
for a text message, a fixed text for a postback or a follow. No routing, no profile call,
and no database unless ``DATABASE_URL`` is set.

With ``DATABASE_URL`` (a database migrated by madoguchi's Alembic) it is the benchmark's
``echo-tx`` target: each event first runs the smallest transaction the core issue asks of
every event, as plain SQL through a SQLAlchemy engine: dedupe on ``webhookEventId``
(``INSERT ... ON CONFLICT DO NOTHING RETURNING``) and the resident's row lock (``SELECT ...
FOR UPDATE``), then commit; a duplicate gets no reply. That marks the floor any design
meeting the issue stands on.

With ``DATABASE_URL`` and ``ECHO_INBOX=1`` it is the ``echo-inbox`` target: the smallest
durable inbox, the floor of the event-path issue's design. The webhook only stores its events
(one ``INSERT ... ON CONFLICT DO NOTHING`` per request into ``inbox_events``) and wakes a
worker thread; two threads per process claim pending events ten at a time (``FOR UPDATE SKIP
LOCKED``), run for each the echo-tx transaction (the resident's row lock) that also marks the
event done, then reply. It leaves out what the issue asks on top (each resident's order, a
stored reply and its recorded outcome, retries, parking), so madoguchi cannot be faster.

It reads the same environment variables as madoguchi (``LINE_CHANNEL_SECRET``,
``LINE_CHANNEL_ACCESS_TOKEN``, ``LINE_API_BASE_URL``, ``LOG_LEVEL``, ``DATABASE_URL``) and is
served by the same ``gunicorn.conf.py``: ``gunicorn --config gunicorn.conf.py --pythonpath bench
'echo_bot:create_app()'``. Each worker builds one ``ApiClient`` (a pooled HTTP client shared
by its threads), as madoguchi's gateway does, so the comparison is about the bot's own work.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

from flask import Flask, Response, abort, request
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiClient,
    Configuration,
    MessagingApi,
    ReplyMessageRequest,
    TextMessage,
)
from linebot.v3.webhook import SignatureValidator, WebhookParser
from linebot.v3.webhooks import (
    Event,
    FollowEvent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
)
from sqlalchemy import Engine, create_engine, text

#: Seconds before a reply call times out (madoguchi's ``LINE_API_TIMEOUT`` default).
REQUEST_TIMEOUT = 5.0


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} must be set")
    return value


#: The per-event transaction of the ``echo-tx`` target.
_DEDUPE = text(
    "INSERT INTO inbox_events (webhook_event_id, type, occurred_at, received_at, status, "
    "attempts, available_at, processed_at) VALUES (:event_id, :type, now(), now(), 'done', 1, "
    "now(), now()) ON CONFLICT DO NOTHING RETURNING webhook_event_id"
)
_LOCK_RESIDENT = text("SELECT * FROM residents WHERE line_user_id = :user_id FOR UPDATE")
_NEW_RESIDENT = text(
    "INSERT INTO residents (line_user_id, language, follow_state, refollow_count, "
    "created_at, updated_at) VALUES (:user_id, 'ja', 'unknown', 0, now(), now()) "
    "ON CONFLICT (line_user_id) DO NOTHING"
)


def _first_delivery(engine: Engine, event: Event) -> bool:
    """Dedupe the event and lock its resident in one transaction; False for a duplicate.

    The resident row is created on first contact, as madoguchi does.
    """
    with engine.begin() as connection:
        params = {"event_id": event.webhook_event_id, "type": event.type}
        if connection.execute(_DEDUPE, params).first() is None:
            return False
        resident = {"user_id": getattr(event.source, "user_id", None)}
        if connection.execute(_LOCK_RESIDENT, resident).first() is None:
            connection.execute(_NEW_RESIDENT, resident)
            connection.execute(_LOCK_RESIDENT, resident).one()
    return True


_STORE = text(
    "INSERT INTO inbox_events (webhook_event_id, type, source_key, occurred_at, received_at, "
    "payload, status, attempts, available_at) VALUES (:event_id, :type, :user_id, now(), now(), "
    ":payload, 'pending', 0, now()) ON CONFLICT DO NOTHING"
)
_CLAIM = text(
    "UPDATE inbox_events SET status = 'leased', attempts = attempts + 1, "
    "leased_until = now() + interval '30 seconds' WHERE id IN (SELECT id FROM inbox_events "
    "WHERE status = 'pending' ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED) RETURNING id, payload"
)
_DONE = text(
    "UPDATE inbox_events SET status = 'done', payload = NULL, source_key = NULL, "
    "leased_until = NULL, processed_at = now() WHERE id = :id"
)
#: Worker threads of each process (madoguchi's ``EVENT_WORKERS`` default).
INBOX_WORKERS = 2
INBOX_POLL_SECONDS = 1.0


def _answer(raw: dict[str, Any]) -> str | None:
    """The echo's answer to a raw event (as ``callback`` answers a parsed one)."""
    message = raw.get("message") or {}
    if raw.get("type") == "message" and message.get("type") == "text":
        return str(message.get("text", ""))
    return {"postback": "Thanks for tapping.", "follow": "Thanks for adding me as a friend!"}.get(
        str(raw.get("type"))
    )


class InboxWorkers:
    """The ``echo-inbox`` worker threads (gunicorn.conf.py starts them after the fork)."""

    def __init__(self, engine: Engine, messaging: MessagingApi) -> None:
        self.engine, self.messaging = engine, messaging
        self.wake = threading.Event()
        self._stop = threading.Event()

    def start(self) -> None:
        for number in range(INBOX_WORKERS):
            threading.Thread(target=self._loop, name=f"inbox-{number}", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self.engine.begin() as connection:
                claimed = connection.execute(_CLAIM).all()
            for event_id, payload in claimed:
                raw = json.loads(payload)
                resident = {"user_id": raw.get("source", {}).get("userId")}
                with self.engine.begin() as connection:
                    if connection.execute(_LOCK_RESIDENT, resident).first() is None:
                        connection.execute(_NEW_RESIDENT, resident)
                        connection.execute(_LOCK_RESIDENT, resident).one()
                    connection.execute(_DONE, {"id": event_id})
                answer = _answer(raw)
                if answer is not None:
                    self.messaging.reply_message(
                        ReplyMessageRequest(
                            replyToken=raw["replyToken"], messages=[TextMessage(text=answer)]
                        ),
                        _request_timeout=REQUEST_TIMEOUT,
                    )
            if not claimed:
                self.wake.wait(INBOX_POLL_SECONDS)
                self.wake.clear()


def create_app() -> Flask:
    """Build the echo bot from the environment.

    :raises RuntimeError: the channel secret or access token is missing.
    """
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING").upper())
    parser = WebhookParser(_required("LINE_CHANNEL_SECRET"))
    validator = SignatureValidator(_required("LINE_CHANNEL_SECRET"))
    configuration = Configuration(
        host=os.environ.get("LINE_API_BASE_URL", "https://api.line.me").rstrip("/"),
        access_token=_required("LINE_CHANNEL_ACCESS_TOKEN"),
    )
    messaging = MessagingApi(ApiClient(configuration))
    database_url = os.environ.get("DATABASE_URL")
    # As madoguchi's pool: a connection for every thread, none opened per request.
    engine = create_engine(database_url, pool_size=10) if database_url else None
    app = Flask(__name__)
    inbox: InboxWorkers | None = None
    if engine is not None and os.environ.get("ECHO_INBOX") == "1":
        inbox = app.extensions["workers"] = InboxWorkers(engine, messaging)

    @app.get("/healthz")
    def healthz() -> Response:
        """Readiness probe."""
        return Response("ok\n", mimetype="text/plain")

    @app.post("/callback")
    def callback() -> Response:
        """Verify, parse, reply."""
        body = request.get_data(as_text=True)
        signature = request.headers.get("X-Line-Signature", "")
        if inbox is not None:
            if not validator.validate(body, signature):
                abort(400)
            rows = [
                {
                    "event_id": event["webhookEventId"],
                    "type": event["type"],
                    "user_id": event.get("source", {}).get("userId"),
                    "payload": json.dumps(event),
                }
                for event in json.loads(body)["events"]
            ]
            if rows:
                with engine.begin() as connection:  # type: ignore[union-attr]
                    connection.execute(_STORE, rows)
                inbox.wake.set()
            return Response("OK\n", mimetype="text/plain")
        try:
            events = parser.parse(body, signature)
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
            if engine is not None and not _first_delivery(engine, event):
                continue
            messaging.reply_message(
                ReplyMessageRequest(
                    replyToken=event.reply_token, messages=[TextMessage(text=answer)]
                ),
                _request_timeout=REQUEST_TIMEOUT,
            )
        return Response("OK\n", mimetype="text/plain")

    return app
