"""The fake LINE Messaging API as a small Flask app, plus the simulator's control API.

This module owns the HTTP contract: LINE's paths, methods, status codes and error bodies for
the endpoints the bot calls (bodies are validated by :mod:`simulator.validation`), and one
wrapper that every Messaging API call goes through (body size, bearer token, rate limit,
injected faults, retry key, ``x-line-request-id``, request log). The JSON control API
under ``/_simulator/`` drives simulated residents for tests and the chat page; it needs no
token, answers local tools only (never a web page: :func:`_refuse_browsers_elsewhere`) and
shares no path with the Messaging API. State lives in
:class:`simulator.state.PlatformState`.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import re
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from simulator.events import external_provider
from simulator.state import (
    RATE_LIMITED,
    RETRY_KEY_ENDPOINTS,
    Delivery,
    Fault,
    PlatformError,
    PlatformState,
    SimUser,
)
from simulator.validation import check_rich_menu_image, validate_request
from simulator.webhooks import WebhookSender, check_media

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_RICH_MENU_IMAGE_BYTES = 1024 * 1024
RICH_MENU_IMAGE_TYPES = frozenset({"image/png", "image/jpeg"})
#: Largest media a simulated resident may send through the control API, and its JSON body.
MAX_MEDIA_BYTES = 10 * 1024 * 1024
MAX_MEDIA_BODY_BYTES = MAX_MEDIA_BYTES * 4 // 3 + 64 * 1024
#: Bytes per chunk of content served without Content-Length.
_STREAM_PIECE = 64 * 1024

_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_USER_ID = re.compile(r"^U[0-9a-f]{32}$")
_CHAT_ID = re.compile(r"^[UCR][0-9a-f]{32}$")

# The Messaging API ----------------------------------------------------------------------------


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    # ASCII escapes, as LINE's own JSON may carry them: a lone surrogate in a display name
    # is valid JSON (``\ud800``) but no UTF-8 text.
    text = json.dumps(body, ensure_ascii=True)
    return Response(text, status, headers=dict(headers or {}), mimetype="application/json")


class _DropConnection(Exception):
    """An injected ``status=0`` fault: close the connection without an answer."""


@dataclass(frozen=True)
class _Call:
    """One Messaging API request being served."""

    endpoint: str
    request_id: str
    retry_key: str | None

    def body(self) -> dict[str, Any]:
        """Returns the JSON body, validated for this endpoint."""
        try:
            body = json.loads(request.get_data())
        except ValueError as error:
            raise PlatformError(400, "The request body could not be parsed as JSON") from error
        return validate_request(self.endpoint, body)


Handler = Callable[..., Response]


class _MessagingApi:
    """Handlers for the Messaging API endpoints, and the wrapper every call goes through."""

    def __init__(self, state: PlatformState) -> None:
        self.state = state

    def view(self, endpoint: str, handler: Handler) -> Callable[..., Response]:
        """Returns the Flask view serving ``handler`` as the named endpoint."""

        def serve(**path_params: str) -> Response:
            call = _Call(endpoint, str(uuid.uuid4()), request.headers.get("X-Line-Retry-Key"))
            dropped = False
            try:
                response = self._run(call, handler, path_params)
            except PlatformError as error:
                response = _json(error.status, error.body, error.headers)
            except _DropConnection:
                response, dropped = _drop_connection(), True
            response.headers["x-line-request-id"] = call.request_id
            self.state.record_request(
                method=request.method,
                path=request.path,
                status=0 if dropped else response.status_code,
                endpoint=endpoint,
                retry_key=call.retry_key,
                request_id=call.request_id,
            )
            return response

        return serve

    def _run(self, call: _Call, handler: Handler, path_params: dict[str, str]) -> Response:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            _discard_body()
            raise PlatformError(413, "Request Entity Too Large")
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, f"Bearer {self.state.channel_access_token}".encode()):
            raise PlatformError(
                401,
                "Authentication failed. Confirm that the access token in the authorization "
                "header is valid.",
            )
        if not self.state.take_token(call.endpoint):
            raise PlatformError(429, RATE_LIMITED)
        fault = self.state.take_fault(call.endpoint)
        if fault is not None and not fault.after_delivery:
            _answer_fault(fault)
        if call.retry_key is not None:
            if call.endpoint not in RETRY_KEY_ENDPOINTS:
                raise PlatformError(400, "The X-Line-Retry-Key header is not allowed here")
            if not _UUID.match(call.retry_key):
                raise PlatformError(400, "The X-Line-Retry-Key header must be a UUID")
        response = handler(call, **path_params)
        if fault is not None:
            _answer_fault(fault)
        return response

    # Sending messages

    def reply(self, call: _Call) -> Response:
        """Delivers the messages to the chat that received the reply token."""
        body = call.body()
        sent = self.state.reply(body["replyToken"], body["messages"], request_id=call.request_id)
        return _json(200, {"sentMessages": sent})

    def push(self, call: _Call) -> Response:
        """Delivers the messages to one user, group or room."""
        body = call.body()
        sent = self._send(call, [body["to"]], body["messages"])
        return _json(200, {"sentMessages": sent})

    def multicast(self, call: _Call) -> Response:
        """Delivers the messages to up to 500 users."""
        body = call.body()
        self._send(call, body["to"], body["messages"])
        return _json(200, {})

    def broadcast(self, call: _Call) -> Response:
        """Delivers the messages to every friend."""
        self._send(call, None, call.body()["messages"])
        return _json(200, {})

    def narrowcast(self, call: _Call) -> Response:
        """Delivers the messages to every friend (audiences and filters are not modelled)."""
        self._send(call, None, call.body()["messages"])
        return _json(202, {})

    def _send(
        self, call: _Call, to: list[str] | None, messages: list[dict[str, Any]]
    ) -> list[dict[str, str]]:
        return self.state.send(
            call.endpoint, to, messages, request_id=call.request_id, retry_key=call.retry_key
        )

    # Users, loading animation and content

    def profile(self, call: _Call, user_id: str) -> Response:
        """Answers a friend's profile; 404 for anyone else."""
        user = self.state.get_user(user_id)
        if user is None or not user.is_friend:
            raise PlatformError(404, "Not found")
        profile = {"displayName": user.display_name, "userId": user.user_id}
        if user.language is not None:
            profile["language"] = user.language
        if user.picture_url is not None:
            profile["pictureUrl"] = user.picture_url
        return _json(200, profile)

    def loading(self, call: _Call) -> Response:
        """Shows the loading animation to a user."""
        body = call.body()
        self.state.record_loading(body["chatId"], body.get("loadingSeconds", 20))
        return _json(202, {})

    def content(self, call: _Call, message_id: str) -> Response:
        """Serves media a user sent, with its type; 404 when unknown, external or expired."""
        stored = _found(self.state.content(message_id))
        if not stored.streamed:
            return Response(stored.data, 200, content_type=stored.content_type)
        data = stored.data
        pieces = (data[i : i + _STREAM_PIECE] for i in range(0, len(data), _STREAM_PIECE))
        # A generator has no length: werkzeug answers with chunked transfer encoding.
        return Response(pieces, 200, content_type=stored.content_type)

    # Rich menus

    def create_rich_menu(self, call: _Call) -> Response:
        """Stores a new rich menu and answers its ID."""
        return _json(200, {"richMenuId": self.state.create_rich_menu(call.body())})

    def rich_menu_list(self, call: _Call) -> Response:
        """Lists all rich menus."""
        return _json(200, {"richmenus": self.state.rich_menus()})

    def get_rich_menu(self, call: _Call, rich_menu_id: str) -> Response:
        """Answers one rich menu."""
        return _json(200, _found(self.state.rich_menu(rich_menu_id)))

    def delete_rich_menu(self, call: _Call, rich_menu_id: str) -> Response:
        """Deletes a rich menu."""
        self.state.delete_rich_menu(rich_menu_id)
        return _json(200, {})

    def upload_rich_menu_image(self, call: _Call, rich_menu_id: str) -> Response:
        """Attaches the image (PNG or JPEG, at most 1 MB, LINE's sizes) to a rich menu."""
        data = request.get_data()
        check_rich_menu_image(data, request.mimetype)
        self.state.set_rich_menu_image(rich_menu_id, data, request.mimetype)
        return _json(200, {})

    def download_rich_menu_image(self, call: _Call, rich_menu_id: str) -> Response:
        """Serves a rich menu's image."""
        return _blob(self.state.rich_menu_image(rich_menu_id))

    def set_default_rich_menu(self, call: _Call, rich_menu_id: str) -> Response:
        """Makes a rich menu (with an image) everyone's default."""
        self.state.set_default_rich_menu(rich_menu_id)
        return _json(200, {})

    def get_default_rich_menu(self, call: _Call) -> Response:
        """Answers the default rich menu's ID; 404 if there is none."""
        return _id_or_404(self.state.default_rich_menu_id())

    def cancel_default_rich_menu(self, call: _Call) -> Response:
        """Removes the default rich menu."""
        self.state.set_default_rich_menu(None)
        return _json(200, {})

    def link_rich_menu(self, call: _Call, user_id: str, rich_menu_id: str) -> Response:
        """Shows a rich menu to one friend instead of the default."""
        self.state.link_rich_menu(user_id, rich_menu_id)
        return _json(200, {})

    def unlink_rich_menu(self, call: _Call, user_id: str) -> Response:
        """Returns a user to the default rich menu."""
        self.state.link_rich_menu(user_id, None)
        return _json(200, {})

    def user_rich_menu(self, call: _Call, user_id: str) -> Response:
        """Answers the rich menu linked to a user; 404 if none."""
        user = self.state.get_user(user_id)
        return _id_or_404(user.linked_rich_menu_id if user else None)

    def create_alias(self, call: _Call) -> Response:
        """Creates a rich menu alias."""
        body = call.body()
        self.state.set_rich_menu_alias(body["richMenuAliasId"], body["richMenuId"], create=True)
        return _json(200, {})

    def update_alias(self, call: _Call, alias_id: str) -> Response:
        """Points an existing alias at another rich menu."""
        self.state.set_rich_menu_alias(alias_id, call.body()["richMenuId"], create=False)
        return _json(200, {})

    def get_alias(self, call: _Call, alias_id: str) -> Response:
        """Answers one alias; 404 if unknown."""
        rich_menu_id = _found(self.state.rich_menu_aliases().get(alias_id))
        return _json(200, {"richMenuAliasId": alias_id, "richMenuId": rich_menu_id})

    def alias_list(self, call: _Call) -> Response:
        """Lists all aliases."""
        aliases = self.state.rich_menu_aliases().items()
        return _json(
            200, {"aliases": [{"richMenuAliasId": a, "richMenuId": m} for a, m in aliases]}
        )

    def delete_alias(self, call: _Call, alias_id: str) -> Response:
        """Deletes an alias."""
        self.state.delete_rich_menu_alias(alias_id)
        return _json(200, {})


