"""In-memory state of the simulated LINE Platform.

Owns everything the fake platform remembers: simulated residents (LINE users) and their
friendship, reply tokens, every message delivered, the log of API calls, injected faults,
per-endpoint token buckets, accepted retry keys, rich menus (images, default, aliases, links),
loading-animation calls and user-sent content (kept for ``CONTENT_TTL``, then gone as on
LINE). One lock guards it all, so every public method
is thread-safe. Refusals the LINE Platform would answer are raised as :class:`PlatformError`
carrying LINE's status code and error body.
"""

from __future__ import annotations

import copy
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from simulator.events import new_message_id, new_quote_token, new_reply_token, new_user_id

logger = logging.getLogger(__name__)

_HOUR = 3600.0

#: Stable endpoint names (used by faults, rate limits and the request log), each with LINE's
#: published per-channel rate limit as (requests, per seconds). The default bucket capacity
#: (burst) is the ``requests`` figure: one second's worth, or the hourly amount.
ENDPOINT_LIMITS: Mapping[str, tuple[int, float]] = MappingProxyType(
    {
        "reply": (2000, 1.0),
        "push": (2000, 1.0),
        "multicast": (200, 1.0),
        "broadcast": (60, _HOUR),
        "narrowcast": (60, _HOUR),
        "profile": (2000, 1.0),
        "loading": (100, 1.0),
        "content": (2000, 1.0),
        "richmenu.create": (100, _HOUR),
        "richmenu.get": (2000, 1.0),
        "richmenu.list": (10, 1.0),
        "richmenu.delete": (100, _HOUR),
        "richmenu.upload": (2000, 1.0),
        "richmenu.download": (2000, 1.0),
        "richmenu.default": (2000, 1.0),
        "richmenu.default.get": (2000, 1.0),
        "richmenu.default.cancel": (2000, 1.0),
        "richmenu.link": (2000, 1.0),
        "richmenu.unlink": (2000, 1.0),
        "richmenu.user": (2000, 1.0),
        "richmenu.alias": (2000, 1.0),
        "richmenu.alias.update": (2000, 1.0),
        "richmenu.alias.get": (2000, 1.0),
        "richmenu.alias.list": (2000, 1.0),
        "richmenu.alias.delete": (100, _HOUR),
    }
)

#: The only endpoints that accept ``X-Line-Retry-Key``.
RETRY_KEY_ENDPOINTS = frozenset({"push", "multicast", "narrowcast", "broadcast"})

REPLY_TOKEN_TTL = 60.0
#: A redelivered event's reply token never works later than this after the event.
REDELIVERED_TOKEN_LIMIT = 20 * 60.0
RETRY_KEY_TTL = 24 * _HOUR
#: How long user-sent content can be downloaded. LINE deletes it "after a certain period"
#: with no promise of how long; an hour here makes a bot that fetches late fail visibly.
CONTENT_TTL = _HOUR

#: Message types that come back with a ``quoteToken`` in ``sentMessages``.
_QUOTABLE_TYPES = frozenset({"text", "textV2", "sticker", "image", "video"})

RATE_LIMITED = "The API rate limit has been exceeded. Try again later."


class PlatformError(Exception):
    """A refusal by the platform: an HTTP status with LINE's JSON error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})
        self.body = body if body is not None else {"message": message, **fields}


@dataclass
class SimUser:
    """A simulated resident: a LINE user who may or may not be a friend of the account."""

    user_id: str
    display_name: str
    language: str | None
    picture_url: str | None
    is_friend: bool = False
    linked_rich_menu_id: str | None = None


@dataclass(frozen=True)
class Delivery:
    """One request's messages as they reached one user (or group or room)."""

    user_id: str
    method: str
    messages: list[dict[str, Any]]
    request_id: str
    retry_key: str | None
    at: float


