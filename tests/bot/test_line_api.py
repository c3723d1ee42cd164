"""The LINE gateway against the fake platform: rate limits, retries, retry keys, timeouts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select, update

from bot.config import LineSettings
from bot.jobs import CORE_JOBS, run_job
from bot.line_api import LineApiError, LineGateway
from bot.metrics import Metrics
from bot.outbox import Outbox, deliver, send_push
from bot.ratelimit import Rate, TokenBucket
from bot.residents import lock_resident
from models import OutboundMessage, OutboundStatus
from simulator.server import RunningPlatform
from tests.support import ACCESS_TOKEN, Resident

RATE_LIMITED = {"message": "The API rate limit has been exceeded. Try again later."}


@pytest.fixture
def gateway(platform: RunningPlatform) -> Iterator[LineGateway]:
    settings = LineSettings(
        "secret",
        ACCESS_TOKEN,
        platform.url,
        platform.url,
        timeout=0.5,
        max_attempts=3,
        retry_wait=0.01,
    )
    gateway = LineGateway(settings, Metrics())
    yield gateway
    gateway.close()
    platform.state.reset()


@pytest.fixture
def friend(platform: RunningPlatform) -> str:
    user = platform.state.add_user(display_name="県民", language="ja")
    platform.state.set_friend(user.user_id, True)
    return user.user_id


def hello() -> list[dict[str, str]]:
    return [{"type": "text", "text": "こんにちは"}]


def test_push_is_delivered_with_its_retry_key(
    gateway: LineGateway, platform: RunningPlatform, friend: str
) -> None:
    key = str(uuid.uuid4())
    sent = gateway.push(friend, hello(), key)
    assert sent.request_id
    assert not sent.accepted_earlier
    [delivery] = platform.state.deliveries(friend)
    assert delivery.retry_key == key
    assert delivery.messages[0]["text"] == "こんにちは"


def test_429_then_success(gateway: LineGateway, platform: RunningPlatform, friend: str) -> None:
    platform.state.inject_fault("push", status=429, body=RATE_LIMITED)
    gateway.push(friend, hello(), str(uuid.uuid4()))
    assert len(platform.state.deliveries(friend)) == 1
    assert [r.status for r in platform.state.requests() if r.endpoint == "push"] == [429, 200]


def test_monthly_limit_429_is_not_retried(
    gateway: LineGateway, platform: RunningPlatform, friend: str
) -> None:
    platform.state.inject_fault(
        "push", status=429, body={"message": "You have reached your monthly limit."}
    )
    with pytest.raises(LineApiError) as error:
        gateway.push(friend, hello(), str(uuid.uuid4()))
    assert error.value.status == 429
    assert not error.value.retryable
    assert len([r for r in platform.state.requests() if r.endpoint == "push"]) == 1


def test_500_after_delivery_then_retry_delivers_once(
    gateway: LineGateway, platform: RunningPlatform, friend: str
) -> None:
    platform.state.inject_fault("push", status=500, after_delivery=True)
    sent = gateway.push(friend, hello(), str(uuid.uuid4()))
    assert sent.accepted_earlier  # the retry got 409: LINE had accepted the first attempt
    assert len(platform.state.deliveries(friend)) == 1


def test_timeout_is_retried_with_the_same_key(
    gateway: LineGateway, platform: RunningPlatform, friend: str
) -> None:
    platform.state.inject_fault("push", status=200, delay=1.0, after_delivery=True)
    gateway.push(friend, hello(), str(uuid.uuid4()))
    assert len(platform.state.deliveries(friend)) == 1


def test_every_attempt_timing_out_raises(
    gateway: LineGateway, platform: RunningPlatform, friend: str
) -> None:
    platform.state.inject_fault("profile", status=200, delay=1.0, times=3)
    with pytest.raises(LineApiError) as error:
        gateway.get_profile(friend)
    assert error.value.status == 0
    metrics = gateway.metrics.render().decode() if gateway.metrics else ""
    assert 'madoguchi_line_api_calls_total{endpoint="profile",status="0"} 3.0' in metrics


def test_bad_request_is_not_retried(
    gateway: LineGateway, platform: RunningPlatform, friend: str
) -> None:
    with pytest.raises(LineApiError) as error:
        gateway.push(friend, [{"type": "text", "text": "x" * 5001}], str(uuid.uuid4()))
    assert error.value.status == 400
    assert len(platform.state.requests()) == 1


def test_spent_reply_token_is_reported(
    gateway: LineGateway, platform: RunningPlatform, friend: str
) -> None:
    token = platform.state.issue_reply_token(friend)
    gateway.reply(token, hello())
    with pytest.raises(LineApiError) as error:
        gateway.reply(token, hello())
    assert error.value.invalid_reply_token
    assert len(platform.state.deliveries(friend)) == 1


def test_reply_lost_in_transit_is_not_sent_twice(
    gateway: LineGateway, platform: RunningPlatform, friend: str
) -> None:
    platform.state.inject_fault("reply", status=500, after_delivery=True)
    sent = gateway.reply(platform.state.issue_reply_token(friend), hello())
    assert sent.accepted_earlier
    assert len(platform.state.deliveries(friend)) == 1


def test_token_bucket_waits_then_refuses() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(Rate(per_second=2, burst=2), clock=lambda: now[0], sleep=sleep)
    assert bucket.acquire(0)
    assert bucket.acquire(0)
    assert not bucket.acquire(0.1)  # the next token is 0.5 s away
    assert bucket.acquire(1.0)
    assert slept == [0.5]


# -- the outbox: pushes stored with their keys, sent after commit -------------------------


def test_failed_push_stays_pending_and_the_clock_resends_it(
    app: Flask, platform: RunningPlatform, friend: str
) -> None:
    db, gateway = app.extensions["db"], app.extensions["line"]
    outbox = Outbox()
    with db.unit_of_work() as session:
        resident = lock_resident(session, friend)
        outbox.push(session, resident, hello(), purpose="test")
    platform.state.inject_fault("push", status=503, times=3)
    deliver(outbox, gateway, db)
    with db.sessions() as session:
        row = session.scalars(select(OutboundMessage)).one()
        assert (row.status, row.attempts) == (OutboundStatus.PENDING, 1)
        session.execute(
            update(OutboundMessage).values(
                updated_at=row.updated_at.replace(year=2020), created_at=row.created_at
            )
        )
        session.commit()
    [retry] = [job for job in CORE_JOBS if job.id == "retry_pushes"]
    assert run_job(app, retry) == 1
    with db.sessions() as session:
        row = session.scalars(select(OutboundMessage)).one()
        assert row.status == OutboundStatus.SENT
        assert row.line_request_id
    keys = {d.retry_key for d in platform.state.deliveries(friend)}
    assert keys == {str(row.retry_key)}
    assert send_push(gateway, db, row.id) == OutboundStatus.SENT  # already sent: no resend
    assert len(platform.state.deliveries(friend)) == 1


def test_reply_with_spent_token_falls_back_to_a_push_when_it_must_arrive(
    app: Flask, platform: RunningPlatform, friend: str
) -> None:
    db, gateway = app.extensions["db"], app.extensions["line"]
    token = platform.state.issue_reply_token(friend)
    gateway.reply(token, hello())  # spend it
    with db.unit_of_work() as session:
        resident_id = lock_resident(session, friend).id
    outbox = Outbox()
    outbox.reply(
        token,
        [{"type": "text", "text": "大切なお知らせ"}],
        resident_id=resident_id,
        must_arrive=True,
    )
    deliver(outbox, gateway, db)
    assert [d.method for d in platform.state.deliveries(friend)] == ["reply", "push"]


def test_nothing_is_pushed_to_a_resident_who_blocked_us(app: Flask, resident: Resident) -> None:
    resident.follow()
    resident.unfollow()
    db = app.extensions["db"]
    with db.unit_of_work() as session:
        blocked = lock_resident(session, resident.user_id)
        assert Outbox().push(session, blocked, hello(), purpose="test") is None
    assert len(resident.received()) == 1  # the welcome only


def test_multicast_and_broadcast_are_keyed_and_never_doubled(
    gateway: LineGateway, platform: RunningPlatform, friend: str
) -> None:
    other = platform.state.add_user(display_name="別の県民").user_id
    platform.state.set_friend(other, True)
    key = str(uuid.uuid4())
    platform.state.inject_fault("multicast", status=500, after_delivery=True)
    assert gateway.multicast([friend, other], hello(), key).accepted_earlier
    assert len(platform.state.deliveries(friend)) == 1
    assert len(platform.state.deliveries(other)) == 1
    assert gateway.multicast([friend, other], hello(), key).accepted_earlier  # same key again
    assert len(platform.state.deliveries(friend)) == 1
    broadcast_key = str(uuid.uuid4())
    assert not gateway.broadcast(hello(), broadcast_key).accepted_earlier
    assert gateway.broadcast(hello(), broadcast_key).accepted_earlier
    assert [d.method for d in platform.state.deliveries(other)] == ["multicast", "broadcast"]
    with pytest.raises(ValueError, match="500"):
        gateway.multicast([friend] * 501, hello(), str(uuid.uuid4()))
