"""TOTP and recovery codes: each code once, lockout of wrong codes, parallel submissions of
one code, enrolment kept off the cookie, turning off and new codes behind password and code,
and the setting that requires TOTP of admins and approvers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from bot.console.throttle import throttle
from bot.console.users import MAX_FAILED_SIGN_INS
from models import AuditEntry, RecoveryCode, Role, Staff, StaffSession
from tests.console.conftest import StaffFactory, client_at, csrf_token, post_form, sign_in
from tests.console.totp import Enrolled, code, enrol, steady_step
from tests.support import PASSWORD

CODE_PAGE = "/admin/signin/code"


def sign_in_with_code(client: FlaskClient, email: str, entry: str) -> TestResponse:
    """Password, then ``entry`` (a TOTP or recovery code) on the code page."""
    first = sign_in(client, email)
    assert first.headers["Location"].startswith(CODE_PAGE), first.get_data(as_text=True)
    return client.post(CODE_PAGE, data={"code": entry, "csrf_token": csrf_token(client, CODE_PAGE)})


def sign_in_now(client: FlaskClient, account: TotpAccount) -> None:
    """Sign in with the password and the app's current code."""
    secret = account.enrolled.secret
    answer = sign_in_with_code(client, account.staff.email, code(secret, steady_step(secret)))
    assert answer.status_code == 302, answer.get_data(as_text=True)


def reload(app: Flask, staff: Staff) -> Staff:
    with app.extensions["db"].sessions() as session:
        return session.get_one(Staff, staff.id)


def actions(app: Flask) -> list[str]:
    with app.extensions["db"].sessions() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def audit(app: Flask, action: str) -> list[AuditEntry]:
    with app.extensions["db"].sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


@dataclass(frozen=True)
class TotpAccount:
    staff: Staff
    enrolled: Enrolled


@pytest.fixture
def with_totp(app: Flask, staff_factory: StaffFactory) -> Callable[..., TotpAccount]:
    """An account with TOTP set up through the pages (then signed out)."""

    def make(*roles: Role) -> TotpAccount:
        staff = staff_factory(*(roles or (Role.ADMIN,)))
        client = app.test_client()
        assert sign_in(client, staff.email).status_code == 302
        enrolled = enrol(client)
        post_form(client, "/admin/signout")
        return TotpAccount(reload(app, staff), enrolled)

    return make


def test_each_code_signs_in_once_and_older_ones_never(
    app: Flask, client: FlaskClient, with_totp: Callable[..., TotpAccount]
) -> None:
    account = with_totp()
    secret, email = account.enrolled.secret, account.staff.email
    step = steady_step(secret)
    assert step > account.enrolled.step
    ok = sign_in_with_code(client, email, code(secret, step))
    assert ok.status_code == 302
    assert ok.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    post_form(client, "/admin/signout")
    again = sign_in_with_code(client, email, code(secret, step))  # the same code
    assert again.status_code == 401
    assert "既に使われています" in again.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302
    previous = sign_in_with_code(client, email, code(secret, step - 1))  # the window before
    assert previous.status_code == 401
    assert reload(app, account.staff).totp_last_step == step
    assert actions(app).count("signin.code_failed") == 2


def test_the_code_page_needs_the_password_first(client: FlaskClient) -> None:
    assert client.get(CODE_PAGE).headers["Location"] == "/admin/signin"
    with client.session_transaction() as cookie:  # a forged pending step (not an int)
        cookie["pending_staff"] = "1"
        cookie["pending_at"] = 1e12
    assert client.get(CODE_PAGE).headers["Location"] == "/admin/signin"


def test_parallel_submissions_of_one_code_sign_in_once(
    app: Flask, with_totp: Callable[..., TotpAccount], monkeypatch: pytest.MonkeyPatch
) -> None:
    account = with_totp()
    secret = account.enrolled.secret
    # One address each: the per-address count leaves each one checks to spare.
    clients = [client_at(app, f"198.51.100.{n}") for n in range(8)]
    tokens = []
    for client in clients:
        assert sign_in(client, account.staff.email).status_code == 302
        tokens.append(csrf_token(client, CODE_PAGE))
    the_code = code(secret, steady_step(secret))
    start = threading.Barrier(len(clients))

    def submit(index: int) -> int:
        start.wait()
        return (
            clients[index]
            .post(CODE_PAGE, data={"code": the_code, "csrf_token": tokens[index]})
            .status_code
        )

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        statuses = list(pool.map(submit, range(len(clients))))
    assert sorted(statuses) == [302] + [401] * (len(clients) - 1)
    with app.extensions["db"].sessions() as session:
        opened = session.scalars(
            select(StaffSession).where(StaffSession.staff_id == account.staff.id)
        ).all()
    assert len(opened) == 1


