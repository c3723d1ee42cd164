"""The toy feature's two dialogs: a code-declared booking and a data-driven quiz.

* ``toy``: ask a name, then confirm it with two buttons (states ``ASK_NAME`` and ``CONFIRM``).
* ``quiz``: one state per question of a quiz loaded by ``load_subject`` (family ``q``, keys
  ``q:0``, ``q:1``, ...), then a summary; nothing of the quiz is copied into the dialog data,
  only the answers. It parks on timeout, so a resident can resume it days later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from bot.dialog import (
    END,
    STAY,
    Arrival,
    Entry,
    Flow,
    Start,
    Step,
    StepContext,
    TimeoutPolicy,
    Transition,
    state_of,
)
from bot.incoming import Incoming
from bot.messages import Message, postback_button, text
from bot.routing import AnyText, Postback, Text
from models import Dialog

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


def complete(session: Session, dialog: Dialog, ctx: StepContext) -> Sequence[Message]:
    """Closes the booking."""
    return [text(f"{ctx.data['name']} さんの予約を受け付けました")]


def start(arrival: Arrival) -> Start:
    """Starts a booking."""
    return Start(ASK_NAME)


TOY_FLOW = Flow(
    name="toy",
    entry_points=(Entry(Text("予約") | Postback("toy.start"), start),),
    states={
        ASK_NAME: (Step(AnyText(), record_name),),
        CONFIRM: (Step(Postback("toy.confirm"), confirm),),
    },
    transitions={ASK_NAME: (CONFIRM, STAY), CONFIRM: (ASK_NAME, END)},
    prompt=prompt,
    on_complete=complete,
    timeout=timedelta(minutes=30),
)


# -- the data-driven quiz ------------------------------------------------------------------


@dataclass(frozen=True)
class Quiz:
    """A quiz: its questions and the answer each expects."""

    title: str
    questions: tuple[tuple[str, str], ...]


#: The quizzes, by subject id (a real feature loads these from its tables).
QUIZZES: dict[int, Quiz] = {
    1: Quiz(
        "県のクイズ",
        (("県庁所在地は？", "前橋"), ("県の鳥は？", "ヤマドリ"), ("県の花は？", "レンゲツツジ")),
    ),
}
#: How many times the quiz was loaded: the engine loads the subject once per event.
LOADS: list[int] = []
QUESTION, SUMMARY = "q", "SUMMARY"


def load_quiz(session: Session, dialog: Dialog) -> Quiz:
    """Loads the quiz the dialog is about."""
    assert dialog.subject_id is not None
    LOADS.append(dialog.subject_id)
    return QUIZZES[dialog.subject_id]


def quiz_prompt(ctx: StepContext) -> Sequence[Message]:
    """Asks the current question, with its number, or shows the score."""
    quiz: Quiz = ctx.subject
    if ctx.family == SUMMARY:
        score = sum(ctx.data.get(str(i)) == answer for i, (_, answer) in enumerate(quiz.questions))
        return [
            text(
                f"{score}/{len(quiz.questions)} 問正解",
                [postback_button("送信", ctx.button_data("quiz.submit"))],
            )
        ]
    index = int(ctx.key or 0)
    return [text(f"({index + 1}/{len(quiz.questions)}) {quiz.questions[index][0]}")]


def answer(ctx: StepContext, incoming: Incoming) -> Transition:
    """Keeps the answer and moves to the next question, or to the summary after the last."""
    quiz: Quiz = ctx.subject
    index = int(ctx.key or 0)
    following = state_of(QUESTION, index + 1) if index + 1 < len(quiz.questions) else SUMMARY
    return Transition(following, data={str(index): (incoming.text or "").strip()})


def submit(ctx: StepContext, incoming: Incoming) -> Transition:
    """Ends the quiz."""
    return Transition(END)


def quiz_complete(session: Session, dialog: Dialog, ctx: StepContext) -> Sequence[Message]:
    """Thanks the resident."""
    return [text(f"{ctx.subject.title}にご参加ありがとうございました")]


def start_quiz(arrival: Arrival) -> Start | None:
    """Starts the quiz named by the button, if it exists."""
    assert arrival.incoming.postback is not None
    quiz_id = arrival.incoming.postback.get_int("id")
    if quiz_id not in QUIZZES:
        return None
    return Start(state_of(QUESTION, 0), subject_id=quiz_id)


QUIZ_FLOW = Flow(
    name="quiz",
    entry_points=(Entry(Postback("quiz.start"), start_quiz),),
    states={
        QUESTION: (Step(AnyText(), answer),),
        SUMMARY: (Step(Postback("quiz.submit"), submit),),
    },
    transitions={QUESTION: (QUESTION, SUMMARY), SUMMARY: (END,)},
    prompt=quiz_prompt,
    on_complete=quiz_complete,
    load_subject=load_quiz,
    on_timeout=TimeoutPolicy.PARK,
    timeout=timedelta(minutes=30),
    park_for=timedelta(days=7),
)
