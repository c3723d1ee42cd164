"""LINE's own webhook bodies, and the older shapes madoguchi relies on, through the whole path.

The LINE SDK's test bodies (../shared/data/line-webhook-fixtures: every event type, in the
current and the older payload shapes) go through the door, the inbox and the workers. Each
event is answered as its type deserves (a one-to-one message, postback or follow gets one
reply; a group or room, the one-to-one note), or is done with on purpose (everything else);
none fails. The SDK's strict models refuse about a fifth of these events; the raw-JSON reading
of bot/incoming.py does not need what they lack.

The project keeps fixtures of its own for the older shapes (tests/fixtures/webhook/old_*.json),
so a clone without ../shared still tests them.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.db import Database
from models import InboxEvent, InboxStatus
from simulator import events as line_events
from simulator.server import RunningPlatform
from tests.support import load_fixture, signed_post

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "line-webhook-fixtures"
SDK_BODIES = ("line-bot-sdk-python-v3-webhook.json", "line-bot-sdk-python-v2-webhook.json")
_CHAT_ID = re.compile(r"^[CR][0-9a-f]{32}$")
#: Event types that deserve an answer in a one-to-one chat, and in a group or room.
ANSWERED_ONE_TO_ONE = {"message", "postback", "follow"}
ANSWERED_IN_GROUPS = {"message", "postback", "join"}


def _sdk_events() -> list[tuple[str, dict[str, Any]]]:
    if not SHARED.is_dir():
        pytest.skip(f"LINE's webhook fixtures are not here ({SHARED}: ../shared is absent)")
    found = []
    for name in SDK_BODIES:
        body = json.loads((SHARED / name).read_text(encoding="utf-8"))
        found += [(f"{name}#{n}", event) for n, event in enumerate(body["events"])]
    return found


def _as_ours(event: dict[str, Any], platform: RunningPlatform) -> tuple[dict[str, Any], str]:
    """The event with our own ids: a fresh event id, a platform user and chat, a real token.

    :return: the event and the platform user whose deliveries show its answer.
    """
    ours = copy.deepcopy(event)
    ours["webhookEventId"] = line_events.new_event_id()
    user = platform.state.add_user(display_name="県民", is_friend=True).user_id
    source = ours.get("source") or {}
    if "userId" in source:
        source["userId"] = user
    for key in ("groupId", "roomId"):
        if _CHAT_ID.match(str(source.get(key, ""))):
            source[key] = source[key][0] + secrets.token_hex(16)
    if "replyToken" in ours:
        ours["replyToken"] = platform.state.issue_reply_token(user)
    return ours, user


def _deserves_an_answer(event: dict[str, Any]) -> bool:
    source = event.get("source") or {}
    if event.get("mode") == "standby" or "replyToken" not in event:
        return False
    if source.get("type") == "user" and source.get("userId"):
        return event["type"] in ANSWERED_ONE_TO_ONE
    if source.get("type") in ("group", "room"):
        return event["type"] in ANSWERED_IN_GROUPS and bool(
            _CHAT_ID.match(str(source.get("groupId") or source.get("roomId") or ""))
        )
    return False


def _replies(platform: RunningPlatform, user: str) -> int:
    return len(platform.state.deliveries(user))


def _failures(app: Flask) -> float:
    """Failed processing attempts so far, as /metrics counts them (the app is shared)."""
    return sum(
        sample.value
        for metric in app.extensions["metrics"].registry.collect()
        if metric.name == "madoguchi_webhook_events"
        for sample in metric.samples
        if sample.labels.get("outcome") == "failed"
    )


def test_every_event_of_lines_own_bodies_is_answered_or_done_with(
    app: Flask, client: FlaskClient, db: Database, platform: RunningPlatform
) -> None:
    events = _sdk_events()
    failures_before = _failures(app)
    expected, got = {}, {}
    for name, raw in events:
        ours, user = _as_ours(raw, platform)
        assert signed_post(client, line_events.callback_body([ours])).status_code == 200, name
        expected[name] = 1 if _deserves_an_answer(ours) else 0
        got[name] = _replies(platform, user)
    assert got == expected
    assert sum(expected.values()) >= 20  # most of them are messages that get an answer
    with db.sessions() as session:
        statuses = session.scalars(select(InboxEvent.status)).all()
    assert statuses == [InboxStatus.DONE] * len(events)  # none failed, none parked
    assert _failures(app) == failures_before  # no attempt failed either


@pytest.mark.parametrize(
    ("fixture", "answer"),
    [
        ("old_text", "ご用件をメニューからお選びください。"),  # no quoteToken
        ("old_image", "申し訳ありません、内容を理解できませんでした。"),  # no contentProvider
        ("old_follow", "友だち追加ありがとうございます"),  # no follow object
    ],
)
def test_the_older_shapes_are_still_answered(
    client: FlaskClient, platform: RunningPlatform, fixture: str, answer: str
) -> None:
    user = platform.state.add_user(display_name="県民", is_friend=True).user_id
    event = load_fixture(
        fixture,
        event_id=line_events.new_event_id(),
        user_id=user,
        reply_token=platform.state.issue_reply_token(user),
    )
    assert signed_post(client, line_events.callback_body([event])).status_code == 200
    [delivery] = platform.state.deliveries(user)
    assert delivery.messages[0]["text"].startswith(answer)
