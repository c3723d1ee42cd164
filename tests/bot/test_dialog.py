"""The dialog engine: pure steps, and scripted conversations through the real webhook."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select, update

from bot.dialog import END, STAY, DialogEngine, Flow, FlowError, StepContext, expire_stale_dialogs
from bot.postback import decode
from bot.routing import Incoming
from models import Conversation, ConversationStatus
from models.base import utcnow
from tests.bot.toy_flow import ASK_NAME, CONFIRM, TOY_FLOW, confirm, record_name
from tests.support import Resident

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)


def step_context(state: str, **data: str) -> StepContext:
    return StepContext("toy", state, data, None, conversation_id=1, version=2, now=NOW)


# -- pure steps: no database, no LINE ------------------------------------------------------


def test_record_name_moves_on_with_the_name() -> None:
    transition = record_name(step_context(ASK_NAME), Incoming("message", "text", text=" 花子 "))
    assert (transition.next_state, dict(transition.data)) == (CONFIRM, {"name": "花子"})


def test_record_name_stays_on_invalid_input() -> None:
    transition = record_name(step_context(ASK_NAME), Incoming("message", "text", text="x" * 21))
    assert transition.next_state == STAY
    assert transition.replies


def test_confirm_buttons_carry_the_dialog_guard() -> None:
    button = TOY_FLOW.prompt(step_context(CONFIRM, name="花子"))[0]
    data = decode(button["quickReply"]["items"][0]["action"]["data"])
    assert data is not None
    assert (data.conversation_id, data.conversation_version) == (1, 2)
    assert (
        confirm(step_context(CONFIRM, name="花子"), Incoming("postback", postback=data)).next_state
        == END
    )


def test_engine_rejects_badly_declared_flows() -> None:
    engine = DialogEngine(timedelta(minutes=5))
    engine.register(TOY_FLOW)
    with pytest.raises(FlowError, match="twice"):
        engine.register(TOY_FLOW)
    broken = dataclasses.replace(TOY_FLOW, name="broken", transitions={ASK_NAME: ("NOWHERE",)})
    with pytest.raises(FlowError, match="NOWHERE"):
        engine.register(broken)
    with pytest.raises(FlowError):
        engine.register(dataclasses.replace(TOY_FLOW, name="empty", states={}))


# -- scripted conversations ----------------------------------------------------------------


@pytest.fixture
def toy_app(app: Flask) -> Iterator[Flask]:
    """The shared app with the toy flow registered for the duration of a test."""
    dialogs: DialogEngine = app.extensions["dialogs"]
    dialogs.register(TOY_FLOW)
    yield app
    dialogs.unregister(TOY_FLOW.name)


def conversations(app: Flask) -> list[Conversation]:
    with app.extensions["db"].sessions() as session:
        return list(session.scalars(select(Conversation).order_by(Conversation.id)))


def tap_quick_reply(resident: Resident, label: str) -> None:
    action = next(a for a in resident.last_quick_replies() if a["label"] == label)
    resident.tap(action["data"])


def test_two_step_dialog_completes(toy_app: Flask, resident: Resident) -> None:
    resident.follow()
    resident.say("予約")
    assert resident.texts()[-1] == "お名前を入力してください"
    resident.say("花子")
    assert resident.texts()[-1] == "花子 さんでよろしいですか？"
    tap_quick_reply(resident, "はい")
    assert resident.texts()[-1] == "花子 さんの予約を受け付けました"
    [conversation] = conversations(toy_app)
    assert conversation.status == ConversationStatus.COMPLETED
    assert conversation.completed_at is not None


def test_invalid_input_re_asks_and_no_goes_back(toy_app: Flask, resident: Resident) -> None:
    resident.follow()
    resident.say("予約")
    resident.say("x" * 30)
    assert resident.texts()[-2:] == ["20文字以内で入力してください", "お名前を入力してください"]
    resident.say("花子")
    tap_quick_reply(resident, "いいえ")
    assert resident.texts()[-1] == "お名前を入力してください"
    assert conversations(toy_app)[0].data == {}


def test_cancel_word_ends_the_dialog_from_any_step(toy_app: Flask, resident: Resident) -> None:
    resident.follow()
    resident.say("予約")
    resident.say("花子")
    resident.say("やめる")
    assert "中断" in resident.texts()[-1]
    assert conversations(toy_app)[0].status == ConversationStatus.CANCELLED
    resident.say("花子")  # no dialog any more: the fallback answers
    assert "メニュー" in resident.texts()[-1]


def test_stale_button_is_recognised_and_changes_nothing(toy_app: Flask, resident: Resident) -> None:
    resident.follow()
    resident.say("予約")
    resident.say("花子")
    old_yes = next(a for a in resident.last_quick_replies() if a["label"] == "はい")["data"]
    resident.say("予約")  # re-entry resumes: the question is asked again with new buttons
    assert resident.texts()[-1] == "花子 さんでよろしいですか？"
    resident.tap(old_yes)
    assert "終了" in resident.texts()[-2]
    assert conversations(toy_app)[0].status == ConversationStatus.ACTIVE
    tap_quick_reply(resident, "はい")  # the current buttons still work
    assert conversations(toy_app)[0].status == ConversationStatus.COMPLETED
    resident.tap(old_yes)  # a button of a finished dialog
    assert "終了" in resident.texts()[-1]


def test_timeout_expires_at_read_time_and_by_the_clock(toy_app: Flask, resident: Resident) -> None:
    resident.follow()
    resident.say("予約")
    db = toy_app.extensions["db"]
    with db.unit_of_work() as session:
        session.execute(update(Conversation).values(expires_at=utcnow() - timedelta(seconds=1)))
    resident.say("花子")
    assert "時間切れ" in resident.texts()[-2]
    assert conversations(toy_app)[0].status == ConversationStatus.EXPIRED

    resident.say("予約")
    with db.unit_of_work() as session:
        session.execute(
            update(Conversation)
            .where(Conversation.status == ConversationStatus.ACTIVE)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with db.unit_of_work() as session:
        assert expire_stale_dialogs(session, utcnow()) == 1
    assert [c.status for c in conversations(toy_app)] == [ConversationStatus.EXPIRED] * 2


def test_redelivered_answer_is_applied_once(toy_app: Flask, resident: Resident) -> None:
    resident.follow()
    resident.say("予約")
    resident.say("花子")
    resident.redeliver()
    assert resident.texts().count("花子 さんでよろしいですか？") == 1
    replies = [r for r in resident.platform.state.requests() if r.endpoint == "reply"]
    assert len(replies) == 3
    assert all(r.status == 200 for r in replies)
    assert conversations(toy_app)[0].state == CONFIRM


def test_another_flow_cannot_start_mid_dialog(
    toy_app: Flask, resident: Resident, make_flow: Callable[[str], Flow]
) -> None:
    other = make_flow("other")
    toy_app.extensions["dialogs"].register(other)
    resident.follow()
    resident.say("予約")
    resident.tap("v=1&a=other.start")
    assert "やめる" in resident.texts()[-1] or "cancel" in resident.texts()[-1]
    assert [c.flow for c in conversations(toy_app)] == ["toy"]


@pytest.fixture
def make_flow(app: Flask) -> Iterator[Callable[[str], Flow]]:
    from bot.routing import Action

    names: list[str] = []

    def make(name: str) -> Flow:
        names.append(name)
        return dataclasses.replace(
            TOY_FLOW,
            name=name,
            entry_points=(
                dataclasses.replace(TOY_FLOW.entry_points[0], predicate=Action(f"{name}.start")),
            ),
        )

    yield make
    for name in names:
        app.extensions["dialogs"].unregister(name)
