"""Two events for one resident at the same moment are applied one after the other.

Two threads each run a unit of work that locks the resident row (as the pipeline does) and
then read-modify-write the resident's dialog; with the lock the second waits for the first,
so no update is lost. On PostgreSQL this exercises ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from bot.db import Database
from bot.residents import lock_resident
from models import Conversation
from models.base import utcnow


def test_units_of_work_for_one_resident_are_serialised(app: Flask, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite serialises every write transaction")
    db: Database = app.extensions["db"]
    with db.unit_of_work() as session:
        resident = lock_resident(session, "U" + "a" * 32)
        session.add(
            Conversation(
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
            conversation = session.scalars(
                select(Conversation).where(Conversation.resident_id == resident.id)
            ).one()
            count = conversation.data["n"]
            time.sleep(hold)  # the other thread arrives meanwhile
            conversation.data = {"n": count + 1}
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
        assert session.scalars(select(Conversation)).one().data == {"n": 2}
