"""Sign-in, lockout, CSRF and the staff CLI (sessions: test_sessions.py; TOTP and recovery
codes: test_second_factor.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.console import users
from bot.console.users import MAX_FAILED_SIGN_INS
from models import AuditEntry, Role, Staff
from tests.console.conftest import (
    PASSWORD,
    StaffFactory,
    add_staff,
    client_at,
    csrf_token,
    post_form,
    sign_in,
)

#: What one argon2 check costs with argon2-cffi's defaults, roughly.
PRODUCTION_CHECK_SECONDS = 0.1


def actions(app: Flask) -> list[str]:
    with app.extensions["db"].sessions() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def reload(app: Flask, staff: Staff) -> Staff:
    with app.extensions["db"].sessions() as session:
        return session.get_one(Staff, staff.id)


def test_sign_in_and_out(app: Flask, client: FlaskClient, staff_factory: StaffFactory) -> None:
    staff = staff_factory(Role.VIEWER, email="Viewer@Pref.Example.JP")
    assert staff.email == "viewer@pref.example.jp"
    response = sign_in(client, "VIEWER@pref.example.jp")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.post("/admin/signout", data={"csrf_token": csrf_token(client)}).status_code == 302
    assert client.get("/admin/").status_code == 302
    assert actions(app) == ["signin", "signout"]


def test_wrong_password_and_unknown_email_look_the_same(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory
) -> None:
    staff = staff_factory(Role.VIEWER)
    wrong = sign_in(client, staff.email, "wrong password!!")
    unknown = sign_in(client, "nobody@pref.example.jp", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    message = "メールアドレスまたはパスワードが違います"
    assert message in wrong.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)
    assert actions(app) == ["signin.failed", "signin.failed"]
    assert reload(app, staff).failed_logins == 1


def test_lockout_after_repeated_failures(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory
) -> None:
    staff = staff_factory(Role.ADMIN)
    for _ in range(MAX_FAILED_SIGN_INS - 1):
        assert sign_in(client, staff.email, "not the password").status_code == 401
    fifth = sign_in(client, staff.email, "not the password")
    assert "ロック" in fifth.get_data(as_text=True)  # the last check says so
    locked = sign_in(client, staff.email, PASSWORD)  # even the right password is refused
    assert locked.status_code == 401
    assert "ロック" in locked.get_data(as_text=True)
    assert actions(app).count("signin.locked") == 2
    # This address is locked out of this account; the account itself is not.
    assert reload(app, staff).locked_until is None
    result = app.test_cli_runner().invoke(
        args=["staff", "reset-password", "--email", staff.email, "--password-stdin"],
        input="a brand new password\n",
    )
    assert result.exit_code == 0, result.output
    assert sign_in(client, staff.email, "a brand new password").status_code == 302  # at once
    assert "staff.password_reset" in actions(app)


def test_a_stranger_cannot_lock_staff_out(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory
) -> None:
    staff = staff_factory(Role.ADMIN)
    attacker = client_at(app, "198.51.100.7")
    for _ in range(MAX_FAILED_SIGN_INS + 3):
        sign_in(attacker, staff.email, "a guess of the password")
    assert sign_in(attacker, staff.email, PASSWORD).status_code == 401  # refused there...
    office = client_at(app, "203.0.113.20")
    assert sign_in(office, staff.email).status_code == 302  # ...but not at the office
    assert reload(app, staff).locked_until is None


def test_unknown_and_locked_accounts_answer_alike(
    app: Flask, staff_factory: StaffFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every answer is the same page for an account and for a typo, and every one costs a
    password hash (a locked account's too): nothing tells them apart."""
    staff = staff_factory(Role.ADMIN)
    hashed: list[str] = []
    real_check = users.password_matches

    def counting(candidate: Staff | None, password: str) -> bool:
        hashed.append(password)
        return real_check(candidate, password)

    monkeypatch.setattr(users, "password_matches", counting)
    answers: dict[str, list[tuple[int, str]]] = {}
    for email in (staff.email, "nobody@pref.example.jp"):
        attacker = client_at(app, "198.51.100.8")
        answers[email] = []
        for attempt in range(MAX_FAILED_SIGN_INS + 2):
            response = sign_in(attacker, email, f"guess {attempt}")
            page = response.get_data(as_text=True)
            flash = page.split('class="flash error"', 1)[1].split("</p>", 1)[0]
            answers[email].append((response.status_code, flash))
    assert answers[staff.email] == answers["nobody@pref.example.jp"]
    assert len(hashed) == 2 * (MAX_FAILED_SIGN_INS + 2)
    assert "ロック" in answers[staff.email][-1][1]
    assert "ロック" not in answers[staff.email][0][1]