def test_wrong_codes_count_towards_the_lockout(
    app: Flask, client: FlaskClient, with_totp: Callable[..., TotpAccount]
) -> None:
    account = with_totp()
    secret, email = account.enrolled.secret, account.staff.email
    assert sign_in(client, email).status_code == 302  # the password: check 1
    token = csrf_token(client, CODE_PAGE)
    for _ in range(MAX_FAILED_SIGN_INS - 2):  # checks 2 to 4
        wrong = client.post(CODE_PAGE, data={"code": "000000", "csrf_token": token})
        assert wrong.status_code == 401
    locked = client.post(CODE_PAGE, data={"code": "000001", "csrf_token": token})  # check 5
    assert locked.status_code == 401
    assert "ロック" in locked.get_data(as_text=True)
    # Locked for this address: every check was counted for the account too.
    assert reload(app, account.staff).failed_logins == MAX_FAILED_SIGN_INS
    # The right password and then the right code, while locked: refused.
    right = code(secret, steady_step(secret))
    assert sign_in(client, email).status_code == 401
    with client.session_transaction() as cookie:  # even with the code step reached before
        cookie["pending_staff"] = account.staff.id
        cookie["pending_at"] = time.time()
    late = client.post(CODE_PAGE, data={"code": right, "csrf_token": csrf_token(client, CODE_PAGE)})
    assert late.status_code == 401
    assert client.get("/admin/").status_code == 302
    assert actions(app).count("signin.code_failed") == MAX_FAILED_SIGN_INS - 2
    assert actions(app).count("signin.locked") == 3
    # Another address still signs the owner in (a guesser cannot lock staff out).
    sign_in_now(client_at(app, "192.0.2.7"), account)


def test_a_right_password_buys_no_more_guesses_at_the_code(
    app: Flask, client: FlaskClient, with_totp: Callable[..., TotpAccount]
) -> None:
    account = with_totp()
    secret = account.enrolled.secret
    for _ in range(MAX_FAILED_SIGN_INS - 1):
        assert sign_in(client, account.staff.email, "not the password").status_code == 401
    last = sign_in(client, account.staff.email)  # right, on the window's last check
    assert last.headers["Location"].startswith(CODE_PAGE)
    right = code(secret, steady_step(secret))
    refused = client.post(
        CODE_PAGE, data={"code": right, "csrf_token": csrf_token(client, CODE_PAGE)}
    )
    assert refused.status_code == 401  # no check is left for the code
    assert "ロック" in refused.get_data(as_text=True)
    throttle(app).reset()  # the lock window passes
    sign_in_now(client, account)


def test_the_secret_being_set_up_never_goes_in_the_cookie(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory
) -> None:
    staff = staff_factory(Role.VIEWER)  # every role may set it up
    sign_in(client, staff.email)
    page = client.get("/admin/account/totp").get_data(as_text=True)
    with app.extensions["db"].sessions() as session:
        [row] = session.scalars(select(StaffSession).where(StaffSession.staff_id == staff.id))
    secret = row.totp_pending_secret
    assert secret
    assert secret in page
    with client.session_transaction() as cookie:
        assert secret not in repr(dict(cookie))
    assert secret in client.get("/admin/account/totp").get_data(as_text=True)  # the same
    elsewhere = app.test_client()
    sign_in(elsewhere, staff.email)
    assert secret not in elsewhere.get("/admin/account/totp").get_data(as_text=True)


def test_enrolment_refuses_a_wrong_code_and_a_second_secret(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory
) -> None:
    staff = staff_factory(Role.EDITOR)
    sign_in(client, staff.email)
    no_secret = post_form(client, "/admin/account/totp", {"code": "123456"})
    assert no_secret.headers["Location"] == "/admin/account/totp"
    client.get("/admin/account/totp")
    for bad in ("000000", "12345", "abcdef", ""):
        answer = post_form(
            client, "/admin/account/totp", {"code": bad}, token_from="/admin/account/totp"
        )
        assert answer.status_code == 302
    assert reload(app, staff).totp_secret is None
    enrolled = enrol(client)
    assert reload(app, staff).totp_secret == enrolled.secret
    # Setting it up again without password and code is refused (the account page's form).
    client.get("/admin/account/totp")
    replaced = post_form(
        client, "/admin/account/totp", {"code": code(enrolled.secret, enrolled.step)}
    )
    assert replaced.headers["Location"] == "/admin/account"
    assert reload(app, staff).totp_secret == enrolled.secret
    assert actions(app).count("staff.totp_enable") == 1


