"""Sending messages through the simulated Messaging API with the real SDK client."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests
import urllib3
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    BroadcastRequest,
    Configuration,
    ErrorResponse,
    MessagingApi,
    MessagingApiBlob,
    MulticastRequest,
    NarrowcastRequest,
    PushMessageRequest,
    ReplyMessageRequest,
    ShowLoadingAnimationRequest,
    TextMessage,
)
from linebot.v3.messaging.exceptions import (
    NotFoundException,
    ServiceException,
    UnauthorizedException,
)

from simulator.server import RunningPlatform
from simulator.state import CONTENT_TTL, PlatformState
from tests.simulator.conftest import FakeClock

HELLO = [TextMessage(text="こんにちは")]


def error_of(raised: pytest.ExceptionInfo[ApiException]) -> ErrorResponse:
    """Parses the LINE error body of an SDK exception."""
    return ErrorResponse.from_json(raised.value.body)


def text(body: str) -> dict[str, str]:
    return {"type": "text", "text": body}


# Reply ------------------------------------------------------------------------------------------


def test_reply_delivers_once_and_answers_sent_messages(
    messaging: MessagingApi, state: PlatformState, friend: str
) -> None:
    token = state.issue_reply_token(friend)
    response = messaging.reply_message_with_http_info(
        ReplyMessageRequest(reply_token=token, messages=HELLO), _request_timeout=5
    )
    assert response.status_code == 200
    request_id = response.headers["x-line-request-id"]
    assert uuid.UUID(request_id)
    assert len(response.data.sent_messages) == 1
    assert response.data.sent_messages[0].quote_token
    (delivery,) = state.deliveries(friend)
    assert delivery.method == "reply"
    assert delivery.messages == [{"type": "text", "text": "こんにちは"}]
    assert delivery.request_id == request_id
    assert state.requests()[-1].request_id == request_id


def test_reply_token_is_single_use(
    messaging: MessagingApi, state: PlatformState, friend: str
) -> None:
    token = state.issue_reply_token(friend)
    messaging.reply_message(ReplyMessageRequest(reply_token=token, messages=HELLO))
    with pytest.raises(ApiException) as raised:
        messaging.reply_message(ReplyMessageRequest(reply_token=token, messages=HELLO))
    assert raised.value.status == 400
    assert error_of(raised).message == "Invalid reply token"
    assert len(state.deliveries(friend)) == 1


def test_unknown_reply_token_is_refused(messaging: MessagingApi, state: PlatformState) -> None:
    with pytest.raises(ApiException) as raised:
        messaging.reply_message(ReplyMessageRequest(reply_token="0" * 32, messages=HELLO))
    assert raised.value.status == 400
    assert error_of(raised).message == "Invalid reply token"
    assert state.deliveries() == []


def test_reply_token_expires_after_one_minute(
    messaging: MessagingApi, state: PlatformState, friend: str, clock: Any
) -> None:
    fresh, stale = state.issue_reply_token(friend), state.issue_reply_token(friend)
    clock.advance(59.9)
    messaging.reply_message(ReplyMessageRequest(reply_token=fresh, messages=HELLO))
    clock.advance(0.1)
    with pytest.raises(ApiException) as raised:
        messaging.reply_message(ReplyMessageRequest(reply_token=stale, messages=HELLO))
    assert error_of(raised).message == "Invalid reply token"
    assert len(state.deliveries(friend)) == 1


def test_retry_key_on_reply_is_refused(
    messaging: MessagingApi, state: PlatformState, friend: str
) -> None:
    token = state.issue_reply_token(friend)
    with pytest.raises(ApiException) as raised:
        messaging.reply_message(
            ReplyMessageRequest(reply_token=token, messages=HELLO),
            _headers={"X-Line-Retry-Key": str(uuid.uuid4())},
        )
    assert raised.value.status == 400
    assert state.deliveries() == []


# Push, retry keys and faults ------------------------------------------------------------------


def test_push_retry_with_same_key_is_409_and_delivered_once(
    messaging: MessagingApi, state: PlatformState, friend: str
) -> None:
    key = str(uuid.uuid4())
    first = messaging.push_message_with_http_info(
        PushMessageRequest(to=friend, messages=HELLO), x_line_retry_key=key
    )
    with pytest.raises(ApiException) as raised:
        messaging.push_message(PushMessageRequest(to=friend, messages=HELLO), x_line_retry_key=key)
    assert raised.value.status == 409
    accepted_id = first.headers["x-line-request-id"]
    assert raised.value.headers["x-line-accepted-request-id"] == accepted_id
    assert raised.value.headers["x-line-request-id"] != accepted_id
    error = error_of(raised)
    assert error.message == "The retry key is already accepted"
    assert error.sent_messages == first.data.sent_messages
    (delivery,) = state.deliveries(friend)
    assert delivery.retry_key == key


def test_retry_after_a_fault_past_delivery_is_delivered_once(
    messaging: MessagingApi, state: PlatformState, friend: str
) -> None:
    key = str(uuid.uuid4())
    state.inject_fault("push", status=500, after_delivery=True)
    with pytest.raises(ServiceException):
        messaging.push_message(PushMessageRequest(to=friend, messages=HELLO), x_line_retry_key=key)
    with pytest.raises(ApiException) as raised:
        messaging.push_message(PushMessageRequest(to=friend, messages=HELLO), x_line_retry_key=key)
    assert raised.value.status == 409
    assert len(state.deliveries(friend)) == 1
    assert [r.status for r in state.requests()] == [500, 409]


def test_fault_before_delivery_lets_the_retry_through(
    messaging: MessagingApi, state: PlatformState, friend: str
) -> None:
    key = str(uuid.uuid4())
    state.inject_fault("push", status=503, body={"message": "maintenance"})
    with pytest.raises(ServiceException) as raised:
        messaging.push_message(PushMessageRequest(to=friend, messages=HELLO), x_line_retry_key=key)
    assert raised.value.status == 503
    assert error_of(raised).message == "maintenance"
    assert state.deliveries() == []
    messaging.push_message(PushMessageRequest(to=friend, messages=HELLO), x_line_retry_key=key)
    assert len(state.deliveries(friend)) == 1


def test_retry_key_must_be_a_uuid(
    messaging: MessagingApi, state: PlatformState, friend: str
) -> None:
    with pytest.raises(ApiException) as raised:
        messaging.push_message(
            PushMessageRequest(to=friend, messages=HELLO), x_line_retry_key="not-a-uuid"
        )
    assert raised.value.status == 400
    assert state.deliveries() == []


def test_retry_key_is_forgotten_after_24_hours(
    messaging: MessagingApi, state: PlatformState, friend: str, clock: Any
) -> None:
    key = str(uuid.uuid4())
    messaging.push_message(PushMessageRequest(to=friend, messages=HELLO), x_line_retry_key=key)
    clock.advance(24 * 3600)
    messaging.push_message(PushMessageRequest(to=friend, messages=HELLO), x_line_retry_key=key)
    assert len(state.deliveries(friend)) == 2


def test_delay_fault_makes_the_client_time_out(
    messaging: MessagingApi, state: PlatformState, friend: str
) -> None:
    state.inject_fault("push", delay=0.5)
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        messaging.push_message(PushMessageRequest(to=friend, messages=HELLO), _request_timeout=0.1)
    deadline = time.monotonic() + 3
    while not state.requests() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [r.status for r in state.requests()] == [500]
    assert state.deliveries() == []


def test_status_zero_fault_closes_without_answer_after_delivering(
    messaging: MessagingApi, state: PlatformState, friend: str
) -> None:
    key = str(uuid.uuid4())
    state.inject_fault("push", status=0, after_delivery=True)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        messaging.push_message(PushMessageRequest(to=friend, messages=HELLO), x_line_retry_key=key)
    with pytest.raises(ApiException) as raised:
        messaging.push_message(PushMessageRequest(to=friend, messages=HELLO), x_line_retry_key=key)
    assert raised.value.status == 409
    assert len(state.deliveries(friend)) == 1
    assert [r.status for r in state.requests()] == [0, 409]


def test_fault_applies_the_given_number_of_times(
    messaging: MessagingApi, state: PlatformState, friend: str
) -> None:
    state.inject_fault("push", status=500, times=2)
    for _ in range(2):
        with pytest.raises(ServiceException):
            messaging.push_message(PushMessageRequest(to=friend, messages=HELLO))
    messaging.push_message(PushMessageRequest(to=friend, messages=HELLO))
    assert len(state.deliveries(friend)) == 1


def test_unknown_fault_endpoint_is_a_programming_error(state: PlatformState) -> None:
    with pytest.raises(ValueError, match="unknown endpoint"):
        state.inject_fault("pushh")


# Recipients -----------------------------------------------------------------------------------


def test_push_to_a_blocked_user_answers_200_and_delivers_nothing(
    messaging: MessagingApi, state: PlatformState
) -> None:
    blocked = state.add_user("ブロック済み", is_friend=False).user_id
    response = messaging.push_message_with_http_info(PushMessageRequest(to=blocked, messages=HELLO))
    assert response.status_code == 200
    assert state.deliveries() == []


def test_multicast_reaches_only_friends(
    messaging: MessagingApi, state: PlatformState, friend: str
) -> None:
    blocked = state.add_user("ブロック済み").user_id
    messaging.multicast(MulticastRequest(to=[friend, blocked], messages=HELLO))
    assert [d.user_id for d in state.deliveries()] == [friend]
    assert state.deliveries()[0].method == "multicast"


def test_broadcast_and_narrowcast_reach_every_friend(
    messaging: MessagingApi, state: PlatformState, friend: str
) -> None:
    other = state.add_user("佐藤 一郎", is_friend=True).user_id
    state.add_user("友だちでない")
    messaging.broadcast(BroadcastRequest(messages=HELLO))
    narrowcast = messaging.narrowcast_with_http_info(NarrowcastRequest(messages=HELLO))
    assert narrowcast.status_code == 202
    assert sorted((d.method, d.user_id) for d in state.deliveries()) == sorted(
        [("broadcast", friend), ("broadcast", other), ("narrowcast", friend), ("narrowcast", other)]
    )


# Validation -----------------------------------------------------------------------------------


def quick_reply(count: int, label: str = "はい", data: str = "v=1") -> dict[str, Any]:
    item = {"type": "action", "action": {"type": "postback", "label": label, "data": data}}
    return {"type": "text", "text": "選んでください", "quickReply": {"items": [item] * count}}


def bubble(filler: int = 0) -> dict[str, Any]:
    return {
        "type": "bubble",
        "body": {
            "type": "box",
            "layout": "vertical",
            "contents": [{"type": "text", "text": "x" * max(filler, 1)}],
        },
    }


PICKER = {"type": "datetimepicker", "label": "日付", "data": "v=1", "mode": "date"}


def quick_reply_of(action: dict[str, Any]) -> dict[str, Any]:
    item = {"type": "action", "action": action}
    return {"type": "text", "text": "選んでください", "quickReply": {"items": [item]}}


def flex_with_button(action: dict[str, Any]) -> dict[str, Any]:
    footer = {
        "type": "box",
        "layout": "vertical",
        "contents": [{"type": "button", "action": action}],
    }
    return {"type": "flex", "altText": "a", "contents": {**bubble(), "footer": footer}}


def template(kind: str, actions: int) -> dict[str, Any]:
    action = {"type": "message", "label": "はい", "text": "はい"}
    return {
        "type": "template",
        "altText": "質問",
        "template": {"type": kind, "text": "よろしいですか", "actions": [action] * actions},
    }


@pytest.mark.parametrize(
    ("path", "body", "prop"),
    [
        ("push", {"messages": [text("a")] * 6}, "messages"),
        ("push", {"messages": [text("a" * 5001)]}, "messages[0].text"),
        ("push", {"messages": [text("a" * 4999 + "😀")]}, "messages[0].text"),
        ("push", {"messages": [text("")]}, "messages[0].text"),
        ("push", {"messages": [quick_reply(14)]}, "messages[0].quickReply.items"),
        (
            "push",
            {"messages": [quick_reply(1, label="l" * 21)]},
            "messages[0].quickReply.items[0].action.label",
        ),
        (
            "push",
            {"messages": [quick_reply(1, data="d" * 301)]},
            "messages[0].quickReply.items[0].action.data",
        ),
        ("push", {"messages": [{"type": "hologram", "text": "x"}]}, "messages[0].type"),
        ("push", {"messages": [template("buttons", 5)]}, "messages[0].template.actions"),
        ("push", {"messages": [template("confirm", 1)]}, "messages[0].template.actions"),
        (
            "push",
            {"messages": [{"type": "flex", "altText": "a" * 1501, "contents": bubble()}]},
            "messages[0].altText",
        ),
        (
            "push",
            {"messages": [{"type": "flex", "altText": "a", "contents": bubble(31 * 1024)}]},
            "messages[0].contents",
        ),
        (
            "push",
            {
                "messages": [
                    {
                        "type": "flex",
                        "altText": "a",
                        "contents": {"type": "carousel", "contents": [bubble()] * 13},
                    }
                ]
            },
            "messages[0].contents.contents",
        ),
        (
            "push",
            {"messages": [quick_reply_of({"type": "uri", "label": "開く", "uri": "javascript:x"})]},
            "messages[0].quickReply.items[0].action.uri",
        ),
        (
            "push",
            {
                "messages": [
                    quick_reply_of(
                        {"type": "uri", "label": "開く", "uri": "https://a/" + "a" * 991}
                    )
                ]
            },
            "messages[0].quickReply.items[0].action.uri",
        ),
        (
            "push",
            {"messages": [quick_reply_of({**PICKER, "initial": "2101-01-01"})]},
            "messages[0].quickReply.items[0].action.initial",
        ),
        (
            "push",
            {"messages": [quick_reply_of({**PICKER, "mode": "time", "max": "9:00"})]},
            "messages[0].quickReply.items[0].action.max",
        ),
        (
            "push",
            {"messages": [flex_with_button({"type": "camera", "label": "カメラ"})]},
            "messages[0].contents.footer.contents[0].action.type",
        ),
        ("push", {"to": "someone", "messages": [text("a")]}, "to"),
        ("push", {"messages": None}, "messages"),
        ("multicast", {"to": ["U" + "0" * 32] * 501, "messages": [text("a")]}, "to"),
        ("multicast", {"to": ["C" + "0" * 32], "messages": [text("a")]}, "to[0]"),
        ("broadcast", {"messages": []}, "messages"),
    ],
)
def test_invalid_bodies_are_refused_with_details(
    http: requests.Session,
    platform: RunningPlatform,
    friend: str,
    path: str,
    body: dict[str, Any],
    prop: str,
) -> None:
    body = {"to": friend, **body} if path == "push" else body
    response = http.post(f"{platform.url}/v2/bot/message/{path}", json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["message"] == f"The request body has {len(error['details'])} error(s)"
    assert prop in [detail.get("property") for detail in error["details"]]
    assert platform.state.deliveries() == []


@pytest.mark.parametrize("body", ["a" * 5000, "a" * 4998 + "😀", "😀" * 2500])
def test_text_of_exactly_5000_utf16_units_is_accepted(
    messaging: MessagingApi, state: PlatformState, friend: str, body: str
) -> None:
    messaging.push_message(PushMessageRequest(to=friend, messages=[TextMessage(text=body)]))
    assert state.deliveries(friend)[0].messages[0]["text"] == body


def test_thirteen_quick_replies_and_300_character_data_are_accepted(
    http: requests.Session, platform: RunningPlatform, friend: str
) -> None:
    body = {"to": friend, "messages": [quick_reply(13, label="l" * 20, data="d" * 300)]}
    response = http.post(f"{platform.url}/v2/bot/message/push", json=body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", '{"to": "\u00e9'.encode("latin-1")])
def test_malformed_bodies_are_400(
    http: requests.Session, platform: RunningPlatform, raw: bytes
) -> None:
    response = http.post(
        f"{platform.url}/v2/bot/message/push",
        data=raw,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["message"]


def test_body_over_2_mb_is_413(
    http: requests.Session, platform: RunningPlatform, friend: str
) -> None:
    body = {"to": friend, "messages": [text("a" * (2 * 1024 * 1024))]}
    response = http.post(f"{platform.url}/v2/bot/message/push", json=body)
    assert response.status_code == 413
    assert platform.state.deliveries() == []


# Authentication, rate limits, request log ----------------------------------------------------


def test_wrong_token_is_401(platform: RunningPlatform, friend: str) -> None:
    config = Configuration(host=platform.url, access_token="wrong")
    with ApiClient(config) as client:
        with pytest.raises(UnauthorizedException) as raised:
            MessagingApi(client).push_message(PushMessageRequest(to=friend, messages=HELLO))
        client.rest_client.pool_manager.clear()
    assert error_of(raised).message.startswith("Authentication failed.")
    assert raised.value.headers["x-line-request-id"]
    assert platform.state.deliveries() == []
    assert [(r.endpoint, r.status) for r in platform.state.requests()] == [("push", 401)]


def test_rate_limit_answers_429_until_the_bucket_refills(
    messaging: MessagingApi, state: PlatformState, friend: str, clock: Any
) -> None:
    state.set_rate_limit("push", rate_per_second=1, burst=1)
    messaging.push_message(PushMessageRequest(to=friend, messages=HELLO))
    with pytest.raises(ApiException) as raised:
        messaging.push_message(PushMessageRequest(to=friend, messages=HELLO))
    assert raised.value.status == 429
    assert error_of(raised).message == "The API rate limit has been exceeded. Try again later."
    clock.advance(1)
    messaging.push_message(PushMessageRequest(to=friend, messages=HELLO))
    assert len(state.deliveries(friend)) == 2


def test_broadcast_allows_60_per_hour_by_default(
    messaging: MessagingApi, state: PlatformState
) -> None:
    for _ in range(60):
        messaging.broadcast(BroadcastRequest(messages=HELLO))
    with pytest.raises(ApiException) as raised:
        messaging.broadcast(BroadcastRequest(messages=HELLO))
    assert raised.value.status == 429


def test_unknown_paths_are_404_json_and_logged(
    http: requests.Session, platform: RunningPlatform
) -> None:
    response = http.get(f"{platform.url}/v2/bot/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found"}
    assert response.headers["x-line-request-id"]
    assert [(r.endpoint, r.status) for r in platform.state.requests()] == [("unknown", 404)]


# Profile, loading animation, content -----------------------------------------------------------


def test_profile_of_a_friend(messaging: MessagingApi, state: PlatformState) -> None:
    user = state.add_user("山田 花子", picture_url="https://example.com/p.png", is_friend=True)
    profile = messaging.get_profile(user.user_id)
    assert profile.display_name == "山田 花子"
    assert profile.user_id == user.user_id
    assert profile.language == "ja"
    assert profile.picture_url == "https://example.com/p.png"


def test_profile_of_unknown_or_blocked_user_is_404(
    messaging: MessagingApi, state: PlatformState
) -> None:
    blocked = state.add_user().user_id
    for user_id in (blocked, "U" + "f" * 32):
        with pytest.raises(NotFoundException) as raised:
            messaging.get_profile(user_id)
        assert error_of(raised).message == "Not found"


def test_loading_animation_is_recorded(
    messaging: MessagingApi, state: PlatformState, friend: str
) -> None:
    response = messaging.show_loading_animation_with_http_info(
        ShowLoadingAnimationRequest(chat_id=friend, loading_seconds=30)
    )
    assert response.status_code == 202
    assert state.loading_calls() == [(friend, 30)]


@pytest.mark.parametrize(
    ("chat_id", "seconds", "prop"),
    [("C" + "0" * 32, 20, "chatId"), ("R" + "0" * 32, 20, "chatId"), (None, 7, "loadingSeconds")],
)
def test_loading_animation_refuses_groups_and_odd_durations(
    messaging: MessagingApi,
    state: PlatformState,
    friend: str,
    chat_id: str | None,
    seconds: int,
    prop: str,
) -> None:
    request = ShowLoadingAnimationRequest(chat_id=chat_id or friend, loading_seconds=seconds)
    with pytest.raises(ApiException) as raised:
        messaging.show_loading_animation(request)
    assert raised.value.status == 400
    assert [d.var_property for d in error_of(raised).details] == [prop]
    assert state.loading_calls() == []


def test_content_is_served_on_the_blob_path(blob: MessagingApiBlob, state: PlatformState) -> None:
    state.add_content("123456789012345678", b"\xff\xd8jpeg-bytes", "image/jpeg")
    assert bytes(blob.get_message_content("123456789012345678")) == b"\xff\xd8jpeg-bytes"
    with pytest.raises(NotFoundException):
        blob.get_message_content("999")


def test_content_expires_like_lines(
    blob: MessagingApiBlob, state: PlatformState, clock: FakeClock
) -> None:
    state.add_content("1", b"jpeg", "image/jpeg")
    clock.advance(CONTENT_TTL - 1)
    state.add_content("2", b"png", "image/png")
    assert bytes(blob.get_message_content("1")) == b"jpeg"
    clock.advance(1)
    with pytest.raises(NotFoundException):
        blob.get_message_content("1")
    assert bytes(blob.get_message_content("2")) == b"png"
    assert state.content("1") is None


@pytest.mark.parametrize("streamed", [False, True])
def test_content_is_served_with_its_type_and_with_or_without_a_length(
    http: requests.Session, platform: RunningPlatform, state: PlatformState, streamed: bool
) -> None:
    data = bytes(range(256)) * 1000
    state.add_content("42", data, "video/mp4", streamed=streamed)
    answer = http.get(f"{platform.url}/v2/bot/message/42/content", timeout=5)
    assert (answer.status_code, answer.content) == (200, data)
    assert answer.headers["Content-Type"] == "video/mp4"
    if streamed:
        assert "Content-Length" not in answer.headers
        assert answer.headers["Transfer-Encoding"] == "chunked"
    else:
        assert answer.headers["Content-Length"] == str(len(data))
    assert http.get(f"{platform.url}/v2/bot/message/43/content", timeout=5).status_code == 404
    unauthorized = requests.get(f"{platform.url}/v2/bot/message/42/content", timeout=5)
    assert unauthorized.status_code == 401
