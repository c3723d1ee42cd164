"""The resident chat page (``/simulator``): play residents against the bot, in a browser.

This module owns the development-only page where a person plays one or more residents
through the fake LINE platform (add friend, type, tap buttons, pickers and the rich menu,
send a photo, block), and the small JSON API under ``/simulator/api/`` that the page's
script calls. The API proxies, server-side, to the platform's ``/_simulator/`` control API
(another port, so the browser never talks to it) and validates input first.

The platform only knows what the bot sent. What the residents did (their texts, taps, follow
and block) is kept here, per app and in memory like the platform's own state, and merged
into each chat in order: every action remembers how many deliveries came before it.

:func:`install` mounts the page; the development server (``make run``) calls it, and
``create_app`` never does. Even when mounted, the page refuses every request (404) unless the
app runs in development mode with the embedded simulator.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_babel import force_locale, gettext
from PIL import Image, UnidentifiedImageError

logger = logging.getLogger(__name__)

bp = Blueprint(
    "simulator",
    __name__,
    url_prefix="/simulator",
    template_folder="templates",
    static_folder="static",
)

#: Longest text a resident may send (LINE's message limit, in UTF-16 code units).
MAX_TEXT = 5000
#: Longest postback ``data`` and ``displayText`` (LINE's action limits).
MAX_DATA = 300
MAX_DISPLAY_TEXT = 300
#: LINE display names are at most 20 characters.
MAX_DISPLAY_NAME = 20
LANGUAGES = ("ja", "en")
#: ``params`` keys a datetime picker sends, and the value shapes LINE uses.
PICKER_PARAMS = {
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "time": re.compile(r"^\d{2}:\d{2}$"),
    "datetime": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$"),
}
#: Seconds to wait for the platform: reads, and actions (which wait for the bot's webhook).
READ_TIMEOUT = 5.0
ACTION_TIMEOUT = 30.0
#: Largest rich menu image relayed (the platform accepts at most 1 MB).
MAX_IMAGE_BYTES = 2 * 1024 * 1024
#: Largest photo a resident may send from the page (LINE's own limit for image messages).
MAX_PHOTO_BYTES = 10 * 1024 * 1024
#: Photo formats the page sends, by media type (what the camera and photo library give).
PHOTO_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}
#: Resident actions remembered per resident; older ones are forgotten first.
MAX_ACTIONS = 1000

#: The page's policy: its own script and styles only, never in a frame.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)

_RESIDENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_RICH_MENU_ID = re.compile(r"^richmenu-[0-9a-f]{32}$")
_IMAGE_TYPES = frozenset({"image/png", "image/jpeg"})


class ChatError(Exception):
    """A request the API refuses; answered as ``{"message": ...}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Action:
    """Something a resident did, placed after the first ``after`` deliveries of the chat."""

    after: int
    item: dict[str, Any]


@dataclass
class Transcripts:
    """What residents did on the page, and who blocked the account (per app, in memory)."""

    actions: dict[str, list[_Action]] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, user_id: str, after: int, item: dict[str, Any]) -> None:
        """Remember one action of ``user_id``, made when ``after`` deliveries existed."""
        with self.lock:
            kept = self.actions.setdefault(user_id, [])
            kept.append(_Action(after, item))
            del kept[:-MAX_ACTIONS]

    def merged(self, user_id: str, messages: list[tuple[int, dict[str, Any]]]) -> list[Any]:
        """The chat in order: bot messages (delivery index, message) and resident actions."""
        with self.lock:
            actions = list(self.actions.get(user_id, ()))
        items: list[dict[str, Any]] = []
        pending = iter(actions)
        action = next(pending, None)
        for index, message in messages:
            while action is not None and action.after <= index:
                items.append(action.item)
                action = next(pending, None)
            items.append({"from": "bot", "message": message})
        while action is not None:
            items.append(action.item)
            action = next(pending, None)
        return items

    def set_blocked(self, user_id: str, blocked: bool) -> None:
        """Record that the resident blocked (True) or unblocked/followed (False)."""
        with self.lock:
            if blocked:
                self.blocked.add(user_id)
            else:
                self.blocked.discard(user_id)

    def is_blocked(self, user_id: str) -> bool:
        """True when the resident's last friendship action on this page was a block."""
        with self.lock:
            return user_id in self.blocked

    def clear(self) -> None:
        """Forget everything (tests; the platform's reset forgets its side)."""
        with self.lock:
            self.actions.clear()
            self.blocked.clear()