def test_recovery_codes_sign_in_once_each(
    app: Flask, client: FlaskClient, with_totp: Callable[..., TotpAccount]
) -> None:
    account = with_totp()
    codes = account.enrolled.recovery_codes
    assert len(set(codes)) == 10
    with app.extensions["db"].sessions() as session:
        stored = session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10
    assert not {c.replace("-", "") for c in codes} & {s[:12] for s in stored}
    assert all(c not in stored for c in codes)
    typed = " " + codes[3].upper().replace("-", " ") + " "  # case and spacing do not matter
    assert sign_in_with_code(client, account.staff.email, typed).status_code == 302
    [used] = audit(app, "signin.recovery_code")
    assert used.detail == {"left": 9}
    [signin] = audit(app, "signin")[-1:]
    assert signin.detail["second_factor"] == "recovery_code"
    post_form(client, "/admin/signout")
    again = sign_in_with_code(client, account.staff.email, codes[3])
    assert again.status_code == 401
    assert client.get("/admin/").status_code == 302


def test_turning_totp_off_needs_the_password_and_a_code(
    app: Flask, client: FlaskClient, with_totp: Callable[..., TotpAccount]
) -> None:
    account = with_totp()
    secret = account.enrolled.secret
    used = code(secret, steady_step(secret))
    assert sign_in_with_code(client, account.staff.email, used).status_code == 302
    recovery = account.enrolled.recovery_codes[0]
    attempts: list[dict[str, object]] = [
        {},
        {"password": PASSWORD},
        {"code": recovery},
        {"password": "not the password", "code": recovery},
        {"password": PASSWORD, "code": "000000"},
        {"password": PASSWORD, "code": used},  # used to sign in
    ]
    for data in attempts:
        answer = post_form(client, "/admin/account/totp/disable", data)
        assert answer.headers["Location"] == "/admin/account"
        assert reload(app, account.staff).totp_secret == secret, data
    failures = audit(app, "staff.confirm_failed")
    assert len(failures) == 3  # the forms that were complete
    assert all(f.detail == {"for": "totp_disable"} for f in failures)
    assert reload(app, account.staff).failed_logins == 3
    # The wrong password did not use up the code: it still works with the right one.
    done = post_form(
        client, "/admin/account/totp/disable", {"password": PASSWORD, "code": recovery}
    )
    assert done.headers["Location"] == "/admin/account"
    staff = reload(app, account.staff)
    assert staff.totp_secret is None
    assert staff.failed_logins == 0
    with app.extensions["db"].sessions() as session:
        assert session.scalars(select(RecoveryCode)).all() == []
    [disabled] = audit(app, "staff.totp_disable")
    assert disabled.detail == {"confirmed_with": "recovery_code"}
    assert sign_in(app.test_client(), staff.email).headers["Location"] == "/admin/"


def test_wrong_confirmations_lock_the_account(
    app: Flask, client: FlaskClient, with_totp: Callable[..., TotpAccount]
) -> None:
    account = with_totp()
    sign_in_now(client, account)
    for _ in range(MAX_FAILED_SIGN_INS):
        post_form(
            client, "/admin/account/totp/recovery-codes", {"password": "guess", "code": "000000"}
        )
    assert reload(app, account.staff).failed_logins == MAX_FAILED_SIGN_INS
    assert "signin.locked" in actions(app)
    code_now = account.enrolled.recovery_codes[0]
    locked = post_form(
        client, "/admin/account/totp/recovery-codes", {"password": PASSWORD, "code": code_now}
    )
    assert locked.headers["Location"] == "/admin/account"
    assert "ロック" in client.get("/admin/account").get_data(as_text=True)
    assert actions(app).count("staff.recovery_codes") == 0


