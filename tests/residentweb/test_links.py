"""Signed, expiring URLs: made on PUBLIC_BASE_URL, refused when tampered with, expired or
made for another purpose."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.residentweb.links import ExpiredLink, InvalidLink, read_link, signed_link, signed_url
from bot.residentweb.views import sign_in_url
from models import Resident
from tests.residentweb.conftest import Clock
from tests.toy_feature.resident_pages import OTHER_PURPOSE, PURPOSE

TEN_MINUTES = timedelta(minutes=10)


def make(app: Flask, endpoint: str = "resident_test.link", **kwargs: object) -> str:
    options: dict[str, object] = {"purpose": PURPOSE, "expires_in": TEN_MINUTES, "number": 7}
    options.update(kwargs)
    with app.app_context():  # no request: handlers and clock jobs make links like this
        return signed_url(endpoint, **options)  # type: ignore[arg-type]


def token_of(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


def test_a_link_opens_its_page_as_often_as_wanted_until_it_expires(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    url = make(app)
    assert url.startswith("http://localhost/r/test/link/")
    for _ in range(3):  # a bearer link: replaying it within its time is allowed
        page = client.get(url)
        assert page.status_code == 200
        assert "number 7" in page.get_data(as_text=True)
    clock.advance(TEN_MINUTES.total_seconds() - 1)
    assert client.get(url).status_code == 200
    clock.advance(1)
    expired = client.get(url)
    assert expired.status_code == 410
    html = expired.get_data(as_text=True)
    assert "リンクの有効期限が切れました" in html
    assert '<html lang="ja">' in html


def test_a_tampered_link_is_refused(app: Flask, client: FlaskClient) -> None:
    url = make(app)
    token = token_of(url)
    payload, signature = token.split(".")
    forged = make(app, number=8)
    variants = [
        payload + "." + signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB"),
        payload[:-1] + "." + signature,
        token_of(forged).split(".")[0] + "." + signature,  # another payload, this signature
        token[:-10],
        "not-a-token",
        "x" * 2000,
    ]
    for variant in variants:
        answer = client.get(f"/r/test/link/{variant}")
        assert answer.status_code == 400, variant
        assert "このリンクは無効です" in answer.get_data(as_text=True)


def test_a_link_for_another_purpose_is_refused(app: Flask, client: FlaskClient) -> None:
    other = make(app, "resident_test.other", purpose=OTHER_PURPOSE)
    assert client.get(other).status_code == 200
    assert client.get(f"/r/test/link/{token_of(other)}").status_code == 400
    sign_in = sign_in_link(app)
    assert client.get(f"/r/test/link/{token_of(sign_in)}").status_code == 400
    with app.test_request_context("/r/test/open"), pytest.raises(InvalidLink):
        read_link(token_of(other), PURPOSE)


def sign_in_link(app: Flask) -> str:
    with app.app_context():
        return sign_in_url(1, "resident_test.me")


def test_read_link_tells_expired_from_invalid(app: Flask, clock: Clock) -> None:
    token = token_of(make(app))
    with app.test_request_context("/r/test/open"):
        assert read_link(token, PURPOSE) == {"number": 7}
        clock.advance(3600)
        with pytest.raises(ExpiredLink):
            read_link(token, PURPOSE)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"endpoint": "resident_test.other"}, "not a signed-link page"),
        ({"endpoint": "resident_test.me"}, "not a signed-link page"),
        ({"endpoint": "console.dashboard"}, "not a signed-link page"),
        ({"endpoint": "no.such.page"}, "not a signed-link page"),
        ({"endpoint": "resident_test.misrouted"}, "needs a <token>"),
        ({"purpose": "Test Page"}, "short lower-case name"),
        ({"expires_in": timedelta(0)}, "more than 0"),
        ({"expires_in": timedelta(seconds=-5)}, "more than 0"),
        ({"expires_in": timedelta(days=31)}, "at most 30 days"),
        ({"number": 1.5}, "int or a string"),
        ({"number": True}, "int or a string"),
        ({"number": None}, "int or a string"),
        ({"number": [1]}, "int or a string"),
        ({"token": "x"}, "int or a string"),
    ],
)
def test_bad_link_requests_are_refused(app: Flask, change: dict[str, object], message: str) -> None:
    options = dict(change)
    endpoint = str(options.pop("endpoint", "resident_test.link"))
    with pytest.raises(ValueError, match=message):
        make(app, endpoint, **options)


def test_links_are_absolute_on_the_public_base_url(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "https://line.pref.example.jp/madoguchi")
    url = make(app)
    assert url.startswith("https://line.pref.example.jp/madoguchi/r/test/link/")
    with app.test_request_context("/r/test/open", base_url="http://other.example/"):
        assert signed_url(
            "resident_test.link", purpose=PURPOSE, expires_in=TEN_MINUTES, number=1
        ).startswith("https://line.pref.example.jp/madoguchi/r/")


def test_a_sign_in_link_expires_and_needs_the_resident(
    app: Flask, client: FlaskClient, clock: Clock, resident_id: Callable[..., int]
) -> None:
    resident = resident_id()
    with app.app_context():
        url = sign_in_url(resident, "resident_test.me", expires_in=timedelta(minutes=2))
        unknown = sign_in_url(999_999, "resident_test.me")
    assert client.get(unknown).status_code == 410  # the resident's records are gone
    clock.advance(120)
    assert client.get(url).status_code == 410
    assert client.get("/r/test/me").status_code == 403
    with app.app_context():
        fresh = sign_in_url(resident, "resident_test.me")
    assert client.get(fresh).status_code == 302
    assert client.get("/r/test/me").status_code == 200
    with app.extensions["db"].unit_of_work() as session:
        session.delete(session.get_one(Resident, resident))
    assert client.get("/r/test/me").status_code == 403  # deleted since it signed in


@pytest.mark.parametrize("endpoint", ["console.dashboard", "health.healthz", "no.such.page"])
def test_sign_in_links_open_resident_pages_only(app: Flask, endpoint: str) -> None:
    with app.app_context(), pytest.raises(ValueError, match="not a resident page"):
        sign_in_url(1, endpoint)


@pytest.mark.parametrize("purpose", ["", "Sign In", "sign_in", "x" * 41, "-x"])
def test_purposes_are_short_lower_case_names(app: Flask, purpose: str) -> None:
    with pytest.raises(ValueError, match="short lower-case name"):
        signed_link(purpose)
    with (
        app.test_request_context("/r/test/open"),
        pytest.raises(ValueError, match="short lower-case name"),
    ):
        read_link("token", purpose)
