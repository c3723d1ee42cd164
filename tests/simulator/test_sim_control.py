"""The JSON control API under /_simulator/ that tests and the chat page drive."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests
from linebot.v3.messaging import MessagingApiBlob

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
    assert control("POST", f"/users/{user_id}/follow").json() == {"webhookStatus": 200}
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
    assert control("POST", f"/users/{friend}/unfollow").status_code == 200
    assert [event.type for event in bot.events] == ["postback", "unfollow"]
    user = state.get_user(friend)
    assert user is not None
    assert not user.is_friend


def test_bad_control_requests(control: Callable[..., requests.Response], friend: str) -> None:
    assert control("POST", f"/users/{friend}/text", json={}).status_code == 400
    assert control("POST", f"/users/{friend}/postback", json={"data": 1}).status_code == 400
    assert control("POST", f"/users/{friend}/text", data=b"[").status_code == 400
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
    assert control("POST", "/reset").status_code == 200
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
        response = session.post(f"{running.url}/_simulator/users/{user_id}/follow")
    assert response.status_code == 503
    user = state.get_user(user_id)
    assert user is not None
    assert not user.is_friend
