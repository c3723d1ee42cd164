"""The dialog engine: multi-step conversations as declared, persisted state machines.

A :class:`Flow` declares entry points, state families with their steps, the transitions
between them, a ``prompt`` that asks the question of a state, and what happens on
completion. Steps are pure functions ``(StepContext, Incoming) -> Transition``; the engine
owns everything impure: the ``dialogs`` row (at most one active per resident, locked through
the resident row), the message budget of a reply, timeouts (expire or park, checked on read
and swept by the clock), cancelling, resuming, and the stale-button guard (postbacks carry
the dialog id and version they were sent with). See STYLE.md section 2 and docs/dialogs.md.

States are strings. A state is a *family* declared in ``Flow.states`` (``ASK_NAME``), or a
family and a key (``q:17``, one per survey question), so a flow whose states come from the
database declares one family and many keys. Transitions are declared between families.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.incoming import Incoming
from bot.messages import Message, text, with_main_menu
from bot.outbox import MAX_MESSAGES
from bot.postback import PostbackData
from bot.routing import Postback, Predicate, Text
from models import Dialog, DialogStatus, Resident

if TYPE_CHECKING:
    from bot.context import EventContext

logger = logging.getLogger(__name__)

#: Stay in the current state (e.g. invalid input: the step says why, the question is re-asked).
STAY = "__stay__"
#: Finish the dialog: the flow's ``on_complete`` runs in the same transaction.
END = "__end__"
#: Messages of a reply the engine keeps for its own notice (timed out, stale button, ...).
NOTICE_SLOTS = 1
#: What a flow's prompt, steps and closing share: LINE's five messages, minus the notice.
FLOW_MESSAGES = MAX_MESSAGES - NOTICE_SLOTS

#: The default cancel words, typed alone (after NFKC and case folding), and the button.
CANCEL: Predicate = Text("やめる", "キャンセル", "中止", "cancel", "quit") | Postback(
    "dialog.cancel"
)


#: What a cancelled dialog answers by default.
CANCELLED = _l("Cancelled. Nothing was saved.")


class FlowError(ValueError):
    """A flow is declared wrongly, or a step broke its declaration (the message names both)."""


class TimeoutPolicy(StrEnum):
    """What happens to a dialog when the resident goes quiet past the flow's timeout."""

    #: The dialog ends; nothing of it is kept.
    EXPIRE = "expire"
    #: The dialog is kept aside (``parked``) and resumes where it stopped when the resident
    #: comes back through the flow's entry point, without holding the active slot meanwhile.
    PARK = "park"


def family_of(state: str) -> str:
    """The declared family of a state (``q:17`` -> ``q``; ``ASK_NAME`` -> ``ASK_NAME``)."""
    return state.split(":", 1)[0]


def state_of(family: str, key: object) -> str:
    """A keyed state of a family, e.g. ``state_of("q", 17) == "q:17"``."""
    return f"{family}:{key}"


@dataclass(frozen=True)
class StepContext:
    """What a step or prompt may read: the dialog and its subject, never the database."""

    flow: str
    state: str
    data: Mapping[str, Any]
    subject_id: int | None
    #: What the flow's ``load_subject`` returned for this dialog (e.g. the survey), if any.
    subject: Any
    dialog_id: int
    #: The dialog's version once this event's transition is applied: buttons built with
    #: :meth:`button_data` in a step's replies or in the prompt are current on arrival.
    version: int
    now: datetime
    #: The resident's language (``ja`` or ``en``), for texts that come from the database.
    language: str

    @property
    def family(self) -> str:
        """The state's declared family."""
        return family_of(self.state)

    @property
    def key(self) -> str | None:
        """The part of a keyed state after the family (``q:17`` -> ``17``)."""
        _, _, key = self.state.partition(":")
        return key or None

    def button_data(self, action: str, **params: str) -> PostbackData:
        """Postback data bound to this dialog and version (an old tap is recognised as stale)."""
        return PostbackData(action, params, self.dialog_id, self.version)


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
class Arrival:
    """What an entry point may know: the resident, the event, the time and the session."""

    session: Session
    resident: Resident
    incoming: Incoming
    now: datetime


