"""``/healthz`` (is the database reachable?) and ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.db import get_db
from bot.metrics import Metrics

logger = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the database answers a query, 503 otherwise."""
    try:
        with get_db().reading() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        logger.error("health check: database unreachable", extra={"error": type(exc).__name__})
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok"), 200


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