def _answer_fault(fault: Fault) -> None:
    """Waits the fault's delay, then fails the call as the injected fault says."""
    time.sleep(fault.delay)
    if fault.status == 0:
        raise _DropConnection
    message = RATE_LIMITED if fault.status == 429 else HTTPStatus(fault.status).phrase
    raise PlatformError(fault.status, message, body=fault.body)


def _drop_connection() -> Response:
    """Closes the client's connection; the response returned is never seen by it."""
    connection = request.environ.get("werkzeug.socket")
    if connection is not None:
        # Writing the response then fails, which werkzeug treats as a dropped connection.
        connection.shutdown(socket.SHUT_RDWR)
    return Response(status=503)


def _discard_body() -> None:
    """Reads an over-sized body away so the client can read the 413 instead of a reset."""
    stream, remaining = request.environ["wsgi.input"], request.content_length or 0
    while remaining > 0:
        chunk = stream.read(min(remaining, 65536))
        if not chunk:
            break
        remaining -= len(chunk)


def _found(value: _T | None) -> _T:
    """Returns ``value``; None means LINE's 404."""
    if value is None:
        raise PlatformError(404, "Not found")
    return value


def _blob(found: tuple[bytes, str] | None) -> Response:
    data, content_type = _found(found)
    return Response(data, 200, content_type=content_type)


