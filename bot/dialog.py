"""The dialog engine: multi-step conversations as declared, persisted state machines.

A :class:`Flow` declares entry points, states with their steps, a ``prompt`` that asks the
question of a state, and what happens on completion. Steps are pure functions
``(StepContext, Incoming) -> Transition``; the engine owns everything impure: the
``conversations`` row (at most one active per resident, locked through the resident row),
timeouts (checked on read and swept by the clock), the cancel word, resuming on re-entry,
and the stale-button guard (postbacks carry the conversation id and version they were sent
with). See STYLE.md section 2 and docs/dialogs.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.context import EventContext
from bot.messages import Message, text, with_main_menu
from bot.postback import PostbackData
from bot.routing import Action, Incoming, Predicate, Text
from models import Conversation, ConversationStatus

logger = logging.getLogger(__name__)

#: Stay in the current state (e.g. invalid input: the step says why, the question is re-asked).
STAY = "__stay__"
#: Finish the dialog: the flow's ``on_complete`` runs in the same transaction.
END = "__end__"

#: Typed at any step, these end the dialog (after NFKC and case folding).
CANCEL = Text("やめる", "キャンセル", "中止", "cancel", "quit") | Action("dialog.cancel")


class FlowError(ValueError):
    """A flow is declared wrongly, or a step returned a state the flow does not declare."""


@dataclass(frozen=True)
class StepContext:
    """What a step or prompt may read: the dialog's state, never the database."""

    flow: str
    state: str
    data: Mapping[str, Any]
    subject_id: int | None
    conversation_id: int
    #: The conversation's version once the current transition is applied.
    version: int
    now: datetime

    def button_data(self, action: str, **params: str) -> PostbackData:
        """Postback data bound to this dialog and version (an old tap is recognised as stale)."""
        return PostbackData(action, params, self.conversation_id, self.version)


@dataclass(frozen=True)
class Transition:
    """A step's result: where to go, what to say first, what to remember."""

    next_state: str
    replies: tuple[Message, ...] = ()
    #: Keys to set in the dialog's data (merged; ``None`` values delete the key).
    data: Mapping[str, Any] = field(default_factory=dict)


StepFn = Callable[[StepContext, Incoming], Transition]


@dataclass(frozen=True)
class Step:
    """One way of answering in a state: a predicate on the input and a pure step function."""

    predicate: Predicate
    fn: StepFn


@dataclass(frozen=True)
class Start:
    """How an entry point starts a dialog."""

    state: str
    data: Mapping[str, Any] = field(default_factory=dict)
    subject_id: int | None = None
    replies: tuple[Message, ...] = ()


@dataclass(frozen=True)
class Entry:
    """An entry point: a predicate and a function deciding how (or whether) to start."""

    predicate: Predicate
    start: Callable[[EventContext], Start | None]


