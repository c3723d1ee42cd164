"""``/healthz`` (is the database reachable?) and ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from bot.db import get_db
from bot.inbox import backlog
from bot.metrics import Metrics

logger = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the inbox can be read and nothing in it waits too long, 503 otherwise.

    Reading the inbox (not just ``SELECT 1``) means a lock on it, which would hold every
    webhook, shows here too: the statement timeout turns the wait into a 503.
    """
    try:
        with get_db().reading() as session:
            waiting = backlog(session)
    except SQLAlchemyError as exc:
        logger.error("health check: database unreachable", extra={"error": type(exc).__name__})
        return jsonify(status="unavailable", database="unreachable"), 503
    body = {
        "database": "ok",
        "inbox": {
            "pending": waiting.pending,
            "parked": waiting.parked,
            "oldest_pending_seconds": round(waiting.oldest_seconds, 1),
        },
    }
    if waiting.oldest_seconds > current_app.config["INBOX_BACKLOG_ALERT_SECONDS"]:
        logger.error("health check: inbox backlog", extra={"seconds": waiting.oldest_seconds})
        return jsonify(status="backlog", **body), 503
    return jsonify(status="ok", **body), 200


@bp.get("/metrics")
def metrics() -> Response:
    """Counters and histograms for Prometheus (behind a bearer token when one is set)."""
    token = current_app.config["METRICS_TOKEN"]
    if token and not hmac.compare_digest(
        request.headers.get("Authorization", ""), f"Bearer {token}"
    ):
        return Response(
            "unauthorized\n",
            status=401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": "Bearer"},
        )
    registry: Metrics = current_app.extensions["metrics"]
    return Response(registry.render(), mimetype=CONTENT_TYPE_LATEST)