def _id_or_404(rich_menu_id: str | None) -> Response:
    return _json(200, {"richMenuId": _found(rich_menu_id)})


def _routes(api: _MessagingApi) -> list[tuple[str, str, str, Handler]]:
    """Returns (HTTP method, path, endpoint name, handler) for every Messaging API endpoint."""
    return [
        ("POST", "/v2/bot/message/reply", "reply", api.reply),
        ("POST", "/v2/bot/message/push", "push", api.push),
        ("POST", "/v2/bot/message/multicast", "multicast", api.multicast),
        ("POST", "/v2/bot/message/broadcast", "broadcast", api.broadcast),
        ("POST", "/v2/bot/message/narrowcast", "narrowcast", api.narrowcast),
        ("GET", "/v2/bot/profile/<user_id>", "profile", api.profile),
        ("POST", "/v2/bot/chat/loading/start", "loading", api.loading),
        ("GET", "/v2/bot/message/<message_id>/content", "content", api.content),
        ("POST", "/v2/bot/richmenu", "richmenu.create", api.create_rich_menu),
        ("GET", "/v2/bot/richmenu/list", "richmenu.list", api.rich_menu_list),
        ("GET", "/v2/bot/richmenu/<rich_menu_id>", "richmenu.get", api.get_rich_menu),
        ("DELETE", "/v2/bot/richmenu/<rich_menu_id>", "richmenu.delete", api.delete_rich_menu),
        (
            "POST",
            "/v2/bot/richmenu/<rich_menu_id>/content",
            "richmenu.upload",
            api.upload_rich_menu_image,
        ),
        (
            "GET",
            "/v2/bot/richmenu/<rich_menu_id>/content",
            "richmenu.download",
            api.download_rich_menu_image,
        ),
        (
            "POST",
            "/v2/bot/user/all/richmenu/<rich_menu_id>",
            "richmenu.default",
            api.set_default_rich_menu,
        ),
        ("GET", "/v2/bot/user/all/richmenu", "richmenu.default.get", api.get_default_rich_menu),
        (
            "DELETE",
            "/v2/bot/user/all/richmenu",
            "richmenu.default.cancel",
            api.cancel_default_rich_menu,
        ),
        (
            "POST",
            "/v2/bot/user/<user_id>/richmenu/<rich_menu_id>",
            "richmenu.link",
            api.link_rich_menu,
        ),
        ("DELETE", "/v2/bot/user/<user_id>/richmenu", "richmenu.unlink", api.unlink_rich_menu),
        ("GET", "/v2/bot/user/<user_id>/richmenu", "richmenu.user", api.user_rich_menu),
        ("POST", "/v2/bot/richmenu/alias", "richmenu.alias", api.create_alias),
        ("GET", "/v2/bot/richmenu/alias/list", "richmenu.alias.list", api.alias_list),
        ("GET", "/v2/bot/richmenu/alias/<alias_id>", "richmenu.alias.get", api.get_alias),
        ("POST", "/v2/bot/richmenu/alias/<alias_id>", "richmenu.alias.update", api.update_alias),
        (
            "DELETE",
            "/v2/bot/richmenu/alias/<alias_id>",
            "richmenu.alias.delete",
            api.delete_alias,
        ),
    ]