@dataclass(frozen=True)
class Entry:
    """An entry point: a predicate and a function deciding how (or whether) to start."""

    predicate: Predicate
    start: Callable[[Arrival], Start | None]


@dataclass(frozen=True)
class Flow:
    """A declared dialog.

    :param states: the steps of each state family, tried in order.
    :param transitions: for every family, the families (or ``STAY``/``END``) its steps may
        go to; required, checked at registration and enforced at run time.
    :param prompt: asks the question of a state; used after every transition, on resume and
        after a stale tap, so buttons always carry the current version.
    :param on_complete: a service call run in the same transaction when the dialog ends;
        returns the closing messages.
    :param load_subject: loads what the dialog is about (e.g. the survey with its questions)
        once per event; steps and prompts read it as ``StepContext.subject``.
    :param fallbacks: steps tried in every state after the state's own (PTB's fallbacks).
    :param cancel: what cancels the dialog in any state; ``None`` for none (e.g. a
        consultation intake, where a word a distressed resident types must not end it).
    :param on_timeout: expire, or park the dialog so it can be resumed later.
    :param park_for: how long a parked dialog can be resumed before it expires.
    :param allow_reentry: an entry point hit mid-dialog restarts it; by default it resumes.
    :param prompt_size: the most messages ``prompt`` returns; with the steps' replies and
        the engine's notice they must fit LINE's five per reply.
    """

    name: str
    entry_points: tuple[Entry, ...]
    states: Mapping[str, tuple[Step, ...]]
    transitions: Mapping[str, tuple[str, ...]]
    prompt: Callable[[StepContext], Sequence[Message]]
    on_complete: Callable[[Session, Dialog, StepContext], Sequence[Message]]
    load_subject: Callable[[Session, Dialog], Any] | None = None
    fallbacks: tuple[Step, ...] = ()
    cancel: Predicate | None = CANCEL
    #: The answer to a cancel (a lazy string, said in the resident's language).
    cancel_text: Any = CANCELLED
    timeout: timedelta | None = None
    on_timeout: TimeoutPolicy = TimeoutPolicy.EXPIRE
    park_for: timedelta = timedelta(days=30)
    allow_reentry: bool = False
    prompt_size: int = 1

    @property
    def reply_budget(self) -> int:
        """How many messages a step's replies (or a start's, or a closing) may have."""
        return FLOW_MESSAGES - self.prompt_size


def check_flow(flow: Flow) -> None:
    """Check a flow's declaration.

    :raises FlowError: no states or entry points, a family without declared transitions, a
        transition to an undeclared family, or a prompt that cannot fit LINE's five messages.
    """
    name = flow.name
    if not flow.states or not flow.entry_points:
        raise FlowError(f"flow {name!r} needs states and entry points")
    if any(":" in family for family in flow.states):
        raise FlowError(f"flow {name!r}: a state family may not contain ':'")
    undeclared = sorted(set(flow.states) - set(flow.transitions))
    if undeclared:
        raise FlowError(f"flow {name!r}: no transitions declared for {', '.join(undeclared)}")
    for source, targets in flow.transitions.items():
        for target in (source, *targets):
            if target not in flow.states and target not in (STAY, END):
                raise FlowError(f"flow {name!r}: unknown state {target!r}")
    if not 1 <= flow.prompt_size <= FLOW_MESSAGES:
        raise FlowError(
            f"flow {name!r}: a prompt of {flow.prompt_size} messages cannot fit a reply "
            f"(LINE sends {MAX_MESSAGES}; the engine keeps {NOTICE_SLOTS} for its notice)"
        )


