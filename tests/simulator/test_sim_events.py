"""Webhook event builders: LINE's JSON shapes, parsed and verified by the SDK itself."""

from __future__ import annotations

import json
import re

import pytest
from linebot.v3 import WebhookParser
from linebot.v3.webhook import SignatureValidator
from linebot.v3.webhooks import (
    AudioMessageContent,
    FileMessageContent,
    FollowEvent,
    GroupSource,
    ImageMessageContent,
    MessageEvent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
    UnfollowEvent,
    UserSource,
    VideoMessageContent,
)
from ulid import ULID

from simulator import events

SECRET = "events-secret"


def parse(event: dict) -> object:
    """Signs one event into a callback body and parses it back with the SDK."""
    body = events.callback_body([event])
    (parsed,) = WebhookParser(SECRET).parse(body.decode("utf-8"), events.sign(body, SECRET))
    return parsed


def test_ids_have_line_formats() -> None:
    assert re.fullmatch(r"U[0-9a-f]{32}", events.new_user_id())
    assert re.fullmatch(r"[0-9a-f]{32}", events.new_reply_token())
    assert re.fullmatch(r"U[0-9a-f]{32}", events.BOT_USER_ID)
    event_id = events.new_event_id()
    assert str(ULID.from_str(event_id)) == event_id
    assert events.new_user_id() != events.new_user_id()


def test_text_event_has_every_common_field() -> None:
    event = events.text_event("U" + "1" * 32, "こんにちは", reply_token="t" * 32, timestamp_ms=123)
    assert event["type"] == "message"
    assert event["mode"] == "active"
    assert event["timestamp"] == 123
    assert event["replyToken"] == "t" * 32
    assert event["deliveryContext"] == {"isRedelivery": False}
    assert event["source"] == {"type": "user", "userId": "U" + "1" * 32}
    assert event["message"]["type"] == "text"
    assert event["message"]["text"] == "こんにちは"
    assert re.fullmatch(r"\d{18}", event["message"]["id"])
    assert event["message"]["quoteToken"]
    parsed = parse(event)
    assert isinstance(parsed, MessageEvent)
    assert isinstance(parsed.message, TextMessageContent)
    assert parsed.message.text == "こんにちは"
    assert parsed.webhook_event_id == event["webhookEventId"]
    assert isinstance(parsed.source, UserSource)


def test_group_source_is_usable_as_source() -> None:
    user_id = events.new_user_id()
    event = events.text_event(
        user_id, "hi", reply_token="r", source=events.group_source("C" + "2" * 32, user_id)
    )
    parsed = parse(event)
    assert isinstance(parsed, MessageEvent)
    assert isinstance(parsed.source, GroupSource)
    assert parsed.source.group_id == "C" + "2" * 32
    assert parsed.source.user_id == user_id
    assert events.room_source("R" + "3" * 32) == {"type": "room", "roomId": "R" + "3" * 32}


def test_follow_postback_image_sticker_and_unfollow_parse_as_their_types() -> None:
    user_id = events.new_user_id()
    follow = parse(events.follow_event(user_id, reply_token="r1", is_unblocked=True))
    assert isinstance(follow, FollowEvent)
    assert follow.follow.is_unblocked is True
    postback = parse(
        events.postback_event(user_id, "v=1&a=x", reply_token="r2", params={"date": "2025-01-02"})
    )
    assert isinstance(postback, PostbackEvent)
    assert postback.postback.data == "v=1&a=x"
    assert postback.postback.params == {"date": "2025-01-02"}
    image = parse(events.image_event(user_id, "123456789012345678", reply_token="r3"))
    assert isinstance(image, MessageEvent)
    assert isinstance(image.message, ImageMessageContent)
    assert image.message.content_provider.type == "line"
    sticker = parse(events.sticker_event(user_id, reply_token="r4"))
    assert isinstance(sticker, MessageEvent)
    assert isinstance(sticker.message, StickerMessageContent)
    unfollow_json = events.unfollow_event(user_id)
    assert "replyToken" not in unfollow_json
    assert isinstance(parse(unfollow_json), UnfollowEvent)


def test_redelivered_keeps_id_and_token_and_marks_redelivery() -> None:
    event = events.text_event(events.new_user_id(), "hi", reply_token="r")
    again = events.redelivered(event)
    assert again["webhookEventId"] == event["webhookEventId"]
    assert again["replyToken"] == event["replyToken"]
    assert again["deliveryContext"] == {"isRedelivery": True}
    assert event["deliveryContext"] == {"isRedelivery": False}


def test_callback_body_is_compact_utf8() -> None:
    event = events.text_event(events.new_user_id(), "窓口", reply_token="r")
    body = events.callback_body([event])
    assert "窓口".encode() in body
    assert b", " not in body
    assert json.loads(body) == {"destination": events.BOT_USER_ID, "events": [event]}


@pytest.mark.parametrize("text", ["", "ascii", "日本語と絵文字😀"])
def test_signature_is_what_the_sdk_validates(text: str) -> None:
    body = events.callback_body([events.text_event(events.new_user_id(), text, reply_token="r")])
    signature = events.sign(body, SECRET)
    assert SignatureValidator(SECRET).validate(body.decode("utf-8"), signature)
    assert not SignatureValidator("another-secret").validate(body.decode("utf-8"), signature)


def test_media_events_parse_as_their_types() -> None:
    user_id = events.new_user_id()
    video = parse(events.video_event(user_id, "1", 12_345, reply_token="r1"))
    assert isinstance(video, MessageEvent)
    assert isinstance(video.message, VideoMessageContent)
    assert (video.message.duration, video.message.content_provider.type) == (12_345, "line")
    assert video.message.quote_token
    audio_json = events.audio_event(user_id, "2", 3_000, reply_token="r2")
    assert "quoteToken" not in audio_json["message"]  # LINE gives audio no quote token
    audio = parse(audio_json)
    assert isinstance(audio, MessageEvent)
    assert isinstance(audio.message, AudioMessageContent)
    assert audio.message.duration == 3_000
    file_json = events.file_event(user_id, "3", "申請書.pdf", 2048, reply_token="r3")
    assert "quoteToken" not in file_json["message"]
    assert "contentProvider" not in file_json["message"]
    document = parse(file_json)
    assert isinstance(document, MessageEvent)
    assert isinstance(document.message, FileMessageContent)
    assert (document.message.file_name, document.message.file_size) == ("申請書.pdf", 2048)
    provider = events.external_provider("https://example.com/v.mp4", "https://example.com/v.jpg")
    external = parse(events.image_event(user_id, "4", reply_token="r4", provider=provider))
    assert isinstance(external, MessageEvent)
    assert isinstance(external.message, ImageMessageContent)
    assert external.message.content_provider.type == "external"
    assert external.message.content_provider.original_content_url == "https://example.com/v.mp4"
    assert external.message.content_provider.preview_image_url == "https://example.com/v.jpg"