# The control API ------------------------------------------------------------------------------


#: Control API JSON field -> ``PlatformState.add_user`` argument.
_USER_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "displayName": "display_name",
        "language": "language",
        "userId": "user_id",
        "pictureUrl": "picture_url",
    }
)


def _user_json(user: SimUser) -> dict[str, Any]:
    return {
        "userId": user.user_id,
        "displayName": user.display_name,
        "language": user.language,
        "pictureUrl": user.picture_url,
        "isFriend": user.is_friend,
        "linkedRichMenuId": user.linked_rich_menu_id,
    }


def _delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "method": delivery.method,
        "messages": delivery.messages,
        "requestId": delivery.request_id,
        "retryKey": delivery.retry_key,
        "at": delivery.at,
    }


def _control_body() -> dict[str, Any]:
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise PlatformError(400, "The request body must be a JSON object")
    return body


def _media_json(body: dict[str, Any]) -> dict[str, Any]:
    """The control API's media JSON as :meth:`WebhookSender.media` arguments, checked.

    :raises ValueError: bad Base64, oversized or inconsistent media.
    """
    external = body.get("external")
    provider = None
    if external is not None:
        if not isinstance(external, dict):
            raise ValueError("external must be an object")
        preview = external.get("previewImageUrl")
        provider = external_provider(
            str(external["originalContentUrl"]), None if preview is None else str(preview)
        )
    media: dict[str, Any] = {
        "kind": str(body.get("type")),
        "data": base64.b64decode(str(body.get("data", "")), validate=True),
        "content_type": str(body.get("contentType", "")),
        "duration_ms": body.get("durationMs"),
        "file_name": body.get("fileName"),
        "external": provider,
    }
    if len(media["data"]) > MAX_MEDIA_BYTES:
        raise ValueError(f"media is at most {MAX_MEDIA_BYTES:,} bytes here")
    check_media(**media)
    return {**media, "streamed": bool(body.get("streamed", False))}


