"""The normalised webhook event: what the pipeline, interceptors, dialogs and handlers see.

LINE's event JSON is read here once, defensively, into two frozen values:

* :class:`LineEvent`, the envelope the pipeline needs (event id, type, mode, source, reply
  token, redelivery flag), and
* :class:`Incoming`, everything a feature may look at (text, postback, media ids, location,
  sticker, quote token, the follow's ``isUnblocked``, the event time), and nothing that
  identifies the LINE user: features know the resident, never the LINE user id.

Parsing the raw JSON (instead of the SDK's strict models) keeps the older payload shapes LINE
has sent working (messages without ``quoteToken``, follows without the ``follow`` object):
only what the pipeline relies on is required. Texts are cleaned on the way in: a lone
surrogate or a NUL is valid JSON but not text a database will store.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from bot import postback
from bot.line_api import Content
from bot.postback import PostbackData

#: LINE user, group and room ids: ``U``, ``C`` or ``R`` and 32 hex digits.
_USER_ID = re.compile(r"^U[0-9a-f]{32}$")
_CHAT_ID = re.compile(r"^[CR][0-9a-f]{32}$")
#: ``webhookEventId`` is a ULID; anything id-like of sane length is accepted.
_EVENT_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
_MESSAGE_ID = re.compile(r"^[0-9]{1,32}$")
_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,39}$")
#: Message types whose content (bytes) LINE keeps for a while on its blob host.
MEDIA_TYPES = frozenset({"image", "video", "audio", "file"})
#: Longest string field kept from an event (LINE's own limits are far lower but for text).
_MAX_FIELD = 10_000


class MalformedEvent(ValueError):
    """An event object that is not shaped like a LINE webhook event (the reason says why)."""


@dataclass(frozen=True)
class Location:
    """A location the resident shared."""

    latitude: float
    longitude: float
    title: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class Sticker:
    """A sticker the resident sent."""

    package_id: str
    sticker_id: str
    #: LINE's keywords for the sticker (a hint of its meaning), at most 15.
    keywords: tuple[str, ...] = ()


class MediaUnavailable(ValueError):
    """A media message's content could not be had (``reason``: ``too-large``, ``unavailable``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MediaRequired(Exception):
    """Raised by a step or handler that needs a media message's bytes before they are loaded.

    The pipeline rolls the unit of work back, fetches the content from LINE outside any
    transaction (size-limited), and processes the event again with :attr:`Incoming.media`.
    """


@dataclass(frozen=True)
class Incoming:
    """One event, normalised: what routes, interceptors, dialogs and handlers look at.

    ``kind`` is the event type (``message``, ``postback``, ``follow``, ...); for messages,
    ``message_type`` is ``text``, ``image``, ... and ``text`` the text as typed (cleaned).
    """

    kind: str
    #: When LINE says the event happened (UTC).
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))
    message_type: str | None = None
    #: LINE's message id (digits): the key of a media message's content.
    message_id: str | None = None
    text: str | None = None
    #: Token to quote this message in a reply (text, image, video, audio, sticker).
    quote_token: str | None = None
    #: ``line`` when LINE holds the content (fetchable), ``external`` when it is elsewhere.
    content_provider: str | None = None
    file_name: str | None = None
    file_size: int | None = None
    #: Length of a video or audio message, in milliseconds.
    duration_ms: int | None = None
    location: Location | None = None
    sticker: Sticker | None = None
    #: Decoded postback data; ``None`` when absent or not produced by this bot.
    postback: PostbackData | None = None
    #: Datetime-picker result (``date``, ``time`` or ``datetime``) or rich-menu switch result.
    postback_params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: For follow events: True when the resident unblocked the account (LINE: not guaranteed).
    is_unblocked: bool | None = None
    #: The content of a media message, once the pipeline has fetched it (see MediaRequired).
    media: Content | None = None
    #: Why the content could not be fetched (``too-large`` or ``unavailable``), if it failed.
    media_error: str | None = None

    @property
    def folded_text(self) -> str | None:
        """The text folded for keyword matching."""
        return None if self.text is None else normalise_text(self.text)

    @property
    def has_media(self) -> bool:
        """True for an image, video, audio or file message whose content LINE holds."""
        return (
            self.message_type in MEDIA_TYPES
            and self.message_id is not None
            and self.content_provider in (None, "line")
        )

    def require_media(self) -> Content:
        """The media content; raises :class:`MediaRequired` until the pipeline has fetched it.

        :raises MediaRequired: the content is not loaded yet (the pipeline handles it).
        :raises MediaUnavailable: LINE has no content for it, or it is over the size limit
            (the step answers the resident: catch it).
        """
        if self.media is not None:
            return self.media
        if self.media_error is not None:
            raise MediaUnavailable(self.media_error)
        if not self.has_media:
            raise MediaUnavailable("unavailable")
        raise MediaRequired(self.message_id)


@dataclass(frozen=True)
class Source:
    """Where an event comes from: a one-to-one chat with a user, a group or a room."""

    type: str
    #: The LINE user id, when present and well formed. Personal data: never logged.
    user_id: str | None = None
    #: Group or room id for group chats.
    chat_id: str | None = None

    @property
    def one_to_one(self) -> bool:
        """True for a one-to-one chat with a known user (the only chats madoguchi serves)."""
        return self.type == "user" and self.user_id is not None


@dataclass(frozen=True)
class LineEvent:
    """A parsed webhook event: the envelope the pipeline needs and the normalised content."""

    event_id: str
    type: str
    mode: str
    source: Source | None
    reply_token: str | None
    redelivery: bool
    incoming: Incoming


