"""Sign-in throttling per client address (Flask-Limiter): the 429 page, other addresses,
proxies, and where the counts live."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from limits.storage import MemoryStorage, RedisStorage
from sqlalchemy import func, select

from bot import create_app
from bot.console import users
from bot.console.throttle import storage_uri, throttle
from models import AuditEntry, Role, Staff
from simulator.server import RunningPlatform
from tests.console.conftest import add_staff, csrf_token, sign_in
from tests.support import app_settings


def test_an_address_over_its_limit_gets_a_japanese_page_and_others_sign_in(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(SIGN_IN_LIMIT_PER_ADDRESS="3 per minute")
    staff = add_staff(app, Role.VIEWER, email="desk@pref.example.jp")
    noisy = app.test_client()
    noisy.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    for n in range(3):
        assert sign_in(noisy, f"someone{n}@pref.example.jp", "guess").status_code == 401
    throttled = sign_in(noisy, staff.email)  # the right password, but too many posts
    assert throttled.status_code == 429
    page = throttled.get_data(as_text=True)
    assert '<html lang="ja">' in page
    assert "試行回数が多すぎます" in page
    assert "1分ほど待ってから" in page
    assert 'href="/static/console.css' in page  # the console's own styled page
    assert int(throttled.headers["Retry-After"]) > 0
    assert throttled.headers["Content-Security-Policy"]  # the console's headers too
    assert noisy.get("/admin/signin").status_code == 200  # only posts are counted
    office = app.test_client()
    office.environ_base["REMOTE_ADDR"] = "203.0.113.5"
    assert sign_in(office, staff.email).status_code == 302
    with app.extensions["db"].sessions() as session:  # a throttled post checks nothing
        failed = select(func.count()).where(AuditEntry.action == "signin.failed")
        assert session.scalar(failed) == 3


def test_behind_a_proxy_the_forwarded_address_is_the_client(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(SIGN_IN_LIMIT_PER_ADDRESS="2 per minute", TRUSTED_PROXY_COUNT=1)

    def post_from(client: FlaskClient, forwarded: str) -> int:
        token = csrf_token(client)
        response = client.post(
            "/admin/signin",
            data={"email": "x@pref.example.jp", "password": "guess", "csrf_token": token},
            headers={"X-Forwarded-For": forwarded},
        )
        return response.status_code

    proxy = app.test_client()  # every request arrives from the proxy's own address
    assert [post_from(proxy, "192.0.2.1") for _ in range(3)] == [401, 401, 429]
    assert post_from(proxy, "192.0.2.2") == 401  # another client behind the same proxy
    with app.extensions["db"].sessions() as session:
        addresses = set(session.scalars(select(AuditEntry.remote_addr)))
    assert addresses == {"192.0.2.1", "192.0.2.2"}


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(SIGN_IN_LIMIT_PER_ADDRESS="2 per minute")
    client = app.test_client()
    statuses = []
    for n in range(3):  # a guesser cannot escape the limit by inventing addresses
        token = csrf_token(client)
        statuses.append(
            client.post(
                "/admin/signin",
                data={"email": "x@pref.example.jp", "password": "guess", "csrf_token": token},
                headers={"X-Forwarded-For": f"192.0.2.{n}"},
            ).status_code
        )
    assert statuses == [401, 401, 429]


@pytest.mark.parametrize(
    ("settings", "uri", "storage"),
    [
        ({}, "memory://", MemoryStorage),
        ({"REDIS_URL": "redis://127.0.0.1:1/0"}, "redis://127.0.0.1:1/0", RedisStorage),
        (
            {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/1", "REDIS_URL": "redis://other/2"},
            "redis://127.0.0.1:1/1",
            RedisStorage,
        ),
    ],
)
def test_counts_live_in_redis_when_one_is_configured(
    database_url: str, platform: RunningPlatform, settings: dict[str, str], uri: str, storage: type
) -> None:
    app = create_app(app_settings(database_url, platform.url, **settings))
    try:  # (no Redis runs here: the storage connects on first use)
        assert storage_uri(app) == uri
        assert type(throttle(app).limiter.storage) is storage
    finally:
        app.extensions["line"].close()
        app.extensions["db"].dispose()


def test_a_bad_limit_setting_is_refused(make_app: Callable[..., Flask]) -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="SIGN_IN_LIMIT_PER_ADDRESS"):
        make_app(SIGN_IN_LIMIT_PER_ADDRESS="lots")


def test_processes_sharing_redis_share_the_counts(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two web processes on one Redis: guesses spread over both still get five checks."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("live Redis run skipped: set TEST_REDIS_URL (CI does; see .ci/run)")
    first = make_app(RATELIMIT_STORAGE_URI=url)
    second = make_app(RATELIMIT_STORAGE_URI=url)
    throttle(first).reset()  # counts of an earlier run
    staff = add_staff(first, Role.VIEWER, email="shared@pref.example.jp")
    checked: list[str] = []
    real = users.password_matches

    def counting(who: Staff | None, password: str) -> bool:
        if who is not None:
            checked.append(password)
        return real(who, password)

    monkeypatch.setattr(users, "password_matches", counting)
    answers = [
        sign_in((first if n % 2 else second).test_client(), staff.email, f"guess {n}").status_code
        for n in range(8)
    ]
    assert answers == [401] * 8
    assert len(checked) == users.MAX_FAILED_SIGN_INS  # not five per process
    assert sign_in(second.test_client(), staff.email).status_code == 401  # locked for this address
    throttle(first).reset()
