"""The inbox: the door stores, the workers process in each resident's order, nothing is lost.

The webhook requests here are posted with ``drain=False`` where the test looks at what the
door did before any worker ran; ``app.extensions["workers"]`` is then driven by hand.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text, update

from bot import create_app, inbox, messages
from bot.db import Database
from bot.outbox import Outbox
from bot.residents import lock_resident
from bot.workers import CLAIM_BATCH, EventWorkers
from models import GroupChat, InboxEvent, InboxStatus, OutboundMessage, Resident
from models.base import utcnow
from simulator import events as line_events
from simulator.server import RunningPlatform
from tests.support import Resident as SimResident
from tests.support import app_settings, break_router, signed_post


def workers(app: Flask) -> EventWorkers:
    found: EventWorkers = app.extensions["workers"]
    return found


def inbox_rows(db: Database) -> list[InboxEvent]:
    with db.sessions() as session:
        return list(session.scalars(select(InboxEvent).order_by(InboxEvent.id)))


def friends(platform: RunningPlatform, count: int) -> list[str]:
    users = []
    for n in range(count):
        user = platform.state.add_user(display_name=f"県民{n}", is_friend=True)
        users.append(user.user_id)
    return users


def texts_to(platform: RunningPlatform, user_id: str) -> list[str]:
    return [
        m["text"] for d in platform.state.deliveries(user_id) for m in d.messages if "text" in m
    ]


# -- the door ---------------------------------------------------------------------------------


def test_the_door_stores_a_batch_in_one_write_and_processes_nothing(
    app: Flask, client: FlaskClient, db: Database, platform: RunningPlatform
) -> None:
    users = friends(platform, 500)
    events = [
        line_events.text_event(u, "メニュー", reply_token=platform.state.issue_reply_token(u))
        for u in users
    ]
    statements: list[str] = []
    from sqlalchemy import event as sa_event

    def count(*args: Any) -> None:
        statements.append(args[2])

    sa_event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = signed_post(client, line_events.callback_body(events), drain=False)
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", count)
    assert response.status_code == 200
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 1  # one batched statement for all 500 events
    assert all(d == [] for d in (platform.state.deliveries(u) for u in users[:5]))
    rows = inbox_rows(db)
    assert len(rows) == 500
    assert {r.status for r in rows} == {InboxStatus.PENDING}
    workers(app).drain()
    assert all(texts_to(platform, u) == ["ご用件をメニューからお選びください。"] for u in users)
    assert {r.status for r in inbox_rows(db)} == {InboxStatus.DONE}


def test_a_processed_event_keeps_its_id_but_not_its_content(
    app: Flask, db: Database, resident: SimResident
) -> None:
    resident.follow()
    resident.say("私の住所は秘密です")
    for row in inbox_rows(db):
        assert (row.status, row.payload, row.source_key) == (InboxStatus.DONE, None, None)
        assert row.webhook_event_id
    resident.redeliver()  # still recognised at the door
    assert len(inbox_rows(db)) == 2
    assert len(resident.texts()) == 2


def test_a_deeply_nested_body_is_refused_not_a_crash(client: FlaskClient, db: Database) -> None:
    body = b'{"events":' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    assert signed_post(client, body).status_code == 400
    nested: Any = 1
    for _ in range(40):  # decodable, but deeper than any webhook
        nested = [nested]
    too_deep = json.dumps({"events": [{"type": "message", "x": nested}]})
    assert signed_post(client, too_deep.encode()).status_code == 400
    assert inbox_rows(db) == []


def test_an_event_without_an_id_is_dropped_and_the_others_kept(
    client: FlaskClient, db: Database, platform: RunningPlatform
) -> None:
    [user] = friends(platform, 1)
    good = line_events.text_event(
        user, "メニュー", reply_token=platform.state.issue_reply_token(user)
    )
    nameless = {**good, "webhookEventId": ""}
    assert signed_post(client, line_events.callback_body([nameless, good])).status_code == 200
    assert [r.webhook_event_id for r in inbox_rows(db)] == [good["webhookEventId"]]
    assert texts_to(platform, user) == ["ご用件をメニューからお選びください。"]


def test_a_database_that_cannot_store_answers_503(platform: RunningPlatform) -> None:
    app = create_app(app_settings("postgresql+psycopg://nobody@127.0.0.1:1/none", platform.url))
    [user] = friends(platform, 1)
    event = line_events.text_event(user, "x", reply_token=platform.state.issue_reply_token(user))
    response = signed_post(app.test_client(), line_events.callback_body([event]), drain=False)
    app.extensions["line"].close()
    assert response.status_code == 503  # nothing stored: LINE's redelivery brings it again


# -- bad input ----------------------------------------------------------------------------------


def test_nul_and_lone_surrogates_never_reach_the_database_as_errors(
    app: Flask, db: Database, resident_factory: Callable[..., SimResident]
) -> None:
    sim = resident_factory(display_name="県民\x00\ud800太郎")
    sim.follow()
    body = json.dumps(
        {
            "events": [
                line_events.text_event(
                    sim.user_id,
                    "a\x00b\udfff",
                    reply_token=sim.platform.state.issue_reply_token(sim.user_id),
                )
            ]
        }
    ).encode()
    assert signed_post(sim.client, body).status_code == 200
    assert len(sim.texts()) == 2  # welcome, and an answer to the text
    with db.sessions() as session:
        assert session.scalars(select(Resident.display_name)).one() == "県民\ufffd\ufffd太郎"
    assert {r.status for r in inbox_rows(db)} == {InboxStatus.DONE}


@pytest.mark.parametrize("user_id", ["U123", "u" + "a" * 32, "U" + "G" * 32, "", 42])
def test_a_malformed_user_id_creates_nothing(
    client: FlaskClient, db: Database, user_id: Any
) -> None:
    event = line_events.text_event("U" + "0" * 32, "hello", reply_token="r" * 32)
    event["source"] = {"type": "user", "userId": user_id}
    assert signed_post(client, line_events.callback_body([event])).status_code == 200
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Resident)) == 0
    assert {r.status for r in inbox_rows(db)} == {InboxStatus.DONE}


def test_a_group_gets_the_one_to_one_note_once(
    client: FlaskClient, db: Database, platform: RunningPlatform
) -> None:
    [user] = friends(platform, 1)
    group = line_events.group_source("C" + "1" * 32, user)
    for _ in range(3):
        token = platform.state.issue_reply_token(user)
        event = line_events.text_event(user, "こんにちは", reply_token=token, source=group)
        assert signed_post(client, line_events.callback_body([event])).status_code == 200
    notes = [r for r in platform.state.requests() if r.endpoint == "reply"]
    assert len(notes) == 1
    with db.sessions() as session:
        assert session.scalars(select(GroupChat.chat_id)).all() == ["C" + "1" * 32]
        assert session.scalar(select(func.count()).select_from(Resident)) == 0


# -- order, leases, failures --------------------------------------------------------------------


def test_one_residents_events_go_in_linens_order_whatever_the_arrival(
    app: Flask, client: FlaskClient, db: Database, platform: RunningPlatform
) -> None:
    [user] = friends(platform, 1)
    now_ms = int(utcnow().timestamp() * 1000)

    def say(words: str, at_ms: int) -> dict[str, Any]:
        token = platform.state.issue_reply_token(user)
        return line_events.text_event(user, words, reply_token=token, timestamp_ms=at_ms)

    later, earlier = say("help", now_ms + 10), say("メニュー", now_ms)
    signed_post(client, line_events.callback_body([later]), drain=False)
    signed_post(client, line_events.callback_body([earlier]), drain=False)
    with app.app_context(), db.unit_of_work() as session:
        first = inbox.claim(session, owner="a", now=utcnow(), lease=timedelta(seconds=30), limit=10)
        second = inbox.claim(
            session, owner="b", now=utcnow(), lease=timedelta(seconds=30), limit=10
        )
    assert [c.webhook_event_id for c in first] == [earlier["webhookEventId"]]  # the head only
    assert second == []  # the next waits behind the leased one


def test_parallel_claims_never_give_one_resident_two_events(
    app: Flask, client: FlaskClient, db: Database, platform: RunningPlatform
) -> None:
    users = friends(platform, 20)
    events = [
        line_events.text_event(u, word, reply_token=platform.state.issue_reply_token(u))
        for word in ("a", "b", "c")
        for u in users
    ]
    signed_post(client, line_events.callback_body(events), drain=False)
    claimed: list[list[inbox.Claimed]] = []
    start = threading.Barrier(4)

    def claim(owner: str) -> None:
        start.wait()
        with db.unit_of_work() as session:
            claimed.append(
                inbox.claim(
                    session, owner=owner, now=utcnow(), lease=timedelta(seconds=30), limit=8
                )
            )

    threads = [threading.Thread(target=claim, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    taken = [c for batch in claimed for c in batch]
    sources = [c.raw["source"]["userId"] for c in taken]
    assert len(taken) == 20  # the 20 heads, spread over the claimers
    assert len(set(sources)) == len(sources)  # never two of one resident
    assert len({c.id for c in taken}) == len(taken)  # never one event twice
    assert {c.raw["message"]["text"] for c in taken} == {"a"}


def test_a_dead_workers_event_is_processed_again_after_its_lease(
    app: Flask, client: FlaskClient, db: Database, platform: RunningPlatform
) -> None:
    [user] = friends(platform, 1)
    event = line_events.text_event(
        user, "メニュー", reply_token=platform.state.issue_reply_token(user)
    )
    signed_post(client, line_events.callback_body([event]), drain=False)
    with db.unit_of_work() as session:  # a worker takes it, and dies
        [dead] = inbox.claim(
            session, owner="dead", now=utcnow(), lease=timedelta(seconds=30), limit=1
        )
    assert workers(app).drain() == 0  # leased: nobody else may take it yet
    workers(app).drain(now=utcnow() + timedelta(seconds=31))
    assert texts_to(platform, user) == ["ご用件をメニューからお選びください。"]
    with db.unit_of_work() as session, pytest.raises(inbox.LeaseLost):
        inbox.complete(session, dead.id, owner="dead", now=utcnow())  # too late: no double
    [row] = inbox_rows(db)
    assert (row.status, row.attempts) == (InboxStatus.DONE, 2)


def test_a_dead_workers_event_keeps_its_place_in_the_residents_order(
    app: Flask, client: FlaskClient, db: Database, platform: RunningPlatform
) -> None:
    [user] = friends(platform, 1)
    first, second = (
        line_events.text_event(user, word, reply_token=platform.state.issue_reply_token(user))
        for word in ("メニュー", "help")
    )
    signed_post(client, line_events.callback_body([first, second]), drain=False)
    lease = timedelta(seconds=30)
    with db.unit_of_work() as session:  # a worker takes the first, and dies
        inbox.claim(session, owner="dead", now=utcnow(), lease=lease, limit=10)
    later = utcnow() + timedelta(seconds=31)
    with db.unit_of_work() as session:
        again = inbox.claim(session, owner="b", now=later, lease=lease, limit=10)
    assert [(c.webhook_event_id, c.attempt) for c in again] == [(first["webhookEventId"], 2)]


def test_a_reply_whose_sender_died_is_sent_again_behind_a_backlog(
    app: Flask,
    client: FlaskClient,
    db: Database,
    platform: RunningPlatform,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Due sends go at least once a poll interval, however busy: here, every round.
    monkeypatch.setitem(app.config, "EVENT_POLL_SECONDS", 0)
    first, *others = friends(platform, 25)
    outbox = Outbox()
    with db.unit_of_work() as session:  # stored with its event, then its sender died
        resident = lock_resident(session, first)
        token = platform.state.issue_reply_token(first)
        outbox.reply(token, [messages.text("お待たせしました")], resident=resident)
        outbox.seal(session, reply_until=utcnow() + timedelta(seconds=50), late_as_push=True)
    with db.unit_of_work() as session:  # its lease is over
        session.execute(
            update(OutboundMessage).values(leased_until=utcnow() - timedelta(seconds=1))
        )
    backlog = [
        line_events.text_event(u, "help", reply_token=platform.state.issue_reply_token(u))
        for u in others
    ]
    signed_post(client, line_events.callback_body(backlog), drain=False)
    assert workers(app).run_once()  # one batch of the backlog, and what is due
    assert texts_to(platform, first) == ["お待たせしました"]
    with db.sessions() as session:
        waiting = session.scalar(
            select(func.count()).where(InboxEvent.status == InboxStatus.PENDING)
        )
    assert waiting == len(others) - CLAIM_BATCH  # the backlog is still there


def test_a_failing_event_is_retried_then_parked_without_blocking_the_resident(
    app: Flask, db: Database, resident: SimResident, monkeypatch: pytest.MonkeyPatch
) -> None:
    resident.follow()
    break_router(app, monkeypatch, "explode")
    registry = app.extensions["metrics"].registry
    parked_before = registry.get_sample_value("madoguchi_parked_events_total") or 0
    events = [
        line_events.text_event(
            resident.user_id,
            word,
            reply_token=resident.platform.state.issue_reply_token(resident.user_id),
        )
        for word in ("explode", "メニュー")
    ]
    signed_post(resident.client, line_events.callback_body(events))
    bad, good = inbox_rows(db)[1:]
    assert (bad.status, bad.attempts, bad.last_error) == (InboxStatus.PARKED, 3, "RuntimeError")
    assert bad.payload is not None  # kept for an admin to retry
    assert good.status == InboxStatus.DONE  # processed after the bad one was parked
    assert resident.texts()[1:] == [
        "申し訳ありません。こちらの不具合でメッセージを処理できませんでした。"
        "時間をおいて、もう一度お試しください。",
        "ご用件をメニューからお選びください。",
    ]
    assert registry.get_sample_value("madoguchi_parked_events_total") == parked_before + 1
    monkeypatch.undo()  # the defect is fixed; an admin retries
    with db.unit_of_work() as session:
        assert inbox.retry_parked(session, [bad.id], now=utcnow()) == 1
    workers(app).drain()
    assert inbox_rows(db)[1].status == InboxStatus.DONE
    assert len(resident.texts()) == 4  # the retried event's own answer


def test_a_failed_event_waits_before_its_next_attempt(
    make_app: Callable[..., Flask],
    resident_factory: Callable[..., SimResident],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = make_app(EVENT_RETRY_SECONDS=60)
    sim = resident_factory()
    sim.client = app.test_client()
    sim.follow()
    break_router(app, monkeypatch, "explode")
    sim.say("explode")
    sim.say("メニュー")  # waits behind the failed one: strict order
    db = app.extensions["db"]
    rows = inbox_rows(db)
    assert [(r.status, r.attempts) for r in rows[1:]] == [
        (InboxStatus.PENDING, 1),
        (InboxStatus.PENDING, 0),
    ]
    assert rows[1].available_at > utcnow() + timedelta(seconds=50)
    monkeypatch.undo()
    workers(app).drain(now=utcnow() + timedelta(seconds=61))
    assert [r.status for r in inbox_rows(db)] == [InboxStatus.DONE] * 3
    assert len(sim.texts()) == 3


# -- health and metrics -------------------------------------------------------------------------


def test_healthz_and_metrics_report_the_backlog(
    app: Flask, client: FlaskClient, db: Database, platform: RunningPlatform
) -> None:
    [user] = friends(platform, 1)
    event = line_events.text_event(user, "x", reply_token=platform.state.issue_reply_token(user))
    signed_post(client, line_events.callback_body([event]), drain=False)
    assert client.get("/healthz").status_code == 200  # fresh: fine
    with db.unit_of_work() as session:
        session.execute(update(InboxEvent).values(received_at=utcnow() - timedelta(minutes=5)))
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json is not None
    assert health.json["status"] == "backlog"
    assert health.json["inbox"]["pending"] == 1
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "madoguchi_inbox_pending 1.0" in metrics
    oldest = next(row for row in metrics.splitlines() if row.startswith("madoguchi_inbox_oldest"))
    assert 299 < float(oldest.split()[1]) < 400


def test_a_locked_inbox_times_out_instead_of_hanging(
    make_app: Callable[..., Flask], database_url: str, platform: RunningPlatform
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("statement and lock timeouts are PostgreSQL's (SQLite waits on its lock)")
    app = make_app(DATABASE_STATEMENT_TIMEOUT_MS=300)
    [user] = friends(platform, 1)
    event = line_events.text_event(user, "x", reply_token=platform.state.issue_reply_token(user))
    locker = create_engine(database_url)
    with locker.connect() as connection:
        connection.execute(text("LOCK TABLE inbox_events IN ACCESS EXCLUSIVE MODE"))
        client = app.test_client()
        answer = signed_post(client, line_events.callback_body([event]), drain=False)
        health = client.get("/healthz")
        connection.rollback()
    locker.dispose()
    assert answer.status_code == 503
    assert health.status_code == 503


def test_a_dropped_database_connection_costs_no_request(
    app: Flask, database_url: str, resident: SimResident
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server to drop connections")
    resident.follow()  # the pool now holds connections
    killer = create_engine(database_url)
    with killer.connect() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        connection.commit()
    killer.dispose()
    assert resident.say("メニュー").status_code == 200
    assert resident.texts()[-1] == "ご用件をメニューからお選びください。"
