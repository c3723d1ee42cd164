"""The LINE gateway against the fake platform: rate limits, retries, retry keys, timeouts."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from bot import messages
from bot.config import LineSettings
from bot.db import Database
from bot.jobs import CORE_JOBS, run_job
from bot.line_api import Content, ContentTooLarge, LineApiError, LineGateway
from bot.messages import datetime_picker_button
from bot.metrics import Metrics
from bot.outbox import Outbox, _take, deliver, send_due, send_stored
from bot.postback import PostbackData
from bot.ratelimit import Rate, TokenBucket
from bot.residents import lock_resident
from models import OutboundMessage, OutboundStatus
from models.base import utcnow
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


def _release(db: Database) -> None:
    """As if every sender had died: their leases are over."""
    with db.unit_of_work() as session:
        session.execute(
            update(OutboundMessage).values(leased_until=utcnow() - timedelta(seconds=1))
        )


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
        assert row.leased_until is not None
        assert row.leased_until > utcnow()  # it waits a minute
    [retry] = [job for job in CORE_JOBS if job.id == "retry_pushes"]
    assert run_job(app, retry) == 0  # not yet
    _release(db)
    assert run_job(app, retry) == 1
    with db.sessions() as session:
        row = session.scalars(select(OutboundMessage)).one()
        assert row.status == OutboundStatus.SENT
        assert row.line_request_id
    keys = {d.retry_key for d in platform.state.deliveries(friend)}
    assert keys == {str(row.retry_key)}
    assert send_stored(gateway, db, row.id) == OutboundStatus.SENT  # already sent: no resend
    assert len(platform.state.deliveries(friend)) == 1


def _stored_reply(
    db: Database, token: str, friend: str, *, until: datetime, late_as_push: bool = False
) -> Outbox:
    """A reply as an event's unit of work stores it."""
    outbox = Outbox()
    with db.unit_of_work() as session:
        resident = lock_resident(session, friend)
        outbox.reply(token, [{"type": "text", "text": "大切なお知らせ"}], resident=resident)
        outbox.seal(session, reply_until=until, late_as_push=late_as_push)
    return outbox


def _fresh_reply_that_must_arrive(
    db: Database, platform: RunningPlatform, friend: str
) -> tuple[str, Outbox]:
    """A reply stored with a fresh token, pushed if the token turns out stale."""
    token = platform.state.issue_reply_token(friend)
    until = utcnow() + timedelta(seconds=50)
    return token, _stored_reply(db, token, friend, until=until, late_as_push=True)


def test_a_reply_whose_sender_died_is_sent_again_while_fresh(
    app: Flask, platform: RunningPlatform, friend: str
) -> None:
    db, gateway = app.extensions["db"], app.extensions["line"]
    token = platform.state.issue_reply_token(friend)
    _stored_reply(db, token, friend, until=utcnow() + timedelta(seconds=50))  # never delivered
    with db.sessions() as session:  # committed already held, its first attempt counted
        row = session.scalars(select(OutboundMessage)).one()
        assert row.attempts == 1
        assert row.leased_until is not None
        assert row.leased_until > utcnow()
    assert send_due(gateway, db, window=timedelta(hours=23)) == 0  # its sender still holds it
    _release(db)
    assert send_due(gateway, db, window=timedelta(hours=23)) == 1
    assert [d.method for d in platform.state.deliveries(friend)] == ["reply"]
    with db.sessions() as session:
        assert session.scalars(select(OutboundMessage.attempts)).one() == 2


def test_a_first_send_is_the_attempt_its_unit_of_work_counted(
    app: Flask, platform: RunningPlatform, friend: str
) -> None:
    db, gateway = app.extensions["db"], app.extensions["line"]
    token = platform.state.issue_reply_token(friend)
    deliver(_stored_reply(db, token, friend, until=utcnow() + timedelta(seconds=50)), gateway, db)
    with db.sessions() as session:
        row = session.scalars(select(OutboundMessage)).one()
    assert (row.status, row.attempts) == (OutboundStatus.SENT, 1)
    assert [d.method for d in platform.state.deliveries(friend)] == ["reply"]