@dataclass(frozen=True)
class ApiRequest:
    """One Messaging API call the platform received, with the status it answered."""

    method: str
    path: str
    status: int
    endpoint: str
    retry_key: str | None
    at: float
    request_id: str


@dataclass(frozen=True)
class Fault:
    """An injected failure for the next ``times`` calls of one endpoint."""

    status: int
    times: int
    after_delivery: bool
    delay: float
    body: dict[str, Any] | None


@dataclass(frozen=True)
class StoredContent:
    """Media a user sent, as ``GET /v2/bot/message/{id}/content`` serves it."""

    data: bytes
    content_type: str
    #: Served in chunks without ``Content-Length``, as a streaming server may answer.
    streamed: bool
    stored_at: float


@dataclass
class _Bucket:
    rate: float
    capacity: float
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        """Spends one token if there is one, after refilling for the time elapsed."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class _ReplyToken:
    chat_id: str
    issued_at: float
    expires_at: float
    used: bool = False


@dataclass(frozen=True)
class _AcceptedKey:
    request_id: str
    sent_messages: list[dict[str, str]]
    at: float


@dataclass
class _Data:
    """Everything :meth:`PlatformState.reset` forgets."""

    users: dict[str, SimUser] = field(default_factory=dict)
    reply_tokens: dict[str, _ReplyToken] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    requests: list[ApiRequest] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    buckets: dict[str, _Bucket] = field(default_factory=dict)
    retry_keys: dict[str, _AcceptedKey] = field(default_factory=dict)
    rich_menus: dict[str, dict[str, Any]] = field(default_factory=dict)
    rich_menu_images: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    default_rich_menu_id: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    loading_calls: list[tuple[str, int]] = field(default_factory=list)
    contents: dict[str, StoredContent] = field(default_factory=dict)


def _check_endpoint(endpoint: str) -> None:
    if endpoint not in ENDPOINT_LIMITS:
        raise ValueError(f"unknown endpoint name {endpoint!r}; see ENDPOINT_LIMITS")


class PlatformState:
    """The memory of one simulated LINE channel; safe to share between threads."""

    def __init__(
        self, *, channel_access_token: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.channel_access_token = channel_access_token
        self._clock = clock
        self._lock = threading.Lock()
        self._data = _Data()

    def reset(self) -> None:
        """Forgets users, messages, faults, rate-limit overrides and rich menus."""
        with self._lock:
            self._data = _Data()

    # Users ------------------------------------------------------------------------------------

    def add_user(
        self,
        display_name: str = "テスト住民",
        language: str | None = "ja",
        user_id: str | None = None,
        picture_url: str | None = None,
        *,
        is_friend: bool = False,
    ) -> SimUser:
        """Creates a simulated resident (not yet a friend unless ``is_friend``)."""
        user = SimUser(user_id or new_user_id(), display_name, language, picture_url, is_friend)
        with self._lock:
            if user.user_id in self._data.users:
                raise ValueError(f"user {user.user_id} already exists")
            self._data.users[user.user_id] = user
            return replace(user)

    def get_user(self, user_id: str) -> SimUser | None:
        """Returns a snapshot of the resident, or None."""
        with self._lock:
            user = self._data.users.get(user_id)
            return replace(user) if user else None

    def users(self) -> list[SimUser]:
        """Returns snapshots of all residents, in creation order."""
        with self._lock:
            return [replace(user) for user in self._data.users.values()]

    def set_friend(self, user_id: str, is_friend: bool) -> None:
        """Records that the resident followed (True) or blocked (False) the account."""
        with self._lock:
            self._data.users[user_id].is_friend = is_friend

    # Reply tokens -----------------------------------------------------------------------------

    def issue_reply_token(self, user_id: str) -> str:
        """Returns a new single-use reply token for a chat, valid for 60 seconds."""
        token = new_reply_token()
        with self._lock:
            now = self._clock()
            self._data.reply_tokens[token] = _ReplyToken(user_id, now, now + REPLY_TOKEN_TTL)
        return token

    def renew_reply_token(self, token: str) -> None:
        """Makes an unused token valid 60 s more (redelivery), capped at 20 min after issue."""
        with self._lock:
            entry = self._data.reply_tokens.get(token)
            if entry is not None and not entry.used:
                limit = entry.issued_at + REDELIVERED_TOKEN_LIMIT
                entry.expires_at = min(self._clock() + REPLY_TOKEN_TTL, limit)

    # Sending ----------------------------------------------------------------------------------

    def reply(
        self, reply_token: str, messages: list[dict[str, Any]], *, request_id: str
    ) -> list[dict[str, str]]:
        """Spends the reply token and delivers; returns ``sentMessages``."""
        with self._lock:
            now = self._clock()
            entry = self._data.reply_tokens.get(reply_token)
            if entry is None or entry.used or now >= entry.expires_at:
                raise PlatformError(400, "Invalid reply token")
            entry.used = True
            return self._deliver("reply", [entry.chat_id], messages, request_id, None, now)

    def send(
        self,
        method: str,
        to: list[str] | None,
        messages: list[dict[str, Any]],
        *,
        request_id: str,
        retry_key: str | None = None,
    ) -> list[dict[str, str]]:
        """Delivers to ``to`` (None: every friend), honouring the retry key; returns sentMessages.

        Users who are not friends silently receive nothing, as on LINE.

        :raises PlatformError: 409 if the retry key was accepted in the last 24 hours.
        """
        with self._lock:
            now = self._clock()
            accepted = self._data.retry_keys.get(retry_key) if retry_key else None
            if accepted is not None and now - accepted.at < RETRY_KEY_TTL:
                extra: dict[str, Any] = {}
                if method == "push":
                    extra["sentMessages"] = accepted.sent_messages
                raise PlatformError(
                    409,
                    "The retry key is already accepted",
                    headers={"x-line-accepted-request-id": accepted.request_id},
                    **extra,
                )
            friends = [u.user_id for u in self._data.users.values() if u.is_friend]
            recipients = friends if to is None else [c for c in to if self._reachable(c)]
            sent = self._deliver(method, recipients, messages, request_id, retry_key, now)
            if retry_key:
                self._data.retry_keys[retry_key] = _AcceptedKey(request_id, sent, now)
            return sent

    def _reachable(self, chat_id: str) -> bool:
        if not chat_id.startswith("U"):
            return True  # groups and rooms: the simulator does not model their members
        user = self._data.users.get(chat_id)
        return user is not None and user.is_friend

    def _deliver(
        self,
        method: str,
        recipients: list[str],
        messages: list[dict[str, Any]],
        request_id: str,
        retry_key: str | None,
        now: float,
    ) -> list[dict[str, str]]:
        kept = copy.deepcopy(messages)
        for chat_id in recipients:
            self._data.deliveries.append(
                Delivery(chat_id, method, kept, request_id, retry_key, now)
            )
        logger.debug("%s %s delivered to %d chat(s)", method, request_id, len(recipients))
        return [
            {"id": new_message_id(), "quoteToken": new_quote_token()}
            if message.get("type") in _QUOTABLE_TYPES
            else {"id": new_message_id()}
            for message in messages
        ]

    def deliveries(self, user_id: str | None = None) -> list[Delivery]:
        """Returns the deliveries (to one chat, or all), oldest first."""
        with self._lock:
            return [d for d in self._data.deliveries if user_id is None or d.user_id == user_id]

    # Request log, faults and rate limits ------------------------------------------------------

    def record_request(
        self,
        *,
        method: str,
        path: str,
        status: int,
        endpoint: str,
        retry_key: str | None,
        request_id: str,
    ) -> None:
        """Appends one received API call to the request log."""
        with self._lock:
            self._data.requests.append(
                ApiRequest(method, path, status, endpoint, retry_key, self._clock(), request_id)
            )

    def requests(self) -> list[ApiRequest]:
        """Returns every API call received, oldest first, including refused ones."""
        with self._lock:
            return list(self._data.requests)

    def inject_fault(
        self,
        endpoint: str,
        *,
        status: int = 500,
        times: int = 1,
        after_delivery: bool = False,
        delay: float = 0.0,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Makes the next ``times`` calls of ``endpoint`` fail (after ``delay`` seconds).

        ``after_delivery`` performs the call first (messages delivered, retry key accepted)
        and then answers with the fault. ``status=0`` closes the connection without answering.
        """
        _check_endpoint(endpoint)
        if times < 1:
            raise ValueError("times must be at least 1")
        fault = Fault(status, times, after_delivery, delay, body)
        with self._lock:
            self._data.faults.setdefault(endpoint, []).append(fault)

    def take_fault(self, endpoint: str) -> Fault | None:
        """Consumes one use of the oldest pending fault for ``endpoint``, if any."""
        with self._lock:
            queue = self._data.faults.get(endpoint)
            if not queue:
                return None
            fault = queue[0]
            if fault.times == 1:
                queue.pop(0)
            else:
                queue[0] = replace(fault, times=fault.times - 1)
            return fault

    def set_rate_limit(self, endpoint: str, rate_per_second: float, burst: float) -> None:
        """Replaces the endpoint's token bucket with a full one of the given rate and size."""
        _check_endpoint(endpoint)
        with self._lock:
            self._data.buckets[endpoint] = _Bucket(rate_per_second, burst, burst, self._clock())

    def take_token(self, endpoint: str) -> bool:
        """Spends one request from the endpoint's bucket; False means answer 429."""
        with self._lock:
            now = self._clock()
            bucket = self._data.buckets.get(endpoint)
            if bucket is None:
                requests, per = ENDPOINT_LIMITS[endpoint]
                bucket = _Bucket(requests / per, requests, requests, now)
                self._data.buckets[endpoint] = bucket
            return bucket.take(now)

    # Rich menus -------------------------------------------------------------------------------

    def create_rich_menu(self, menu: dict[str, Any]) -> str:
        """Stores a (validated) rich menu object and returns its new ID."""
        rich_menu_id = "richmenu-" + secrets.token_hex(16)
        with self._lock:
            self._data.rich_menus[rich_menu_id] = {"richMenuId": rich_menu_id, **menu}
        return rich_menu_id

    def rich_menu(self, rich_menu_id: str) -> dict[str, Any] | None:
        """Returns the rich menu object (with ``richMenuId``), or None."""
        with self._lock:
            return copy.deepcopy(self._data.rich_menus.get(rich_menu_id))

    def rich_menus(self) -> list[dict[str, Any]]:
        """Returns all rich menu objects, in creation order."""
        with self._lock:
            return copy.deepcopy(list(self._data.rich_menus.values()))

    def delete_rich_menu(self, rich_menu_id: str) -> None:
        """Deletes a rich menu, its image, and its use as default or per-user menu."""
        with self._lock:
            self._require_menu(rich_menu_id)
            del self._data.rich_menus[rich_menu_id]
            self._data.rich_menu_images.pop(rich_menu_id, None)
            if self._data.default_rich_menu_id == rich_menu_id:
                self._data.default_rich_menu_id = None
            for user in self._data.users.values():
                if user.linked_rich_menu_id == rich_menu_id:
                    user.linked_rich_menu_id = None

    def set_rich_menu_image(self, rich_menu_id: str, data: bytes, content_type: str) -> None:
        """Attaches the (validated) image; LINE never lets an image be replaced."""
        with self._lock:
            self._require_menu(rich_menu_id)
            if rich_menu_id in self._data.rich_menu_images:
                raise PlatformError(400, "An image has already been uploaded to the richmenu")
            self._data.rich_menu_images[rich_menu_id] = (data, content_type)

    def rich_menu_image(self, rich_menu_id: str) -> tuple[bytes, str] | None:
        """Returns the menu's image bytes and content type, or None."""
        with self._lock:
            return self._data.rich_menu_images.get(rich_menu_id)

    def set_default_rich_menu(self, rich_menu_id: str | None) -> None:
        """Makes the menu everyone's default (None cancels the default)."""
        with self._lock:
            if rich_menu_id is not None:
                self._require_menu(rich_menu_id, with_image=True)
            self._data.default_rich_menu_id = rich_menu_id

    def default_rich_menu_id(self) -> str | None:
        """Returns the default rich menu's ID, or None."""
        with self._lock:
            return self._data.default_rich_menu_id

    def link_rich_menu(self, user_id: str, rich_menu_id: str | None) -> None:
        """Links a menu to one friend (None unlinks), overriding the default for them."""
        with self._lock:
            user = self._data.users.get(user_id)
            if rich_menu_id is None:
                if user is not None:
                    user.linked_rich_menu_id = None
                return
            self._require_menu(rich_menu_id, with_image=True)
            if user is None or not user.is_friend:
                raise PlatformError(
                    400, "The user hasn't added the LINE Official Account as a friend"
                )
            user.linked_rich_menu_id = rich_menu_id

    def set_rich_menu_alias(self, alias_id: str, rich_menu_id: str, *, create: bool) -> None:
        """Creates (``create``) or repoints an alias used by rich menu switch actions."""
        with self._lock:
            if create and alias_id in self._data.aliases:
                raise PlatformError(400, "conflict richmenu alias id")
            if not create and alias_id not in self._data.aliases:
                raise PlatformError(400, "richmenu alias not found")
            if rich_menu_id not in self._data.rich_menus:
                raise PlatformError(400, "richmenu not found")
            self._data.aliases[alias_id] = rich_menu_id

    def delete_rich_menu_alias(self, alias_id: str) -> None:
        """Deletes an alias."""
        with self._lock:
            if self._data.aliases.pop(alias_id, None) is None:
                raise PlatformError(400, "richmenu alias not found")

    def rich_menu_aliases(self) -> dict[str, str]:
        """Returns alias ID -> rich menu ID."""
        with self._lock:
            return dict(self._data.aliases)

    def _require_menu(self, rich_menu_id: str, *, with_image: bool = False) -> None:
        if rich_menu_id not in self._data.rich_menus:
            raise PlatformError(404, "Not found")
        if with_image and rich_menu_id not in self._data.rich_menu_images:
            raise PlatformError(400, "must upload richmenu image before applying it to user")

    # Loading animation and content ------------------------------------------------------------

    def record_loading(self, chat_id: str, seconds: int) -> None:
        """Records that the loading animation was shown to a user."""
        with self._lock:
            self._data.loading_calls.append((chat_id, seconds))

    def loading_calls(self) -> list[tuple[str, int]]:
        """Returns (user ID, seconds) for every loading animation shown, oldest first."""
        with self._lock:
            return list(self._data.loading_calls)

    def add_content(
        self, message_id: str, data: bytes, content_type: str, *, streamed: bool = False
    ) -> None:
        """Stores user-sent media, served by ``GET /v2/bot/message/{messageId}/content``.

        Content older than ``CONTENT_TTL`` is forgotten (and served as 404), as on LINE.
        """
        with self._lock:
            now = self._clock()
            self._forget_old_content(now)
            stored = StoredContent(data, content_type, streamed, now)
            self._data.contents[message_id] = stored

    def content(self, message_id: str) -> StoredContent | None:
        """Returns user-sent media, or None when unknown or expired."""
        with self._lock:
            self._forget_old_content(self._clock())
            return self._data.contents.get(message_id)

    def _forget_old_content(self, now: float) -> None:
        contents = self._data.contents
        for message_id in [m for m, c in contents.items() if now - c.stored_at >= CONTENT_TTL]:
            del contents[message_id]