@dataclass
class _Turn:
    """One event's work on one dialog: its flow, subject and the version it will have."""

    ctx: EventContext
    flow: Flow
    dialog: Dialog
    subject: Any
    #: The version the dialog gets if the engine acts on it in this event.
    next_version: int

    def step_context(self) -> StepContext:
        return StepContext(
            flow=self.flow.name,
            state=self.dialog.state,
            data=MappingProxyType(dict(self.dialog.data)),
            subject_id=self.dialog.subject_id,
            subject=self.subject,
            dialog_id=self.dialog.id,
            version=self.next_version,
            now=self.ctx.now,
            language=self.ctx.resident.language,
        )

    def fit(self, what: str, messages: Sequence[Message], budget: int) -> list[Message]:
        """The messages, if they fit their share of the reply.

        :raises FlowError: naming the flow and the state, when they do not.
        """
        if len(messages) > budget:
            raise FlowError(
                f"flow {self.flow.name!r}, state {self.dialog.state!r}: the {what} has "
                f"{len(messages)} messages, its budget is {budget} (LINE sends at most "
                f"{MAX_MESSAGES} per reply)"
            )
        return list(messages)

    def prompt(self) -> list[Message]:
        return self.fit("prompt", self.flow.prompt(self.step_context()), self.flow.prompt_size)


