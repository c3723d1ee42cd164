"""The resident chat page (/simulator) and its JSON API, through Flask's test client.

The end-to-end tests serve the app under test over real HTTP and point the fake platform's
webhooks at it, so following, typing and tapping through the API really reach the bot.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import Babel
from PIL import Image
from werkzeug.test import TestResponse

from simulator import chat
from simulator.server import RunningPlatform
from simulator.state import PlatformState
from simulator.webhooks import WebhookSender
from tests.browser import serve
from tests.simulator.conftest import RecordingBot
from tests.support import settle

STATIC = Path(chat.__file__).parent / "static" / "simulator"
TEMPLATE = Path(chat.__file__).parent / "templates" / "simulator" / "chat.html"
_META_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


class ChatApi:
    """The page's JSON API as its script calls it (with the page's CSRF token, if any)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.app = client.application
        page = client.get("/simulator")
        assert page.status_code == 200, page.get_data(as_text=True)
        match = _META_TOKEN.search(page.get_data(as_text=True))
        self.headers = {"X-CSRFToken": match.group(1)} if match else {}

    def get(self, path: str) -> TestResponse:
        return self.client.get(f"/simulator/api{path}")

    def post(self, path: str, body: Any = None, **kwargs: Any) -> TestResponse:
        """Act as the page does, then wait for the bot's workers to answer."""
        answer = self.client.post(
            f"/simulator/api{path}", json=body, headers=self.headers, **kwargs
        )
        settle(self.app)
        return answer

    def resident(self, name: str = "県民 太郎", language: str = "ja") -> str:
        created = self.post("/residents", {"displayName": name, "language": language})
        assert created.status_code == 201, created.get_json()
        user_id: str = created.get_json()["userId"]
        return user_id

    def items(self, user_id: str) -> list[dict[str, Any]]:
        answer = self.get(f"/residents/{user_id}/chat")
        assert answer.status_code == 200, answer.get_json()
        items: list[dict[str, Any]] = answer.get_json()["items"]
        return items


@pytest.fixture
def chat_app(make_app: Callable[..., Flask]) -> Flask:
    """The app in development mode on the simulator, with the chat page."""
    return chat.install(make_app(MADOGUCHI_ENV="development", USING_SIMULATOR=True))


@pytest.fixture
def api(chat_app: Flask) -> ChatApi:
    return ChatApi(chat_app.test_client())


