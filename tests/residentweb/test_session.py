"""The resident session: its own cookie, never mixed with the staff session, short-lived."""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parsedate_to_datetime

import pytest
from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from itsdangerous import BadSignature

from bot.console.audit import record
from bot.residentweb import (
    COOKIE_NAME,
    current_resident,
    pages,
    resident_blueprint,
    sign_in_resident,
)
from bot.residentweb.session import ResidentSessionInterface
from bot.residentweb.views import sign_in_url
from bot.work import request_session
from models import Role, Staff
from tests.console.conftest import csrf_token
from tests.residentweb.conftest import Clock, cookie_header, sign_in_as

STAFF_COOKIE = "madoguchi_session"


def test_a_signed_link_signs_the_resident_in(
    app: Flask, client: FlaskClient, resident_id: Callable[..., int]
) -> None:
    assert client.get("/r/test/me").status_code == 403
    resident = resident_id()
    sign_in_as(app, client, resident)
    page = client.get("/r/test/me")
    assert page.status_code == 200
    assert f"resident {resident}" in page.get_data(as_text=True)


def test_the_cookie_is_its_own(
    app: Flask,
    client: FlaskClient,
    resident_id: Callable[..., int],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with app.app_context():
        url = sign_in_url(resident_id(), "resident_test.me")
    landing = client.get(url)
    header = cookie_header(landing.headers.getlist("Set-Cookie"), COOKIE_NAME)
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Path=/r;" in header or header.endswith("Path=/r")
    assert "Secure" not in header  # tests are not production
    expires = parsedate_to_datetime(header.split("Expires=")[1].split(";")[0])
    assert abs(expires.timestamp() - (clock.now + 30 * 60)) <= 1
    assert all(not h.startswith(STAFF_COOKIE) for h in landing.headers.getlist("Set-Cookie"))

    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)  # as in production
    secure = client.get(url)
    assert "Secure" in cookie_header(secure.headers.getlist("Set-Cookie"), COOKIE_NAME)


def test_the_session_ends_after_its_lifetime_however_active(
    app: Flask, client: FlaskClient, resident_id: Callable[..., int], clock: Clock
) -> None:
    sign_in_as(app, client, resident_id())
    for _ in range(29):
        clock.advance(60)
        assert client.get("/r/test/me").status_code == 200  # activity does not extend it
    clock.advance(60)
    ended = client.get("/r/test/me")
    assert ended.status_code == 403
    deleted = cookie_header(ended.headers.getlist("Set-Cookie"), COOKIE_NAME)
    assert "Expires=Thu, 01 Jan 1970" in deleted


def test_the_lifetime_is_a_setting(make_app: Callable[..., Flask]) -> None:
    short = make_app(RESIDENT_SESSION_MINUTES=5)
    assert pages(short).session_lifetime.total_seconds() == 300


def test_a_resident_cookie_cannot_open_the_console(
    app: Flask, client: FlaskClient, resident_id: Callable[..., int]
) -> None:
    sign_in_as(app, client, resident_id())
    resident_cookie = client.get_cookie(COOKIE_NAME, path="/r")
    assert resident_cookie is not None
    # Sent where browsers never send it (path /), and presented as a staff session.
    client.set_cookie(COOKIE_NAME, resident_cookie.value, path="/")
    assert client.get("/admin/").status_code == 302
    client.set_cookie(STAFF_COOKIE, resident_cookie.value, path="/")
    refused = client.get("/admin/")
    assert refused.status_code == 302
    assert refused.headers["Location"].startswith("/admin/signin")
    staff_serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert staff_serializer is not None
    with pytest.raises(BadSignature):
        staff_serializer.loads(resident_cookie.value)


def test_a_staff_cookie_does_not_identify_a_resident(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff]
) -> None:
    signed_in(Role.ADMIN)
    assert client.get("/admin/").status_code == 200
    staff_cookie = client.get_cookie(STAFF_COOKIE)
    assert staff_cookie is not None
    assert client.get("/r/test/me").status_code == 403  # the staff cookie is sent, not read
    assert "nobody" in client.get("/r/test/open").get_data(as_text=True)
    client.set_cookie(COOKIE_NAME, staff_cookie.value, path="/r")
    assert client.get("/r/test/me").status_code == 403
    resident_serializer = ResidentSessionInterface().get_signing_serializer(app)
    assert resident_serializer is not None
    with pytest.raises(BadSignature):
        resident_serializer.loads(staff_cookie.value)
    assert client.get("/admin/").status_code == 200  # and the staff session is untouched


def test_signing_in_starts_a_fresh_session(
    app: Flask, client: FlaskClient, resident_id: Callable[..., int]
) -> None:
    first, second = resident_id(), resident_id()
    sign_in_as(app, client, first)
    sign_in_as(app, client, second)
    assert f"resident {second}" in client.get("/r/test/me").get_data(as_text=True)
    assert client.get("/r/test/signout").status_code == 302
    assert client.get("/r/test/me").status_code == 403


def test_sign_in_refuses_unknown_residents_and_other_pages(app: Flask) -> None:
    with app.test_request_context("/r/test/open"), pytest.raises(LookupError):
        sign_in_resident(999_999)
    with app.test_request_context("/admin/"), pytest.raises(RuntimeError, match="resident pages"):
        sign_in_resident(1)
    with app.test_request_context("/admin/"):
        assert current_resident() is None


def test_resident_forms_carry_a_csrf_token_in_the_resident_session(
    app: Flask, client: FlaskClient, resident_id: Callable[..., int]
) -> None:
    sign_in_as(app, client, resident_id())
    assert client.post("/r/test/form", data={"nickname": "たろう"}).status_code == 400
    token = csrf_token(client, "/r/test/form")
    posted = client.post("/r/test/form", data={"nickname": "たろう", "csrf_token": token})
    assert posted.status_code == 302
    assert client.get_cookie(STAFF_COOKIE) is None  # no staff session was made for it


def test_a_view_without_an_access_rule_is_refused(client: FlaskClient) -> None:
    assert client.get("/r/test/undeclared").status_code == 403


def test_blueprints_live_under_r() -> None:
    for prefix in ("/admin/x", "/rx", "/r/", "coupons"):
        with pytest.raises(ValueError, match="resident pages live under /r"):
            resident_blueprint("x", __name__, prefix)
    assert resident_blueprint("x", __name__, "/r/coupons").url_prefix == "/r/coupons"


def test_auditing_on_a_resident_page_leaves_the_resident_session_alone(app: Flask) -> None:
    with app.test_request_context("/r/test/open"):
        session["_resident"] = 1
        entry = record(request_session(), "coupon.issue", object_type="coupon", object_id=1)
        assert (entry.actor_id, entry.actor_label) == (None, "anonymous")
        assert dict(session) == {"_resident": 1}  # Flask-Login never looked at it