class DialogEngine:
    """Registered flows and the event handling that drives them (an interceptor)."""

    def __init__(self, default_timeout: timedelta) -> None:
        self.default_timeout = default_timeout
        self._flows: dict[str, Flow] = {}

    def register(self, flow: Flow) -> None:
        """Add a flow after checking its declaration.

        :raises FlowError: a duplicate name, or see :func:`check_flow`.
        """
        if flow.name in self._flows:
            raise FlowError(f"flow {flow.name!r} registered twice")
        check_flow(flow)
        self._flows[flow.name] = flow

    def unregister(self, name: str) -> None:
        """Remove a flow (tests and rehearsal tools); its dialogs stop receiving input."""
        self._flows.pop(name, None)

    def flow(self, name: str) -> Flow | None:
        """The registered flow of that name."""
        return self._flows.get(name)

    def named_entry_predicates(self) -> list[tuple[str, Predicate]]:
        """``(flow name, predicate)`` of every entry point, for the start-up overlap check."""
        return [
            (f"flow {flow.name}", entry.predicate)
            for flow in self._flows.values()
            for entry in flow.entry_points
        ]

    # -- event handling ------------------------------------------------------------------

    def __call__(self, ctx: EventContext) -> bool:
        """Give the event to the resident's dialog, or to a flow's entry point.

        :return: True when the engine answered the event; False to let the router do it.
        """
        dialog, notices = self._active(ctx)
        postback = ctx.incoming.postback
        if postback is not None and postback.dialog_id is not None:
            if dialog is None:
                dialog = self._parked_by_id(ctx, postback.dialog_id)
                if dialog is None:
                    ctx.reply(*notices, with_main_menu(_stale_notice()))
                    return True
                notices = []  # the resident is back in the dialog they left
            if (postback.dialog_id, postback.dialog_version) != (dialog.id, dialog.version):
                self._stale(self._turn(ctx, dialog))
                return True
        if dialog is not None:
            return self._continue(self._turn(ctx, dialog))
        for flow in self._flows.values():
            for entry in flow.entry_points:
                if entry.predicate(ctx.incoming):
                    start = entry.start(Arrival(ctx.session, ctx.resident, ctx.incoming, ctx.now))
                    if start is not None:
                        self._enter(ctx, flow, start, notices)
                        return True
        if notices:
            ctx.reply(*notices)
        return False

    def _turn(self, ctx: EventContext, dialog: Dialog) -> _Turn:
        flow = self._flows.get(dialog.flow)
        if flow is None:
            raise FlowError(f"dialog {dialog.id} belongs to the unregistered flow {dialog.flow!r}")
        subject = flow.load_subject(ctx.session, dialog) if flow.load_subject else None
        return _Turn(ctx, flow, dialog, subject, dialog.version + 1)

    def _active(self, ctx: EventContext) -> tuple[Dialog | None, list[Message]]:
        """The resident's active dialog, timing it out first if its time is up."""
        dialog = ctx.dialog
        if dialog is None or dialog.expires_at > ctx.now:
            return dialog, []
        flow = self._flows.get(dialog.flow)
        if flow is not None and flow.on_timeout == TimeoutPolicy.PARK:
            _park(dialog, ctx.now, flow.park_for)
            notice = _("We kept your answers. Choose the same item again to continue.")
        else:
            _end(dialog, DialogStatus.EXPIRED, ctx.now)
            notice = _("Your previous session timed out and was closed.")
        ctx.session.flush()
        ctx.dialog = None
        return None, [with_main_menu(notice)]

    def _parked_by_id(self, ctx: EventContext, dialog_id: int) -> Dialog | None:
        """The resident's parked dialog a tapped button belongs to, made active again."""
        dialog = ctx.session.get(Dialog, dialog_id)
        if (
            dialog is None
            or dialog.resident_id != ctx.resident.id
            or dialog.status != DialogStatus.PARKED
            or dialog.expires_at <= ctx.now
            or dialog.flow not in self._flows
        ):
            return None
        return self._unpark(ctx, dialog)

    def _unpark(self, ctx: EventContext, dialog: Dialog) -> Dialog:
        dialog.status = DialogStatus.ACTIVE
        dialog.expires_at = ctx.now + self._timeout(self._flows[dialog.flow])
        ctx.session.flush()
        ctx.dialog = dialog
        logger.info("dialog resumed", extra={"flow": dialog.flow, "dialog": dialog.id})
        return dialog

    def _continue(self, turn: _Turn) -> bool:
        ctx, flow, incoming = turn.ctx, turn.flow, turn.ctx.incoming
        if flow.cancel is not None and flow.cancel(incoming):
            _end(turn.dialog, DialogStatus.CANCELLED, ctx.now)
            ctx.reply(with_main_menu(str(flow.cancel_text)))
            return True
        for step in (*flow.states[family_of(turn.dialog.state)], *flow.fallbacks):
            if step.predicate(incoming):
                self._apply(turn, step.fn(turn.step_context(), incoming))
                return True
        for entry in flow.entry_points:
            if entry.predicate(incoming):
                start = None
                if flow.allow_reentry:
                    start = entry.start(Arrival(ctx.session, ctx.resident, incoming, ctx.now))
                if start is None:  # resume where the resident left off
                    self._touch(turn)
                    ctx.reply(*turn.prompt())
                else:
                    _end(turn.dialog, DialogStatus.CANCELLED, ctx.now)
                    ctx.session.flush()
                    self._start(ctx, flow, start, [])
                return True
        if any(e.predicate(incoming) for f in self._flows.values() for e in f.entry_points):
            self._touch(turn)
            ctx.reply(
                *turn.prompt(),
                with_main_menu(_("Please finish this first, or cancel it.")),
            )
            return True
        return False

    def _enter(self, ctx: EventContext, flow: Flow, start: Start, notices: list[Message]) -> None:
        """Start a dialog, or resume the resident's parked one of the same flow and subject."""
        parked = ctx.session.scalars(
            select(Dialog)
            .where(
                Dialog.resident_id == ctx.resident.id,
                Dialog.flow == flow.name,
                Dialog.status == DialogStatus.PARKED,
                Dialog.expires_at > ctx.now,
            )
            .order_by(Dialog.id.desc())
        ).all()
        same = next((d for d in parked if d.subject_id == start.subject_id), None)
        if same is not None and not flow.allow_reentry:
            turn = self._turn(ctx, self._unpark(ctx, same))
            self._touch(turn)
            ctx.reply(*notices, *turn.prompt())
            return
        if same is not None:
            _end(same, DialogStatus.CANCELLED, ctx.now)
        self._start(ctx, flow, start, notices)

    def _start(self, ctx: EventContext, flow: Flow, start: Start, notices: list[Message]) -> None:
        if family_of(start.state) not in flow.states:
            raise FlowError(f"flow {flow.name!r} started in unknown state {start.state!r}")
        dialog = Dialog(
            resident_id=ctx.resident.id,
            flow=flow.name,
            subject_id=start.subject_id,
            state=start.state,
            data=dict(start.data),
            version=1,
            expires_at=ctx.now + self._timeout(flow),
        )
        ctx.session.add(dialog)
        ctx.session.flush()
        ctx.dialog = dialog
        turn = self._turn(ctx, dialog)
        turn.next_version = dialog.version  # a new dialog's buttons carry its first version
        replies = turn.fit("start's replies", start.replies, flow.reply_budget)
        ctx.reply(*notices, *replies, *turn.prompt())
        logger.info("dialog started", extra={"flow": flow.name, "dialog": dialog.id})

    def _apply(self, turn: _Turn, transition: Transition) -> None:
        """Persist a transition, then queue its replies and the next question (or the end)."""
        flow, dialog, ctx = turn.flow, turn.dialog, turn.ctx
        target = transition.next_state
        allowed = flow.transitions[family_of(dialog.state)]
        if target not in (STAY, END) and (
            family_of(target) not in flow.states or family_of(target) not in allowed
        ):
            raise FlowError(
                f"flow {flow.name!r}, state {dialog.state!r}: a step went to {target!r}, "
                f"which is not among its declared transitions {allowed}"
            )
        if target == END and END not in allowed:
            raise FlowError(f"flow {flow.name!r}, state {dialog.state!r}: may not end here")
        replies = turn.fit("step's replies", transition.replies, flow.reply_budget)
        data = dict(dialog.data)
        for key, value in transition.data.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        dialog.data = data
        if target == END:
            closing = flow.on_complete(ctx.session, dialog, turn.step_context())
            turn.fit("closing", closing, FLOW_MESSAGES - len(replies))
            _end(dialog, DialogStatus.COMPLETED, ctx.now)
            ctx.reply(*replies, *closing)
            return
        if target != STAY:
            dialog.state = target
        self._touch(turn)
        ctx.reply(*replies, *turn.prompt())

    def _touch(self, turn: _Turn) -> None:
        """Extend the deadline and set the new version, so buttons sent before now go stale."""
        dialog = turn.dialog
        dialog.expires_at = turn.ctx.now + self._timeout(turn.flow)
        dialog.updated_at = turn.ctx.now
        dialog.version = turn.next_version
        turn.ctx.session.flush()

    def _stale(self, turn: _Turn) -> None:
        """Answer a tap on a button from an earlier question: say so, ask the current one."""
        self._touch(turn)
        turn.ctx.reply(text(_stale_notice()), *turn.prompt())

    def _timeout(self, flow: Flow) -> timedelta:
        return flow.timeout or self.default_timeout

    def sweep(self, session: Session, now: datetime) -> int:
        """Clock job: time out every active dialog past its deadline, as its flow says.

        Dialogs of flows that park are parked; the others, and parked dialogs past their
        keeping time, expire.

        :return: how many dialogs changed.
        """
        changed = 0
        for flow in self._flows.values():
            if flow.on_timeout == TimeoutPolicy.PARK:
                changed += _rowcount(
                    session.execute(
                        update(Dialog)
                        .where(
                            Dialog.flow == flow.name,
                            Dialog.status == DialogStatus.ACTIVE,
                            Dialog.expires_at <= now,
                        )
                        .values(status=DialogStatus.PARKED, expires_at=now + flow.park_for)
                        .execution_options(synchronize_session=False)
                    )
                )
        changed += _rowcount(
            session.execute(
                update(Dialog)
                .where(
                    Dialog.status.in_((DialogStatus.ACTIVE, DialogStatus.PARKED)),
                    Dialog.expires_at <= now,
                )
                .values(status=DialogStatus.EXPIRED, ended_at=now, version=Dialog.version + 1)
                .execution_options(synchronize_session=False)
            )
        )
        return changed


def _stale_notice() -> str:
    return _("That button belongs to a question that has already closed.")


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def _park(dialog: Dialog, now: datetime, keep: timedelta) -> None:
    dialog.status = DialogStatus.PARKED
    dialog.expires_at = now + keep
    logger.info("dialog parked", extra={"flow": dialog.flow, "dialog": dialog.id})


def _end(dialog: Dialog, status: DialogStatus, now: datetime) -> None:
    dialog.status = status
    dialog.ended_at = now
    if status == DialogStatus.COMPLETED:
        dialog.completed_at = now
