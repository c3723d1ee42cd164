"""Each part of the site gets its own headers: console, resident pages, machine endpoints."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask, Response
from flask.testing import FlaskClient
from werkzeug.test import TestResponse
from werkzeug.wrappers import Response as WerkzeugResponse

from bot import console, residentweb
from bot.surfaces import Surface, register_surface
from models import Role, Staff
from tests.residentweb.conftest import sign_in_as

#: Headers only pages for people carry.
PAGE_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy")


def assert_console(answer: TestResponse) -> None:
    assert answer.headers["Content-Security-Policy"] == console.CONTENT_SECURITY_POLICY
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def assert_resident(answer: TestResponse) -> None:
    policy = answer.headers["Content-Security-Policy"]
    assert policy == residentweb.CONTENT_SECURITY_POLICY
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ):
        assert directive in policy
    assert "unsafe" not in policy
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def assert_machine(answer: WerkzeugResponse) -> None:
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    for name in (*PAGE_HEADERS, "Strict-Transport-Security"):
        assert name not in answer.headers, name


def test_console_pages_get_the_consoles_headers(
    client: FlaskClient, signed_in: Callable[..., Staff]
) -> None:
    for path in ("/admin/signin", "/admin/no-such-page"):
        assert_console(client.get(path))
    signed_in(Role.ADMIN)
    page = client.get("/admin/")
    assert_console(page)
    assert page.headers["Cache-Control"] == "no-store"  # signed in


def test_resident_pages_get_their_own_headers(
    app: Flask, client: FlaskClient, resident_id: Callable[..., int]
) -> None:
    for path in ("/r/test/open", "/r/no-such-page", "/r/test/link/forged", "/r", "/r/test/me"):
        assert_resident(client.get(path))
    sign_in_as(app, client, resident_id())
    assert_resident(client.get("/r/test/me"))


def test_machine_endpoints_get_only_nosniff(client: FlaskClient) -> None:
    assert_machine(client.post("/callback", data=b"{}"))  # unsigned: 400
    assert_machine(client.get("/healthz"))
    assert_machine(client.get("/metrics"))
    with client.get("/static/resident.css") as css:
        assert_machine(css)
    assert_machine(client.get("/administrator"))  # not the console: a plain 404


def test_https_deployments_get_hsts_everywhere(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)  # as in production
    for path in ("/admin/signin", "/r/test/open", "/healthz"):
        assert client.get(path).headers["Strict-Transport-Security"] == "max-age=31536000"


def test_a_view_may_set_its_own_header(app: Flask) -> None:
    response = Response("x", headers={"Cache-Control": "private, max-age=60"})
    with app.test_request_context("/r/test/open"):
        answered = app.process_response(response)
    assert answered.headers["Cache-Control"] == "private, max-age=60"
    assert answered.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("prefix", ["/admin", "/admin/x", "/r/coupons", "/", "/x/", "x"])
def test_surfaces_cannot_overlap_or_be_malformed(app: Flask, prefix: str) -> None:
    surface = Surface(
        "other", prefix, headers=lambda r: None, error_page=lambda e: e, language=lambda: None
    )
    with pytest.raises(ValueError, match=r"prefix|overlaps"):
        register_surface(app, surface)
