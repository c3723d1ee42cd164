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
    client: FlaskClient,
    parked: InboxEvent,
    resident: Resident,
    db: Database,
    signed_in: Callable[..., Staff],
) -> None:
    signed_in(Role.ADMIN)
    page = client.get("/admin/events/").get_data(as_text=True)
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
    client: FlaskClient,
    parked: InboxEvent,
    resident: Resident,
    db: Database,
    signed_in: Callable[..., Staff],
) -> None:
    signed_in(Role.ADMIN)
    answers_before = len(resident.texts())
    response = post_form(
        client, "/admin/events/retry", {"events": [parked.id]}, token_from="/admin/events/"
    )
    assert response.status_code == 302
    assert status_of(db, parked.id).status == InboxStatus.PENDING
    assert audit_actions(db) == [("inbox.retry", {"count": 1, "events": [parked.id]})]
    app.extensions["workers"].drain()
    assert status_of(db, parked.id).status == InboxStatus.DONE
    assert status_of(db, parked.id).payload is None
    assert len(resident.texts()) == answers_before + 1  # the event's own answer, at last
    page = client.get("/admin/events/").get_data(as_text=True)
    assert "1 件のイベントを再処理待ちにしました。" in page


def test_discard_deletes_the_content_and_keeps_the_id(
    client: FlaskClient, parked: InboxEvent, db: Database, signed_in: Callable[..., Staff]
) -> None:
    signed_in(Role.ADMIN)
    post_form(client, "/admin/events/discard", {"events": [parked.id]}, token_from="/admin/events/")
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
    client: FlaskClient,
    parked: InboxEvent,
    db: Database,
    signed_in: Callable[..., Staff],
    events: list[str] | str,
) -> None:
    if events == "done":
        with db.sessions() as session:
            follow = session.scalars(select(InboxEvent).where(InboxEvent.type == "follow")).one()
        events = [str(follow.id)]
    signed_in(Role.ADMIN)
    response = post_form(
        client, "/admin/events/retry", {"events": events}, token_from="/admin/events/"
    )
    assert response.status_code == 302
    assert status_of(db, parked.id).status == InboxStatus.PARKED
    assert audit_actions(db) == []
    page = client.get("/admin/events/").get_data(as_text=True)
    assert "何も変更していません" in page


def test_a_second_retry_of_the_same_events_changes_nothing(
    client: FlaskClient, parked: InboxEvent, db: Database, signed_in: Callable[..., Staff]
) -> None:
    signed_in(Role.ADMIN)
    for _ in range(2):  # a double submit, or two admins on the same list
        post_form(
            client, "/admin/events/retry", {"events": [parked.id]}, token_from="/admin/events/"
        )
    assert [action for action, _ in audit_actions(db)] == ["inbox.retry"]


def test_a_forged_form_without_the_csrf_token_is_refused(
    client: FlaskClient, parked: InboxEvent, db: Database, signed_in: Callable[..., Staff]
) -> None:
    signed_in(Role.ADMIN)
    response = client.post("/admin/events/retry", data={"events": [parked.id]})
    assert response.status_code == 400
    assert status_of(db, parked.id).status == InboxStatus.PARKED
