"""``POST /callback``: LINE's webhook. Thin, verifying, idempotent and discreet.

It verifies ``X-Line-Signature`` over the raw body before anything else, decodes the JSON,
hands each event object to the :class:`~bot.pipeline.EventProcessor`, and answers.
It never logs bodies, message text or LINE user ids. An event that failed for a transient
reason (the database) makes the answer 500 so LINE redelivers the batch (when redelivery is
on); processed events are then skipped. A defect is answered by the pipeline itself.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, current_app, request
from linebot.v3.webhook import SignatureValidator

from bot.pipeline import EventProcessor, Outcome

logger = logging.getLogger(__name__)

bp = Blueprint("webhook", __name__)

#: Largest webhook body accepted; LINE's are far smaller. Larger bodies get 413 unread.
MAX_BODY_BYTES = 1024 * 1024


def _refuse(status: int, reason: str) -> Response:
    logger.warning("webhook refused", extra={"status": status, "reason": reason})
    return Response(reason + "\n", status=status, mimetype="text/plain")


def _events(payload: Any) -> list[dict[str, Any]] | None:
    """The event objects of a webhook body, or ``None`` when it is not a webhook."""
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        return None
    events = payload["events"]
    if not all(isinstance(e, dict) and isinstance(e.get("type"), str) for e in events):
        return None
    return events


@bp.post("/callback")
def callback() -> Response:
    """Verify, parse and process one webhook delivery."""
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
    try:
        events = _events(json.loads(text))
    except ValueError:
        events = None
    if events is None:
        return _refuse(400, "not a webhook body")

    processor: EventProcessor = current_app.extensions["events"]
    failed = sum(processor.process(raw) == Outcome.FAILED for raw in events)
    if failed:
        return Response("failed\n", status=500, mimetype="text/plain")
    return Response("OK\n", status=200, mimetype="text/plain")