def test_a_reply_resent_after_it_got_through_is_not_doubled(
    app: Flask, platform: RunningPlatform, friend: str
) -> None:
    db, gateway = app.extensions["db"], app.extensions["line"]
    _, outbox = _fresh_reply_that_must_arrive(db, platform, friend)
    deliver(outbox, gateway, db)
    with db.unit_of_work() as session:  # as if the sender died before recording it
        session.execute(update(OutboundMessage).values(status=OutboundStatus.PENDING, sent_at=None))
    _release(db)
    assert send_due(gateway, db, window=timedelta(hours=23)) == 1  # LINE: token spent
    assert [d.method for d in platform.state.deliveries(friend)] == ["reply"]  # no push
    with db.sessions() as session:
        assert session.scalars(select(OutboundMessage.status)).one() == OutboundStatus.SENT


def test_a_slow_senders_refusal_does_not_push_what_a_newer_attempt_may_have_sent(
    app: Flask, platform: RunningPlatform, friend: str
) -> None:
    db, gateway = app.extensions["db"], app.extensions["line"]
    token, outbox = _fresh_reply_that_must_arrive(db, platform, friend)
    [row_id] = outbox.row_ids
    slow = outbox.first_attempt(row_id, utcnow())
    assert slow is not None
    # Its lease ran out: a second sender counts attempt 2 and uses the token first.
    assert _take(db, row_id, utcnow() + timedelta(seconds=11)) is not None
    gateway.reply(token, [{"type": "text", "text": "大切なお知らせ"}])
    # The first sender's attempt now comes back refused: it must not push a copy.
    assert send_stored(gateway, db, row_id, slow) == OutboundStatus.PENDING
    assert [d.method for d in platform.state.deliveries(friend)] == ["reply"]


def test_a_stale_reply_is_pushed_when_it_must_arrive_and_dropped_otherwise(
    app: Flask, platform: RunningPlatform, friend: str
) -> None:
    db, gateway = app.extensions["db"], app.extensions["line"]
    late = utcnow() - timedelta(seconds=1)
    deliver(_stored_reply(db, "stale-token-1", friend, until=late, late_as_push=True), gateway, db)
    deliver(_stored_reply(db, "stale-token-2", friend, until=late), gateway, db)
    assert [d.method for d in platform.state.deliveries(friend)] == ["push"]
    with db.sessions() as session:
        rows = session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
    assert [(r.status, r.last_error) for r in rows] == [
        (OutboundStatus.SENT, None),
        (OutboundStatus.FAILED, "reply token expired"),
    ]
    # Stale already when stored: the push was the attempt its unit of work counted.
    assert [r.attempts for r in rows] == [1, 0]
    assert [r.endpoint for r in platform.state.requests()] == ["push"]  # no stale reply tried