def _refuse_browsers_elsewhere(hosts: frozenset[str]) -> None:
    """Refuse a control call that a web page could have made (the API has no token, and a
    developer's browser can reach their ``make run``).

    A page on another site can send a "simple" cross-site POST (``text/plain``, a form, an
    empty ``fetch``) without asking first, and a rebinding DNS name can make the browser see
    the platform as the page's own site. So: every POST must be JSON (cross-site JSON needs
    a CORS preflight this API never grants); a browser's ``Sec-Fetch-Site`` must say the
    call came from the platform itself or from no page at all; an ``Origin`` must be the
    platform's own; and the ``Host`` must be a loopback name (or the host it was started
    on). Tests, the bot and the chat page's server-side proxy send none of those headers.

    :raises PlatformError: 403 for a foreign call, 415 for a POST that is not JSON.
    """
    host = urlsplit(f"//{request.host}").hostname or ""
    if host not in hosts:
        raise PlatformError(403, "The control API answers local calls only")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        raise PlatformError(403, "The control API refuses calls from web pages")
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise PlatformError(403, "The control API refuses calls from other origins")
    if request.method == "POST" and request.mimetype != "application/json":
        raise PlatformError(415, "The control API takes JSON (Content-Type: application/json)")


def _control_blueprint(
    state: PlatformState, webhook: WebhookSender | None, hosts: frozenset[str]
) -> Blueprint:
    """Returns the JSON API that plays residents and inspects the platform."""
    control = Blueprint("simulator", __name__, url_prefix="/_simulator")

    @control.errorhandler(PlatformError)
    def refused(error: PlatformError) -> Response:
        return _json(error.status, error.body, error.headers)

    control.before_request(lambda: _refuse_browsers_elsewhere(hosts))

    def known_user(user_id: str) -> SimUser:
        return _found(state.get_user(user_id))

    def to_bot(user_id: str, send: Callable[[WebhookSender], int]) -> Response:
        known_user(user_id)
        if webhook is None:
            raise PlatformError(503, "No webhook URL is configured")
        try:
            status = send(webhook)
        except requests.RequestException as error:
            logger.warning("webhook to the bot failed: %s", error)
            raise PlatformError(502, f"The bot did not answer: {error}") from error
        return _json(200, {"webhookStatus": status})

    def menu_json(rich_menu_id: str | None) -> dict[str, Any]:
        menu = state.rich_menu(rich_menu_id) if rich_menu_id else None
        image = menu is not None and state.rich_menu_image(menu["richMenuId"]) is not None
        return {
            "richMenu": menu,
            "imageUrl": f"{control.url_prefix}/richmenu/{rich_menu_id}/image" if image else None,
        }

    @control.get("/users")
    def list_users() -> Response:
        """Lists the simulated residents."""
        return _json(200, {"users": [_user_json(user) for user in state.users()]})

    @control.post("/users")
    def create_user() -> Response:
        """Creates a resident from ``{displayName?, language?, userId?, pictureUrl?}``."""
        body = _control_body()
        try:
            user = state.add_user(
                **{_USER_FIELDS[key]: value for key, value in body.items() if key in _USER_FIELDS}
            )
        except ValueError as error:
            raise PlatformError(409, str(error)) from error
        return _json(201, _user_json(user))

    @control.post("/users/<user_id>/follow")
    def follow(user_id: str) -> Response:
        """The resident adds the account as a friend (``{isUnblocked?}``)."""
        unblocked = bool(_control_body().get("isUnblocked", False))
        return to_bot(user_id, lambda sender: sender.follow(user_id, is_unblocked=unblocked))

    @control.post("/users/<user_id>/unfollow")
    def unfollow(user_id: str) -> Response:
        """The resident blocks the account."""
        return to_bot(user_id, lambda sender: sender.unfollow(user_id))

    @control.post("/users/<user_id>/text")
    def text(user_id: str) -> Response:
        """The resident sends ``{text}``."""
        message = _control_body().get("text")
        if not isinstance(message, str) or not message:
            raise PlatformError(400, "text is required")
        return to_bot(user_id, lambda sender: sender.text(user_id, message))

    @control.post("/users/<user_id>/postback")
    def postback(user_id: str) -> Response:
        """The resident taps a postback action: ``{data, params?}``."""
        body = _control_body()
        data, params = body.get("data"), body.get("params")
        if not isinstance(data, str) or not (params is None or isinstance(params, dict)):
            raise PlatformError(400, "data (a string) is required; params must be an object")
        return to_bot(user_id, lambda sender: sender.postback(user_id, data, params))

    @control.post("/users/<user_id>/media")
    def media(user_id: str) -> Response:
        """The resident sends media: ``{type, contentType, data (Base64), durationMs?,
        fileName?, external?: {originalContentUrl, previewImageUrl?}, streamed?}``."""
        if (request.content_length or 0) > MAX_MEDIA_BODY_BYTES:
            _discard_body()
            raise PlatformError(413, f"Media is at most {MAX_MEDIA_BYTES:,} bytes here")
        try:
            sent = _media_json(_control_body())
        except (ValueError, TypeError, KeyError) as error:
            raise PlatformError(400, f"Invalid media: {error}") from error
        return to_bot(user_id, lambda sender: sender.media(user_id, **sent))

    @control.get("/users/<user_id>/deliveries")
    def deliveries(user_id: str) -> Response:
        """Lists what the resident received, oldest first."""
        known_user(user_id)
        found = state.deliveries(user_id)
        return _json(200, {"deliveries": [_delivery_json(d) for d in found]})

    @control.get("/users/<user_id>/richmenu")
    def user_rich_menu(user_id: str) -> Response:
        """Answers the rich menu the resident sees (linked, else default)."""
        user = known_user(user_id)
        return _json(200, menu_json(user.linked_rich_menu_id or state.default_rich_menu_id()))

    @control.get("/richmenu/default")
    def default_rich_menu() -> Response:
        """Answers the default rich menu and its image URL (nulls when there is none)."""
        return _json(200, menu_json(state.default_rich_menu_id()))

    @control.get("/richmenu/<rich_menu_id>/image")
    def rich_menu_image(rich_menu_id: str) -> Response:
        """Serves a rich menu image without a token, for the chat page."""
        return _blob(state.rich_menu_image(rich_menu_id))

    @control.post("/faults")
    def inject_fault() -> Response:
        """Injects ``{endpoint, status?, times?, afterDelivery?, delay?, body?}``."""
        body = _control_body()
        try:
            state.inject_fault(
                str(body.get("endpoint")),
                status=int(body.get("status", 500)),
                times=int(body.get("times", 1)),
                after_delivery=bool(body.get("afterDelivery", False)),
                delay=float(body.get("delay", 0.0)),
                body=body.get("body"),
            )
        except (TypeError, ValueError) as error:
            raise PlatformError(400, str(error)) from error
        return _json(201, {})

    @control.post("/reset")
    def reset() -> Response:
        """Forgets everything but the configuration."""
        state.reset()
        return _json(200, {})

    return control