def normalise_text(text: str) -> str:
    """Fold a typed word for matching: full-width to half-width, spaces trimmed, case folded."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


def clean_text(value: str) -> str:
    """Replace lone surrogates (valid JSON escapes, invalid text) and NULs with U+FFFD."""
    repaired = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return repaired.replace("\x00", "\ufffd")


def _string(raw: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = raw.get(name)
    if value is None:
        if required:
            raise MalformedEvent(f"{name} is missing")
        return None
    if not isinstance(value, str):
        raise MalformedEvent(f"{name} is not a string")
    return clean_text(value[:_MAX_FIELD])


def _integer(raw: Mapping[str, Any], name: str) -> int | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedEvent(f"{name} is not a non-negative integer")
    return value


def _number(raw: Mapping[str, Any], name: str, low: float, high: float) -> float:
    value = raw.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise MalformedEvent(f"{name} is not a number from {low} to {high}")
    return float(value)


def _object(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MalformedEvent(f"{name} is not an object")
    return value


def _source(raw: Mapping[str, Any]) -> Source | None:
    source = raw.get("source")
    if source is None:
        return None
    if not isinstance(source, Mapping):
        raise MalformedEvent("source is not an object")
    kind = _string(source, "type", required=True) or ""
    user_id = _string(source, "userId")
    chat_id = _string(source, "groupId") or _string(source, "roomId")
    return Source(
        type=kind[:10],
        # A malformed user id identifies nobody: no resident is created from it.
        user_id=user_id if user_id and _USER_ID.match(user_id) else None,
        chat_id=chat_id if chat_id and _CHAT_ID.match(chat_id) else None,
    )


def source_key_of(raw: Mapping[str, Any]) -> str | None:
    """The queue an event object joins: the user of a one-to-one chat, else the group or room.

    :return: ``None`` when the event names no usable source (or is malformed there).
    """
    try:
        source = _source(raw)
    except MalformedEvent:
        return None
    if source is None:
        return None
    return source.user_id if source.type == "user" else source.chat_id


def _message_fields(message: Mapping[str, Any]) -> dict[str, Any]:
    message_type = _string(message, "type", required=True)
    message_id = _string(message, "id")
    if message_id is not None and not _MESSAGE_ID.match(message_id):
        raise MalformedEvent("message id is not a LINE message id")
    fields: dict[str, Any] = {
        "message_type": message_type,
        "message_id": message_id,
        "quote_token": _string(message, "quoteToken"),
    }
    if message_type == "text":
        fields["text"] = _string(message, "text", required=True)
    elif message_type in MEDIA_TYPES:
        fields["content_provider"] = _string(_object(message, "contentProvider"), "type")
        fields["duration_ms"] = _integer(message, "duration")
        fields["file_name"] = _string(message, "fileName")
        fields["file_size"] = _integer(message, "fileSize")
    elif message_type == "location":
        fields["location"] = Location(
            latitude=_number(message, "latitude", -90, 90),
            longitude=_number(message, "longitude", -180, 180),
            title=_string(message, "title"),
            address=_string(message, "address"),
        )
    elif message_type == "sticker":
        keywords = message.get("keywords") or []
        if not isinstance(keywords, list):
            raise MalformedEvent("sticker keywords are not a list")
        fields["sticker"] = Sticker(
            package_id=_string(message, "packageId", required=True) or "",
            sticker_id=_string(message, "stickerId", required=True) or "",
            keywords=tuple(clean_text(k[:100]) for k in keywords[:15] if isinstance(k, str)),
        )
    return fields


def _postback_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    body = _object(raw, "postback")
    data = _string(body, "data") or ""
    params = _object(body, "params")
    return {
        "postback": postback.decode(data),
        "postback_params": MappingProxyType(
            {
                clean_text(str(k))[:40]: clean_text(v)[:100]
                for k, v in list(params.items())[:10]
                if isinstance(v, str)
            }
        ),
    }


def parse_event(raw: Any) -> LineEvent:
    """Read one event object of a webhook body.

    Unknown event types parse too (as an :class:`Incoming` of that kind with no fields):
    the router decides what to do with them.

    :param raw: one element of the body's ``events`` list, as decoded JSON.
    :return: the envelope and the normalised event.
    :raises MalformedEvent: a field the pipeline relies on is missing or of the wrong shape.
    """
    if not isinstance(raw, Mapping):
        raise MalformedEvent("event is not an object")
    event_type = _string(raw, "type", required=True) or ""
    if not _TYPE.match(event_type):
        raise MalformedEvent("type is not an event type")
    event_id = _string(raw, "webhookEventId", required=True) or ""
    if not _EVENT_ID.match(event_id):
        raise MalformedEvent("webhookEventId is not an event id")
    milliseconds = _integer(raw, "timestamp")
    if milliseconds is None:
        raise MalformedEvent("timestamp is missing")
    try:
        timestamp = datetime.fromtimestamp(milliseconds / 1000, UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise MalformedEvent("timestamp is out of range") from error
    fields: dict[str, Any] = {}
    if event_type in ("message", "messageEdited"):
        fields = _message_fields(_object(raw, "message"))
    elif event_type == "postback":
        fields = _postback_fields(raw)
    elif event_type == "follow":
        unblocked = _object(raw, "follow").get("isUnblocked")
        fields = {"is_unblocked": unblocked if isinstance(unblocked, bool) else None}
    delivery = _object(raw, "deliveryContext")
    return LineEvent(
        event_id=event_id,
        type=event_type,
        mode=_string(raw, "mode") or "active",
        source=_source(raw),
        reply_token=_string(raw, "replyToken"),
        redelivery=delivery.get("isRedelivery") is True,
        incoming=Incoming(event_type, timestamp, **fields),
    )
