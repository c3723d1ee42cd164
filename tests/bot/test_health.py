"""/healthz and /metrics."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from bot import create_app
from simulator.server import RunningPlatform
from tests.support import Resident, app_settings


def test_healthz_reports_the_database(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "database": "ok",
        "inbox": {"pending": 0, "parked": 0, "oldest_pending_seconds": 0.0},
    }


def test_healthz_is_503_when_the_database_is_gone(platform: RunningPlatform) -> None:
    app = create_app(app_settings("postgresql+psycopg://nobody@127.0.0.1:1/none", platform.url))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {
        "status": "unavailable",
        "database": "unreachable",
    }
    app.extensions["line"].close()


def test_metrics_count_events_latency_and_line_calls(
    app: Flask, client: FlaskClient, resident: Resident
) -> None:
    resident.follow()
    resident.say("menu")
    resident.redeliver()
    text = client.get("/metrics").get_data(as_text=True)
    assert 'madoguchi_webhook_events_total{outcome="processed",type="follow"}' in text
    assert "madoguchi_inbox_stored_total 2.0" in text
    assert "madoguchi_inbox_duplicates_total 1.0" in text
    assert "madoguchi_inbox_pending 0.0" in text
    assert 'madoguchi_handler_seconds_count{route="menu.show"}' in text
    assert 'madoguchi_line_api_calls_total{endpoint="reply",status="200"}' in text
    assert 'madoguchi_line_api_calls_total{endpoint="profile",status="200"}' in text


def test_metrics_can_require_a_bearer_token(make_app: Any) -> None:
    client = make_app(METRICS_TOKEN="s3cret-scrape-token").test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    answer = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
    assert answer.status_code == 200
    assert b"madoguchi_webhook_events" in answer.data