def test_parallel_guesses_get_five_checks_and_then_the_lock_holds(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Counter 1 (per address) lifted: this is about the checks counter 2 allows.
    app = make_app(SIGN_IN_LIMIT_PER_ADDRESS="1000 per minute")
    staff = add_staff(app, Role.ADMIN, email="boss@pref.example.jp")
    checked = count_checks(monkeypatch)
    statuses = guess_in_parallel(app, staff.email, ["127.0.0.1"] * 40)
    assert len(checked) <= MAX_FAILED_SIGN_INS
    assert statuses[PASSWORD] == 401  # even the right password, once the lock is set
    assert set(statuses.values()) == {401}
    assert sign_in(app.test_client(), staff.email).status_code == 401  # and it holds
    assert sign_in(client_at(app, "192.0.2.1"), staff.email).status_code == 302  # not elsewhere


def test_guesses_from_many_addresses_lock_the_account(
    app: Flask, staff_factory: StaffFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(users, "MAX_FAILED_SIGN_INS_ANY_ADDRESS", 8)
    staff = staff_factory(Role.ADMIN)
    checked = count_checks(monkeypatch)
    addresses = [f"198.51.100.{n}" for n in range(40)]  # one guess from each
    statuses = guess_in_parallel(app, staff.email, addresses)
    assert len(checked) <= 8
    assert statuses[PASSWORD] == 401
    assert reload(app, staff).locked_until is not None
    assert sign_in(client_at(app, "192.0.2.1"), staff.email).status_code == 401  # anywhere
    assert "signin.locked" in actions(app)


def count_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords checked against a real account from now on.

    Each check takes as long as argon2 at its production cost (about 0.1 s; the tests hash at
    the smallest cost), so parallel requests overlap inside it as they would in production.
    """
    checked: list[str] = []
    real_check = users.password_matches

    def counting(candidate: Staff | None, password: str) -> bool:
        if candidate is not None:
            checked.append(password)
        time.sleep(PRODUCTION_CHECK_SECONDS)
        return real_check(candidate, password)

    monkeypatch.setattr(users, "password_matches", counting)
    return checked


def guess_in_parallel(app: Flask, email: str, addresses: list[str]) -> dict[str, int]:
    """One sign-in per address (16 at once, then as fast as the pool frees), all wrong but
    the 24th; the status of each password."""
    passwords = [f"wrong password {n:02}" for n in range(len(addresses))]
    passwords[23] = PASSWORD
    clients = [client_at(app, address) for address in addresses]
    tokens = [csrf_token(c) for c in clients]
    start = threading.Barrier(16)
    statuses: dict[str, int] = {}

    def guess(index: int) -> None:
        if index < 16:
            start.wait()
        response = clients[index].post(
            "/admin/signin",
            data={"email": email, "password": passwords[index], "csrf_token": tokens[index]},
        )
        statuses[passwords[index]] = response.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(guess, range(len(passwords))))
    return statuses


def test_forged_form_without_csrf_token_is_refused(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff]
) -> None:
    signed_in(Role.ADMIN)
    response = client.post(
        "/admin/staff",
        data={
            "email": "evil@example.jp",
            "display_name": "x",
            "roles": "admin",
            "password": "a long enough password",
        },
    )
    assert response.status_code == 400
    forged = client.post(
        "/admin/staff",
        data={
            "email": "evil@example.jp",
            "display_name": "x",
            "roles": "admin",
            "password": "a long enough password",
            "csrf_token": "forged.token",
        },
    )
    assert forged.status_code == 400
    with app.extensions["db"].sessions() as session:
        assert (
            session.scalars(select(Staff).where(Staff.email == "evil@example.jp")).first() is None
        )


def test_forged_session_cookie_is_anonymous(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory
) -> None:
    staff = staff_factory(Role.ADMIN)
    client.set_cookie("madoguchi_session", f'{{"_user_id": "{staff.id}"}}.forged.signature')
    assert client.get("/admin/").status_code == 302
    other = app.test_client()
    other.set_cookie("madoguchi_session", "eyJfdXNlcl9pZCI6IjEifQ.aaaa.bbbb")
    assert other.get("/admin/staff").status_code == 302


def test_deactivated_account_cannot_sign_in_or_continue(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory, signed_in: Callable[..., Staff]
) -> None:
    victim = staff_factory(Role.VIEWER)
    victim_client = app.test_client()
    sign_in(victim_client, victim.email)
    signed_in(Role.ADMIN)
    assert post_form(client, f"/admin/staff/{victim.id}/active").status_code == 302
    assert victim_client.get("/admin/").status_code == 302
    assert sign_in(app.test_client(), victim.email).status_code == 401


def test_open_redirect_after_sign_in_is_refused(
    client: FlaskClient, staff_factory: StaffFactory
) -> None:
    staff = staff_factory(Role.VIEWER)
    token = csrf_token(client)
    response = client.post(
        "/admin/signin?next=//evil.example/x",
        data={"email": staff.email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/admin/"


def test_cli_creates_staff_and_refuses_bad_input(app: Flask) -> None:
    runner = app.test_cli_runner()
    ok = runner.invoke(
        args=[
            "staff",
            "create",
            "--email",
            "Chief@pref.example.jp",
            "--role",
            "admin",
            "--role",
            "approver",
            "--password-stdin",
        ],
        input="a strong first password\n",
    )
    assert ok.exit_code == 0, ok.output
    assert "chief@pref.example.jp" in ok.output
    again = runner.invoke(
        args=[
            "staff",
            "create",
            "--email",
            "chief@pref.example.jp",
            "--role",
            "admin",
            "--password-stdin",
        ],
        input="a strong first password\n",
    )
    assert again.exit_code == 1
    assert "already" in again.output
    short = runner.invoke(
        args=[
            "staff",
            "create",
            "--email",
            "x@pref.example.jp",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        input="short\n",
    )
    assert short.exit_code == 1
    bad_role = runner.invoke(
        args=[
            "staff",
            "create",
            "--email",
            "y@pref.example.jp",
            "--role",
            "overlord",
            "--password-stdin",
        ],
        input="a strong password!\n",
    )
    assert bad_role.exit_code == 2
    assert (
        sign_in(app.test_client(), "chief@pref.example.jp", "a strong first password").status_code
        == 302
    )


def _serializer(key: str) -> Any:
    from flask.sessions import SecureCookieSessionInterface

    signer = Flask("attacker")
    signer.secret_key = key
    serializer = SecureCookieSessionInterface().get_signing_serializer(signer)
    assert serializer is not None
    return serializer


def test_development_mode_has_no_public_session_key(
    make_app: Callable[..., Flask], staff_factory: StaffFactory
) -> None:
    """A cookie signed with the key development mode once used opens nothing, even when it
    carries the id of a live session."""
    app = make_app(
        MADOGUCHI_ENV="development",
        SECRET_KEY=None,
        LINE_CHANNEL_SECRET="",
        LINE_CHANNEL_ACCESS_TOKEN="",
    )
    add_staff(app, Role.ADMIN, email="admin@pref.example.jp")
    owner = app.test_client()
    assert sign_in(owner, "admin@pref.example.jp").status_code == 302
    cookie = owner.get_cookie("madoguchi_session")
    assert cookie is not None
    live = _serializer(app.config["SECRET_KEY"]).loads(cookie.value)
    old_key = "madoguchi-development-only"
    attacker = app.test_client()
    attacker.set_cookie("madoguchi_session", _serializer(old_key).dumps(live))
    assert attacker.get("/admin/staff").status_code == 302
    # The same cookie signed with the run's own key works: the forgery itself is right.
    trusted = app.test_client()
    trusted.set_cookie("madoguchi_session", _serializer(app.config["SECRET_KEY"]).dumps(live))
    assert trusted.get("/admin/staff").status_code == 200


def test_wrong_current_passwords_count_like_sign_ins(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff]
) -> None:
    staff = signed_in(Role.EDITOR)
    new = "brass violin meadow 42"
    change: dict[str, object] = {"current": "not my password", "new": new, "confirm": new}
    for _ in range(MAX_FAILED_SIGN_INS - 1):
        refused = post_form(client, "/admin/account/password", change)
        assert refused.headers["Location"] == "/admin/account"
    assert client.get("/admin/account").status_code == 200  # still signed in
    last = post_form(client, "/admin/account/password", change)
    assert last.headers["Location"] == "/admin/signin"
    assert "ロック" in client.get("/admin/signin").get_data(as_text=True)
    assert client.get("/admin/account").status_code == 302  # the session ended
    assert actions(app)[1:] == [
        *["staff.password_change_failed"] * (MAX_FAILED_SIGN_INS - 1),
        "signin.locked",
    ]
    assert sign_in(app.test_client(), staff.email).status_code == 401  # this address: locked
    assert sign_in(client_at(app, "192.0.2.1"), staff.email).status_code == 302
    assert users.password_matches(reload(app, staff), PASSWORD)  # nothing was changed
