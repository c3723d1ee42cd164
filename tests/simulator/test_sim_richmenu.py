"""Rich menus, images, the default menu, per-user links and aliases, through the SDK."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from linebot.v3.messaging import (
    ApiException,
    CreateRichMenuAliasRequest,
    ErrorResponse,
    MessagingApi,
    MessagingApiBlob,
    PostbackAction,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
    UpdateRichMenuAliasRequest,
)
from linebot.v3.messaging.exceptions import NotFoundException

from simulator.server import RunningPlatform
from simulator.state import PlatformState

MakeImage = Callable[..., bytes]


def menu_request(width: int = 2500, height: int = 843) -> RichMenuRequest:
    area = RichMenuArea(
        bounds=RichMenuBounds(x=0, y=0, width=width, height=height),
        action=PostbackAction(label="アンケート", data="v=1&a=survey.list"),
    )
    return RichMenuRequest(
        size=RichMenuSize(width=width, height=height),
        selected=True,
        name="main",
        chat_bar_text="メニュー",
        areas=[area],
    )


def upload(blob: MessagingApiBlob, rich_menu_id: str, data: bytes, content_type: str) -> None:
    blob.set_rich_menu_image(rich_menu_id, data, _headers={"Content-Type": content_type})


@pytest.fixture
def menu_id(messaging: MessagingApi) -> str:
    """A rich menu created without an image."""
    return messaging.create_rich_menu(menu_request()).rich_menu_id


@pytest.fixture
def menu_with_image(menu_id: str, blob: MessagingApiBlob, make_image: MakeImage) -> str:
    """A rich menu with its PNG uploaded."""
    upload(blob, menu_id, make_image(), "image/png")
    return menu_id


def error_message(raised: pytest.ExceptionInfo[ApiException]) -> str:
    return ErrorResponse.from_json(raised.value.body).message


def test_create_upload_set_default_and_read_back(
    messaging: MessagingApi, blob: MessagingApiBlob, state: PlatformState, make_image: MakeImage
) -> None:
    menu_id = messaging.create_rich_menu(menu_request()).rich_menu_id
    assert menu_id.startswith("richmenu-")
    assert len(menu_id) == len("richmenu-") + 32
    png = make_image()
    upload(blob, menu_id, png, "image/png")
    messaging.set_default_rich_menu(menu_id)
    assert messaging.get_default_rich_menu_id().rich_menu_id == menu_id
    assert state.default_rich_menu_id() == menu_id
    assert bytes(blob.get_rich_menu_image(menu_id)) == png
    assert state.rich_menu_image(menu_id) == (png, "image/png")
    menu = messaging.get_rich_menu(menu_id)
    assert menu.chat_bar_text == "メニュー"
    assert menu.areas[0].action.data == "v=1&a=survey.list"
    assert [m.rich_menu_id for m in messaging.get_rich_menu_list().richmenus] == [menu_id]


def test_jpeg_images_are_accepted(
    menu_id: str, blob: MessagingApiBlob, state: PlatformState, make_image: MakeImage
) -> None:
    upload(blob, menu_id, make_image(1200, 405, "JPEG"), "image/jpeg")
    stored = state.rich_menu_image(menu_id)
    assert stored is not None
    assert stored[1] == "image/jpeg"


@pytest.mark.parametrize(
    ("size", "image_format", "content_type", "status"),
    [
        ((799, 250), "PNG", "image/png", 400),
        ((2501, 843), "PNG", "image/png", 400),
        ((800, 249), "PNG", "image/png", 400),
        ((1000, 700), "PNG", "image/png", 400),
        ((2500, 843), "JPEG", "image/png", 400),
        ((2500, 843), "GIF", "image/gif", 415),
    ],
)
def test_bad_images_are_refused(
    menu_id: str,
    blob: MessagingApiBlob,
    state: PlatformState,
    make_image: MakeImage,
    size: tuple[int, int],
    image_format: str,
    content_type: str,
    status: int,
) -> None:
    with pytest.raises(ApiException) as raised:
        upload(blob, menu_id, make_image(*size, image_format), content_type)
    assert raised.value.status == status
    assert state.rich_menu_image(menu_id) is None


def test_undecodable_and_oversized_images_are_refused(
    menu_id: str, blob: MessagingApiBlob, state: PlatformState
) -> None:
    with pytest.raises(ApiException) as raised:
        upload(blob, menu_id, b"\x89PNG not really", "image/png")
    assert raised.value.status == 400
    with pytest.raises(ApiException) as raised:
        upload(blob, menu_id, b"\x89PNG" + b"\0" * (1024 * 1024), "image/png")
    assert raised.value.status == 413
    assert state.rich_menu_image(menu_id) is None


def test_an_image_cannot_be_replaced(
    menu_with_image: str, blob: MessagingApiBlob, state: PlatformState, make_image: MakeImage
) -> None:
    first = state.rich_menu_image(menu_with_image)
    with pytest.raises(ApiException) as raised:
        upload(blob, menu_with_image, make_image(1200, 405), "image/png")
    assert raised.value.status == 400
    assert state.rich_menu_image(menu_with_image) == first


def test_default_needs_an_image_and_an_existing_menu(
    messaging: MessagingApi, menu_id: str, state: PlatformState
) -> None:
    with pytest.raises(ApiException) as raised:
        messaging.set_default_rich_menu(menu_id)
    assert raised.value.status == 400
    assert error_message(raised) == "must upload richmenu image before applying it to user"
    with pytest.raises(NotFoundException):
        messaging.set_default_rich_menu("richmenu-" + "0" * 32)
    with pytest.raises(NotFoundException):
        messaging.get_default_rich_menu_id()
    assert state.default_rich_menu_id() is None


def test_cancel_default(messaging: MessagingApi, menu_with_image: str) -> None:
    messaging.set_default_rich_menu(menu_with_image)
    messaging.cancel_default_rich_menu()
    with pytest.raises(NotFoundException):
        messaging.get_default_rich_menu_id()


def test_link_and_unlink_a_friend(
    messaging: MessagingApi, menu_with_image: str, state: PlatformState, friend: str
) -> None:
    messaging.link_rich_menu_id_to_user(friend, menu_with_image)
    assert messaging.get_rich_menu_id_of_user(friend).rich_menu_id == menu_with_image
    user = state.get_user(friend)
    assert user is not None
    assert user.linked_rich_menu_id == menu_with_image
    messaging.unlink_rich_menu_id_from_user(friend)
    with pytest.raises(NotFoundException):
        messaging.get_rich_menu_id_of_user(friend)


def test_link_needs_a_friend(
    messaging: MessagingApi, menu_with_image: str, state: PlatformState
) -> None:
    stranger = state.add_user().user_id
    with pytest.raises(ApiException) as raised:
        messaging.link_rich_menu_id_to_user(stranger, menu_with_image)
    assert raised.value.status == 400


def test_deleting_a_menu_clears_default_and_links(
    messaging: MessagingApi, menu_with_image: str, state: PlatformState, friend: str
) -> None:
    messaging.set_default_rich_menu(menu_with_image)
    messaging.link_rich_menu_id_to_user(friend, menu_with_image)
    messaging.delete_rich_menu(menu_with_image)
    with pytest.raises(NotFoundException):
        messaging.get_rich_menu(menu_with_image)
    assert state.default_rich_menu_id() is None
    assert state.rich_menu_image(menu_with_image) is None
    user = state.get_user(friend)
    assert user is not None
    assert user.linked_rich_menu_id is None
    with pytest.raises(NotFoundException):
        messaging.delete_rich_menu(menu_with_image)


def test_alias_create_update_get_list_delete(
    messaging: MessagingApi, blob: MessagingApiBlob, menu_id: str
) -> None:
    other = messaging.create_rich_menu(menu_request()).rich_menu_id
    messaging.create_rich_menu_alias(
        CreateRichMenuAliasRequest(rich_menu_alias_id="tab-a", rich_menu_id=menu_id)
    )
    assert messaging.get_rich_menu_alias("tab-a").rich_menu_id == menu_id
    messaging.update_rich_menu_alias("tab-a", UpdateRichMenuAliasRequest(rich_menu_id=other))
    assert messaging.get_rich_menu_alias("tab-a").rich_menu_id == other
    aliases = messaging.get_rich_menu_alias_list().aliases
    assert [(a.rich_menu_alias_id, a.rich_menu_id) for a in aliases] == [("tab-a", other)]
    messaging.delete_rich_menu_alias("tab-a")
    with pytest.raises(NotFoundException):
        messaging.get_rich_menu_alias("tab-a")


def test_alias_errors(messaging: MessagingApi, menu_id: str) -> None:
    request = CreateRichMenuAliasRequest(rich_menu_alias_id="tab-a", rich_menu_id=menu_id)
    messaging.create_rich_menu_alias(request)
    with pytest.raises(ApiException) as raised:
        messaging.create_rich_menu_alias(request)
    assert (raised.value.status, error_message(raised)) == (400, "conflict richmenu alias id")
    with pytest.raises(ApiException) as raised:
        messaging.update_rich_menu_alias("tab-b", UpdateRichMenuAliasRequest(rich_menu_id=menu_id))
    assert raised.value.status == 400
    missing_menu = UpdateRichMenuAliasRequest(rich_menu_id="richmenu-" + "0" * 32)
    with pytest.raises(ApiException) as raised:
        messaging.update_rich_menu_alias("tab-a", missing_menu)
    assert (raised.value.status, error_message(raised)) == (400, "richmenu not found")
    assert messaging.get_rich_menu_alias("tab-a").rich_menu_id == menu_id


@pytest.mark.parametrize(
    ("body", "prop"),
    [
        ({"richMenuAliasId": "Tab A", "richMenuId": "richmenu-x"}, "richMenuAliasId"),
        ({"richMenuAliasId": "a" * 33, "richMenuId": "richmenu-x"}, "richMenuAliasId"),
    ],
)
def test_alias_id_pattern_is_checked(
    http: requests.Session, platform: RunningPlatform, body: dict[str, Any], prop: str
) -> None:
    response = http.post(f"{platform.url}/v2/bot/richmenu/alias", json=body)
    assert response.status_code == 400
    assert [d["property"] for d in response.json()["details"]] == [prop]


def menu_json(**changes: Any) -> dict[str, Any]:
    body = menu_request().to_dict()
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("body", "prop"),
    [
        (menu_json(size={"width": 700, "height": 250}), "size"),
        (menu_json(size={"width": 2500, "height": 2000}), "size"),
        (menu_json(chatBarText="あ" * 15), "chatBarText"),
        (menu_json(areas=[menu_json()["areas"][0]] * 21), "areas"),
        ({k: v for k, v in menu_json().items() if k != "name"}, "name"),
    ],
)
def test_invalid_rich_menus_are_refused(
    http: requests.Session, platform: RunningPlatform, body: dict[str, Any], prop: str
) -> None:
    response = http.post(f"{platform.url}/v2/bot/richmenu", json=body)
    assert response.status_code == 400, response.text
    assert prop in [d["property"] for d in response.json()["details"]]
    assert platform.state.rich_menus() == []


def test_rich_menu_creation_is_rate_limited(messaging: MessagingApi, state: PlatformState) -> None:
    state.set_rate_limit("richmenu.create", rate_per_second=100 / 3600, burst=2)
    messaging.create_rich_menu(menu_request())
    messaging.create_rich_menu(menu_request())
    with pytest.raises(ApiException) as raised:
        messaging.create_rich_menu(menu_request())
    assert raised.value.status == 429
    assert len(state.rich_menus()) == 2
