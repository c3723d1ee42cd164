"""One webhook event, end to end (ARCHITECTURE.md): resident, dispatch, commit, send.

:meth:`EventProcessor.process` takes one event object as LINE sent it (decoded JSON) and a
:class:`Ticket` that says how to mark it done; it does not care where the event came from
(the inbox's workers, a test). Every event gets its own unit of work. The ticket is marked
inside it, so the event's effects and "this event is done" commit together, exactly once.
Messages are stored with the same commit (bot/outbox.py) and sent after it.

A failure rolls everything back and is reported with the error's class name: the inbox
counts it, tries again later and parks the event after too many attempts.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from flask_babel import gettext as _
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from bot.context import EventContext
from bot.db import Database, insert_ignore
from bot.dispatch import Dispatcher
from bot.i18n import resident_locale
from bot.inbox import LeaseLost
from bot.incoming import Incoming, LineEvent, MalformedEvent, MediaRequired, parse_event
from bot.line_api import ContentTooLarge, LineApiError, LineGateway
from bot.messages import Message, text, utf16_length, with_main_menu
from bot.metrics import Metrics
from bot.residents import Profile, apply_profile, lock_resident, lock_resident_and_dialog
from bot.work import Work
from models import GroupChat
from models.base import utcnow

logger = logging.getLogger(__name__)

#: Longest text a resident may send that features will see (LINE allows 10,000 characters).
MAX_TEXT_UNITS = 5000
#: How long after the door stored an event its reply token is used (LINE: one minute).
REPLY_WINDOW = timedelta(seconds=50)


class Outcome(StrEnum):
    """What happened to one event (the ``outcome`` label of the metrics)."""

    PROCESSED = "processed"
    IGNORED = "ignored"
    #: Another worker holds the event now (this one was too slow): nothing was committed.
    LOST = "lost"
    #: Rolled back; the inbox tries it again later, and parks it after too many attempts.
    FAILED = "failed"


@dataclass(frozen=True)
class Result:
    """An event's outcome, the route that answered it, and the failure's class, if any."""

    outcome: Outcome
    route: str = "none"
    error: str | None = None


class Ticket(Protocol):
    """How the event's unit of work marks it done (the inbox lease, in production)."""

    @property
    def received_at(self) -> datetime:
        """When the event reached the door (its reply token is good for a minute after)."""
        ...

    def complete(self, session: Session) -> None:
        """Mark the event done in this unit of work.

        :raises bot.inbox.LeaseLost: the event is no longer this worker's.
        """
        ...


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

    def process(self, raw: Mapping[str, Any], ticket: Ticket) -> Result:
        """Process one event object in its own unit of work and send what it queued.

        Never raises. A malformed event is logged (id and type) and done with.

        :param raw: one element of a webhook body's ``events``, as decoded JSON.
        :param ticket: marks the event done inside its unit of work.
        """
        started = time.perf_counter()
        try:
            event = parse_event(raw)
        except MalformedEvent as error:
            logger.warning(
                "webhook event malformed: ignored", extra={**_log_fields(raw), "reason": str(error)}
            )
            result = self._done(ticket, route="malformed")
            self.metrics.webhook_events.labels("malformed", result.outcome).inc()
            return result
        result = self._process(event, ticket)
        self.metrics.webhook_events.labels(event.type, result.outcome).inc()
        self.metrics.handler_latency.labels(result.route).observe(time.perf_counter() - started)
        return result

    def _process(self, event: LineEvent, ticket: Ticket) -> Result:
        extra = {"event_id": event.event_id, "event_type": event.type}
        try:
            if event.mode == "standby":
                return self._done(ticket, route="standby")
            source = event.source
            user_id = source.user_id if source is not None and source.one_to_one else None
            if user_id is None:
                return self._group(event, ticket)
            profile = self._profile(user_id) if event.type == "follow" else None
            return self._run(event, ticket, user_id, profile)
        except LeaseLost:
            logger.warning("webhook event taken over by another worker", extra=extra)
            return Result(Outcome.LOST)
        except Exception as error:
            logger.exception("webhook event failed", extra=extra)
            return Result(Outcome.FAILED, "error", type(error).__name__)

    def _done(self, ticket: Ticket, *, route: str) -> Result:
        """Mark an event done that needs nothing else (malformed, standby)."""
        try:
            with self.db.unit_of_work() as session:
                ticket.complete(session)
        except LeaseLost:
            return Result(Outcome.LOST)
        return Result(Outcome.IGNORED, route)

    def _run(
        self, event: LineEvent, ticket: Ticket, user_id: str, profile: Profile | None
    ) -> Result:
        """The unit of work, run again with the content when a step needs a media message's
        bytes, and once more after a concurrent change to the resident's dialog."""
        incoming = event.incoming
        retried = False
        while True:
            try:
                return self._unit(event, ticket, incoming, user_id, profile)
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
        self,
        event: LineEvent,
        ticket: Ticket,
        incoming: Incoming,
        user_id: str,
        profile: Profile | None,
    ) -> Result:
        now = utcnow()
        with self.db.unit_of_work() as session:
            work = Work(session)
            resident, dialog = lock_resident_and_dialog(session, user_id)
            apply_profile(resident, profile)
            ctx = EventContext(
                work, incoming, resident, now, event.reply_token, self.config, dialog
            )
            with resident_locale(resident.language):
                route = self.dispatcher.dispatch(ctx)
            self._seal(work, ticket)
            ticket.complete(session)
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
        return Result(Outcome.PROCESSED, route)

    def _seal(self, work: Work, ticket: Ticket) -> None:
        work.outbox.seal(
            work.session,
            reply_until=ticket.received_at + REPLY_WINDOW,
            late_as_push=self.config["LATE_REPLIES_AS_PUSH"],
        )

    def _group(self, event: LineEvent, ticket: Ticket) -> Result:
        """Group and room chats: a polite note, once per chat, that the service is one-to-one."""
        with self.db.unit_of_work() as session:
            work = Work(session)
            chat_id = event.source.chat_id if event.source is not None else None
            if (
                chat_id is not None
                and event.reply_token
                and event.type in ("message", "join", "postback")
                and insert_ignore(session, GroupChat, {"chat_id": chat_id}, ["chat_id"])
            ):
                work.outbox.reply(event.reply_token, [_one_to_one_only()])
            self._seal(work, ticket)
            ticket.complete(session)
        work.run_effects(self.gateway, self.db)
        return Result(Outcome.IGNORED, "group")

    def apologise(self, raw: Mapping[str, Any], received_at: datetime) -> None:
        """Tell the resident their message could not be handled (the event was parked).

        A reply while the token is fresh, else a push: the resident must not wait for an
        answer that will not come.
        """
        try:
            event = parse_event(raw)
        except MalformedEvent:
            return
        source = event.source
        if source is None or source.user_id is None or not source.one_to_one:
            return
        with self.db.unit_of_work() as session:
            work = Work(session)
            resident = lock_resident(session, source.user_id)
            with resident_locale(resident.language):
                if event.reply_token:
                    work.outbox.reply(
                        event.reply_token, [_apology()], resident=resident, must_arrive=True
                    )
                    work.outbox.seal(
                        session, reply_until=received_at + REPLY_WINDOW, late_as_push=True
                    )
                else:
                    work.outbox.push(session, resident, [_apology()], purpose="apology")
        work.run_effects(self.gateway, self.db)

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
                str(incoming.message_id),
                max_bytes=self.config["MEDIA_MAX_BYTES"],
                timeout=self.config["MEDIA_TIMEOUT"],
            )
        except ContentTooLarge:
            logger.info("media content over the size limit")
            return dataclasses.replace(incoming, media_error="too-large")
        except LineApiError as error:
            logger.warning("media content unavailable", extra={"status": error.status})
            return dataclasses.replace(incoming, media_error="unavailable")
        return dataclasses.replace(incoming, media=media)

    def _profile(self, line_user_id: str) -> Profile | None:
        """The LINE profile, fetched before the transaction (no network inside it)."""
        try:
            data = self.gateway.get_profile(line_user_id)
        except LineApiError as error:
            logger.warning("profile unavailable", extra={"status": error.status})
            return None
        return Profile(display_name=data.display_name, language=data.language)
