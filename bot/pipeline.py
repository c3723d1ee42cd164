"""One webhook event, end to end (ARCHITECTURE.md): dedupe, resident, dispatch, commit, send.

:meth:`EventProcessor.process` takes one event object as LINE sends it (decoded JSON) and
does not care where it came from: the webhook, a test, the simulator, or (later) an inbox.
Every event gets its own unit of work. The ``webhook_events`` row commits with the event's
effects, so a redelivery of a processed event is skipped and one that failed is processed
again. Messages wait in the outbox until the commit, then go out (reply first).

A failure is one of two kinds. A database that is unreachable or timing out is *transient*:
the event fails and LINE's redelivery brings it back. Anything else is a defect that would
fail the same way on every redelivery (a poison event): the event is rolled back, recorded
as processed, and the resident gets an apology instead of silence.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError

from bot.context import EventContext
from bot.db import Database, insert_ignore
from bot.dispatch import Dispatcher
from bot.i18n import resident_locale
from bot.incoming import Incoming, LineEvent, MalformedEvent, MediaRequired, parse_event
from bot.line_api import ContentTooLarge, LineApiError, LineGateway
from bot.messages import Message, text, utf16_length, with_main_menu
from bot.metrics import Metrics
from bot.residents import Profile, apply_profile, lock_resident_and_dialog
from bot.work import Work
from models import Resident, WebhookEvent
from models.base import utcnow

logger = logging.getLogger(__name__)

#: Longest text a resident may send that features will see (LINE allows 10,000 characters).
MAX_TEXT_UNITS = 5000
#: Database failures that say nothing about the event: LINE's redelivery should retry it.
TRANSIENT = (OperationalError, InterfaceError, PoolTimeout)


class Outcome(StrEnum):
    """What happened to one event (the ``outcome`` label of the metrics)."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    #: A transient failure: rolled back, to be processed again on redelivery.
    FAILED = "failed"
    #: A defect: rolled back, recorded as processed, the resident got an apology.
    ERROR = "error"


def refuse_overlong_text(ctx: EventContext) -> bool:
    """Interceptor: a text too long for any feature gets a polite refusal (and nothing else)."""
    if ctx.incoming.text is None or utf16_length(ctx.incoming.text) <= MAX_TEXT_UNITS:
        return False
    ctx.reply(with_main_menu(_("That message is too long. Please keep it under 5,000 characters.")))
    return True


def _one_to_one_only() -> Message:
    """The polite note for groups and rooms: the service works in one-to-one chats."""
    return text(
        _(
            "Thank you for adding me. This service answers only in one-to-one chats: "
            "please talk to me directly."
        )
    )


def _apology() -> Message:
    return with_main_menu(
        _(
            "Sorry, something went wrong on our side and your message could not be handled. "
            "Please try again later."
        )
    )


def _log_fields(raw: Mapping[str, Any]) -> dict[str, str]:
    """Id and type of a raw event for a log line, whatever its shape (never its content)."""
    return {
        name: value[:64] if isinstance(value, str) else "?"
        for name, value in (
            ("event_id", raw.get("webhookEventId")),
            ("event_type", raw.get("type")),
        )
    }


