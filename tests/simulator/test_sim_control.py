"""The JSON control API under /_simulator/ that tests and the chat page drive."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests
from linebot.v3.messaging import MessagingApiBlob

from simulator.platform import MAX_MEDIA_BODY_BYTES, MAX_MEDIA_BYTES
from simulator.server import RunningPlatform, start_platform
from simulator.state import PlatformState

if TYPE_CHECKING:
    from tests.simulator.conftest import RecordingBot


@pytest.fixture
def control(platform: RunningPlatform) -> Iterator[Callable[..., requests.Response]]:
    """Calls the control API without any token."""
    with requests.Session() as session:

        def call(method: str, path: str, **kwargs: Any) -> requests.Response:
            return session.request(method, f"{platform.url}/_simulator{path}", **kwargs)

        yield call


def test_create_and_list_residents(control: Callable[..., requests.Response]) -> None:
    created = control("POST", "/users", json={"displayName": "鈴木 次郎", "language": "en"})
    assert created.status_code == 201
    user = created.json()
    assert user["displayName"] == "鈴木 次郎"
    assert user["language"] == "en"
    assert user["isFriend"] is False
    assert user["userId"].startswith("U")
    assert control("GET", "/users").json() == {"users": [user]}
    assert control("POST", "/users", json={"userId": user["userId"]}).status_code == 409


def test_follow_then_text_gets_the_bots_reply(
    control: Callable[..., requests.Response], bot: RecordingBot, platform: RunningPlatform
) -> None:
    bot.echo_via = platform.url
    user_id = control("POST", "/users", json={}).json()["userId"]
    assert control("POST", f"/users/{user_id}/follow", json={}).json() == {"webhookStatus": 200}
    response = control("POST", f"/users/{user_id}/text", json={"text": "住民票"})
    assert response.json() == {"webhookStatus": 200}
    deliveries = control("GET", f"/users/{user_id}/deliveries").json()["deliveries"]
    assert [(d["method"], d["messages"]) for d in deliveries] == [
        ("reply", [{"type": "text", "text": "echo: 住民票"}])
    ]
    assert control("GET", "/users").json()["users"][0]["isFriend"] is True


def test_postback_and_unfollow(
    control: Callable[..., requests.Response], bot: RecordingBot, friend: str, state: PlatformState
) -> None:
    body = {"data": "v=1&a=coupon.list", "params": {"date": "2025-05-05"}}
    assert control("POST", f"/users/{friend}/postback", json=body).status_code == 200
    assert control("POST", f"/users/{friend}/unfollow", json={}).status_code == 200
    assert [event.type for event in bot.events] == ["postback", "unfollow"]
    user = state.get_user(friend)
    assert user is not None
    assert not user.is_friend


def test_bad_control_requests(control: Callable[..., requests.Response], friend: str) -> None:
    assert control("POST", f"/users/{friend}/text", json={}).status_code == 400
    assert control("POST", f"/users/{friend}/postback", json={"data": 1}).status_code == 400
    json_type = {"Content-Type": "application/json"}
    assert control("POST", f"/users/{friend}/text", data=b"[", headers=json_type).status_code == 400
    assert control("POST", "/users/U0/text", json={"text": "hi"}).status_code == 404
    assert control("GET", "/users/U0/deliveries").status_code == 404


def test_faults_and_reset(
    control: Callable[..., requests.Response], state: PlatformState, friend: str
) -> None:
    fault = {"endpoint": "push", "status": 500, "afterDelivery": True, "times": 2}
    assert control("POST", "/faults", json=fault).status_code == 201
    taken = state.take_fault("push")
    assert taken is not None
    assert (taken.status, taken.after_delivery, taken.times) == (500, True, 2)
    assert control("POST", "/faults", json={"endpoint": "nope"}).status_code == 400
    assert control("POST", "/reset", json={}).status_code == 200
    assert state.users() == []
    assert state.take_fault("push") is None


def test_default_rich_menu_for_the_chat_page(
    control: Callable[..., requests.Response],
    state: PlatformState,
    make_image: Callable[..., bytes],
    friend: str,
) -> None:
    assert control("GET", "/richmenu/default").json() == {"richMenu": None, "imageUrl": None}
    menu = {"size": {"width": 2500, "height": 843}, "selected": True, "name": "m"}
    menu_id = state.create_rich_menu({**menu, "chatBarText": "メニュー", "areas": []})
    png = make_image()
    state.set_rich_menu_image(menu_id, png, "image/png")
    state.set_default_rich_menu(menu_id)
    shown = control("GET", "/richmenu/default").json()
    assert shown["richMenu"]["richMenuId"] == menu_id
    assert shown["richMenu"]["chatBarText"] == "メニュー"
    image = control("GET", shown["imageUrl"].removeprefix("/_simulator"))
    assert image.content == png
    assert image.headers["Content-Type"] == "image/png"
    assert control("GET", f"/users/{friend}/richmenu").json() == shown


def test_control_api_is_not_reachable_through_messaging_api_paths(
    platform: RunningPlatform, blob: MessagingApiBlob
) -> None:
    with requests.Session() as session:
        response = session.get(f"{platform.url}/v2/bot/_simulator/users")
        assert response.status_code == 404
        response = session.post(f"{platform.url}/v2/bot/message/reset")
        assert response.status_code == 404
    assert [r.endpoint for r in platform.state.requests()] == ["unknown", "unknown"]


def test_resident_actions_need_a_webhook_url() -> None:
    state = PlatformState(channel_access_token="t")
    user_id = state.add_user().user_id
    with start_platform(state) as running, requests.Session() as session:
        response = session.post(f"{running.url}/_simulator/users/{user_id}/follow", json={})
    assert response.status_code == 503
    user = state.get_user(user_id)
    assert user is not None
    assert not user.is_friend


def test_a_resident_sends_media_through_the_control_api(
    control: Callable[..., requests.Response],
    bot: RecordingBot,
    blob: MessagingApiBlob,
    friend: str,
) -> None:
    data = b"\x00\x00\x00\x18ftypmp42"
    body = {
        "type": "video",
        "contentType": "video/mp4",
        "data": base64.b64encode(data).decode(),
        "durationMs": 5000,
        "streamed": True,
    }
    assert control("POST", f"/users/{friend}/media", json=body).json() == {"webhookStatus": 200}
    message = bot.payloads[0]["events"][0]["message"]
    assert (message["type"], message["duration"]) == ("video", 5000)
    assert bytes(blob.get_message_content(message["id"])) == data
    external = {
        "type": "image",
        "external": {"originalContentUrl": "https://example.com/a.jpg"},
    }
    assert control("POST", f"/users/{friend}/media", json=external).status_code == 200
    provider = bot.payloads[1]["events"][0]["message"]["contentProvider"]
    assert provider == {"type": "external", "originalContentUrl": "https://example.com/a.jpg"}
    document = {
        "type": "file",
        "contentType": "application/pdf",
        "data": base64.b64encode(b"%PDF").decode(),
        "fileName": "申請書.pdf",
    }
    assert control("POST", f"/users/{friend}/media", json=document).status_code == 200
    assert bot.payloads[2]["events"][0]["message"]["fileSize"] == 4


@pytest.mark.parametrize(
    "body",
    [
        {"type": "image", "contentType": "image/png", "data": "not base64!"},
        {"type": "image", "contentType": "text/plain", "data": "eA=="},
        {"type": "image", "contentType": "image/png"},
        {"type": "video", "contentType": "video/mp4", "data": "eA=="},
        {"type": "audio", "contentType": "audio/x-m4a", "data": "eA==", "durationMs": "5"},
        {"type": "file", "contentType": "application/pdf", "data": "eA=="},
        {"type": "image", "external": "https://example.com/a.jpg"},
        {"type": "image", "external": {}},
        {"type": "location", "contentType": "image/png", "data": "eA=="},
    ],
)
def test_bad_media_is_refused_and_nothing_is_sent(
    control: Callable[..., requests.Response],
    bot: RecordingBot,
    state: PlatformState,
    friend: str,
    body: dict[str, Any],
) -> None:
    answer = control("POST", f"/users/{friend}/media", json=body)
    assert answer.status_code == 400
    assert answer.json()["message"].startswith("Invalid media")
    assert bot.events == []
    assert state.requests() == []


def test_oversized_media_is_413(
    control: Callable[..., requests.Response], bot: RecordingBot, friend: str
) -> None:
    data = base64.b64encode(bytes(MAX_MEDIA_BYTES + 1)).decode()
    body = {"type": "image", "contentType": "image/png", "data": data}
    answer = control("POST", f"/users/{friend}/media", json=body)
    assert answer.status_code == 400  # the body fits its bound; the decoded data does not
    assert "at most 10,485,760 bytes" in answer.json()["message"]
    assert bot.events == []
    huge = control(
        "POST",
        f"/users/{friend}/media",
        data=b"x" * (MAX_MEDIA_BODY_BYTES + 1),
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    unknown = {"type": "image", "contentType": "image/png", "data": "eA=="}
    assert control("POST", "/users/U0/media", json=unknown).status_code == 404


# Web pages cannot drive it ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        # What a page on another site can send without a CORS preflight:
        ({"Content-Type": "text/plain"}, '{"displayName": "x"}', 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, "displayName=x", 415),
        ({"Content-Type": "multipart/form-data; boundary=b"}, "--b--", 415),
        ({}, None, 415),  # fetch(url, {method: "POST", mode: "no-cors"})
        # A browser's own word on where the call came from:
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, "{}", 403),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, "{}", 403),
        ({"Content-Type": "application/json", "Origin": "https://evil.example"}, "{}", 403),
        ({"Content-Type": "application/json", "Origin": "http://127.0.0.1:5000"}, "{}", 403),
        ({"Content-Type": "application/json", "Origin": "null"}, "{}", 403),
        # A rebinding DNS name pointing at 127.0.0.1: the browser thinks it is the page's site.
        ({"Content-Type": "application/json", "Host": "rebind.evil.example:5001"}, "{}", 403),
    ],
)
def test_calls_a_web_page_could_make_are_refused(
    control: Callable[..., requests.Response],
    state: PlatformState,
    headers: dict[str, str],
    body: str | None,
    status: int,
) -> None:
    response = control("POST", "/users", data=body, headers=headers)
    assert response.status_code == status
    assert "message" in response.json()
    assert state.users() == []  # nobody was created
    assert control("POST", "/reset", data=body, headers=headers).status_code == status


def test_local_tools_and_the_platforms_own_pages_are_served(
    control: Callable[..., requests.Response], platform: RunningPlatform
) -> None:
    assert control("POST", "/users", json={}).status_code == 201  # scripts, tests, the bot
    own = {"Origin": platform.url, "Sec-Fetch-Site": "same-origin"}
    assert control("POST", "/users", json={}, headers=own).status_code == 201
    typed = {"Sec-Fetch-Site": "none"}  # typed into the address bar
    assert control("GET", "/users", headers=typed).status_code == 200
    assert control("GET", "/users", headers={"Host": f"localhost:{platform.port}"}).ok
    assert control("GET", "/users", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
