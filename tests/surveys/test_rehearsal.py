"""Rehearsal: staff link their LINE account with a one-time code and answer drafts as tests."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from bot.db import Database
from models import AuditEntry, Dialog, Staff
from models.base import utcnow
from models.staff import Role
from models.surveys import SurveyRehearser
from surveys.services import create_survey
from tests.console.conftest import csrf_token
from tests.support import Resident
from tests.surveys.answering_support import PETS, buttons, submissions, survey_row, tap

PAGE = "/admin/surveys/rehearsal"


def make_code(client: FlaskClient) -> str:
    page = client.post(f"{PAGE}/code", data={"csrf_token": csrf_token(client, PAGE)})
    assert page.status_code == 200
    found = re.search(r"連携 ([A-Z0-9]{4}-[A-Z0-9]{4})", page.get_data(as_text=True))
    assert found
    return found.group(1)


def draft(db: Database) -> int:
    with db.unit_of_work() as session:
        return create_survey(session, PETS).id


@pytest.mark.parametrize(
    "role", [Role.ADMIN, Role.APPROVER, Role.COUNSELLOR, Role.FACILITY, Role.VIEWER]
)
def test_only_editors_may_link(
    client: FlaskClient, signed_in: Callable[..., Staff], role: Role
) -> None:
    signed_in(role)
    assert client.get(PAGE).status_code == 403
    assert client.post(f"{PAGE}/code", data={}).status_code in (400, 403)


def test_signed_out_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    assert client.get(PAGE).status_code == 302


def test_a_code_without_csrf_is_refused(
    client: FlaskClient, db: Database, signed_in: Callable[..., Staff]
) -> None:
    signed_in(Role.EDITOR)
    assert client.post(f"{PAGE}/code", data={}).status_code == 400
    with db.reading() as session:
        assert session.scalars(select(SurveyRehearser)).all() == []


def test_an_editor_links_and_rehearses_a_draft(
    app: Flask,
    client: FlaskClient,
    db: Database,
    signed_in: Callable[..., Staff],
    resident: Resident,
) -> None:
    signed_in(Role.EDITOR)
    survey_id = draft(db)
    resident.follow()
    resident.say("リハーサル")
    assert resident.texts()[-1] == "リハーサルは、LINEアカウントを連携した職員が利用できます。"
    code = make_code(client)
    with db.reading() as session:
        [row] = session.scalars(select(SurveyRehearser)).all()
        assert row.code_hash is not None
        assert code.replace("-", "") not in row.code_hash  # only a keyed hash is kept
        actions = [e.action for e in session.scalars(select(AuditEntry))]
        assert "rehearsal.code" in actions
    resident.say(f"連携 {code.lower()}")
    assert resident.texts()[-1].startswith("LINEアカウントをリハーサル用に連携しました")
    resident.say(f"連携 {code}")  # used once: refused
    assert resident.texts()[-1].startswith("このコードは無効です")
    resident.say("リハーサル")
    tap(resident, "リハーサル")
    assert resident.texts()[-2].startswith("下書きのリハーサルです")
    tap(resident, "いいえ")
    tap(resident, "スキップ")
    tap(resident, "送信")
    assert resident.texts()[-1].startswith("（リハーサル：テストとして保存され")
    [submission] = submissions(db)
    assert submission.test
    assert survey_row(db, survey_id).response_count == 0
    with db.reading() as session:  # the answers are gone; the mark the funnel leaves out stays
        [dialog] = session.scalars(select(Dialog).where(Dialog.flow == "survey")).all()
        assert dialog.data == {"@test": True}
    assert "連携済み" in client.get(PAGE).get_data(as_text=True)


def test_expired_and_unknown_codes_link_nothing(
    app: Flask,
    client: FlaskClient,
    db: Database,
    signed_in: Callable[..., Staff],
    resident: Resident,
) -> None:
    signed_in(Role.EDITOR)
    code = make_code(client)
    resident.follow()
    resident.say("連携 ABCD-EFGH")
    assert resident.texts()[-1].startswith("このコードは無効です")
    with db.unit_of_work() as session:
        session.execute(
            update(SurveyRehearser).values(code_expires_at=utcnow() - timedelta(seconds=1))
        )
    resident.say(f"連携 {code}")
    assert resident.texts()[-1].startswith("このコードは無効です")
    with db.reading() as session:
        assert session.scalars(select(SurveyRehearser.resident_id)).all() == [None]


def test_residents_cannot_rehearse_drafts(app: Flask, db: Database, resident: Resident) -> None:
    survey_id = draft(db)
    resident.follow()
    resident.tap(f"v=1&a=survey.rehearse&id={survey_id}")
    resident.tap(f"v=1&a=survey.start&id={survey_id}")
    assert resident.texts()[-1] == "そのアンケートはご利用いただけません。"
    assert submissions(db) == []
    assert "リハーサル" not in buttons(resident)


def test_unlinking_forgets_the_account(
    app: Flask,
    client: FlaskClient,
    db: Database,
    signed_in: Callable[..., Staff],
    resident: Resident,
) -> None:
    signed_in(Role.EDITOR)
    code = make_code(client)
    resident.follow()
    resident.say(f"連携 {code}")
    assert (
        client.post(f"{PAGE}/unlink", data={"csrf_token": csrf_token(client, PAGE)}).status_code
        == 302
    )
    resident.say("リハーサル")
    assert resident.texts()[-1] == "リハーサルは、LINEアカウントを連携した職員が利用できます。"