class EventProcessor:
    """Processes webhook events one by one; one instance per app."""

    def __init__(
        self,
        *,
        db: Database,
        gateway: LineGateway,
        dispatcher: Dispatcher,
        metrics: Metrics,
        config: Mapping[str, Any],
    ) -> None:
        self.db = db
        self.gateway = gateway
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.config = config

    def process(self, raw: Mapping[str, Any]) -> Outcome:
        """Process one event object in its own unit of work and send what it queued.

        Never raises. A malformed event is logged (id and type) and ignored.

        :param raw: one element of a webhook body's ``events``, as decoded JSON.
        :return: what happened; only :attr:`Outcome.FAILED` asks for a redelivery.
        """
        started = time.perf_counter()
        try:
            event = parse_event(raw)
        except MalformedEvent as error:
            logger.warning(
                "webhook event malformed: ignored",
                extra={**_log_fields(raw), "reason": str(error)},
            )
            self.metrics.webhook_events.labels("malformed", Outcome.IGNORED).inc()
            return Outcome.IGNORED
        outcome, route = self._process(event)
        self.metrics.webhook_events.labels(event.type, outcome).inc()
        self.metrics.handler_latency.labels(route).observe(time.perf_counter() - started)
        return outcome

    def _process(self, event: LineEvent) -> tuple[Outcome, str]:
        extra = {"event_id": event.event_id, "event_type": event.type}
        try:
            if event.mode == "standby":
                return Outcome.IGNORED, "standby"
            source = event.source
            user_id = source.user_id if source is not None and source.one_to_one else None
            if user_id is None:
                return self._group(event)
            profile = None
            if event.type == "follow":
                if self._seen(event.event_id):  # a redelivered follow: skip the profile call
                    return Outcome.DUPLICATE, "duplicate"
                profile = self._profile(user_id)
            return self._run(event, user_id, profile)
        except TRANSIENT:
            logger.exception("webhook event failed: database unavailable", extra=extra)
            return Outcome.FAILED, "none"
        except Exception:
            logger.exception("webhook event failed", extra=extra)
            return self._recover(event), "error"

    def _run(self, event: LineEvent, user_id: str, profile: Profile | None) -> tuple[Outcome, str]:
        """The unit of work, run again with the content when a step needs a media message's
        bytes, and once more after a concurrent change to the resident's dialog."""
        incoming = event.incoming
        retried = False
        while True:
            try:
                return self._unit(event, incoming, user_id, profile)
            except MediaRequired:
                if incoming.media is not None or incoming.media_error is not None:
                    raise
                incoming = self._with_media(incoming, user_id)
            except StaleDataError:
                if retried:
                    raise
                retried = True
                logger.info("dialog changed concurrently: retrying the event")

    def _unit(
        self, event: LineEvent, incoming: Incoming, user_id: str, profile: Profile | None
    ) -> tuple[Outcome, str]:
        now, extra = utcnow(), {"event_id": event.event_id}
        with self.db.unit_of_work() as session:
            work = Work(session)
            if not self._record(session, event):
                logger.info("webhook event redelivered: skipped", extra=extra)
                return Outcome.DUPLICATE, "duplicate"
            resident, dialog = lock_resident_and_dialog(session, user_id)
            apply_profile(resident, profile)
            ctx = EventContext(
                work, incoming, resident, now, event.reply_token, self.config, dialog
            )
            with resident_locale(resident.language):
                route = self.dispatcher.dispatch(ctx)
            logger.info(
                "webhook event processed",
                extra={
                    "event_id": event.event_id,
                    "event_type": event.type,
                    "resident": resident.id,
                    "route": route,
                },
            )
        work.run_effects(self.gateway, self.db)
        return Outcome.PROCESSED, route

    @staticmethod
    def _record(session: Any, event: LineEvent) -> bool:
        """Insert the event id; False when it was already processed (a redelivery)."""
        return insert_ignore(
            session,
            WebhookEvent,
            {"webhook_event_id": event.event_id, "type": event.type, "received_at": utcnow()},
            ["webhook_event_id"],
        )

    def _group(self, event: LineEvent) -> tuple[Outcome, str]:
        """Group and room chats: a polite note that the service is one-to-one only."""
        with self.db.unit_of_work() as session:
            work = Work(session)
            if not self._record(session, event):
                return Outcome.DUPLICATE, "duplicate"
            if event.reply_token and event.type in ("message", "join", "postback"):
                work.outbox.reply(event.reply_token, [_one_to_one_only()])
        work.run_effects(self.gateway, self.db)
        return Outcome.IGNORED, "group"

    def _recover(self, event: LineEvent) -> Outcome:
        """After a defect: record the event as processed and apologise (no poison event)."""
        try:
            language = None
            with self.db.unit_of_work() as session:
                work = Work(session)
                if not self._record(session, event):
                    return Outcome.DUPLICATE
                if event.source is not None and event.source.user_id is not None:
                    language = session.scalar(
                        select(Resident.language).where(
                            Resident.line_user_id == event.source.user_id
                        )
                    )
                if event.reply_token:
                    with resident_locale(language):
                        work.outbox.reply(event.reply_token, [_apology()])
            work.run_effects(self.gateway, self.db)
        except Exception:
            logger.exception("recording a failed event failed", extra={"event_id": event.event_id})
            return Outcome.FAILED
        return Outcome.ERROR

    def _with_media(self, incoming: Incoming, user_id: str) -> Incoming:
        """The event with its media content, fetched from LINE outside any transaction.

        The resident sees LINE's loading animation meanwhile: a video can take a while.
        """
        try:
            self.gateway.show_loading(user_id)
        except LineApiError as error:  # only a courtesy: the content matters
            logger.info("loading animation refused", extra={"status": error.status})
        try:
            media = self.gateway.get_content(
                str(incoming.message_id), max_bytes=self.config["MEDIA_MAX_BYTES"]
            )
        except ContentTooLarge:
            logger.info("media content over the size limit")
            return dataclasses.replace(incoming, media_error="too-large")
        except LineApiError as error:
            logger.warning("media content unavailable", extra={"status": error.status})
            return dataclasses.replace(incoming, media_error="unavailable")
        return dataclasses.replace(incoming, media=media)

    def _seen(self, event_id: str) -> bool:
        """True when the event was already processed (checked again, atomically, later)."""
        with self.db.reading() as session:
            return session.get(WebhookEvent, event_id) is not None

    def _profile(self, line_user_id: str) -> Profile | None:
        """The LINE profile, fetched before the transaction (no network inside it)."""
        try:
            data = self.gateway.get_profile(line_user_id)
        except LineApiError as error:
            logger.warning("profile unavailable", extra={"status": error.status})
            return None
        return Profile(display_name=data.display_name, language=data.language)