def test_new_recovery_codes_replace_the_old_ones(
    app: Flask, client: FlaskClient, with_totp: Callable[..., TotpAccount]
) -> None:
    account = with_totp()
    old = account.enrolled.recovery_codes
    assert sign_in_with_code(client, account.staff.email, old[0]).status_code == 302
    page = client.get("/admin/account").get_data(as_text=True)
    assert "残りの回復コード: 9" in page
    answer = post_form(
        client, "/admin/account/totp/recovery-codes", {"password": PASSWORD, "code": old[1]}
    )
    assert answer.status_code == 200
    new = [
        line.split("</code>")[0] for line in answer.get_data(as_text=True).split("<li><code>")[1:]
    ]
    assert len(new) == 10
    assert not set(new) & set(old)
    post_form(client, "/admin/signout")
    assert sign_in_with_code(app.test_client(), account.staff.email, old[2]).status_code == 401
    assert sign_in_with_code(app.test_client(), account.staff.email, new[0]).status_code == 302
    [made] = audit(app, "staff.recovery_codes")
    assert made.detail == {"confirmed_with": "recovery_code"}


def test_required_totp_sends_admins_and_approvers_to_enrolment(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory
) -> None:
    admin = staff_factory(Role.ADMIN)
    approver = staff_factory(Role.APPROVER)
    editor = staff_factory(Role.EDITOR)
    sign_in(client, admin.email)
    settings = client.get("/admin/settings").get_data(as_text=True)
    assert approver.email in settings  # listed as lacking TOTP
    assert editor.email not in settings
    assert post_form(client, "/admin/settings", {"totp_required": "y"}).status_code == 302
    [changed] = audit(app, "settings.update")
    assert changed.detail == {"totp_required": True}
    # The admin who turned it on has no TOTP either: enrolment first.
    assert client.get("/admin/").headers["Location"] == "/admin/account/totp"

    person = app.test_client()
    first = sign_in(person, approver.email)
    assert first.headers["Location"] == "/admin/account/totp"
    for path in ("/admin/", "/admin/account", "/admin/staff"):
        assert person.get(path).headers["Location"] == "/admin/account/totp"
    token = csrf_token(person, "/admin/account/totp")
    language = person.post("/admin/account/language", data={"language": "en", "csrf_token": token})
    assert language.status_code == 403
    assert reload(app, approver).language == "ja"
    enrol(person)
    assert person.get("/admin/").status_code == 200
    assert sign_in(app.test_client(), editor.email).headers["Location"] == "/admin/"


def test_a_required_account_sets_totp_up_again_for_a_new_phone(
    app: Flask, client: FlaskClient, with_totp: Callable[..., TotpAccount]
) -> None:
    account = with_totp(Role.APPROVER)
    with app.extensions["db"].unit_of_work() as session:
        from bot.console.second_factor import require_totp

        require_totp(session, True)
    secret = account.enrolled.secret
    sign_in_now(client, account)
    page = client.get("/admin/account").get_data(as_text=True)
    assert "新しいスマートフォンで設定し直す" in page
    recovery = account.enrolled.recovery_codes[0]  # the old phone is gone
    post_form(client, "/admin/account/totp/disable", {"password": PASSWORD, "code": recovery})
    assert client.get("/admin/").headers["Location"] == "/admin/account/totp"
    renewed = enrol(client)
    assert renewed.secret != secret
    assert client.get("/admin/").status_code == 200


def test_sign_in_audit_has_address_and_browser_and_never_a_secret(
    app: Flask, with_totp: Callable[..., TotpAccount]
) -> None:
    account = with_totp()
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 Test"
    secret = account.enrolled.secret
    sign_in_with_code(client, account.staff.email, "999999")
    sign_in_with_code(client, account.staff.email, code(secret, steady_step(secret)))
    entries = audit(app, "signin")
    assert entries[-1].user_agent == "Mozilla/5.0 Test"
    assert entries[-1].remote_addr == "127.0.0.1"
    assert entries[-1].detail["second_factor"] == "totp"
    with app.extensions["db"].sessions() as session:
        everything = repr(
            [(e.actor_label, e.detail, e.object_id) for e in session.scalars(select(AuditEntry))]
        )
    for secret_thing in (PASSWORD, secret, "999999", *account.enrolled.recovery_codes):
        assert secret_thing not in everything


def test_cli_turns_totp_off_for_a_lost_phone(
    app: Flask, client: FlaskClient, with_totp: Callable[..., TotpAccount]
) -> None:
    account = with_totp()
    sign_in_now(client, account)
    runner = app.test_cli_runner()
    unknown = runner.invoke(args=["staff", "reset-totp", "--email", "nobody@pref.example.jp"])
    assert unknown.exit_code == 1
    result = runner.invoke(args=["staff", "reset-totp", "--email", account.staff.email])
    assert result.exit_code == 0, result.output
    assert reload(app, account.staff).totp_secret is None
    assert client.get("/admin/").status_code == 302
    assert sign_in(app.test_client(), account.staff.email).headers["Location"] == "/admin/"
