"""Logs carry internal ids only: never message text, LINE user ids or profile data."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from bot.db import Database
from bot.logs import RedactFilter, configure
from models import InboxEvent
from models.base import utcnow
from tests.support import Resident


def test_no_personal_data_at_info_or_above(
    caplog: pytest.LogCaptureFixture, resident_factory: Callable[..., Resident]
) -> None:
    secret_name, secret_text = "秘密の名前", "私の住所は秘密です"
    sim = resident_factory(display_name=secret_name)
    caplog.set_level(logging.INFO)
    sim.follow()
    sim.say(secret_text)
    sim.tap("v=1&a=menu.coupons")
    sim.redeliver()
    sim.platform.state.inject_fault("reply", status=400, body={"message": "Invalid reply token"})
    sim.say(secret_text)
    assert caplog.records, "the pipeline logs each event"
    for record in caplog.records:
        rendered = json.dumps(record.__dict__, default=str, ensure_ascii=False)
        for personal in (secret_name, secret_text, sim.user_id):
            assert personal not in rendered, (record.name, record.getMessage())


def test_database_errors_do_not_quote_their_parameters(db: Database) -> None:
    secret = "私の住所は秘密です"
    now = utcnow()
    row = {
        "webhook_event_id": "01TESTEVENT",
        "type": "message",
        "payload": secret,
        "occurred_at": now,
        "available_at": now,
        "status": "pending",
        "attempts": 0,
    }
    with db.unit_of_work() as session:
        session.execute(insert(InboxEvent).values(row))
    with pytest.raises(IntegrityError) as caught, db.unit_of_work() as session:
        session.execute(insert(InboxEvent).values(row))
    assert "hidden due to hide_parameters" in str(caught.value)
    assert secret not in str(caught.value)


def test_processed_events_are_logged_with_internal_ids(
    caplog: pytest.LogCaptureFixture, resident: Resident
) -> None:
    caplog.set_level(logging.INFO, logger="bot.pipeline")
    resident.follow()
    [record] = [r for r in caplog.records if r.getMessage() == "webhook event processed"]
    fields = record.__dict__
    assert isinstance(fields["resident"], int)
    assert fields["event_type"] == "follow"
    assert fields["event_id"]


def test_redact_filter_masks_line_ids_that_slip_into_messages() -> None:
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "user %s failed", ("U" + "0123456789abcdef" * 2,), None
    )
    RedactFilter().filter(record)
    assert record.getMessage() == "user [line-id] failed"


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, restored after the test (``configure`` replaces its handlers)."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield root
    root.handlers[:], root.level = saved[0], saved[1]


def test_json_format(root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]) -> None:
    configure("INFO", "json")
    logging.getLogger("madoguchi.test").info("hello", extra={"resident": 7})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert json.loads(line)["resident"] == 7


def test_text_format_is_one_readable_line_with_the_ids(
    root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("INFO", "text")
    logging.getLogger("madoguchi.test").info(
        "webhook event processed", extra={"event_type": "follow", "resident": 7}
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.endswith(
        " INFO madoguchi.test: webhook event processed event_type=follow resident=7"
    )
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
