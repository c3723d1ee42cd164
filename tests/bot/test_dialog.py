"""The dialog engine: pure steps, the engine driven directly, and conversations via webhooks.

Three levels, as STYLE.md 13 asks: steps are called as plain functions; the engine's policies
(budget, versions, data-driven states, fallbacks, cancel, timeouts) are driven through
:class:`Harness`, one unit of work per input on the real database; and the toy feature's
dialogs are played end to end by a simulated resident through signed webhooks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.context import EventContext
from bot.db import Database
from bot.dialog import (
    END,
    STAY,
    Arrival,
    DialogEngine,
    Entry,
    Flow,
    FlowError,
    Start,
    Step,
    StepContext,
    Transition,
    check_flow,
)
from bot.i18n import resident_locale
from bot.incoming import Incoming
from bot.messages import Message, postback_button, text
from bot.postback import PostbackData, decode
from bot.residents import lock_resident_and_dialog
from bot.routing import AnyText, Postback, Text
from bot.work import Work
from models import Dialog, DialogStatus
from models.base import utcnow
from tests.support import Resident
from tests.toy_feature import flow as toy
from tests.toy_feature.flow import ASK_NAME, CONFIRM, QUIZ_FLOW, TOY_FLOW, confirm, record_name

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
STALE = "このボタンの質問は、すでに終了しています。"
APOLOGY = (
    "申し訳ありません。こちらの不具合でメッセージを処理できませんでした。"
    "時間をおいて、もう一度お試しください。"
)


@pytest.fixture
def app(toy_app: Flask) -> Flask:
    """Every test here talks to the app with the toy feature."""
    return toy_app


def step_context(state: str, **data: str) -> StepContext:
    return StepContext("toy", state, data, None, None, 1, 2, NOW, "ja")


def says(incoming_text: str) -> Incoming:
    return Incoming("message", message_type="text", text=incoming_text)


def taps(data: PostbackData | str) -> Incoming:
    parsed = decode(data) if isinstance(data, str) else data
    return Incoming("postback", postback=parsed)


# -- pure steps: no database, no LINE ------------------------------------------------------


def test_record_name_moves_on_with_the_name() -> None:
    transition = record_name(step_context(ASK_NAME), says(" 花子 "))
    assert (transition.next_state, dict(transition.data)) == (CONFIRM, {"name": "花子"})


def test_record_name_stays_on_invalid_input() -> None:
    transition = record_name(step_context(ASK_NAME), says("x" * 21))
    assert transition.next_state == STAY
    assert transition.replies[0]["text"] == "20文字以内で入力してください"


def test_confirm_buttons_carry_the_dialog_guard() -> None:
    button = TOY_FLOW.prompt(step_context(CONFIRM, name="花子"))[0]
    data = decode(button["quickReply"]["items"][0]["action"]["data"])
    assert data is not None
    assert (data.dialog_id, data.dialog_version) == (1, 2)
    assert confirm(step_context(CONFIRM, name="花子"), taps(data)).next_state == END


# -- declarations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"states": {}}, "needs states"),
        ({"entry_points": ()}, "needs states and entry points"),
        ({"transitions": {ASK_NAME: (CONFIRM,)}}, "no transitions declared for CONFIRM"),
        ({"transitions": {ASK_NAME: ("NOWHERE",), CONFIRM: (END,)}}, "unknown state 'NOWHERE'"),
        ({"prompt_size": 5}, "cannot fit a reply"),
        ({"prompt_size": 0}, "cannot fit a reply"),
        ({"states": {"a:b": ()}, "transitions": {"a:b": ()}}, "may not contain ':'"),
    ],
)
def test_badly_declared_flows_are_refused(change: dict[str, Any], complaint: str) -> None:
    with pytest.raises(FlowError, match=complaint):
        check_flow(dataclasses.replace(TOY_FLOW, **change))


def test_a_flow_name_is_registered_once() -> None:
    engine = DialogEngine(timedelta(minutes=5))
    engine.register(TOY_FLOW)
    with pytest.raises(FlowError, match="twice"):
        engine.register(TOY_FLOW)


# -- the engine, driven directly ---------------------------------------------------------------


class Harness:
    """Feeds inputs to an engine, one unit of work each, for one resident; keeps the replies."""

    def __init__(self, app: Flask, engine: DialogEngine) -> None:
        self.app = app
        self.engine = engine
        self.db: Database = app.extensions["db"]
        self.now = utcnow()
        self.replies: list[list[Message]] = []

    def send(self, incoming: Incoming) -> bool:
        """One event: True when the engine claimed it."""
        with self.app.app_context(), self.db.unit_of_work() as session:
            work = Work(session)
            resident, dialog = lock_resident_and_dialog(session, "U" + "d" * 32)
            ctx = EventContext(work, incoming, resident, self.now, "token", {}, dialog)
            with resident_locale("ja"):
                claimed = self.engine(ctx)
        queued = work.outbox.replies
        self.replies.append(queued[0].messages if queued else [])
        return claimed

    def texts(self) -> list[str]:
        return [m["text"] for m in self.replies[-1] if m["type"] == "text"]

    def buttons(self) -> list[PostbackData]:
        """The postback buttons of the last reply's messages."""
        found = []
        for message in self.replies[-1]:
            for item in message.get("quickReply", {}).get("items", []):
                data = decode(item["action"].get("data"))
                if data is not None:
                    found.append(data)
        return found

    def dialog(self, flow: str | None = None) -> Dialog:
        """The resident's newest dialog (of that flow)."""
        query = select(Dialog).order_by(Dialog.id.desc())
        if flow is not None:
            query = query.where(Dialog.flow == flow)
        with self.db.sessions() as session:
            found = session.scalars(query).first()
        assert found is not None
        return found

    def later(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def drive(app: Flask) -> Callable[..., Harness]:
    def make(*flows: Flow) -> Harness:
        engine = DialogEngine(timedelta(minutes=30))
        for flow in flows:
            engine.register(flow)
        return Harness(app, engine)

    return make


def _flow(name: str = "probe", **changes: Any) -> Flow:
    """A one-state flow started by ``<name>.start``; each change replaces a field."""

    def go(ctx: StepContext, incoming: Incoming) -> Transition:
        return Transition(STAY, (text("ok"),))

    base = Flow(
        name=name,
        entry_points=(Entry(Postback(f"{name}.start"), lambda arrival: Start("S")),),
        states={"S": (Step(AnyText(), go),)},
        transitions={"S": (STAY, END)},
        prompt=lambda ctx: [text("question")],
        on_complete=lambda session, dialog, ctx: [text("done")],
    )
    return dataclasses.replace(base, **changes)


def _replying(
    *messages: Message, target: str = STAY
) -> Callable[[StepContext, Incoming], Transition]:
    def step(ctx: StepContext, incoming: Incoming) -> Transition:
        return Transition(target, messages)

    return step


def test_a_prompt_over_its_budget_names_the_flow_and_state(drive: Callable[..., Harness]) -> None:
    flow = _flow(prompt=lambda ctx: [text(str(n)) for n in range(2)])  # declares 1
    harness = drive(flow)
    with pytest.raises(FlowError, match=r"flow 'probe', state 'S': the prompt has 2 messages"):
        harness.send(taps("v=1&a=probe.start"))


def test_step_replies_and_prompt_fit_five_messages(drive: Callable[..., Harness]) -> None:
    four = tuple(text(str(n)) for n in range(4))
    harness = drive(_flow(states={"S": (Step(AnyText(), _replying(*four[:3])),)}))
    harness.send(taps("v=1&a=probe.start"))
    harness.send(says("x"))
    assert len(harness.replies[-1]) == 4  # three replies and the prompt, one slot to spare
    too_many = drive(_flow(states={"S": (Step(AnyText(), _replying(*four)),)}))
    too_many.send(taps("v=1&a=probe.start"))
    with pytest.raises(FlowError, match="the step's replies has 4 messages, its budget is 3"):
        too_many.send(says("x"))


def test_buttons_sent_by_a_step_are_current(drive: Callable[..., Harness]) -> None:
    def offer(ctx: StepContext, incoming: Incoming) -> Transition:
        button = postback_button("もう一度", ctx.button_data("probe.again"))
        return Transition(STAY, (text("もう一度？", [button]),))

    again = Step(Postback("probe.again"), _replying(text("again taken")))
    harness = drive(
        _flow(
            states={"S": (Step(AnyText(), offer), again)},
            prompt=lambda ctx: [text("question")],
        )
    )
    harness.send(taps("v=1&a=probe.start"))
    harness.send(says("x"))
    [button] = harness.buttons()
    assert button.dialog_version == harness.dialog().version
    harness.send(taps(button))
    assert harness.texts()[0] == "again taken"  # not "this question has closed"


def test_prompt_buttons_are_current_and_old_ones_stale(drive: Callable[..., Harness]) -> None:
    def ask(ctx: StepContext) -> Sequence[Message]:
        return [text("question", [postback_button("go", ctx.button_data("probe.go"))])]

    harness = drive(_flow(prompt=ask, states={"S": (Step(Postback("probe.go"), _replying()),)}))
    harness.send(taps("v=1&a=probe.start"))
    [first] = harness.buttons()
    harness.send(taps(first))  # a transition (STAY): the version moves on
    [second] = harness.buttons()
    assert first.dialog_version is not None
    assert second.dialog_version == first.dialog_version + 1 == harness.dialog().version
    harness.send(taps(first))
    assert harness.texts()[0] == STALE


def test_transitions_are_enforced_at_run_time(drive: Callable[..., Harness]) -> None:
    flow = _flow(
        states={"S": (Step(AnyText(), _replying(target="T")),), "T": ()},
        transitions={"S": (STAY,), "T": (END,)},
    )
    harness = drive(flow)
    harness.send(taps("v=1&a=probe.start"))
    with pytest.raises(FlowError, match="not among its declared transitions"):
        harness.send(says("x"))


def test_data_driven_states_read_the_subject_loaded_once_per_event(
    drive: Callable[..., Harness],
) -> None:
    toy.LOADS.clear()
    harness = drive(QUIZ_FLOW)
    harness.send(taps("v=1&a=quiz.start&id=1"))
    assert harness.texts() == ["(1/3) 県庁所在地は？"]
    for answer in ("前橋", "ヤマドリ", "ツツジ"):
        harness.send(says(answer))
    assert harness.texts() == ["2/3 問正解"]
    assert harness.dialog().state == "SUMMARY"
    assert harness.dialog().data == {"0": "前橋", "1": "ヤマドリ", "2": "ツツジ"}  # no quiz copy
    assert toy.LOADS == [1, 1, 1, 1]
    [submit] = harness.buttons()
    harness.send(taps(submit))
    assert harness.texts() == ["県のクイズにご参加ありがとうございました"]
    assert harness.dialog().status == DialogStatus.COMPLETED


def test_fallbacks_answer_in_every_state(drive: Callable[..., Harness]) -> None:
    helping = Step(Text("help"), _replying(text("here is help")))
    harness = drive(_flow(fallbacks=(helping,), states={"S": ()}))
    harness.send(taps("v=1&a=probe.start"))
    harness.send(says("help"))
    assert harness.texts() == ["here is help", "question"]
    assert not harness.send(says("something else"))  # nothing matched: the router answers


def test_a_flow_without_cancel_words_takes_them_as_answers(drive: Callable[..., Harness]) -> None:
    intake = _flow(
        cancel=Postback("dialog.cancel"),
        cancel_text="相談の受付を取り消しました。",
        states={"S": (Step(AnyText(), _replying(text("受け付けました"))),)},
    )
    harness = drive(intake)
    harness.send(taps("v=1&a=probe.start"))
    harness.send(says("やめる"))
    assert harness.texts()[0] == "受け付けました"
    assert harness.dialog().status == DialogStatus.ACTIVE
    harness.send(taps("v=1&a=dialog.cancel"))
    assert harness.texts() == ["相談の受付を取り消しました。"]
    assert harness.dialog().status == DialogStatus.CANCELLED


def test_default_cancel_words_end_the_dialog(drive: Callable[..., Harness]) -> None:
    harness = drive(_flow())
    harness.send(taps("v=1&a=probe.start"))
    harness.send(says("キャンセル"))
    assert harness.texts() == ["中断しました。入力内容は保存していません。"]
    assert harness.dialog().status == DialogStatus.CANCELLED


def test_entry_points_get_the_resident_and_the_event(drive: Callable[..., Harness]) -> None:
    seen: list[Arrival] = []

    def start(arrival: Arrival) -> Start:
        seen.append(arrival)
        return Start("S", subject_id=arrival.resident.id)

    harness = drive(_flow(entry_points=(Entry(Postback("probe.start"), start),)))
    harness.send(taps("v=1&a=probe.start"))
    [arrival] = seen
    assert isinstance(arrival.session, Session)
    assert arrival.incoming.postback == PostbackData("probe.start")
    assert harness.dialog().subject_id == arrival.resident.id


def test_a_parking_flow_keeps_answers_without_holding_the_slot(
    drive: Callable[..., Harness],
) -> None:
    harness = drive(QUIZ_FLOW, _flow("other"))
    harness.send(taps("v=1&a=quiz.start&id=1"))
    harness.send(says("前橋"))
    quiz_id = harness.dialog().id
    harness.later(timedelta(hours=1))
    assert not harness.send(says("hello"))  # timed out: parked, the router answers
    assert harness.texts() == [
        "回答は保存しています。同じ項目をもう一度選ぶと、続きから再開できます。"
    ]
    harness.send(taps("v=1&a=other.start"))  # the slot is free for another flow
    assert harness.dialog().flow == "other"
    harness.send(says("キャンセル"))
    harness.later(timedelta(days=3))
    harness.send(taps("v=1&a=quiz.start&id=1"))  # days later: resumes where it stopped
    assert harness.texts() == ["(2/3) 県の鳥は？"]
    resumed = harness.dialog("quiz")
    assert (resumed.id, resumed.status, resumed.data) == (
        quiz_id,
        DialogStatus.ACTIVE,
        {"0": "前橋"},
    )


def test_an_old_button_of_a_parked_dialog_resumes_it(drive: Callable[..., Harness]) -> None:
    harness = drive(QUIZ_FLOW)
    harness.send(taps("v=1&a=quiz.start&id=1"))
    for answer in ("前橋", "ヤマドリ", "レンゲツツジ"):
        harness.send(says(answer))
    [submit] = harness.buttons()
    harness.later(timedelta(hours=2))
    harness.send(taps(submit))  # parked on read, resumed by its own button, and applied
    assert harness.texts() == ["県のクイズにご参加ありがとうございました"]
    assert harness.dialog().status == DialogStatus.COMPLETED


def test_the_clock_parks_and_later_expires_parked_dialogs(
    drive: Callable[..., Harness], db: Database
) -> None:
    harness = drive(QUIZ_FLOW, _flow("other"))
    harness.send(taps("v=1&a=quiz.start&id=1"))
    with db.unit_of_work() as session:
        assert harness.engine.sweep(session, harness.now + timedelta(hours=1)) == 1
    assert harness.dialog().status == DialogStatus.PARKED
    with db.unit_of_work() as session:
        assert harness.engine.sweep(session, harness.now + timedelta(days=8)) == 1
    assert harness.dialog().status == DialogStatus.EXPIRED


# -- scripted conversations through the webhook ---------------------------------------------


def dialogs(app: Flask) -> list[Dialog]:
    with app.extensions["db"].sessions() as session:
        return list(session.scalars(select(Dialog).order_by(Dialog.id)))


def tap_quick_reply(resident: Resident, label: str) -> None:
    action = next(a for a in resident.last_quick_replies() if a["label"] == label)
    resident.tap(action["data"])


def test_two_step_dialog_completes(app: Flask, resident: Resident) -> None:
    resident.follow()
    resident.say("予約")
    assert resident.texts()[-1] == "お名前を入力してください"
    resident.say("花子")
    assert resident.texts()[-1] == "花子 さんでよろしいですか？"
    tap_quick_reply(resident, "はい")
    assert resident.texts()[-1] == "花子 さんの予約を受け付けました"
    [dialog] = dialogs(app)
    assert dialog.status == DialogStatus.COMPLETED
    assert dialog.completed_at is not None


def test_invalid_input_re_asks_and_no_goes_back(app: Flask, resident: Resident) -> None:
    resident.follow()
    resident.say("予約")
    resident.say("x" * 30)
    assert resident.texts()[-2:] == ["20文字以内で入力してください", "お名前を入力してください"]
    resident.say("花子")
    tap_quick_reply(resident, "いいえ")
    assert resident.texts()[-1] == "お名前を入力してください"
    assert dialogs(app)[0].data == {}


def test_cancel_word_ends_the_dialog_from_any_step(app: Flask, resident: Resident) -> None:
    resident.follow()
    resident.say("予約")
    resident.say("花子")
    resident.say("やめる")
    assert resident.texts()[-1] == "中断しました。入力内容は保存していません。"
    assert dialogs(app)[0].status == DialogStatus.CANCELLED
    resident.say("花子")  # no dialog any more: the fallback answers
    assert resident.texts()[-1].startswith("申し訳ありません、内容を理解できませんでした。")


def test_stale_button_is_recognised_and_changes_nothing(app: Flask, resident: Resident) -> None:
    resident.follow()
    resident.say("予約")
    resident.say("花子")
    old_yes = next(a for a in resident.last_quick_replies() if a["label"] == "はい")["data"]
    resident.say("予約")  # re-entry resumes: the question is asked again with new buttons
    assert resident.texts()[-1] == "花子 さんでよろしいですか？"
    resident.tap(old_yes)
    assert resident.texts()[-2:] == [
        STALE,
        "花子 さんでよろしいですか？",
    ]
    assert dialogs(app)[0].status == DialogStatus.ACTIVE
    tap_quick_reply(resident, "はい")  # the current buttons still work
    assert dialogs(app)[0].status == DialogStatus.COMPLETED
    resident.tap(old_yes)  # a button of a finished dialog
    assert resident.texts()[-1] == STALE


def test_timeout_expires_at_read_time_and_by_the_clock(app: Flask, resident: Resident) -> None:
    resident.follow()
    resident.say("予約")
    db = app.extensions["db"]
    with db.unit_of_work() as session:
        session.execute(update(Dialog).values(expires_at=utcnow() - timedelta(seconds=1)))
    resident.say("花子")
    assert resident.texts()[-2] == "前回の手続きは、時間切れのため終了しました。"
    assert dialogs(app)[0].status == DialogStatus.EXPIRED

    resident.say("予約")
    with db.unit_of_work() as session:
        session.execute(
            update(Dialog)
            .where(Dialog.status == DialogStatus.ACTIVE)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with db.unit_of_work() as session:
        assert app.extensions["dialogs"].sweep(session, utcnow()) == 1
    assert [d.status for d in dialogs(app)] == [DialogStatus.EXPIRED] * 2


def test_redelivered_answer_is_applied_once(app: Flask, resident: Resident) -> None:
    resident.follow()
    resident.say("予約")
    resident.say("花子")
    resident.redeliver()
    assert resident.texts().count("花子 さんでよろしいですか？") == 1
    replies = [r for r in resident.platform.state.requests() if r.endpoint == "reply"]
    assert len(replies) == 3
    assert all(r.status == 200 for r in replies)
    assert dialogs(app)[0].state == CONFIRM


def test_another_flow_cannot_start_mid_dialog(app: Flask, resident: Resident) -> None:
    resident.follow()
    resident.say("予約")
    resident.tap("v=1&a=quiz.start&id=1")
    assert resident.texts()[-2:] == [
        "お名前を入力してください",
        "いまの手続きを先に完了するか、取り消してください。",
    ]
    assert [d.flow for d in dialogs(app)] == ["toy"]


def test_a_poison_step_gets_an_apology_not_silence(
    app: Flask, resident: Resident, swap_flow: Callable[[Flow], None]
) -> None:
    """A step that breaks its budget fails the event once; the resident hears an apology."""
    swap_flow(
        dataclasses.replace(
            TOY_FLOW,
            states={**TOY_FLOW.states, ASK_NAME: (Step(AnyText(), _replying(*[text("x")] * 5)),)},
        )
    )
    resident.follow()
    resident.say("予約")
    response = resident.say("花子")
    assert response.status_code == 200  # not 500: a redelivery would fail the same way
    assert resident.texts()[-1] == APOLOGY
    assert resident.redeliver().status_code == 200
    assert len(resident.texts()) == 3  # welcome, the question, the apology: nothing more
    resident.say("やめる")  # the resident is not stuck
    assert dialogs(app)[0].status == DialogStatus.CANCELLED
