"""POST /callback: signature, parsing, verification requests, dedupe and bad input.

Every refused request is answered with the right status and leaves no row behind.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bot.db import Database
from models import Base, InboxEvent, Resident
from simulator import events as line_events
from tests.support import CHANNEL_SECRET, load_fixture, signed_post
from tests.support import Resident as SimResident


def row_counts(db: Database) -> dict[str, int]:
    with db.sessions() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def nothing_stored(db: Database) -> bool:
    return not any(row_counts(db).values())


def text_body(user_id: str, text: str = "こんにちは", **event: Any) -> bytes:
    return line_events.callback_body(
        [line_events.text_event(user_id, text, reply_token=line_events.new_reply_token(), **event)]
    )


def test_verification_request_with_no_events_is_accepted(client: FlaskClient, db: Database) -> None:
    response = signed_post(
        client, b'{"destination":"U0123456789abcdef0123456789abcdef","events":[]}'
    )
    assert response.status_code == 200
    assert nothing_stored(db)


def test_missing_signature_is_refused(client: FlaskClient, db: Database) -> None:
    response = client.post(
        "/callback", data=text_body("U" + "0" * 32), content_type="application/json"
    )
    assert response.status_code == 400
    assert nothing_stored(db)


@pytest.mark.parametrize("signature", ["", "not-base64!", "c2lnbmF0dXJl", "A" * 44])
def test_forged_signature_is_refused(client: FlaskClient, db: Database, signature: str) -> None:
    response = client.post(
        "/callback",
        data=text_body("U" + "0" * 32),
        headers={"X-Line-Signature": signature, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert nothing_stored(db)


def test_signature_with_another_secret_is_refused(client: FlaskClient, db: Database) -> None:
    response = signed_post(client, text_body("U" + "0" * 32), secret="someone-else")
    assert response.status_code == 400
    assert nothing_stored(db)


def test_body_changed_after_signing_is_refused(client: FlaskClient, db: Database) -> None:
    body = text_body("U" + "0" * 32, "hello")
    signature = line_events.sign(body, CHANNEL_SECRET)
    response = client.post(
        "/callback",
        data=body.replace(b"hello", b"hellO"),
        headers={"X-Line-Signature": signature, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert nothing_stored(db)


@pytest.mark.parametrize(
    "body",
    [
        b'{"destination":"U1","events":[{"type":"message"',  # truncated JSON
        b"not json at all",
        b"[]",
        b'{"destination":"U1"}',  # no events
        b'{"events":{"type":"message"}}',  # events not a list
        b'{"events":[42]}',
        b'{"events":[{"no":"type"}]}',
        b'{"events":[{"type":7}]}',
        b"\xff\xfe{}",  # not UTF-8
    ],
)
def test_malformed_bodies_are_refused(client: FlaskClient, db: Database, body: bytes) -> None:
    response = signed_post(client, body)
    assert response.status_code == 400
    assert nothing_stored(db)


def test_body_over_one_mebibyte_is_refused_unread(client: FlaskClient, db: Database) -> None:
    body = text_body("U" + "0" * 32, "x" * (1024 * 1024))
    response = signed_post(client, body)
    assert response.status_code == 413
    assert nothing_stored(db)


def test_unknown_and_malformed_events_are_accepted_and_ignored(
    client: FlaskClient, db: Database, resident: SimResident
) -> None:
    ids = {"user_id": resident.user_id, "reply_token": line_events.new_reply_token()}
    future = load_fixture("future", event_id=line_events.new_event_id(), **ids)
    membership = load_fixture("membership", event_id=line_events.new_event_id(), **ids)
    wrong_types = load_fixture("text", event_id=line_events.new_event_id(), text="x", **ids)
    wrong_types["timestamp"] = "yesterday"
    wrong_types["message"]["text"] = {"not": "a string"}
    response = signed_post(client, line_events.callback_body([future, membership, wrong_types]))
    assert response.status_code == 200
    # hologramCall (unknown) and membership (known) are events of a 1:1 user: the resident is
    # known from them, and nothing is said (the fallback answers messages and postbacks only);
    # the malformed one is ignored.
    assert row_counts(db)["residents"] == 1
    assert resident.received() == []


def test_group_message_gets_a_polite_note_and_nothing_stored(
    client: FlaskClient, db: Database, resident: SimResident, app: Flask
) -> None:
    token = resident.platform.state.issue_reply_token(resident.user_id)
    event = load_fixture(
        "group_text",
        event_id=line_events.new_event_id(),
        user_id=resident.user_id,
        reply_token=token,
    )
    response = signed_post(client, line_events.callback_body([event]))
    assert response.status_code == 200
    assert "1対1" in resident.texts()[0]
    counts = row_counts(db)
    assert counts["residents"] == 0
    assert counts["dialogs"] == 0


def test_redelivered_event_is_processed_once(resident: SimResident, db: Database) -> None:
    assert resident.follow().status_code == 200
    assert resident.redeliver().status_code == 200
    assert len(resident.platform.state.deliveries(resident.user_id)) == 1
    # Processed once: one profile lookup and one reply attempt, not a second failed one.
    endpoints = [r.endpoint for r in resident.platform.state.requests()]
    assert endpoints.count("reply") == 1
    assert endpoints.count("profile") == 1
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboxEvent)) == 1
        assert session.scalar(select(func.count()).select_from(Resident)) == 1


def test_same_event_twice_in_one_body_is_processed_once(
    client: FlaskClient, resident: SimResident
) -> None:
    resident.platform.state.set_friend(resident.user_id, True)
    event = line_events.text_event(
        resident.user_id,
        "menu",
        reply_token=resident.platform.state.issue_reply_token(resident.user_id),
    )
    response = signed_post(client, line_events.callback_body([event, event]))
    assert response.status_code == 200
    assert len(resident.platform.state.deliveries(resident.user_id)) == 1


def test_ten_thousand_characters_get_a_polite_refusal(resident: SimResident, db: Database) -> None:
    resident.follow()
    assert resident.say("長" * 10_000).status_code == 200
    assert "長すぎます" in resident.texts()[-1]


@pytest.mark.parametrize("text", ["🙇‍♀️🏯🗾" * 100, "\ud800 lone surrogate", "a\udfff\ud83d"])
def test_emoji_and_lone_surrogates_are_handled(resident: SimResident, text: str) -> None:
    resident.follow()
    body = json.dumps(
        {
            "events": [
                line_events.text_event(
                    resident.user_id,
                    text,
                    reply_token=resident.platform.state.issue_reply_token(resident.user_id),
                )
            ]
        }
    ).encode()  # ensure_ascii escapes surrogates like LINE's JSON
    assert signed_post(resident.client, body).status_code == 200
    assert len(resident.texts()) == 2  # welcome, then the help answer


def test_tampered_postback_data_gets_the_fallback(resident: SimResident) -> None:
    resident.follow()
    for data in ["v=1&a=../../admin", "v=9&a=menu.surveys", "%%%", "v=1&a=survey.answer&c=1"]:
        assert resident.tap(data).status_code == 200
    assert len(resident.texts()) == 5
    assert all("メニュー" in t for t in resident.texts()[1:])


def test_standby_and_unsend_events_are_ignored_quietly(
    client: FlaskClient, db: Database, resident: SimResident
) -> None:
    standby = line_events.text_event(resident.user_id, "hello", reply_token="unused")
    standby["mode"] = "standby"
    unsend = {
        **line_events.unfollow_event(resident.user_id),
        "type": "unsend",
        "unsend": {"messageId": "325708"},
    }
    response = signed_post(client, line_events.callback_body([standby, unsend]))
    assert response.status_code == 200
    assert resident.received() == []
    assert row_counts(db)["dialogs"] == 0
