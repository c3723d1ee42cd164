"""Control characters at every console boundary: each form and each query-string filter.

Before, NUL in the sign-in e-mail, the resident search or the audit filters was a 500 on
PostgreSQL (the sign-in one unauthenticated and unaudited), and a newline in ``next=``
turned a successful sign-in into a 500 after its session and audit entry were committed.
Now every such request is refused with a clear answer and changes nothing; these tests run
on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bot.console.facilities import add_facility
from bot.console.forms import ConsoleForm
from bot.console.users import password_matches
from bot.inputs import has_control_characters, normalise_email
from models import AuditEntry, Role, Staff
from tests.console.conftest import StaffFactory, csrf_token, post_form
from tests.support import PASSWORD

#: NUL, line feed, carriage return, other C0 (SOH, ESC, US), DEL and a C1 (NEL).
CONTROLS = ["\x00", "\n", "\r", "\x01", "\x1b", "\x1f", "\x7f", "\x85"]
FORM_ERROR = "ここには改行などの制御文字は使えません。"
QUERY_ERROR = "アドレスに改行などの制御文字が含まれています"


def audit(app: Flask) -> list[tuple[str, str]]:
    with app.extensions["db"].sessions() as session:
        rows = session.execute(select(AuditEntry.action, AuditEntry.actor_label))
        return [(action, label) for action, label in rows]


def staff_count(app: Flask) -> int:
    with app.extensions["db"].sessions() as session:
        return session.scalar(select(func.count()).select_from(Staff)) or 0


@pytest.mark.parametrize("control", CONTROLS)
def test_the_sign_in_form_refuses_control_characters(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory, control: str
) -> None:
    staff = staff_factory(Role.ADMIN)
    for email, password in (
        (f"{staff.email}{control}", PASSWORD),
        (f"x{control}@pref.example.jp", PASSWORD),
        (staff.email, f"{PASSWORD}{control}"),
    ):
        token = csrf_token(client)
        data = {"email": email, "password": password, "csrf_token": token}
        response = client.post("/admin/signin", data=data)
        assert response.status_code == 400
        assert FORM_ERROR in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302  # not signed in
    entries = audit(app)
    assert [action for action, _ in entries] == ["signin.failed"] * 3
    assert all(not has_control_characters(label) for _, label in entries)


@pytest.mark.parametrize("control", CONTROLS)
def test_console_forms_refuse_control_characters_and_change_nothing(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff], control: str
) -> None:
    admin = signed_in(Role.ADMIN)
    with app.extensions["db"].unit_of_work() as session:
        museum = add_facility(session, code="museum", name_ja="美術館", name_en="Museum")
    new = "brass violin meadow 42"
    posts: list[tuple[str, dict[str, object], str]] = [
        (
            "/admin/account/password",
            {"current": PASSWORD + control, "new": new, "confirm": new},
            "/admin/account",
        ),
        (
            "/admin/account/password",
            {"current": PASSWORD, "new": new + control, "confirm": new + control},
            "/admin/account",
        ),
        ("/admin/account/language", {"language": "en" + control}, "/admin/account"),
        ("/admin/account/totp", {"code": "123456" + control}, "/admin/account"),
        (
            "/admin/staff",
            {
                "email": f"new{control}@pref.example.jp",
                "display_name": "新人",
                "roles": ["viewer"],
                "password": new,
            },
            "/admin/staff",
        ),
        (
            "/admin/staff",
            {
                "email": "new@pref.example.jp",
                "display_name": f"新{control}人",
                "roles": ["viewer"],
                "password": new,
            },
            "/admin/staff",
        ),
        (
            "/admin/staff",
            {
                "email": "new@pref.example.jp",
                "display_name": "新人",
                "roles": [f"viewer{control}"],
                "password": new,
            },
            "/admin/staff",
        ),
        (
            f"/admin/staff/{admin.id}/facilities",
            {"facilities": [f"{museum.id}{control}"]},
            "/admin/staff",
        ),
        ("/admin/events/retry", {"events": [f"1{control}"]}, "/admin/events/"),
    ]
    for path, data, page in posts:
        response = post_form(client, path, data, token_from=page)
        assert response.status_code in (200, 302), (path, response.status_code)
        shown = response if response.status_code == 200 else client.get(page)
        assert FORM_ERROR in shown.get_data(as_text=True), path
    assert staff_count(app) == 1  # nobody was created
    with app.extensions["db"].sessions() as session:
        me = session.get_one(Staff, admin.id)
        assert password_matches(me, PASSWORD)
        assert me.language == "ja"
        assert me.facilities == []
        assert me.totp_secret is None
    assert [action for action, _ in audit(app)] == ["signin"]  # nothing else happened


@pytest.mark.parametrize("control", CONTROLS)
def test_query_string_filters_refuse_control_characters(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff], control: str
) -> None:
    signed_in(Role.ADMIN)
    typed = quote(f"山田{control}")
    for path in (
        f"/admin/residents?q={typed}",
        f"/admin/audit?action={typed}",
        f"/admin/audit?actor={typed}",
        f"/admin/audit?from=2026-01-01{quote(control)}",
        f"/admin/audit?to={typed}",
        f"/admin/audit?page=1{quote(control)}",
        f"/admin/audit.csv?actor={typed}",
        f"/admin/residents?{quote(control)}=1",
    ):
        response = client.get(path)
        assert response.status_code == 400, path
        assert QUERY_ERROR in response.get_data(as_text=True), path
    assert "audit.export" not in [action for action, _ in audit(app)]


@pytest.mark.parametrize("control", ["\n", "\r\n", "\x00"])
def test_a_control_character_in_next_refuses_the_sign_in_before_anything_happens(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory, control: str
) -> None:
    staff = staff_factory(Role.VIEWER)
    token = csrf_token(client)
    target = quote(f"/admin/{control}Set-Cookie: x=y")
    response = client.post(
        f"/admin/signin?next={target}",
        data={"email": staff.email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 400
    assert "Set-Cookie: x=y" not in str(response.headers)
    assert audit(app) == []  # no session, no sign-in recorded
    assert client.get("/admin/").status_code == 302


def test_every_console_form_is_a_console_form() -> None:
    """A new form that forgot the base class would let control characters through."""
    import importlib
    import pkgutil

    from flask_wtf import FlaskForm

    import bot.console.events
    from bot import FEATURES

    for name in {"bot", *(feature.split(".")[0] for feature in FEATURES)}:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(module.name)

    def subclasses(cls: type) -> set[type]:
        children: list[type] = cls.__subclasses__()
        return {sub for child in children for sub in (child, *subclasses(child))}

    ours = {
        form
        for form in subclasses(FlaskForm)
        if form.__module__.startswith(("bot.", "handlers.", "surveys", "coupons"))
    }
    assert bot.console.events.ParkedForm in ours
    assert all(issubclass(form, ConsoleForm) for form in ours), ours


def test_multi_line_fields_keep_tab_and_line_breaks(app: Flask) -> None:
    from wtforms import StringField, TextAreaField

    class Note(ConsoleForm):
        class Meta:
            csrf = False

        title = StringField()
        body = TextAreaField()

    with app.test_request_context(
        method="POST", data={"title": "ok", "body": "line one\r\n\tline two"}
    ):
        assert Note().validate()
    with app.test_request_context(method="POST", data={"title": "a\tb", "body": "x\x00"}):
        form = Note()
        assert not form.validate()
        assert set(form.errors) == {"title", "body"}


def test_emails_are_normalised_and_controls_escaped() -> None:
    assert normalise_email("  ＡＤＭＩＮ@Pref.Example.JP\u3000") == "admin@pref.example.jp"
    assert normalise_email("a\x00b") == "a\\x00b"
    assert len(normalise_email("x" * 400)) == 254
