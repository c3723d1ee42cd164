"""The event inbox page: admins see parked events, not their content, and retry them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.db import Database
from models import AuditEntry, InboxEvent, InboxStatus, Role, Staff
from models import Resident as ResidentRow
from tests.console.conftest import post_form
from tests.support import Resident, break_router

SECRET_WORDS = "秘密の相談内容"


@pytest.fixture
def parked(
    app: Flask, db: Database, resident: Resident, monkeypatch: pytest.MonkeyPatch
) -> InboxEvent:
    """A text event that failed every attempt (a handler bug), then the bug is fixed."""
    resident.follow()
    with monkeypatch.context() as broken:
        break_router(app, broken, SECRET_WORDS)
        resident.say(SECRET_WORDS)
    with db.sessions() as session:
        event = session.scalars(select(InboxEvent).where(InboxEvent.type == "message")).one()
    assert event.status == InboxStatus.PARKED
    return event


@pytest.fixture
def admin(client: FlaskClient, signed_in: Callable[..., Staff]) -> FlaskClient:
    """The test client, signed in as an admin."""
    signed_in(Role.ADMIN)
    return client


def act(client: FlaskClient, action: str, events: list[object]) -> int:
    """Post the page's form for ``action`` (retry or discard) with these ticked; the status."""
    path = f"/admin/events/{action}"
    return post_form(client, path, {"events": events}, token_from="/admin/events/").status_code


def status_of(db: Database, event_id: int) -> InboxEvent:
    with db.sessions() as session:
        event = session.get(InboxEvent, event_id)
        assert event is not None
        return event


def audit_actions(db: Database) -> list[tuple[str, dict[str, object]]]:
    with db.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("inbox.%")).order_by(AuditEntry.id)
        )
        return [(e.action, e.detail) for e in entries]


def test_the_page_lists_parked_events_without_their_content(
    admin: FlaskClient,
    parked: InboxEvent,
    resident: Resident,
    db: Database,
) -> None:
    page = admin.get("/admin/events/").get_data(as_text=True)
    assert "保留中のイベント" in page
    assert f"<td>{parked.id}</td>" in page
    assert "RuntimeError" in page
    with db.sessions() as session:
        case_id = session.scalars(
            select(ResidentRow.id).where(ResidentRow.line_user_id == resident.user_id)
        ).one()
    assert f"#{case_id:06d}" in page
    assert SECRET_WORDS not in page
    assert resident.user_id not in page  # the LINE user id is not shown either


def test_retry_processes_the_event_and_is_audited(
    app: Flask,
    admin: FlaskClient,
    parked: InboxEvent,
    resident: Resident,
    db: Database,
) -> None:
    answers_before = len(resident.texts())
    assert act(admin, "retry", [parked.id]) == 302
    assert status_of(db, parked.id).status == InboxStatus.PENDING
    assert audit_actions(db) == [("inbox.retry", {"count": 1, "events": [parked.id]})]
    app.extensions["workers"].drain()
    assert status_of(db, parked.id).status == InboxStatus.DONE
    assert status_of(db, parked.id).payload is None
    assert len(resident.texts()) == answers_before + 1  # the event's own answer, at last
    page = admin.get("/admin/events/").get_data(as_text=True)
    assert "1 件のイベントを再処理待ちにしました。" in page


def test_discard_deletes_the_content_and_keeps_the_id(
    admin: FlaskClient, parked: InboxEvent, db: Database
) -> None:
    act(admin, "discard", [parked.id])
    event = status_of(db, parked.id)
    assert (event.status, event.payload, event.last_error) == (
        InboxStatus.DONE,
        None,
        "RuntimeError",
    )
    assert audit_actions(db) == [("inbox.discard", {"count": 1, "events": [parked.id]})]


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(["999999"], id="unknown id"),
        pytest.param(["1 OR 1=1"], id="not an id"),
        pytest.param([], id="none ticked"),
        pytest.param("done", id="an event already processed"),
    ],
)
def test_tampered_choices_change_nothing(
    admin: FlaskClient,
    parked: InboxEvent,
    db: Database,
    events: list[str] | str,
) -> None:
    if events == "done":
        with db.sessions() as session:
            follow = session.scalars(select(InboxEvent).where(InboxEvent.type == "follow")).one()
        events = [str(follow.id)]
    assert act(admin, "retry", list(events)) == 302
    assert status_of(db, parked.id).status == InboxStatus.PARKED
    assert audit_actions(db) == []
    page = admin.get("/admin/events/").get_data(as_text=True)
    assert "何も変更していません" in page


def test_a_second_retry_of_the_same_events_changes_nothing(
    admin: FlaskClient, parked: InboxEvent, db: Database
) -> None:
    for _ in range(2):  # a double submit, or two admins on the same list
        act(admin, "retry", [parked.id])
    assert [action for action, _ in audit_actions(db)] == ["inbox.retry"]


def test_a_forged_form_without_the_csrf_token_is_refused(
    admin: FlaskClient, parked: InboxEvent, db: Database
) -> None:
    response = admin.post("/admin/events/retry", data={"events": [parked.id]})
    assert response.status_code == 400
    assert status_of(db, parked.id).status == InboxStatus.PARKED
