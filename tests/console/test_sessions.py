"""Console sessions kept on the server: copied cookies after sign-out, the absolute lifetime
and idle timeout, last-seen writes, the account page's list, and every way a session ends
(sign-out, the list, password change, deactivation, an admin, the CLI)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from bot.console import sessions
from bot.jobs import CORE_JOBS, run_job
from models import AuditEntry, Role, Staff, StaffSession
from models.base import utcnow
from tests.console.conftest import StaffFactory, csrf_token, post_form, sign_in
from tests.support import PASSWORD

COOKIE = "madoguchi_session"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
ENDED = "セッションは終了しています。もう一度サインインしてください。"
EXPIRED = "セッションの有効期限が切れました。もう一度サインインしてください。"


def rows(app: Flask, staff: Staff) -> list[StaffSession]:
    with app.extensions["db"].sessions() as session:
        return list(
            session.scalars(
                select(StaffSession)
                .where(StaffSession.staff_id == staff.id)
                .order_by(StaffSession.id)
            )
        )


def entries(app: Flask, action: str) -> list[AuditEntry]:
    with app.extensions["db"].sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


def change_row(app: Flask, staff: Staff, **values: object) -> None:
    with app.extensions["db"].unit_of_work() as session:
        session.execute(
            update(StaffSession).where(StaffSession.staff_id == staff.id).values(**values)
        )


def copy_cookie(source: FlaskClient, target: FlaskClient) -> str:
    """Give ``target`` the session cookie of ``source``; its value."""
    cookie = source.get_cookie(COOKIE)
    assert cookie is not None
    target.set_cookie(COOKIE, cookie.value)
    return cookie.value


def refused(client: FlaskClient, notice: str = ENDED) -> None:
    """The client is sent to sign in, with the notice saying why."""
    response = client.get("/admin/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/signin")
    assert notice in client.get(response.headers["Location"]).get_data(as_text=True)
    assert client.get("/admin/account").status_code == 302  # and it stays signed out


def test_a_copied_cookie_is_refused_after_sign_out(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory
) -> None:
    admin = staff_factory(Role.ADMIN)
    assert sign_in(client, admin.email).status_code == 302
    attacker = app.test_client()
    stolen = copy_cookie(client, attacker)
    assert attacker.get("/admin/staff").status_code == 200  # the copy works while signed in
    assert client.post("/admin/signout", data={"csrf_token": csrf_token(client)}).status_code == 302
    assert rows(app, admin) == []
    assert attacker.get("/admin/staff").status_code == 302
    attacker.set_cookie(COOKIE, stolen)  # the very cookie again, after its sign-out
    created = attacker.post(
        "/admin/staff",
        data={
            "email": "evil@pref.example.jp",
            "display_name": "x",
            "roles": "admin",
            "password": "a long enough password",
            "csrf_token": csrf_token(attacker),
        },
    )
    assert created.status_code == 401
    with app.extensions["db"].sessions() as session:
        assert (
            session.scalars(select(Staff).where(Staff.email == "evil@pref.example.jp")).first()
            is None
        )


def test_the_cookie_holds_a_random_id_whose_hash_alone_is_stored(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory
) -> None:
    staff = staff_factory(Role.VIEWER)
    sign_in(client, staff.email)
    with client.session_transaction() as cookie:
        token = cookie[sessions.COOKIE_KEY]
    assert len(token) >= 40
    [row] = rows(app, staff)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (row.token_hash, row.user_agent, row.ip)
    sign_in(app.test_client(), staff.email)
    assert len({r.token_hash for r in rows(app, staff)}) == 2  # a new id per sign-in
    with client.session_transaction() as cookie:
        cookie[sessions.COOKIE_KEY] = "a guessed session id"
    refused(client)
    with client.session_transaction() as cookie:  # someone else's id under my user id
        cookie["_user_id"] = str(staff.id + 1)
    assert client.get("/admin/account").status_code == 302


def test_a_session_ends_its_lifetime_after_sign_in_however_active(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory
) -> None:
    staff = staff_factory(Role.VIEWER)
    sign_in(client, staff.email)
    now = utcnow()
    change_row(app, staff, created_at=now - timedelta(hours=11, minutes=58), last_seen_at=now)
    assert client.get("/admin/account").status_code == 200  # 11 h 58 min: still open
    change_row(app, staff, created_at=now - timedelta(hours=12, minutes=1), last_seen_at=now)
    refused(client, EXPIRED)
    assert rows(app, staff) == []


def test_the_lifetime_is_a_setting(
    make_app: Callable[..., Flask], staff_factory: StaffFactory
) -> None:
    short = make_app(STAFF_SESSION_HOURS=1)
    client = short.test_client()
    staff = staff_factory(Role.VIEWER)
    sign_in(client, staff.email)
    change_row(short, staff, created_at=utcnow() - timedelta(minutes=61))
    refused(client, EXPIRED)


def test_an_idle_session_expires(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory
) -> None:
    staff = staff_factory(Role.VIEWER)
    sign_in(client, staff.email)
    change_row(app, staff, last_seen_at=utcnow() - timedelta(minutes=59))
    assert client.get("/admin/account").status_code == 200
    change_row(app, staff, last_seen_at=utcnow() - timedelta(minutes=61))
    refused(client, EXPIRED)


def test_last_seen_is_written_at_most_once_a_minute(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory
) -> None:
    staff = staff_factory(Role.VIEWER)
    sign_in(client, staff.email)
    [signed_in] = rows(app, staff)
    for _ in range(3):
        assert client.get("/admin/account").status_code == 200
    assert rows(app, staff)[0].last_seen_at == signed_in.last_seen_at
    earlier = utcnow() - timedelta(seconds=61)
    change_row(app, staff, last_seen_at=earlier)
    client.get("/admin/account")
    assert rows(app, staff)[0].last_seen_at > earlier + timedelta(seconds=60)


def test_the_account_page_lists_sessions_and_ends_one(
    app: Flask, staff_factory: StaffFactory
) -> None:
    staff = staff_factory(Role.EDITOR)
    here, phone = app.test_client(), app.test_client()
    here.environ_base["HTTP_USER_AGENT"] = FIREFOX
    phone.environ_base["HTTP_USER_AGENT"] = IPHONE
    sign_in(here, staff.email)
    sign_in(phone, staff.email)
    page = here.get("/admin/account").get_data(as_text=True)
    assert "Firefox 120 / Windows" in page
    assert "Mobile Safari 17 / iOS" in page
    assert page.count('<strong class="tag">このセッション</strong>') == 1
    mine, other = rows(app, staff)
    assert (mine.user_agent, other.user_agent) == (FIREFOX, IPHONE)
    assert mine.ip == other.ip == "127.0.0.1"
    ended = post_form(here, f"/admin/account/sessions/{other.id}/end")
    assert ended.status_code == 302
    assert [r.id for r in rows(app, staff)] == [mine.id]
    refused(phone)
    assert here.get("/admin/account").status_code == 200
    [entry] = entries(app, "session.end")
    assert (entry.object_id, entry.actor_id) == (str(other.id), staff.id)
    assert entry.user_agent == FIREFOX


def test_nobody_ends_another_persons_session(app: Flask, staff_factory: StaffFactory) -> None:
    victim, attacker = staff_factory(Role.ADMIN), staff_factory(Role.VIEWER)
    victim_client, attacker_client = app.test_client(), app.test_client()
    sign_in(victim_client, victim.email)
    sign_in(attacker_client, attacker.email)
    [target] = rows(app, victim)
    answer = post_form(attacker_client, f"/admin/account/sessions/{target.id}/end")
    assert answer.status_code == 302
    assert "既に終了" in attacker_client.get("/admin/account").get_data(as_text=True)
    assert victim_client.get("/admin/account").status_code == 200
    assert len(rows(app, victim)) == 1
    assert entries(app, "session.end") == []
    assert post_form(attacker_client, "/admin/account/sessions/abc/end").status_code == 404


def test_ending_this_session_from_the_list_signs_out(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory
) -> None:
    staff = staff_factory(Role.VIEWER)
    sign_in(client, staff.email)
    [mine] = rows(app, staff)
    answer = post_form(client, f"/admin/account/sessions/{mine.id}/end")
    assert answer.headers["Location"] == "/admin/signin"
    assert client.get("/admin/account").status_code == 302
    assert rows(app, staff) == []


def test_a_password_change_ends_the_other_sessions(app: Flask, staff_factory: StaffFactory) -> None:
    staff = staff_factory(Role.EDITOR)
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here, staff.email)
    sign_in(elsewhere, staff.email)
    copy = app.test_client()
    copy_cookie(here, copy)
    new = "another long password"
    answer = post_form(
        here, "/admin/account/password", {"current": PASSWORD, "new": new, "confirm": new}
    )
    assert answer.status_code == 302
    assert here.get("/admin/account").status_code == 200  # this session stays
    refused(elsewhere)
    assert len(rows(app, staff)) == 1
    [entry] = entries(app, "staff.password_change")
    assert entry.detail == {"sessions_ended": 1}
    assert copy.get("/admin/account").status_code == 200  # a copy of the one kept is that one
    assert post_form(here, "/admin/signout", token_from="/admin/account").status_code == 302
    assert copy.get("/admin/account").status_code == 302


def test_deactivation_ends_sessions_for_good(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory
) -> None:
    victim = staff_factory(Role.VIEWER)
    victim_client = app.test_client()
    sign_in(victim_client, victim.email)
    admin = staff_factory(Role.ADMIN)
    sign_in(client, admin.email)
    assert post_form(client, f"/admin/staff/{victim.id}/active").status_code == 302
    assert rows(app, victim) == []
    assert post_form(client, f"/admin/staff/{victim.id}/active").status_code == 302  # back
    refused(victim_client)  # reactivating brings no old session back
    assert sign_in(app.test_client(), victim.email).status_code == 302
    deactivated, _reactivated = entries(app, "staff.update")
    assert deactivated.detail == {"active": False, "sessions_ended": 1}


def test_an_admin_ends_every_session_of_a_staff_member(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory
) -> None:
    victim = staff_factory(Role.APPROVER, name="承認 太郎")
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, victim.email)
    sign_in(phone, victim.email)
    admin = staff_factory(Role.ADMIN)
    sign_in(client, admin.email)
    page = client.get("/admin/staff").get_data(as_text=True)
    assert "すべてのセッションを終了" in page
    assert post_form(client, "/admin/staff/999999/sessions/end").status_code == 404
    assert client.post(f"/admin/staff/{victim.id}/sessions/end").status_code == 400  # no CSRF
    assert len(rows(app, victim)) == 2
    answer = post_form(client, f"/admin/staff/{victim.id}/sessions/end")
    assert answer.status_code == 302
    refused(laptop)
    refused(phone)
    assert client.get("/admin/staff").status_code == 200  # the admin's own goes on
    [entry] = entries(app, "session.end_all")
    assert (entry.object_id, entry.detail, entry.actor_id) == (
        str(victim.id),
        {"sessions_ended": 2},
        admin.id,
    )


def test_a_password_reset_by_cli_ends_every_session(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory
) -> None:
    staff = staff_factory(Role.VIEWER)
    sign_in(client, staff.email)
    result = app.test_cli_runner().invoke(
        args=["staff", "reset-password", "--email", staff.email, "--password-stdin"],
        input="a brand new password\n",
    )
    assert result.exit_code == 0, result.output
    refused(client)


def test_the_cli_ends_one_persons_or_everyones_sessions(
    app: Flask, staff_factory: StaffFactory
) -> None:
    one, other = staff_factory(Role.VIEWER), staff_factory(Role.EDITOR)
    first, second, third = app.test_client(), app.test_client(), app.test_client()
    sign_in(first, one.email)
    sign_in(second, other.email)
    runner = app.test_cli_runner()
    neither = runner.invoke(args=["staff", "end-sessions"])
    assert neither.exit_code == 2
    ended = runner.invoke(args=["staff", "end-sessions", "--email", one.email])
    assert ended.exit_code == 0, ended.output
    assert "1 session(s) ended" in ended.output
    refused(first)
    assert second.get("/admin/").status_code == 200
    sign_in(third, one.email)
    everyone = runner.invoke(args=["staff", "end-sessions", "--all"])
    assert everyone.exit_code == 0, everyone.output
    assert "2 session(s) ended" in everyone.output
    refused(second)
    refused(third)
    assert [e.detail for e in entries(app, "session.end_all")] == [
        {"via": "cli", "sessions_ended": 1},
        {"via": "cli", "everyone": True, "sessions_ended": 2},
    ]


def test_the_clock_forgets_expired_sessions(app: Flask, staff_factory: StaffFactory) -> None:
    staff = staff_factory(Role.VIEWER)
    for _ in range(3):
        sign_in(app.test_client(), staff.email)
    old, idle, open_ = rows(app, staff)
    now = utcnow()
    with app.extensions["db"].unit_of_work() as session:
        session.get_one(StaffSession, old.id).created_at = now - timedelta(hours=13)
        session.get_one(StaffSession, idle.id).last_seen_at = now - timedelta(hours=2)
    job = next(job for job in CORE_JOBS if job.id == "purge_staff_sessions")
    assert run_job(app, job) == 2
    assert [r.id for r in rows(app, staff)] == [open_.id]
