"""A feature's console page, menu entry and dashboard tile, shown by the toy feature."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from models import Role
from tests.console.conftest import StaffFactory, sign_in
from tests.support import Resident


@pytest.fixture
def app(toy_app: Flask) -> Flask:
    """The app with the toy feature."""
    return toy_app


def test_a_feature_page_nav_entry_and_tile_reach_the_console(
    app: Flask, client: FlaskClient, staff_factory: StaffFactory, resident: Resident
) -> None:
    resident.follow()
    resident.say("予約")
    resident.say("花子")
    [yes] = [a for a in resident.last_quick_replies() if a["label"] == "はい"]
    resident.tap(yes["data"])
    viewer = staff_factory(Role.VIEWER)
    assert sign_in(client, viewer.email).status_code == 302
    dashboard = client.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/toy/"' in dashboard  # the nav entry
    assert "おもちゃの予約" in dashboard  # the tile's title, from the toy's catalog
    page = client.get("/admin/toy/")
    assert page.status_code == 200
    assert "花子" in page.get_data(as_text=True)


def test_a_feature_page_keeps_its_permission(
    client: FlaskClient, staff_factory: StaffFactory
) -> None:
    facility = staff_factory(Role.FACILITY)
    assert sign_in(client, facility.email).status_code == 302
    assert client.get("/admin/toy/").status_code == 403
