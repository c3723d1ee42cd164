"""A feature's console page, menu entry and dashboard tile, shown by the toy feature."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from models import AuditEntry, Dialog, DialogStatus, OutboundMessage, Role, Staff
from models.base import utcnow
from tests import toy_feature
from tests.console.conftest import StaffFactory, post_form, sign_in
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


def _booking(app: Flask, resident: Resident) -> int:
    resident.follow()
    resident.say("予約")
    with app.extensions["db"].sessions() as session:
        return int(session.scalars(select(Dialog.id)).one())


def test_a_staff_action_sends_only_after_its_request_commits(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff], resident: Resident
) -> None:
    toy_feature.NOTIFIED.clear()
    dialog_id = _booking(app, resident)
    signed_in(Role.EDITOR)
    response = post_form(client, f"/admin/toy/{dialog_id}/nudge")
    assert response.status_code == 302
    assert resident.texts()[-1] == "予約の途中です"
    assert [dialog_id] == toy_feature.NOTIFIED
    assert _audited(app) == ["toy.nudge"]


def test_a_refused_staff_action_sends_nothing_and_changes_nothing(
    app: Flask, client: FlaskClient, signed_in: Callable[..., Staff], resident: Resident
) -> None:
    toy_feature.NOTIFIED.clear()
    dialog_id = _booking(app, resident)
    with app.extensions["db"].unit_of_work() as session:
        session.execute(update(Dialog).values(status=DialogStatus.CANCELLED, ended_at=utcnow()))
    signed_in(Role.EDITOR)
    before = len(resident.texts())
    response = post_form(client, f"/admin/toy/{dialog_id}/nudge")
    assert response.status_code == 409
    assert len(resident.texts()) == before  # the queued push was dropped with the rollback
    assert toy_feature.NOTIFIED == []
    assert _audited(app) == []
    with app.extensions["db"].sessions() as session:
        nudges = select(func.count()).where(OutboundMessage.purpose == "toy.nudge")
        assert session.scalar(nudges) == 0


def _audited(app: Flask) -> list[str]:
    with app.extensions["db"].sessions() as session:
        return list(
            session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("toy.%")))
        )
