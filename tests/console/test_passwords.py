"""New passwords: not common or leaked, not made of the person's e-mail or name."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.console.passwords import WeakPassword, check_new_password, is_listed
from bot.console.users import password_matches
from models import Role, Staff
from tests.console.conftest import post_form
from tests.support import PASSWORD

COMMON = "Password1234!"


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "qwertyuiop123",
        "PASSWORD1234",  # lower case is listed
        "correct horse battery staple",  # listed without its spaces
        "ｐａｓｓｗｏｒｄ１２３４",  # full width: NFKC
        COMMON,
    ],
)
def test_common_and_leaked_passwords_are_listed(password: str) -> None:
    assert is_listed(password)
    with pytest.raises(WeakPassword, match="common"):
        check_new_password(password, email="x@pref.example.jp", name="x")


@pytest.mark.parametrize(
    ("password", "email", "name"),
    [
        ("hanako.yamada rules!", "hanako.yamada@pref.example.jp", "職員"),
        ("my yamada secret 99", "hanako.yamada@pref.example.jp", "職員"),
        ("Taro Suzuki in Chiba", "t.s@pref.example.jp", "Taro Suzuki"),
        ("山田のひみつのあいことば", "x@pref.example.jp", "山田"),
        ("ＹＡＭＡＤＡ and more text", "yamada@pref.example.jp", "x"),
        ("madoguchi is my life", "x@pref.example.jp", "x"),
    ],
)
def test_passwords_made_of_the_persons_words_are_refused(
    password: str, email: str, name: str
) -> None:
    with pytest.raises(WeakPassword, match="e-mail"):
        check_new_password(password, email=email, name=name)


def test_a_good_password_passes_quickly() -> None:
    started = time.perf_counter()
    for _ in range(100):
        check_new_password(PASSWORD, email="hanako.yamada@pref.example.jp", name="山田 花子")
    assert time.perf_counter() - started < 1.0  # no list is loaded into memory per call


def test_changing_to_a_weak_password_is_refused_in_both_languages(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff]
) -> None:
    staff = signed_in(Role.EDITOR)
    for new, japanese in (
        (COMMON, "よく使われる"),
        (staff.email.split("@")[0] + " is my name", "メールアドレス"),
    ):
        response = post_form(
            client, "/admin/account/password", {"current": PASSWORD, "new": new, "confirm": new}
        )
        assert response.status_code == 302
        assert japanese in client.get("/admin/account").get_data(as_text=True)
    post_form(client, "/admin/account/language", {"language": "en"})
    post_form(
        client, "/admin/account/password", {"current": PASSWORD, "new": COMMON, "confirm": COMMON}
    )
    assert "too common" in client.get("/admin/account").get_data(as_text=True)
    with app.extensions["db"].sessions() as session:
        assert password_matches(session.get_one(Staff, staff.id), PASSWORD)  # unchanged


def test_admins_and_the_cli_cannot_give_weak_passwords(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff]
) -> None:
    signed_in(Role.ADMIN)
    form = {"email": "new@pref.example.jp", "display_name": "新人", "roles": ["viewer"]}
    created = post_form(
        client, "/admin/staff", {**form, "password": COMMON}, token_from="/admin/staff"
    )
    assert "よく使われる" in created.get_data(as_text=True)
    result = app.test_cli_runner().invoke(
        args=[
            "staff",
            "create",
            "--email",
            "cli@pref.example.jp",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        input="cli is here and there\n",
    )
    assert result.exit_code == 1
    with app.extensions["db"].sessions() as session:
        assert session.scalars(select(Staff).where(Staff.email.like("%new@%"))).first() is None
        assert session.scalars(select(Staff).where(Staff.email.like("cli@%"))).first() is None
