"""Two events for one resident at the same moment are applied one after the other.

Two threads each run a unit of work that locks the resident row (as the pipeline does) and
then read-modify-write the resident's dialog; with the lock the second waits for the first,
so no update is lost. On PostgreSQL this exercises ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from bot.db import Database
from bot.dialog import Flow, Step, StepContext, Transition
from bot.incoming import Incoming
from bot.residents import lock_resident
from bot.routing import AnyText
from models import Dialog
from models.base import utcnow
from simulator import events as line_events
from tests.support import Resident, signed_post
from tests.toy_feature.flow import ASK_NAME, CONFIRM, TOY_FLOW, record_name


@pytest.fixture
def app(toy_app: Flask) -> Flask:
    """The app with the toy feature (its booking dialog)."""
    return toy_app


def test_units_of_work_for_one_resident_are_serialised(app: Flask, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite serialises every write transaction")
    db: Database = app.extensions["db"]
    with db.unit_of_work() as session:
        resident = lock_resident(session, "U" + "a" * 32)
        session.add(
            Dialog(
                resident_id=resident.id,
                flow="toy",
                state="S",
                data={"n": 0},
                expires_at=utcnow() + timedelta(minutes=5),
            )
        )
    first_has_lock = threading.Event()
    order: list[str] = []

    def increment(name: str, hold: float) -> None:
        with db.unit_of_work() as session:
            resident = lock_resident(session, "U" + "a" * 32)
            order.append(f"{name} locked")
            first_has_lock.set()
            dialog = session.scalars(select(Dialog).where(Dialog.resident_id == resident.id)).one()
            count = dialog.data["n"]
            time.sleep(hold)  # the other thread arrives meanwhile
            dialog.data = {"n": count + 1}
            order.append(f"{name} done")

    first = threading.Thread(target=increment, args=("first", 0.3))
    first.start()
    first_has_lock.wait(5)
    second = threading.Thread(target=increment, args=("second", 0.0))
    second.start()
    first.join(10)
    second.join(10)
    assert order == ["first locked", "first done", "second locked", "second done"]
    with db.sessions() as session:
        assert session.scalars(select(Dialog)).one().data == {"n": 2}


def test_two_webhooks_for_one_resident_at_once_apply_in_turn(
    app: Flask, database_url: str, resident: Resident, swap_flow: Callable[[Flow], None]
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite serialises every write transaction")

    def slow_record_name(ctx: StepContext, incoming: Incoming) -> Transition:
        time.sleep(0.3)  # hold the resident's lock while the other event arrives
        return record_name(ctx, incoming)

    slow = dataclasses.replace(
        TOY_FLOW, states={**TOY_FLOW.states, ASK_NAME: (Step(AnyText(), slow_record_name),)}
    )
    swap_flow(slow)
    resident.follow()
    resident.say("予約")
    statuses: list[int] = []

    def say(text: str) -> None:
        token = resident.platform.state.issue_reply_token(resident.user_id)
        event = line_events.text_event(resident.user_id, text, reply_token=token)
        body = line_events.callback_body([event])
        statuses.append(signed_post(app.test_client(), body).status_code)

    threads = [threading.Thread(target=say, args=(name,)) for name in ("花子", "太郎")]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(10)
    assert statuses == [200, 200]  # no lost update, no version conflict
    with app.extensions["db"].sessions() as session:
        dialog = session.scalars(select(Dialog)).one()
    assert dialog.state == CONFIRM
    assert dialog.data == {"name": "花子"}  # the second answer met the next question
    # 太郎 arrived while 花子 was being recorded and was applied after it, to the confirmation,
    # where a typed text is not an answer: the confirmation stays, the router answers.
    assert resident.texts()[-2:] == [
        "花子 さんでよろしいですか？",
        "申し訳ありません、内容を理解できませんでした。下のメニューからお選びください。"
        "「メニュー」と送ると、いつでもメニューを表示します。",
    ]
