"""Webhooks from the platform to a bot that verifies them with the SDK's WebhookParser."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests
from linebot.v3.messaging import (
    ApiException,
    MessagingApi,
    MessagingApiBlob,
    ReplyMessageRequest,
    TextMessage,
)
from linebot.v3.messaging.exceptions import NotFoundException
from linebot.v3.webhooks import (
    FollowEvent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
    UnfollowEvent,
)
from ulid import ULID

from simulator.events import BOT_USER_ID, external_provider
from simulator.state import PlatformState
from simulator.webhooks import WebhookSender

if TYPE_CHECKING:
    from tests.simulator.conftest import RecordingBot


def reply(messaging: MessagingApi, token: str) -> None:
    messaging.reply_message(
        ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="ok")])
    )


def test_follow_makes_a_friend_and_sends_a_replyable_event(
    webhook: WebhookSender, bot: RecordingBot, state: PlatformState, messaging: MessagingApi
) -> None:
    user_id = state.add_user().user_id
    assert webhook.follow(user_id) == 200
    (event,) = bot.events
    assert isinstance(event, FollowEvent)
    assert event.follow.is_unblocked is False
    assert event.source.user_id == user_id
    assert bot.payloads[0]["destination"] == BOT_USER_ID
    user = state.get_user(user_id)
    assert user is not None
    assert user.is_friend
    reply(messaging, event.reply_token)
    assert [d.method for d in state.deliveries(user_id)] == ["reply"]


def test_unfollow_blocks_and_has_no_reply_token(
    webhook: WebhookSender, bot: RecordingBot, state: PlatformState, friend: str
) -> None:
    assert webhook.unfollow(friend) == 200
    (event,) = bot.events
    assert isinstance(event, UnfollowEvent)
    assert "replyToken" not in bot.payloads[0]["events"][0]
    user = state.get_user(friend)
    assert user is not None
    assert not user.is_friend


def test_text_arrives_verified_with_a_ulid_event_id(
    webhook: WebhookSender, bot: RecordingBot, friend: str
) -> None:
    assert webhook.text(friend, "引っ越しの手続き😀") == 200
    (event,) = bot.events
    assert isinstance(event, MessageEvent)
    assert isinstance(event.message, TextMessageContent)
    assert event.message.text == "引っ越しの手続き😀"
    assert str(ULID.from_str(event.webhook_event_id)) == event.webhook_event_id
    assert event.delivery_context.is_redelivery is False
    assert event.mode == "active"


def test_postback_carries_data_and_params(
    webhook: WebhookSender, bot: RecordingBot, friend: str
) -> None:
    webhook.postback(friend, "v=1&a=survey.answer", {"date": "2025-04-01"})
    (event,) = bot.events
    assert isinstance(event, PostbackEvent)
    assert event.postback.data == "v=1&a=survey.answer"
    assert event.postback.params == {"date": "2025-04-01"}


def test_send_returns_the_bots_status(
    webhook: WebhookSender, bot: RecordingBot, friend: str
) -> None:
    bot.status = 500
    assert webhook.text(friend, "こんにちは") == 500


def test_a_wrong_secret_is_rejected_by_the_sdk_parser(
    state: PlatformState, bot: RecordingBot, webhook: WebhookSender, friend: str
) -> None:
    with WebhookSender(
        state, webhook_url=webhook.webhook_url, channel_secret="not-the-secret"
    ) as impostor:
        assert impostor.text(friend, "hi") == 400
    assert bot.events == []


def test_redelivery_keeps_event_id_and_reply_token(
    webhook: WebhookSender, bot: RecordingBot, friend: str
) -> None:
    webhook.text(friend, "一回目")
    original = webhook.last_event(friend)
    assert original is not None
    assert webhook.redeliver(original) == 200
    first, again = bot.events
    assert isinstance(first, MessageEvent)
    assert isinstance(again, MessageEvent)
    assert again.webhook_event_id == first.webhook_event_id
    assert again.reply_token == first.reply_token
    assert again.timestamp == first.timestamp
    assert again.delivery_context.is_redelivery is True
    assert first.delivery_context.is_redelivery is False


def test_redelivered_token_works_for_another_minute(
    webhook: WebhookSender, friend: str, messaging: MessagingApi, clock: Any, state: PlatformState
) -> None:
    webhook.text(friend, "hi")
    event = webhook.last_event(friend)
    assert event is not None
    clock.advance(50)
    webhook.redeliver(event)
    clock.advance(50)
    reply(messaging, event["replyToken"])
    assert len(state.deliveries(friend)) == 1


def test_redelivered_token_dies_20_minutes_after_the_event(
    webhook: WebhookSender, friend: str, messaging: MessagingApi, clock: Any
) -> None:
    webhook.text(friend, "hi")
    event = webhook.last_event(friend)
    assert event is not None
    clock.advance(20 * 60 - 30)
    webhook.redeliver(event)
    clock.advance(30)
    with pytest.raises(ApiException) as raised:
        reply(messaging, event["replyToken"])
    assert raised.value.status == 400


def test_unreachable_bot_raises(state: PlatformState, friend: str) -> None:
    with (
        WebhookSender(
            state, webhook_url="http://127.0.0.1:9/callback", channel_secret="s", timeout=1
        ) as sender,
        pytest.raises(requests.ConnectionError),
    ):
        sender.text(friend, "hi")


# Media sent by residents ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "content_type", "extra"),
    [
        ("image", "image/jpeg", {}),
        ("video", "video/mp4", {"duration_ms": 8_000}),
        ("audio", "audio/x-m4a", {"duration_ms": 2_500}),
        ("file", "application/pdf", {"file_name": "申請書.pdf"}),
    ],
)
def test_media_is_sent_and_its_content_served(
    webhook: WebhookSender,
    bot: RecordingBot,
    blob: MessagingApiBlob,
    friend: str,
    kind: str,
    content_type: str,
    extra: dict[str, Any],
) -> None:
    data = f"{kind} bytes".encode()
    assert webhook.media(friend, kind, data, content_type, **extra) == 200
    [event] = bot.events
    assert isinstance(event, MessageEvent)
    assert event.reply_token
    message = bot.payloads[0]["events"][0]["message"]
    assert message["type"] == kind
    if kind == "file":
        assert (message["fileName"], message["fileSize"]) == ("申請書.pdf", len(data))
    else:
        assert message["contentProvider"] == {"type": "line"}
    if "duration_ms" in extra:
        assert message["duration"] == extra["duration_ms"]
    answer = blob.get_message_content_with_http_info(message["id"])
    assert (bytes(answer.data), answer.headers["Content-Type"]) == (data, content_type)


def test_external_media_has_no_content(
    webhook: WebhookSender, bot: RecordingBot, blob: MessagingApiBlob, friend: str
) -> None:
    provider = external_provider("https://example.com/a.mp4", "https://example.com/a.jpg")
    assert webhook.media(friend, "video", duration_ms=1000, external=provider) == 200
    message = bot.payloads[0]["events"][0]["message"]
    assert message["contentProvider"]["type"] == "external"
    with pytest.raises(NotFoundException):
        blob.get_message_content(message["id"])


@pytest.mark.parametrize(
    ("kind", "data", "content_type", "extra", "message"),
    [
        ("sticker", b"x", "image/png", {}, "media type must be"),
        ("image", b"", "image/png", {}, "needs bytes"),
        ("image", b"x", "video/mp4", {}, "image media type"),
        ("image", b"x", "image", {}, "image media type"),
        ("video", b"x", "video/mp4", {}, "duration"),
        ("audio", b"x", "audio/x-m4a", {"duration_ms": -1}, "duration"),
        ("audio", b"x", "audio/x-m4a", {"duration_ms": True}, "duration"),
        ("file", b"x", "application/pdf", {}, "name"),
        ("file", b"x", "application/pdf", {"file_name": "  "}, "name"),
        ("file", b"x", "application/pdf", {"file_name": "a" * 256}, "name"),
        ("file", b"", "", {"external": {"type": "external"}}, "external media"),
        ("image", b"x", "image/png", {"external": {"type": "external"}}, "external media"),
    ],
)
def test_media_that_apps_cannot_send_is_refused(
    webhook: WebhookSender,
    bot: RecordingBot,
    state: PlatformState,
    friend: str,
    kind: str,
    data: bytes,
    content_type: str,
    extra: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        webhook.media(friend, kind, data, content_type, **extra)
    assert bot.events == []
    assert state.requests() == []
