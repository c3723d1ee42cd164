"""Sign-in, lockout, CSRF and the staff CLI (sessions: test_sessions.py; TOTP and recovery
codes: test_second_factor.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.console import users
from bot.console.users import MAX_FAILED_SIGN_INS
from models import AuditEntry, Role, Staff
from tests.console.conftest import PASSWORD, StaffFactory, csrf_token, post_form, sign_in


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
    for _ in range(MAX_FAILED_SIGN_INS):
        sign_in(client, staff.email, "not the password")
    locked = sign_in(client, staff.email, PASSWORD)  # even the right password is refused
    assert locked.status_code == 401
    assert "ロック" in locked.get_data(as_text=True)
    assert reload(app, staff).locked_until is not None
    assert actions(app).count("signin.locked") == 2
    result = app.test_cli_runner().invoke(
        args=["staff", "reset-password", "--email", staff.email, "--password-stdin"],
        input="a brand new password\n",
    )
    assert result.exit_code == 0, result.output
    assert sign_in(client, staff.email, "a brand new password").status_code == 302
    assert "staff.password_reset" in actions(app)


def test_parallel_guesses_get_five_checks_and_then_the_lock_holds(
    app: Flask, staff_factory: StaffFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff = staff_factory(Role.ADMIN)
    checked: list[str] = []
    real_check = users.password_matches

    def counting(candidate: Staff | None, password: str) -> bool:
        if candidate is not None:
            checked.append(password)
        return real_check(candidate, password)

    monkeypatch.setattr(users, "password_matches", counting)
    passwords = [f"wrong password {n:02}" for n in range(40)]
    passwords[23] = PASSWORD  # the 24th attempt has it right
    clients = [app.test_client() for _ in passwords]
    tokens = [csrf_token(c) for c in clients]
    start = threading.Barrier(16)
    statuses: dict[str, int] = {}

    def guess(index: int) -> None:
        if index < 16:
            start.wait()  # the first 16 at once, then as fast as the pool frees
        response = clients[index].post(
            "/admin/signin",
            data={"email": staff.email, "password": passwords[index], "csrf_token": tokens[index]},
        )
        statuses[passwords[index]] = response.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(guess, range(len(passwords))))
    assert len(checked) <= MAX_FAILED_SIGN_INS
    assert statuses[PASSWORD] == 401  # even the right password, once the lock is set
    assert set(statuses.values()) == {401}
    assert reload(app, staff).locked_until is not None
    assert sign_in(app.test_client(), staff.email).status_code == 401  # and it holds


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