@dataclass(frozen=True)
class Flow:
    """A declared dialog.

    :param prompt: asks the question of a state; used after every transition, on resume
        and after a stale tap, so buttons always carry the current version.
    :param on_complete: a service call run in the same transaction when the dialog ends;
        returns the closing messages.
    :param allow_reentry: an entry point hit mid-dialog restarts it; by default it resumes.
    """

    name: str
    entry_points: tuple[Entry, ...]
    states: Mapping[str, tuple[Step, ...]]
    prompt: Callable[[StepContext], Sequence[Message]]
    on_complete: Callable[[Session, Conversation, StepContext], Sequence[Message]]
    timeout: timedelta | None = None
    allow_reentry: bool = False
    #: Every state a step may return; checked against ``states`` at registration.
    transitions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class DialogEngine:
    """Registered flows and the event handling that drives them."""

    def __init__(self, default_timeout: timedelta) -> None:
        self.default_timeout = default_timeout
        self._flows: dict[str, Flow] = {}

    def register(self, flow: Flow) -> None:
        """Add a flow after checking its declaration.

        :raises FlowError: duplicate name, no states, or a declared transition to a state
            the flow does not have.
        """
        if flow.name in self._flows:
            raise FlowError(f"flow {flow.name!r} registered twice")
        if not flow.states or not flow.entry_points:
            raise FlowError(f"flow {flow.name!r} needs states and entry points")
        for source, targets in flow.transitions.items():
            for target in (source, *targets):
                if target not in flow.states and target not in (STAY, END):
                    raise FlowError(f"flow {flow.name!r}: unknown state {target!r}")
        self._flows[flow.name] = flow

    def unregister(self, name: str) -> None:
        """Remove a flow (tests and rehearsal tools); its dialogs stop receiving input."""
        self._flows.pop(name, None)

    @property
    def flows(self) -> Mapping[str, Flow]:
        """Registered flows by name."""
        return MappingProxyType(self._flows)

    # -- event handling ------------------------------------------------------------------

    def handle(self, ctx: EventContext) -> bool:
        """Give the event to the resident's dialog or to a flow's entry point.

        :return: True when the dialog engine answered the event; False to use the router.
        """
        conversation, notices = self._active(ctx)
        incoming = ctx.incoming
        postback = incoming.postback
        if postback is not None and _is_stale(postback, conversation):
            self._stale(ctx, conversation)
            return True
        if conversation is not None:
            return self._continue(ctx, conversation)
        for flow in self._flows.values():
            for entry in flow.entry_points:
                if entry.predicate(incoming):
                    start = entry.start(ctx)
                    if start is not None:
                        self._start(ctx, flow, start, notices)
                        return True
        if notices:
            ctx.reply(*notices)
        return False

    def _active(self, ctx: EventContext) -> tuple[Conversation | None, list[Message]]:
        """The resident's active dialog, expiring it first if its time is up."""
        conversation = ctx.conversation
        if conversation is not None and conversation.expires_at <= ctx.now:
            self._end(conversation, ConversationStatus.EXPIRED, ctx.now)
            return None, [with_main_menu(_("Your previous session timed out and was closed."))]
        return conversation, []

    def _continue(self, ctx: EventContext, conversation: Conversation) -> bool:
        flow = self._flow(conversation)
        incoming = ctx.incoming
        if CANCEL(incoming):
            self._end(conversation, ConversationStatus.CANCELLED, ctx.now)
            ctx.reply(with_main_menu(_("Cancelled. Nothing was saved.")))
            return True
        for step in flow.states.get(conversation.state, ()):
            if step.predicate(incoming):
                self._apply(
                    ctx, flow, conversation, step.fn(self._context(conversation, ctx), incoming)
                )
                return True
        for entry in flow.entry_points:
            if entry.predicate(incoming):
                start = entry.start(ctx) if flow.allow_reentry else None
                if start is None:  # resume where the resident left off
                    self._touch(ctx, flow, conversation)
                    ctx.reply(*self._prompt(ctx, flow, conversation))
                else:
                    self._end(conversation, ConversationStatus.CANCELLED, ctx.now)
                    ctx.session.flush()
                    self._start(ctx, flow, start, [])
                return True
        if any(e.predicate(incoming) for f in self._flows.values() for e in f.entry_points):
            self._touch(ctx, flow, conversation)
            ctx.reply(
                *self._prompt(ctx, flow, conversation)[:4],
                with_main_menu(_('Please finish this first, or send "cancel" to stop it.')),
            )
            return True
        return False

    def _start(self, ctx: EventContext, flow: Flow, start: Start, notices: list[Message]) -> None:
        if start.state not in flow.states:
            raise FlowError(f"flow {flow.name!r} started in unknown state {start.state!r}")
        conversation = Conversation(
            resident_id=ctx.resident.id,
            flow=flow.name,
            subject_id=start.subject_id,
            state=start.state,
            data=dict(start.data),
            expires_at=ctx.now + (flow.timeout or self.default_timeout),
        )
        ctx.session.add(conversation)
        ctx.session.flush()
        ctx.reply(*notices, *start.replies, *self._prompt(ctx, flow, conversation))
        logger.info("dialog started", extra={"flow": flow.name, "conversation": conversation.id})

    def _apply(
        self, ctx: EventContext, flow: Flow, conversation: Conversation, transition: Transition
    ) -> None:
        """Persist a transition, then queue its replies and the next question (or the end)."""
        target = transition.next_state
        if target not in flow.states and target not in (STAY, END):
            raise FlowError(f"flow {flow.name!r}: step returned unknown state {target!r}")
        data = dict(conversation.data)
        for key, value in transition.data.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        conversation.data = data
        if target == END:
            closing = flow.on_complete(ctx.session, conversation, self._context(conversation, ctx))
            self._end(conversation, ConversationStatus.COMPLETED, ctx.now)
            ctx.reply(*transition.replies, *closing)
            return
        if target != STAY:
            conversation.state = target
        self._touch(ctx, flow, conversation)
        ctx.reply(*transition.replies, *self._prompt(ctx, flow, conversation))

    def _touch(self, ctx: EventContext, flow: Flow, conversation: Conversation) -> None:
        """Extend the deadline and bump the version, so buttons sent before now go stale."""
        conversation.expires_at = ctx.now + (flow.timeout or self.default_timeout)
        conversation.updated_at = ctx.now
        ctx.session.flush()

    def _prompt(self, ctx: EventContext, flow: Flow, conversation: Conversation) -> list[Message]:
        return list(flow.prompt(self._context(conversation, ctx)))

    def _stale(self, ctx: EventContext, conversation: Conversation | None) -> None:
        """Answer a tap on a button from an earlier question or a finished dialog."""
        notice = _("That button belongs to a question that has already closed.")
        if conversation is None:
            ctx.reply(with_main_menu(notice))
            return
        flow = self._flow(conversation)
        self._touch(ctx, flow, conversation)
        ctx.reply(text(notice), *self._prompt(ctx, flow, conversation)[:4])

    def _flow(self, conversation: Conversation) -> Flow:
        try:
            return self._flows[conversation.flow]
        except KeyError:
            raise FlowError(f"conversation {conversation.id} has unknown flow") from None

    @staticmethod
    def _context(conversation: Conversation, ctx: EventContext) -> StepContext:
        return StepContext(
            flow=conversation.flow,
            state=conversation.state,
            data=MappingProxyType(dict(conversation.data)),
            subject_id=conversation.subject_id,
            conversation_id=conversation.id,
            version=conversation.version,
            now=ctx.now,
        )

    @staticmethod
    def _end(conversation: Conversation, status: ConversationStatus, now: datetime) -> None:
        conversation.status = status
        conversation.ended_at = now
        if status == ConversationStatus.COMPLETED:
            conversation.completed_at = now


def _is_stale(postback: PostbackData, conversation: Conversation | None) -> bool:
    """True for a dialog button that does not belong to the current question."""
    if postback.conversation_id is None:
        return False  # not a dialog button (menus, entry points)
    if conversation is None:
        return True
    return (postback.conversation_id, postback.conversation_version) != (
        conversation.id,
        conversation.version,
    )


def expire_stale_dialogs(session: Session, now: datetime) -> int:
    """Clock job: mark every active dialog past its deadline as expired.

    :return: how many dialogs expired.
    """
    result = session.execute(
        update(Conversation)
        .where(Conversation.status == ConversationStatus.ACTIVE, Conversation.expires_at <= now)
        .values(status=ConversationStatus.EXPIRED, ended_at=now, version=Conversation.version + 1)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
