"""A toy two-step dialog used to test the engine: ask a name, then confirm it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from linebot.v3.messaging import Message
from sqlalchemy.orm import Session

from bot.context import EventContext
from bot.dialog import END, STAY, Entry, Flow, Start, Step, StepContext, Transition
from bot.messages import postback_button, text
from bot.routing import Action, AnyText, Incoming, Text
from models import Conversation

ASK_NAME, CONFIRM = "ASK_NAME", "CONFIRM"


def prompt(ctx: StepContext) -> Sequence[Message]:
    """Asks the question of the current state."""
    if ctx.state == ASK_NAME:
        return [text("お名前を入力してください")]
    return [
        text(
            f"{ctx.data['name']} さんでよろしいですか？",
            [
                postback_button("はい", ctx.button_data("toy.confirm", ok="1")),
                postback_button("いいえ", ctx.button_data("toy.confirm", ok="0")),
            ],
        )
    ]


def record_name(ctx: StepContext, incoming: Incoming) -> Transition:
    """Keeps the typed name and moves on to the confirmation."""
    name = (incoming.text or "").strip()
    if not name or len(name) > 20:
        return Transition(STAY, (text("20文字以内で入力してください"),))
    return Transition(CONFIRM, data={"name": name})


def confirm(ctx: StepContext, incoming: Incoming) -> Transition:
    """Finishes on yes, asks again on no."""
    assert incoming.postback is not None
    if incoming.postback.params.get("ok") == "1":
        return Transition(END)
    return Transition(ASK_NAME, data={"name": None})


def complete(session: Session, conversation: Conversation, ctx: StepContext) -> Sequence[Message]:
    """Closes the booking."""
    return [text(f"{ctx.data['name']} さんの予約を受け付けました")]


def start(ctx: EventContext) -> Start:
    return Start(ASK_NAME)


TOY_FLOW = Flow(
    name="toy",
    entry_points=(Entry(Text("予約") | Action("toy.start"), start),),
    states={
        ASK_NAME: (Step(AnyText(), record_name),),
        CONFIRM: (Step(Action("toy.confirm"), confirm),),
    },
    prompt=prompt,
    on_complete=complete,
    timeout=timedelta(minutes=30),
    transitions={ASK_NAME: (CONFIRM,), CONFIRM: (ASK_NAME, END)},
)
