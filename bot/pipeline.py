"""One webhook event, end to end (ARCHITECTURE.md): dedupe, resident, route, commit, send.

Every event gets its own unit of work. The ``webhook_events`` row commits with the event's
effects, so a redelivery of a processed event is skipped and one that failed is processed
again. Messages wait in the outbox until the commit, then go out (reply first).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flask_babel import gettext as _
from linebot.v3.webhooks import (
    Event,
    FollowEvent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
)

from bot import postback
from bot.context import EventContext
from bot.db import Database, insert_ignore
from bot.dialog import DialogEngine
from bot.i18n import resident_locale
from bot.line_api import LineApiError, LineGateway
from bot.messages import Message, text, utf16_length, with_main_menu
from bot.metrics import Metrics
from bot.outbox import Outbox, deliver
from bot.residents import Profile, apply_profile, lock_resident_and_dialog
from bot.routing import Incoming, Router
from models import WebhookEvent
from models.base import utcnow

logger = logging.getLogger(__name__)

#: Longest text a resident may send that features will see (LINE allows 10,000 characters).
MAX_TEXT_UNITS = 5000


class Outcome(StrEnum):
    """What happened to one event (the ``outcome`` label of the metrics)."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    FAILED = "failed"


def _clean(value: str) -> str:
    """Replace lone surrogates (valid JSON escapes, invalid text) with U+FFFD."""
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def normalise(event: Event) -> Incoming:
    """Reduce an SDK event to what the router and the dialogs match on."""
    if isinstance(event, MessageEvent):
        content = event.message
        body = _clean(content.text) if isinstance(content, TextMessageContent) else None
        return Incoming("message", message_type=content.type, text=body)
    if isinstance(event, PostbackEvent):
        raw = _clean(event.postback.data or "")
        params = {k: _clean(str(v)) for k, v in (event.postback.params or {}).items()}
        return Incoming(
            "postback", postback=postback.decode(raw), postback_raw=raw, postback_params=params
        )
    return Incoming(str(event.type))


def _one_to_one_only() -> Message:
    """The polite note for groups and rooms: the service works in one-to-one chats."""
    return text(
        _(
            "Thank you for adding me. This service answers only in one-to-one chats: "
            "please talk to me directly."
        )
    )


@dataclass(frozen=True)
class EventMeta:
    """The log-safe identity of an event."""

    event_id: str
    type: str


class EventProcessor:
    """Processes parsed webhook events; one instance per app."""

    def __init__(
        self,
        *,
        db: Database,
        gateway: LineGateway,
        router: Router,
        dialogs: DialogEngine,
        metrics: Metrics,
        config: dict[str, Any],
    ) -> None:
        self.db = db
        self.gateway = gateway
        self.router = router
        self.dialogs = dialogs
        self.metrics = metrics
        self.config = config

    def process(self, event: Event) -> Outcome:
        """Process one event in its own unit of work and send what it queued.

        Never raises: a failing event is rolled back, logged with its id and counted.
        """
        meta = EventMeta(str(event.webhook_event_id), str(event.type))
        started = time.perf_counter()
        outbox = Outbox()
        route = "none"
        try:
            outcome, route = self._run(event, meta, outbox)
        except Exception:
            logger.exception(
                "webhook event failed", extra={"event_id": meta.event_id, "event_type": meta.type}
            )
            outcome = Outcome.FAILED
        else:
            try:
                deliver(outbox, self.gateway, self.db)
            except Exception:  # the event is committed; stored pushes are retried by the clock
                logger.exception("sending failed", extra={"event_id": meta.event_id})
        self.metrics.webhook_events.labels(meta.type, outcome).inc()
        self.metrics.handler_latency.labels(route).observe(time.perf_counter() - started)
        return outcome

    def _run(self, event: Event, meta: EventMeta, outbox: Outbox) -> tuple[Outcome, str]:
        if getattr(event, "mode", "active") == "standby":
            return Outcome.IGNORED, "standby"
        source = event.source
        user_id = getattr(source, "user_id", None) if source is not None else None
        one_to_one = source is not None and source.type == "user" and bool(user_id)
        profile = None
        if one_to_one and isinstance(event, FollowEvent):
            if self._seen(meta.event_id):  # a redelivered follow: skip the profile call too
                return Outcome.DUPLICATE, "duplicate"
            profile = self._profile(user_id)
        now = utcnow()
        with self.db.unit_of_work() as session:
            if not insert_ignore(
                session,
                WebhookEvent,
                {"webhook_event_id": meta.event_id, "type": meta.type, "received_at": now},
                ["webhook_event_id"],
            ):
                logger.info("webhook event redelivered: skipped", extra={"event_id": meta.event_id})
                return Outcome.DUPLICATE, "duplicate"
            reply_token = getattr(event, "reply_token", None)
            if not one_to_one:
                if reply_token and meta.type in ("message", "join", "postback"):
                    outbox.reply(reply_token, [_one_to_one_only()])
                return Outcome.IGNORED, "group"
            assert user_id is not None  # noqa: S101 - one_to_one guarantees it
            resident, conversation = lock_resident_and_dialog(session, user_id)
            apply_profile(resident, profile)
            incoming = normalise(event)
            ctx = EventContext(
                session,
                incoming,
                event,
                resident,
                outbox,
                now,
                reply_token,
                self.config,
                conversation,
            )
            with resident_locale(resident.language):
                route = self._dispatch(ctx)
            logger.info(
                "webhook event processed",
                extra={
                    "event_id": meta.event_id,
                    "event_type": meta.type,
                    "resident": resident.id,
                    "route": route,
                },
            )
            return Outcome.PROCESSED, route

    def _dispatch(self, ctx: EventContext) -> str:
        """Hand the event to the dialog engine, else the router; return the route name."""
        incoming = ctx.incoming
        if incoming.text is not None and utf16_length(incoming.text) > MAX_TEXT_UNITS:
            ctx.reply(
                with_main_menu(
                    _("That message is too long. Please keep it under 5,000 characters.")
                )
            )
            return "too-long"
        if self.dialogs.handle(ctx):
            return "dialog"
        name, handler = self.router.resolve(incoming)
        handler(ctx)
        return name

    def _seen(self, event_id: str) -> bool:
        """True when the event was already processed (checked again, atomically, later)."""
        with self.db.reading() as session:
            return session.get(WebhookEvent, event_id) is not None

    def _profile(self, line_user_id: str | None) -> Profile | None:
        """The LINE profile, fetched before the transaction (no network inside it)."""
        if not line_user_id:
            return None
        try:
            data = self.gateway.get_profile(line_user_id)
        except LineApiError as error:
            logger.warning("profile unavailable", extra={"status": error.status})
            return None
        return Profile(display_name=data.display_name, language=data.language)