def test_reply_with_spent_token_falls_back_to_a_push_when_it_must_arrive(
    app: Flask, platform: RunningPlatform, friend: str
) -> None:
    db, gateway = app.extensions["db"], app.extensions["line"]
    token = platform.state.issue_reply_token(friend)
    gateway.reply(token, hello())  # spend it (LINE would say the same of an expired one)
    outbox = _stored_reply(
        db, token, friend, until=utcnow() + timedelta(seconds=50), late_as_push=True
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


# -- every kind of message the builders make passes the platform's validation ------------------


def test_every_kind_of_built_message_is_accepted_by_the_platform(
    gateway: LineGateway, platform: RunningPlatform, friend: str
) -> None:
    guarded = PostbackData("survey.answer", {"o": "1"}, 7, 2)
    picker = datetime_picker_button(
        "日付を選ぶ", guarded, "date", initial="2025-04-01", max_value="2025-12-31"
    )
    card = messages.bubble(
        [messages.flex_rows([("施設", "県立美術館")]), messages.flex_separator()],
        title="無料入館クーポン",
        hero=messages.flex_image("https://example.com/qr.png", aspect_ratio="1:1", fit=True),
        buttons=[
            messages.uri_button("地図を開く", "https://example.com/map"),
            messages.postback_button("使う" * 15, guarded),  # 30 characters: fine on Flex
            picker,
        ],
        button_style="primary",
    )
    sent = [
        messages.flex("クーポン", card),
        messages.flex("一覧", messages.carousel([card] * 12), [messages.camera_button("カメラ")]),
        messages.text(
            "写真か位置情報を送ってください。",
            [
                messages.camera_button("カメラ"),
                messages.camera_roll_button("写真を選ぶ"),
                messages.location_button("位置情報を送る"),
                picker,
                datetime_picker_button("時刻", guarded, "time", min_value="09:00"),
                messages.uri_button("電話する", "tel:0312345678"),
            ],
        ),
        messages.text("日時", [datetime_picker_button("日時", guarded, "datetime")]),
    ]
    gateway.push(friend, sent, str(uuid.uuid4()))
    [delivery] = platform.state.deliveries(friend)
    assert delivery.messages == sent


# -- media content: downloads bounded while they stream ----------------------------------------

MESSAGE_ID = "123456789012345678"


@pytest.mark.parametrize(
    ("data", "content_type", "expected_type"),
    [
        (b"\xff\xd8\xff\xe0jpeg", "image/jpeg", "image/jpeg"),
        (b"\x00\x00\x00\x18ftypmp42", "video/mp4", "video/mp4"),
        (b"\x00\x00\x00\x1cftypM4A ", "audio/x-m4a", "audio/x-m4a"),
        (b"%PDF-1.7\n", "application/pdf", "application/pdf"),
        ("こんにちは".encode(), "Text/Plain; charset=utf-8", "text/plain"),
    ],
)
@pytest.mark.parametrize("streamed", [False, True])
def test_content_of_each_kind_is_downloaded(
    gateway: LineGateway,
    platform: RunningPlatform,
    data: bytes,
    content_type: str,
    expected_type: str,
    streamed: bool,
) -> None:
    platform.state.add_content(MESSAGE_ID, data, content_type, streamed=streamed)
    assert gateway.get_content(MESSAGE_ID, max_bytes=len(data)) == Content(data, expected_type)
    # The platform is the session's: calls of other apps' background work may land here too.
    [call] = [call for call in platform.state.requests() if call.endpoint == "content"]
    assert (call.endpoint, call.status, call.path) == (
        "content",
        200,
        f"/v2/bot/message/{MESSAGE_ID}/content",
    )


def test_a_declared_length_over_the_limit_is_refused_before_reading(
    gateway: LineGateway, platform: RunningPlatform
) -> None:
    platform.state.add_content(MESSAGE_ID, b"x" * 1001, "image/jpeg")
    with pytest.raises(ContentTooLarge) as refused:
        gateway.get_content(MESSAGE_ID, max_bytes=1000)
    assert (refused.value.limit, refused.value.size) == (1000, 1001)  # from Content-Length
    assert len(platform.state.requests()) == 1  # not retried
    platform.state.add_content("2", b"small", "image/png")  # the pool still works
    assert gateway.get_content("2", max_bytes=1000).data == b"small"


def test_a_stream_without_length_is_cut_after_the_limit(
    gateway: LineGateway, platform: RunningPlatform
) -> None:
    platform.state.add_content(MESSAGE_ID, b"x" * 1001, "video/mp4", streamed=True)
    with pytest.raises(ContentTooLarge) as refused:
        gateway.get_content(MESSAGE_ID, max_bytes=1000)
    assert (refused.value.limit, refused.value.size) == (1000, None)  # no length was declared
    assert len(platform.state.requests()) == 1
    metrics = gateway.metrics.render().decode() if gateway.metrics else ""
    assert 'madoguchi_line_api_calls_total{endpoint="content",status="200"} 1.0' in metrics
    platform.state.add_content("2", b"x" * 1000, "video/mp4", streamed=True)
    assert len(gateway.get_content("2", max_bytes=1000).data) == 1000


def test_content_is_fetched_with_its_own_timeout(
    gateway: LineGateway, platform: RunningPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float] = []
    download = gateway._download

    def spy(path: str, max_bytes: int, *, _request_timeout: float) -> Any:
        seen.append(_request_timeout)
        return download(path, max_bytes, _request_timeout=_request_timeout)

    monkeypatch.setattr(gateway, "_download", spy)
    platform.state.add_content(MESSAGE_ID, b"\x89PNG", "image/png")
    gateway.get_content(MESSAGE_ID, max_bytes=100, timeout=12.5)
    gateway.get_content(MESSAGE_ID, max_bytes=100)
    assert seen == [12.5, 0.5]  # MEDIA_TIMEOUT, else the gateway's own


#: Downloads 8 MB of content with a 100 KB limit and prints the peak memory it allocated.
#: It runs in a process of its own: the platform's server threads allocate (werkzeug reads
#: up to 10 MB from each socket it closes), and tracemalloc cannot tell threads apart.
_DOWNLOAD = """
import sys, tracemalloc
from bot.config import LineSettings
from bot.line_api import ContentTooLarge, LineGateway
gateway = LineGateway(LineSettings("s", sys.argv[2], sys.argv[1], sys.argv[1], 2.0, 1, 0.01))
tracemalloc.start()
try:
    gateway.get_content(sys.argv[3], max_bytes=100_000)
except ContentTooLarge:
    print(tracemalloc.get_traced_memory()[1])
"""


@pytest.mark.parametrize("streamed", [False, True])
def test_a_large_download_never_sits_in_memory(platform: RunningPlatform, streamed: bool) -> None:
    platform.state.add_content(MESSAGE_ID, bytes(8 * 1024 * 1024), "video/mp4", streamed=streamed)
    ran = subprocess.run(
        [sys.executable, "-c", _DOWNLOAD, platform.url, ACCESS_TOKEN, MESSAGE_ID],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    peak = int(ran.stdout)
    assert peak < 1024 * 1024  # the 8 MB stayed on the platform's side of the socket
    platform.state.reset()


@pytest.mark.parametrize(
    "message_id", ["", "abc", "12a", "１２３", "12/../34", "1 2", "-1", "1" * 33, "12\n"]
)
def test_a_bad_message_id_is_refused_before_calling(
    gateway: LineGateway, platform: RunningPlatform, message_id: str
) -> None:
    with pytest.raises(ValueError, match="digits"):
        gateway.get_content(message_id, max_bytes=1000)
    assert platform.state.requests() == []


def test_max_bytes_must_be_positive(gateway: LineGateway, platform: RunningPlatform) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        gateway.get_content(MESSAGE_ID, max_bytes=0)
    assert platform.state.requests() == []


def test_unknown_content_is_404_and_not_retried(
    gateway: LineGateway, platform: RunningPlatform
) -> None:
    with pytest.raises(LineApiError) as error:
        gateway.get_content(MESSAGE_ID, max_bytes=1000)
    assert (error.value.endpoint, error.value.status, error.value.message) == (
        "content",
        404,
        "Not found",
    )
    assert error.value.request_id
    assert len(platform.state.requests()) == 1


@pytest.mark.parametrize(
    ("status", "delay"), [(500, 0.0), (503, 0.0), (0, 0.0), (200, 1.0)], ids=str
)
def test_content_is_retried_after_5xx_lost_answers_and_timeouts(
    gateway: LineGateway, platform: RunningPlatform, status: int, delay: float
) -> None:
    platform.state.add_content(MESSAGE_ID, b"\x89PNG", "image/png")
    platform.state.inject_fault("content", status=status, delay=delay)
    assert gateway.get_content(MESSAGE_ID, max_bytes=1000) == Content(b"\x89PNG", "image/png")
    deadline = time.monotonic() + 5  # a timed-out attempt is logged when its delay ends
    while len(platform.state.requests()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [r.endpoint for r in platform.state.requests()] == ["content", "content"]


def test_content_that_keeps_failing_raises(gateway: LineGateway, platform: RunningPlatform) -> None:
    platform.state.add_content(MESSAGE_ID, b"\x89PNG", "image/png")
    platform.state.inject_fault("content", status=500, times=3)
    with pytest.raises(LineApiError) as error:
        gateway.get_content(MESSAGE_ID, max_bytes=1000)
    assert error.value.status == 500
    assert len(platform.state.requests()) == 3
