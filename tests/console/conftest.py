"""Console fixtures: staff accounts of any roles, and signing in through the real form."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bot.console.users import create_staff
from models import Role, Staff
from tests.support import PASSWORD

_TOKEN = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/admin/signin") -> str:
    """The CSRF token of the client's session, read from a page's form."""
    page = client.get(path).get_data(as_text=True)
    match = _TOKEN.search(page) or re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def client_at(app: Flask, address: str) -> FlaskClient:
    """A test client whose requests come from ``address``."""
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = address
    return other


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> TestResponse:
    """Post the sign-in form like a browser (with the form's CSRF token)."""
    return client.post(
        "/admin/signin",
        data={"email": email, "password": password, "csrf_token": csrf_token(client)},
    )


def post_form(
    client: FlaskClient,
    path: str,
    data: dict[str, object] | None = None,
    *,
    token_from: str = "/admin/account",
) -> TestResponse:
    """Post a console form with a valid CSRF token."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, token_from)})


StaffFactory = Callable[..., Staff]


def add_staff(
    app: Flask, *roles: Role, email: str, name: str = "職員", password: str = PASSWORD
) -> Staff:
    """Create a staff account in ``app`` (any app, e.g. one from ``make_app``)."""
    with app.extensions["db"].unit_of_work() as session:
        return create_staff(
            session,
            email=email,
            display_name=name,
            password=password,
            roles=set(roles) or {Role.VIEWER},
        )


@pytest.fixture
def staff_factory(app: Flask) -> StaffFactory:
    """Create staff accounts: ``staff_factory(Role.ADMIN, Role.EDITOR, email=...)``."""
    counter = iter(range(1, 10_000))

    def make(
        *roles: Role, email: str | None = None, name: str | None = None, password: str = PASSWORD
    ) -> Staff:
        email = email or f"staff{next(counter)}@pref.example.jp"
        return add_staff(app, *roles, email=email, name=name or "職員", password=password)

    return make


@pytest.fixture
def signed_in(client: FlaskClient, staff_factory: StaffFactory) -> Callable[..., Staff]:
    """Sign the test client in as a new staff member with the given roles."""

    def as_(*roles: Role) -> Staff:
        staff = staff_factory(*roles)
        response = sign_in(client, staff.email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return staff

    return as_
