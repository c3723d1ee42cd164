"""Serving the platform on a real port, and the command line."""

from __future__ import annotations

import logging
import socket

import pytest
import requests

from simulator.__main__ import DEFAULT_ACCESS_TOKEN, DEFAULT_CHANNEL_SECRET, parse_args
from simulator.platform import create_platform_app
from simulator.server import start_platform
from simulator.state import ENDPOINT_LIMITS, RETRY_KEY_ENDPOINTS, PlatformState
from simulator.validation import REQUEST_KINDS


def test_url_has_no_trailing_slash_and_shutdown_frees_the_port() -> None:
    state = PlatformState(channel_access_token="t")
    with start_platform(state) as running:
        assert running.url == f"http://127.0.0.1:{running.port}"
        assert running.state is state
        with requests.Session() as session:
            assert session.get(f"{running.url}/_simulator/users").status_code == 200
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", running.port), timeout=1),
    ):
        pass


def test_requests_are_not_logged_above_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    state = PlatformState(channel_access_token="t")
    with start_platform(state) as running, requests.Session() as session:
        session.get(f"{running.url}/v2/bot/profile/U0")
        session.get(f"{running.url}/_simulator/users")
    assert [r for r in caplog.records if "GET" in r.getMessage()] == []


def test_command_line_defaults() -> None:
    args = parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", 5001)
    assert args.webhook_url == "http://127.0.0.1:5000/callback"
    assert args.channel_secret == DEFAULT_CHANNEL_SECRET
    assert args.access_token == DEFAULT_ACCESS_TOKEN
    args = parse_args(["--port", "6001", "--channel-secret", "S", "--access-token", "T"])
    assert (args.port, args.channel_secret, args.access_token) == (6001, "S", "T")


def test_every_messaging_api_route_has_a_known_endpoint_name() -> None:
    app = create_platform_app(PlatformState(channel_access_token="t"))
    names = {rule.endpoint for rule in app.url_map.iter_rules() if rule.rule.startswith("/v2/")}
    assert names == set(ENDPOINT_LIMITS)
    assert set(REQUEST_KINDS) <= names
    assert {"push", "multicast", "narrowcast", "broadcast"} == RETRY_KEY_ENDPOINTS