@pytest.fixture
def live_bot(
    chat_app: Flask, webhook: WebhookSender, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Serve the app and send the platform's webhooks to it (instead of the stand-in bot)."""
    with serve(chat_app) as server:
        monkeypatch.setattr(webhook, "webhook_url", f"{server.url}/callback")
        yield server.url


def _png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (0, 153, 68)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


#: A small photo as the page sends it (Base64).
PNG = _png()


def texts(items: list[dict[str, Any]]) -> list[str]:
    """Each chat item as one line: who, and what they said or did."""
    lines = []
    for item in items:
        if item["from"] == "bot":
            message = item["message"]
            lines.append(f"bot: {message.get('text', message['type'])}")
        elif item["from"] == "resident":
            said = item.get("text") or item.get("displayText") or item.get("data") or item["kind"]
            lines.append(f"resident: {said}")
        else:
            lines.append(f"system: {item['kind']}")
    return lines


# Refused outside development and without the simulator ---------------------------------------


@pytest.mark.parametrize("mode", ["development", "production"])
def test_create_app_does_not_mount_the_page(make_app: Callable[..., Flask], mode: str) -> None:
    app = make_app(MADOGUCHI_ENV=mode, USING_SIMULATOR=True)
    assert chat.bp.name not in app.blueprints
    assert app.test_client().get("/simulator").status_code == 404


@pytest.mark.parametrize(
    "path", ["/simulator", "/simulator/api/residents", "/simulator/static/simulator/chat.js"]
)
def test_everything_is_404_in_production_even_if_registered(
    make_app: Callable[..., Flask], path: str
) -> None:
    app = chat.install(make_app(MADOGUCHI_ENV="production", USING_SIMULATOR=True))
    client = app.test_client()
    with client.get(path) as answer:
        assert answer.status_code == 404
    posted = client.post("/simulator/api/residents", json={"displayName": "x"})
    assert posted.status_code == 404


def test_without_the_simulator_the_page_explains_the_404(
    make_app: Callable[..., Flask], platform: RunningPlatform
) -> None:
    app = chat.install(make_app(MADOGUCHI_ENV="development"))  # LINE credentials given
    assert not app.config.get("USING_SIMULATOR")
    client = app.test_client()
    for path in ("/simulator", "/simulator/api/residents"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert "fake LINE platform" in answer.get_json()["message"]
    assert client.post("/simulator/api/residents", json={"displayName": "x"}).status_code == 404
    assert platform.state.users() == []


# The page ---------------------------------------------------------------------------------------


def test_the_page_is_self_contained_and_csp_friendly(chat_app: Flask) -> None:
    client = chat_app.test_client()
    answer = client.get("/simulator")
    html = answer.get_data(as_text=True)

    assert answer.status_code == 200
    assert answer.mimetype == "text/html"
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert '<meta name="csrf-token" content="' in html
    assert "住民 / Residents" in html  # Japanese first, English alongside
    assert 'src="/simulator/static/simulator/chat.js"' in html
    assert 'href="/simulator/static/simulator/chat.css"' in html
    assert not re.search(r"\sstyle=|\son[a-z]+=", html)
    scripts = re.findall(r"<script([^>]*)>", html)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs in scripts)
    assert not re.search(r"https?://(?!127\.0\.0\.1)", html.replace("http://localhost", ""))
    for name in ("chat.js", "chat.css"):
        with client.get(f"/simulator/static/simulator/{name}") as static:
            assert static.status_code == 200


def test_the_script_never_parses_html() -> None:
    script = (STATIC / "chat.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    assert 'setAttribute("style"' not in script


# End to end: the API drives the real bot ---------------------------------------------------------


def test_a_resident_follows_talks_taps_and_blocks(
    api: ChatApi, live_bot: str, platform: RunningPlatform
) -> None:
    user_id = api.resident("県民 花子")
    assert api.get("/residents").get_json() == {
        "residents": [
            {"userId": user_id, "displayName": "県民 花子", "language": "ja", "friendship": "none"}
        ]
    }

    assert api.post(f"/residents/{user_id}/follow").get_json() == {"webhookStatus": 200}
    items = api.items(user_id)
    assert texts(items)[0] == "system: follow"
    welcome = items[1]["message"]
    assert "友だち追加ありがとうございます" in welcome["text"]
    chips = [entry["action"] for entry in welcome["quickReply"]["items"]]
    assert [chip["label"] for chip in chips] == ["アンケート", "相談", "クーポン", "お知らせ"]

    survey = chips[0]
    tapped = api.post(
        f"/residents/{user_id}/postback",
        {"data": survey["data"], "displayText": survey["displayText"]},
    )
    assert tapped.status_code == 200
    assert api.post(f"/residents/{user_id}/text", {"text": "メニュー"}).status_code == 200
    lines = texts(api.items(user_id))
    assert lines[2] == "resident: アンケート"
    assert lines[3].startswith("bot: ")
    assert lines[4:] == ["resident: メニュー", "bot: ご用件をメニューからお選びください。"]
    assert [d.method for d in platform.state.deliveries(user_id)] == ["reply"] * 3

    assert api.post(f"/residents/{user_id}/unfollow").get_json() == {"webhookStatus": 200}
    [resident] = api.get("/residents").get_json()["residents"]
    assert resident["friendship"] == "blocked"
    assert texts(api.items(user_id))[-1] == "system: block"

    assert api.post(f"/residents/{user_id}/follow").status_code == 200
    lines = texts(api.items(user_id))
    assert lines[-2] == "system: unblock"
    assert lines[-1].startswith("bot: おかえりなさい")
    [resident] = api.get("/residents").get_json()["residents"]
    assert resident["friendship"] == "friend"


def test_a_date_picked_is_sent_as_params(
    api: ChatApi, bot: RecordingBot, platform: RunningPlatform
) -> None:
    user_id = platform.state.add_user("県民 次郎", is_friend=True).user_id
    body = {"data": "v=1&a=test.pick", "params": {"date": "2025-05-05"}}
    assert api.post(f"/residents/{user_id}/postback", body).status_code == 200
    [event] = bot.payloads[0]["events"]
    assert event["postback"] == body
    assert api.items(user_id) == [{"from": "resident", "kind": "postback", **body}]


def test_pushes_appear_in_order_after_the_residents_messages(
    api: ChatApi, bot: RecordingBot, platform: RunningPlatform
) -> None:
    user_id = platform.state.add_user(is_friend=True).user_id
    api.post(f"/residents/{user_id}/text", {"text": "一"})
    platform.state.send("push", [user_id], [{"type": "text", "text": "お知らせ"}], request_id="r")
    api.post(f"/residents/{user_id}/text", {"text": "二"})
    assert texts(api.items(user_id)) == ["resident: 一", "bot: お知らせ", "resident: 二"]


def test_a_resident_sends_a_photo(
    api: ChatApi, bot: RecordingBot, platform: RunningPlatform
) -> None:
    user_id = platform.state.add_user("県民 四郎", is_friend=True).user_id
    answer = api.post(f"/residents/{user_id}/image", {"contentType": "image/png", "data": PNG})
    assert answer.get_json() == {"webhookStatus": 200}
    [event] = bot.payloads[0]["events"]
    assert event["message"]["type"] == "image"
    assert event["message"]["contentProvider"] == {"type": "line"}
    stored = platform.state.content(event["message"]["id"])
    assert stored is not None
    assert (stored.data, stored.content_type) == (base64.b64decode(PNG), "image/png")
    assert texts(api.items(user_id)) == ["resident: image"]


def test_a_photo_over_the_limit_is_refused_unread(
    api: ChatApi, bot: RecordingBot, platform: RunningPlatform
) -> None:
    user_id = platform.state.add_user(is_friend=True).user_id
    too_big = {"contentType": "image/png", "data": "A" * (chat.MAX_PHOTO_BYTES * 4 // 3 + 2048)}
    answer = api.post(f"/residents/{user_id}/image", too_big)
    assert answer.status_code == 413
    assert "at most 10,485,760 bytes" in answer.get_json()["message"]
    decoded_too_big = {
        "contentType": "image/png",
        "data": "A" * 4 * (chat.MAX_PHOTO_BYTES // 3 + 1),
    }
    answer = api.post(f"/residents/{user_id}/image", decoded_too_big)
    assert answer.status_code == 400
    assert "1 byte to 10,485,760 bytes" in answer.get_json()["message"]
    assert bot.events == []


# Input validation: nothing reaches the platform ------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/residents", {}, "displayName is required"),
        ("/residents", {"displayName": "   "}, "displayName is required"),
        ("/residents", {"displayName": "あ" * 21}, "displayName is too long"),
        ("/residents", {"displayName": "花子", "language": "fr"}, "language must be"),
        ("/residents", ["花子"], "JSON object"),
        ("/residents/{id}/text", {"text": "あ" * 6000}, "text is too long"),
        ("/residents/{id}/text", {"text": "😀" * 2501}, "text is too long"),
        ("/residents/{id}/text", {}, "text is required"),
        ("/residents/{id}/text", {"text": 5}, "text is required"),
        ("/residents/{id}/postback", {"data": "d" * 301}, "data is too long"),
        ("/residents/{id}/postback", {"displayText": "はい"}, "data is required"),
        ("/residents/{id}/postback", {"data": "a", "displayText": "x" * 301}, "displayText"),
        ("/residents/{id}/postback", {"data": "a", "params": {"date": "tomorrow"}}, "params.date"),
        ("/residents/{id}/postback", {"data": "a", "params": {"x": "1"}}, "params.x"),
        ("/residents/{id}/postback", {"data": "a", "params": "2025-01-01"}, "params must"),
        ("/residents/bad%20id/text", {"text": "hi"}, "Invalid resident id"),
        ("/residents/{id}/image", {"contentType": "image/gif", "data": "R0lG"}, "contentType"),
        ("/residents/{id}/image", {"data": "R0lG"}, "contentType"),
        ("/residents/{id}/image", {"contentType": "image/png", "data": "!!"}, "Base64"),
        ("/residents/{id}/image", {"contentType": "image/png", "data": ""}, "1 byte"),
        ("/residents/{id}/image", {"contentType": "image/png", "data": "eA=="}, "not a image/png"),
        ("/residents/{id}/image", {"contentType": "image/jpeg", "data": PNG}, "not a image/jpeg"),
    ],
)
def test_invalid_input_is_refused_before_the_platform(
    api: ChatApi,
    bot: RecordingBot,
    platform: RunningPlatform,
    path: str,
    body: Any,
    message: str,
) -> None:
    user_id = platform.state.add_user(is_friend=True).user_id
    answer = api.post(path.replace("{id}", user_id), body)
    assert answer.status_code == 400
    assert message in answer.get_json()["message"]
    assert [user.user_id for user in platform.state.users()] == [user_id]
    assert bot.events == []
    assert api.items(user_id) == []


def test_a_body_that_is_not_json_is_refused(api: ChatApi, bot: RecordingBot) -> None:
    answer = api.post("/residents", data="displayName=x", content_type="text/plain")
    assert answer.status_code == 400
    assert answer.get_json() == {"message": "The request body must be a JSON object."}


# Platform errors are 502 with a message ---------------------------------------------------------


def test_platform_refusals_become_502(api: ChatApi, bot: RecordingBot) -> None:
    answer = api.post("/residents/U0123456789abcdef0123456789abcdef/text", {"text": "hi"})
    assert answer.status_code == 502
    assert "HTTP 404" in answer.get_json()["message"]
    assert bot.events == []


def test_a_bot_that_fails_the_webhook_is_reported(
    api: ChatApi, bot: RecordingBot, platform: RunningPlatform
) -> None:
    user_id = platform.state.add_user(is_friend=True).user_id
    bot.status = 500
    answer = api.post(f"/residents/{user_id}/text", {"text": "hi"})
    assert answer.status_code == 502
    assert answer.get_json() == {"message": "The bot answered the webhook with HTTP 500."}
    assert len(bot.events) == 1


def test_an_unreachable_platform_is_502(make_app: Callable[..., Flask]) -> None:
    with serve(Flask("gone")) as server:
        url = server.url
    app = chat.install(
        make_app(MADOGUCHI_ENV="development", USING_SIMULATOR=True, LINE_API_BASE_URL=url)
    )
    answer = app.test_client().get("/simulator/api/residents")
    assert answer.status_code == 502
    assert "did not answer" in answer.get_json()["message"]


# Markup stays data ------------------------------------------------------------------------------


def test_markup_in_names_and_texts_is_returned_as_json_data(
    api: ChatApi, bot: RecordingBot, platform: RunningPlatform
) -> None:
    name = "<script>x</script>"
    text = '<img src=x onerror="alert(1)">'
    user_id = api.resident(name)
    platform.state.set_friend(user_id, True)
    assert api.post(f"/residents/{user_id}/text", {"text": text}).status_code == 200

    listed = api.get("/residents")
    assert listed.mimetype == "application/json"
    assert listed.get_json()["residents"][0]["displayName"] == name
    assert api.items(user_id)[0]["text"] == text
    assert bot.events[0].message.text == text
    html = api.client.get("/simulator").get_data(as_text=True)
    assert "<script>x" not in html
    assert "onerror" not in html


# The rich menu ----------------------------------------------------------------------------------


def _menu(state: PlatformState) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (2500, 843), (0, 153, 68)).save(buffer, format="PNG")
    menu_id = state.create_rich_menu(
        {
            "size": {"width": 2500, "height": 843},
            "selected": True,
            "name": "test",
            "chatBarText": "メニュー",
            "areas": [
                {
                    "bounds": {"x": 0, "y": 0, "width": 2500, "height": 843},
                    "action": {"type": "postback", "data": "v=1&a=menu.surveys"},
                }
            ],
        }
    )
    state.set_rich_menu_image(menu_id, buffer.getvalue(), "image/png")
    state.set_default_rich_menu(menu_id)
    return menu_id


def test_the_rich_menu_and_its_image_come_through_the_api(
    api: ChatApi, platform: RunningPlatform
) -> None:
    user_id = platform.state.add_user(is_friend=True).user_id
    assert api.get(f"/residents/{user_id}/richmenu").get_json() == {
        "richMenu": None,
        "imageUrl": None,
    }

    menu_id = _menu(platform.state)
    found = api.get(f"/residents/{user_id}/richmenu").get_json()
    assert found["richMenu"]["richMenuId"] == menu_id
    assert found["richMenu"]["areas"][0]["bounds"]["width"] == 2500
    assert found["imageUrl"] == f"/simulator/api/richmenu/{menu_id}/image"

    image = api.client.get(found["imageUrl"])
    assert image.status_code == 200
    assert image.mimetype == "image/png"
    assert image.get_data() == platform.state.rich_menu_image(menu_id)[0]  # type: ignore[index]


def test_rich_menu_images_are_checked(api: ChatApi) -> None:
    assert api.get("/richmenu/../image").status_code == 400
    assert api.get("/richmenu/not-a-menu/image").status_code == 400
    missing = api.get(f"/richmenu/richmenu-{'0' * 32}/image")
    assert missing.status_code == 502


# CSRF: with Flask-WTF's protection on, off, and without Flask-WTF at all ----------------------


def test_posts_need_the_pages_csrf_token_when_protection_is_on(
    api: ChatApi, platform: RunningPlatform
) -> None:
    assert api.headers, "the page carries a CSRF token"
    refused = api.client.post("/simulator/api/residents", json={"displayName": "花子"})
    assert refused.status_code == 400
    assert platform.state.users() == []
    assert api.post("/residents", {"displayName": "花子"}).status_code == 201


def test_posts_work_when_csrf_protection_is_off(
    make_app: Callable[..., Flask], platform: RunningPlatform
) -> None:
    app = chat.install(
        make_app(MADOGUCHI_ENV="development", USING_SIMULATOR=True, WTF_CSRF_ENABLED=False)
    )
    client = app.test_client()
    answer = client.post("/simulator/api/residents", json={"displayName": "花子"})
    assert answer.status_code == 201


def test_the_page_works_in_an_app_without_flask_wtf(platform: RunningPlatform) -> None:
    app = Flask("bare")
    app.config.update(
        MADOGUCHI_ENV="development", USING_SIMULATOR=True, LINE_API_BASE_URL=platform.url
    )
    Babel(app)
    chat.install(app)
    client = app.test_client()
    page = client.get("/simulator")
    assert page.status_code == 200
    assert 'name="csrf-token"' not in page.get_data(as_text=True)
    assert ChatApi(client).headers == {}
    answer = client.post("/simulator/api/residents", json={"displayName": "花子"})
    assert answer.status_code == 201
    assert answer.get_json()["friendship"] == "none"


def test_ui_text_is_marked_for_translation() -> None:
    template = TEMPLATE.read_text(encoding="utf-8")
    assert '_("Send")' in template
    assert '_("Add friend")' in template


def test_page_answers_with_and_without_a_trailing_slash(chat_app: Flask) -> None:
    client = chat_app.test_client()
    assert client.get("/simulator").status_code == 200
    assert client.get("/simulator/").status_code == 200
