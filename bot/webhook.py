"""``POST /callback``: LINE's webhook. Thin, verifying, durable and discreet.

The request does only this: a size check, the ``X-Line-Signature`` check over the raw body, a
bounded parse (malformed, too deep or not a webhook body is 400, never 500), and one durable
write of every event of the body into the inbox, where a ``webhookEventId`` already there
(LINE's redelivery) is dropped. Then 200, and the process's event workers are woken. Nothing
else runs here: LINE waits only 2 seconds, batches hundreds of events, and its own API can be
slow. It never logs bodies, message text or LINE user ids.

If the write fails (the database is unreachable or times out), the answer is 503: nothing
was stored, and LINE's redelivery (when it is on) brings the events again.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, current_app, request
from linebot.v3.webhook import SignatureValidator
from sqlalchemy.exc import SQLAlchemyError

from bot import inbox
from bot.db import Database
from models.base import utcnow

logger = logging.getLogger(__name__)

bp = Blueprint("webhook", __name__)

#: Largest webhook body accepted; LINE's are far smaller. Larger bodies get 413 unread.
MAX_BODY_BYTES = 1024 * 1024
#: Deepest nesting of a webhook body: LINE's events are a few levels deep.
MAX_DEPTH = 32
#: Most events in one body (LINE batches hundreds at most).
MAX_EVENTS = 2000


def _refuse(status: int, reason: str) -> Response:
    logger.warning("webhook refused", extra={"status": status, "reason": reason})
    return Response(reason + "\n", status=status, mimetype="text/plain")


def _too_deep(value: Any, depth: int = 0) -> bool:
    """True when the decoded JSON nests deeper than :data:`MAX_DEPTH`."""
    if depth > MAX_DEPTH:
        return True
    if isinstance(value, dict):
        return any(_too_deep(item, depth + 1) for item in value.values())
    if isinstance(value, list):
        return any(_too_deep(item, depth + 1) for item in value)
    return False


def _events(payload: Any) -> list[dict[str, Any]] | None:
    """The event objects of a webhook body, or ``None`` when it is not a webhook."""
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        return None
    events = payload["events"]
    if len(events) > MAX_EVENTS:
        return None
    if not all(isinstance(e, dict) and isinstance(e.get("type"), str) for e in events):
        return None
    return events


def _storable(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events that have an id to store them under; the others are logged and dropped
    (a redelivery could not be told from a new event, and LINE always sends one)."""
    kept = [
        event
        for event in events
        if isinstance(event.get("webhookEventId"), str) and 0 < len(event["webhookEventId"]) <= 64
    ]
    if len(kept) < len(events):
        logger.warning(
            "webhook events without an id dropped", extra={"count": len(events) - len(kept)}
        )
    return kept


def _parse(text: str) -> list[dict[str, Any]] | None:
    """Decode a body without letting its shape crash the request."""
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting beyond the decoder's stack
        return None
    if _too_deep(payload):
        return None
    return _events(payload)


@bp.post("/callback")
def callback() -> Response:
    """Verify, parse and store one webhook delivery."""
    request.max_content_length = MAX_BODY_BYTES
    signature = request.headers.get("X-Line-Signature")
    body = request.get_data(cache=False)  # 413 past the limit, before any parsing
    if not signature:
        return _refuse(400, "missing signature")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _refuse(400, "body is not UTF-8")
    validator: SignatureValidator = current_app.extensions["webhook_validator"]
    if not validator.validate(text, signature):
        return _refuse(400, "invalid signature")
    parsed = _parse(text)
    if parsed is None:
        return _refuse(400, "not a webhook body")
    events = _storable(parsed)
    if events:
        db: Database = current_app.extensions["db"]
        try:
            with db.unit_of_work() as session:
                stored = inbox.store(session, events, now=utcnow())
        except SQLAlchemyError as error:
            logger.error("webhook not stored", extra={"error": type(error).__name__})
            return Response("unavailable\n", status=503, mimetype="text/plain")
        metrics = current_app.extensions["metrics"]
        metrics.inbox_stored.inc(stored)
        metrics.inbox_duplicates.inc(len(events) - stored)
        if stored:
            current_app.extensions["workers"].wake()
    return Response("OK\n", status=200, mimetype="text/plain")