#: Host names the control API answers to (plus the one the platform was started on).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def create_platform_app(
    state: PlatformState,
    *,
    webhook: WebhookSender | None = None,
    hosts: frozenset[str] = LOOPBACK_HOSTS,
) -> Flask:
    """Returns the fake LINE platform as a Flask app (separate from the bot's app).

    :param state: what the platform remembers; shared with the tests.
    :param webhook: sends webhooks to the bot for the control API's resident actions.
    :param hosts: the host names the control API answers to.
    """
    app = Flask(__name__)
    api = _MessagingApi(state)
    for method, rule, endpoint, handler in _routes(api):
        app.add_url_rule(rule, endpoint, api.view(endpoint, handler), methods=[method])
    app.register_blueprint(_control_blueprint(state, webhook, hosts))

    @app.errorhandler(HTTPException)
    def not_routed(error: HTTPException) -> Response:
        """Answers unknown paths and methods with LINE-style JSON, logging API ones."""
        status = error.code or 500
        response = _json(status, {"message": "Not found" if status == 404 else error.name})
        if request.path.startswith("/v2/"):
            request_id = str(uuid.uuid4())
            response.headers["x-line-request-id"] = request_id
            state.record_request(
                method=request.method,
                path=request.path,
                status=status,
                endpoint="unknown",
                retry_key=request.headers.get("X-Line-Retry-Key"),
                request_id=request_id,
            )
        return response

    return app