@bp.record_once
def _on_register(state: BlueprintSetupState) -> None:
    """Give the app its transcripts and the guard that answers 404 outside development."""
    app = state.app
    app.extensions["simulator_chat"] = Transcripts()
    name = state.name

    def guard() -> ResponseReturnValue | None:
        return _only_with_the_simulator() if name in request.blueprints else None

    # First of the app's own hooks, so that even CSRF protection (app-wide, 400 without a
    # token) answers after it: outside development every path of the page is a plain 404.
    app.before_request_funcs.setdefault(None, []).insert(0, guard)


def install(app: Flask) -> Flask:
    """Mount the resident chat page on ``app`` (before it serves its first request).

    :param app: the bot's app; the page answers only in development with the simulator.
    :return: the same app.
    """
    app.register_blueprint(bp)
    return app


def transcripts(app: Flask | None = None) -> Transcripts:
    """The app's record of residents' actions on the page."""
    found: Transcripts = (app or current_app).extensions["simulator_chat"]
    return found


# Guards and errors ----------------------------------------------------------------------------


def _error(status: int, message: str) -> Response:
    response = jsonify(message=message)
    response.status_code = status
    return response


def _only_with_the_simulator() -> ResponseReturnValue | None:
    """Refuse everything outside development, and without the embedded fake platform."""
    if current_app.config.get("MADOGUCHI_ENV") != "development":
        abort(404)  # the app's own 404: as if the page did not exist
    if not current_app.config.get("USING_SIMULATOR"):
        return _error(
            404,
            "The resident simulator needs the embedded fake LINE platform: run in "
            "development mode without LINE credentials (make run).",
        )
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    """The page's own headers (the bot's console and resident pages have theirs)."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


@bp.errorhandler(ChatError)
def _refused(error: ChatError) -> Response:
    return _error(error.status, error.message)


# Talking to the platform ----------------------------------------------------------------------


def _platform(method: str, path: str, *, body: Any = None, timeout: float = READ_TIMEOUT) -> Any:
    """Call the platform's control API and return its JSON answer.

    :raises ChatError: 502 when the platform cannot be reached or refuses the call.
    """
    url = f"{current_app.config['LINE_API_BASE_URL']}/_simulator{path}"
    try:
        with requests.request(method, url, json=body, timeout=timeout) as answer:
            status, payload = answer.status_code, _json_or_none(answer)
    except requests.RequestException as error:
        logger.warning("simulator platform unreachable: %s", type(error).__name__)
        raise ChatError(502, f"The fake LINE platform did not answer ({error}).") from error
    if status >= 400:
        reason = payload.get("message") if isinstance(payload, dict) else None
        raise ChatError(
            502, f"The fake LINE platform answered HTTP {status}: {reason or 'no message'}"
        )
    return payload


def _json_or_none(answer: requests.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def _bot_answer(answer: Any) -> Response:
    """The page's answer to an action: 502 when the bot's webhook did not answer 200."""
    status = answer.get("webhookStatus") if isinstance(answer, dict) else None
    if status != 200:
        return _error(502, f"The bot answered the webhook with HTTP {status}.")
    return jsonify(webhookStatus=status)


def _resident_json(user: dict[str, Any]) -> dict[str, Any]:
    user_id = str(user.get("userId", ""))
    if user.get("isFriend"):
        friendship = "friend"
    elif transcripts().is_blocked(user_id):
        friendship = "blocked"
    else:
        friendship = "none"
    return {
        "userId": user_id,
        "displayName": user.get("displayName"),
        "language": user.get("language"),
        "friendship": friendship,
    }


def _delivery_count(user_id: str) -> int:
    return len(_platform("GET", f"/users/{user_id}/deliveries").get("deliveries", []))


# Input ----------------------------------------------------------------------------------------


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ChatError(400, "The request body must be a JSON object.")
    return body


def _resident_id(user_id: str) -> str:
    if not _RESIDENT_ID.match(user_id):
        raise ChatError(400, "Invalid resident id.")
    return user_id


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _string(body: dict[str, Any], name: str, limit: int, *, required: bool = True) -> str | None:
    """The string field ``name``: present (if required), non-empty and at most ``limit`` long."""
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ChatError(400, f"{name} is required (a non-empty string).")
    if _utf16_length(value) > limit:
        raise ChatError(400, f"{name} is too long (at most {limit:,} characters).")
    return value


def _picker_params(body: dict[str, Any]) -> dict[str, str] | None:
    params = body.get("params")
    if params is None:
        return None
    if not isinstance(params, dict) or not params:
        raise ChatError(400, 'params must be an object such as {"date": "2025-04-01"}.')
    for key, value in params.items():
        shape = PICKER_PARAMS.get(key)
        if shape is None or not isinstance(value, str) or not shape.match(value):
            raise ChatError(400, f"params.{key} is not a date, time or datetime value.")
    return params


# The page -------------------------------------------------------------------------------------


def _both_languages(message: str) -> str:
    """``Japanese / English`` for one English msgid (just the msgid if not translated)."""
    with force_locale("ja"):
        japanese = gettext(message)
    return message if japanese == message else f"{japanese} / {message}"


@bp.get("", strict_slashes=False)
def page() -> str:
    """The chat page (the script does the rest through the JSON API)."""
    bilingual: Callable[[str], str] = _both_languages
    return render_template("simulator/chat.html", _=bilingual)


# The JSON API ---------------------------------------------------------------------------------


@bp.get("/api/residents")
def list_residents() -> Response:
    """Lists the simulated residents with their friendship (friend, blocked or none)."""
    users = _platform("GET", "/users").get("users", [])
    return jsonify(residents=[_resident_json(user) for user in users])


@bp.post("/api/residents")
def create_resident() -> tuple[Response, int]:
    """Creates a resident from ``{displayName, language}`` (not yet a friend)."""
    body = _body()
    name = _string(body, "displayName", MAX_DISPLAY_NAME)
    language = body.get("language", "ja")
    if language not in LANGUAGES:
        raise ChatError(400, f"language must be one of: {', '.join(LANGUAGES)}.")
    user = _platform("POST", "/users", body={"displayName": name, "language": language})
    return jsonify(_resident_json(user)), 201


@bp.post("/api/residents/<user_id>/follow")
def follow(user_id: str) -> Response:
    """The resident adds the account as a friend (an unblock if they had blocked it)."""
    user_id = _resident_id(user_id)
    chats = transcripts()
    unblocked = chats.is_blocked(user_id)
    after = _delivery_count(user_id)
    answer = _platform(
        "POST",
        f"/users/{user_id}/follow",
        body={"isUnblocked": unblocked},
        timeout=ACTION_TIMEOUT,
    )
    chats.set_blocked(user_id, False)
    chats.add(user_id, after, {"from": "system", "kind": "unblock" if unblocked else "follow"})
    return _bot_answer(answer)


@bp.post("/api/residents/<user_id>/unfollow")
def unfollow(user_id: str) -> Response:
    """The resident blocks the account."""
    user_id = _resident_id(user_id)
    chats = transcripts()
    after = _delivery_count(user_id)
    answer = _platform("POST", f"/users/{user_id}/unfollow", body={}, timeout=ACTION_TIMEOUT)
    chats.set_blocked(user_id, True)
    chats.add(user_id, after, {"from": "system", "kind": "block"})
    return _bot_answer(answer)


@bp.post("/api/residents/<user_id>/text")
def send_text(user_id: str) -> Response:
    """The resident sends ``{text}`` (at most 5,000 characters)."""
    user_id = _resident_id(user_id)
    text = _string(_body(), "text", MAX_TEXT)
    after = _delivery_count(user_id)
    answer = _platform(
        "POST", f"/users/{user_id}/text", body={"text": text}, timeout=ACTION_TIMEOUT
    )
    transcripts().add(user_id, after, {"from": "resident", "kind": "text", "text": text})
    return _bot_answer(answer)


@bp.post("/api/residents/<user_id>/postback")
def send_postback(user_id: str) -> Response:
    """The resident taps a postback: ``{data, params?, displayText?}``.

    ``displayText`` is what LINE writes in the chat as the resident's message; it is not
    sent to the bot (LINE does not send it either).
    """
    user_id = _resident_id(user_id)
    body = _body()
    data = _string(body, "data", MAX_DATA)
    display_text = _string(body, "displayText", MAX_DISPLAY_TEXT, required=False)
    params = _picker_params(body)
    after = _delivery_count(user_id)
    answer = _platform(
        "POST",
        f"/users/{user_id}/postback",
        body={"data": data, "params": params},
        timeout=ACTION_TIMEOUT,
    )
    item: dict[str, Any] = {"from": "resident", "kind": "postback", "data": data}
    if display_text is not None:
        item["displayText"] = display_text
    if params is not None:
        item["params"] = params
    transcripts().add(user_id, after, item)
    return _bot_answer(answer)


def _photo(body: dict[str, Any]) -> tuple[str, bytes]:
    """The photo in ``{contentType, data}`` (Base64): its type and bytes, checked."""
    content_type = body.get("contentType")
    if content_type not in PHOTO_FORMATS:
        raise ChatError(400, "contentType must be image/jpeg or image/png.")
    try:
        data = base64.b64decode(str(body.get("data", "")), validate=True)
    except binascii.Error as error:
        raise ChatError(400, "data must be the photo in Base64.") from error
    if not data or len(data) > MAX_PHOTO_BYTES:
        raise ChatError(400, f"A photo is 1 byte to {MAX_PHOTO_BYTES:,} bytes.")
    try:
        with Image.open(io.BytesIO(data), formats=[PHOTO_FORMATS[content_type]]) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise ChatError(400, f"data is not a {content_type} image.") from error
    return content_type, data


@bp.post("/api/residents/<user_id>/image")
def send_image(user_id: str) -> Response:
    """The resident sends a photo (camera or photo library): ``{contentType, data}``.

    The bot receives an image message whose content the fake platform serves.
    """
    user_id = _resident_id(user_id)
    if (request.content_length or 0) > MAX_PHOTO_BYTES * 4 // 3 + 1024:
        raise ChatError(413, f"A photo is at most {MAX_PHOTO_BYTES:,} bytes.")
    content_type, data = _photo(_body())
    after = _delivery_count(user_id)
    media = {"type": "image", "contentType": content_type, "data": base64.b64encode(data).decode()}
    answer = _platform("POST", f"/users/{user_id}/media", body=media, timeout=ACTION_TIMEOUT)
    transcripts().add(user_id, after, {"from": "resident", "kind": "image"})
    return _bot_answer(answer)


@bp.get("/api/residents/<user_id>/chat")
def chat(user_id: str) -> Response:
    """The resident's chat, oldest first: bot messages and the resident's own actions."""
    user_id = _resident_id(user_id)
    deliveries = _platform("GET", f"/users/{user_id}/deliveries").get("deliveries", [])
    messages = [
        (index, message)
        for index, delivery in enumerate(deliveries)
        for message in delivery.get("messages", [])
    ]
    return jsonify(items=transcripts().merged(user_id, messages))


@bp.get("/api/residents/<user_id>/richmenu")
def rich_menu(user_id: str) -> Response:
    """The rich menu the resident sees (linked, else default), with this API's image URL."""
    user_id = _resident_id(user_id)
    found = _platform("GET", f"/users/{user_id}/richmenu")
    menu = found.get("richMenu")
    image_url = None
    if menu and found.get("imageUrl"):
        image_url = url_for(".rich_menu_image", rich_menu_id=menu["richMenuId"])
    return jsonify(richMenu=menu, imageUrl=image_url)


@bp.get("/api/richmenu/<rich_menu_id>/image")
def rich_menu_image(rich_menu_id: str) -> Response:
    """Relays a rich menu image from the platform (PNG or JPEG)."""
    if not _RICH_MENU_ID.match(rich_menu_id):
        raise ChatError(400, "Invalid rich menu id.")
    url = f"{current_app.config['LINE_API_BASE_URL']}/_simulator/richmenu/{rich_menu_id}/image"
    try:
        with requests.get(url, timeout=READ_TIMEOUT, stream=True) as answer:
            kind = answer.headers.get("Content-Type", "").split(";")[0].strip()
            if answer.status_code != 200 or kind not in _IMAGE_TYPES:
                raise ChatError(502, f"The fake LINE platform answered HTTP {answer.status_code}.")
            image = answer.raw.read(MAX_IMAGE_BYTES + 1, decode_content=True)
    except requests.RequestException as error:
        raise ChatError(502, f"The fake LINE platform did not answer ({error}).") from error
    if len(image) > MAX_IMAGE_BYTES:
        raise ChatError(502, "The rich menu image is too large.")
    response = Response(image, mimetype=kind)
    response.headers["Cache-Control"] = "private, max-age=3600"  # menu images never change
    return response
