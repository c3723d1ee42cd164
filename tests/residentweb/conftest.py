"""Resident page fixtures: an app with the test-only pages, a clock to move, residents."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.residentweb import pages
from bot.residentweb.views import sign_in_url
from tests.console.conftest import signed_in, staff_factory  # noqa: F401 - fixtures used here


@pytest.fixture
def app(toy_app: Flask) -> Flask:
    """The app with the toy feature, whose test-only resident pages these tests open."""
    return toy_app


@dataclass
class Clock:
    """A clock that moves only when told to."""

    now: float

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The resident shell's clock, frozen at the real time (moved with ``advance``)."""
    fake = Clock(time.time())
    monkeypatch.setattr(pages(app), "clock", fake)
    return fake


@pytest.fixture
def resident_id(app: Flask) -> Callable[..., int]:
    """Create a resident row: ``resident_id(language="en")`` returns its internal id."""
    from bot.residents import lock_resident

    counter = iter(range(1, 10_000))

    def make(language: str = "ja") -> int:
        with app.extensions["db"].unit_of_work() as session:
            resident = lock_resident(session, f"U{next(counter):032x}")
            resident.language = language
            return resident.id

    return make


def sign_in_as(app: Flask, client: FlaskClient, resident: int) -> None:
    """Follow a sign-in link to the test page, like a resident tapping it in LINE."""
    with app.app_context():
        url = sign_in_url(resident, "resident_test.me")
    landing = client.get(url)
    assert landing.status_code == 302, landing.get_data(as_text=True)
    assert landing.headers["Location"] == "/r/test/me"


def cookie_header(response_headers: list[str], name: str) -> str:
    """The ``Set-Cookie`` header of one cookie."""
    [header] = [h for h in response_headers if re.match(rf"{name}=", h)]
    return header
