"""Coupon campaigns in the console: admins create and edit them under the same rules as
campaign files; problems show at their fields; every change is audited; others are refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from models import AuditEntry, Facility, Role, Staff
from models.coupons import Campaign, CampaignStatus
from tests.console.conftest import csrf_token
from tests.coupons.conftest import stored_campaign

SCRIPT = '<script>alert("x")</script>'


@pytest.fixture
def facilities(app: Flask) -> dict[str, int]:
    with app.extensions["db"].unit_of_work() as session:
        made = [
            Facility(code="museum", name_ja="県立近代美術館", name_en="Museum of Modern Art"),
            Facility(code="park", name_ja="ぐんまフラワーパーク", name_en="Gunma Flower Park"),
        ]
        session.add_all(made)
        session.flush()
        return {f.code: f.id for f in made}


def form(known: dict[str, int], **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "code": "autumn",
        "name_ja": "秋のクーポン",
        "name_en": "Autumn coupons",
        "benefit_ja": "入館無料",
        "benefit_en": "Free entry",
        "status": "published",
        "uses_per_person": "3",
        "uses_per_day": "",
        "uses_per_facility": "",
        "starts": "2030-10-01T09:00",
        "ends": "2030-11-30T17:00",
        "budget_uses": "",
        "facilities": [known["museum"], known["park"]],
        "prefecture": "",
        "min_age": "",
        "max_age": "",
    }
    values.update(changes)
    return values


def post(client: FlaskClient, path: str, data: dict[str, Any]) -> Any:
    return client.post(path, data={**data, "csrf_token": csrf_token(client, path)})


def test_an_admin_creates_a_campaign(
    app: Flask,
    client: FlaskClient,
    signed_in: Callable[..., Staff],
    facilities: dict[str, int],
) -> None:
    me = signed_in(Role.ADMIN)
    assert "新しいキャンペーン" in client.get("/admin/coupons/").get_data(as_text=True)
    answer = post(client, "/admin/coupons/new", form(facilities, prefecture="群馬県", min_age="18"))
    assert answer.status_code == 302, answer.get_data(as_text=True)
    campaign = stored_campaign(app, "autumn")
    assert campaign.status == CampaignStatus.PUBLISHED
    assert campaign.starts_at == datetime(2030, 10, 1, 0, tzinfo=UTC)  # 09:00 in Tokyo
    assert campaign.ends_at == datetime(2030, 11, 30, 8, tzinfo=UTC)
    assert (campaign.prefecture, campaign.min_age, campaign.max_age) == ("群馬県", 18, None)
    with app.extensions["db"].sessions() as session:
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "coupons.campaign.create")
        ).all()
        stored = session.get(Campaign, campaign.id)
        assert stored is not None
        assert [f.code for f in stored.facilities] == ["museum", "park"]
    assert entry.actor_id == me.id
    assert entry.detail == {"code": "autumn", "status": "published"}
    listing = client.get("/admin/coupons/").get_data(as_text=True)
    assert "秋のクーポン" in listing
    assert "2030-10-01 09:00" in listing  # shown in Japan's time


def test_problems_show_at_their_fields_and_nothing_is_stored(
    app: Flask,
    client: FlaskClient,
    signed_in: Callable[..., Staff],
    facilities: dict[str, int],
) -> None:
    signed_in(Role.ADMIN)
    answer = post(
        client,
        "/admin/coupons/new",
        form(
            facilities,
            code="Autumn Coupons",
            name_en="",
            uses_per_day="5",
            ends="2030-09-01T00:00",
            facilities=[],
            min_age="70",
            max_age="20",
        ),
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    for error in (
        'id="code-error">半角の英小文字・数字・ハイフン（先頭と末尾以外）で1〜32文字に',
        'id="name_en-error">入力してください',
        'id="uses_per_day-error">1人あたりの利用回数（3回）以下にしてください',
        'id="ends-error">開始日時より後にしてください',
        'id="facilities-error">対象施設を1つ以上選んでください',
        'id="max_age-error">最低年齢以上にしてください',
    ):
        assert error in page, error
    assert 'aria-describedby="ends-error"' in page
    with app.extensions["db"].sessions() as session:
        assert session.scalars(select(Campaign)).all() == []


def test_a_taken_code_is_refused(
    app: Flask,
    client: FlaskClient,
    signed_in: Callable[..., Staff],
    facilities: dict[str, int],
    campaign: Callable[..., Campaign],
) -> None:
    campaign(code="autumn")
    signed_in(Role.ADMIN)
    page = post(client, "/admin/coupons/new", form(facilities)).get_data(as_text=True)
    assert "キャンペーン autumn はすでにあります" in page


def test_an_admin_edits_a_campaign_but_not_its_code(
    app: Flask,
    client: FlaskClient,
    signed_in: Callable[..., Staff],
    campaign: Callable[..., Campaign],
    facilities: dict[str, int],
) -> None:
    made = campaign(code="pilot")
    signed_in(Role.ADMIN)
    page = client.get(f"/admin/coupons/{made.id}").get_data(as_text=True)
    assert 'value="県有施設無料クーポン"' in page
    changes = form(facilities, code="renamed", name_ja=SCRIPT, status="withdrawn")
    answer = post(client, f"/admin/coupons/{made.id}", changes)
    assert answer.status_code == 302
    edited = stored_campaign(app, "pilot")  # the code stayed
    assert (edited.name_ja, edited.status) == (SCRIPT, CampaignStatus.WITHDRAWN)
    listing = client.get("/admin/coupons/").get_data(as_text=True)
    assert SCRIPT not in listing
    assert "&lt;script&gt;" in listing
    with app.extensions["db"].sessions() as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "coupons.campaign.update" in actions


def test_a_form_without_its_csrf_token_is_refused(
    app: Flask,
    client: FlaskClient,
    signed_in: Callable[..., Staff],
    facilities: dict[str, int],
) -> None:
    signed_in(Role.ADMIN)
    answer = client.post("/admin/coupons/new", data=form(facilities))
    assert answer.status_code == 400
    with app.extensions["db"].sessions() as session:
        assert session.scalars(select(Campaign)).all() == []


@pytest.mark.parametrize("role", [Role.EDITOR, Role.FACILITY, Role.VIEWER, Role.APPROVER])
def test_other_roles_are_refused_and_recorded(
    app: Flask,
    client: FlaskClient,
    signed_in: Callable[..., Staff],
    facilities: dict[str, int],
    role: Role,
) -> None:
    me = signed_in(role)
    assert client.get("/admin/coupons/").status_code == 403
    token = csrf_token(client, "/admin/account")
    answer = client.post("/admin/coupons/new", data={**form(facilities), "csrf_token": token})
    assert answer.status_code == 403
    with app.extensions["db"].sessions() as session:
        assert session.scalars(select(Campaign)).all() == []
        refused = session.scalars(
            select(AuditEntry.object_id).where(
                AuditEntry.action == "forbidden", AuditEntry.actor_id == me.id
            )
        ).all()
    assert sorted(refused) == ["coupons_admin.index", "coupons_admin.new"]


def test_an_unknown_campaign_is_not_found(
    client: FlaskClient, signed_in: Callable[..., Staff]
) -> None:
    signed_in(Role.ADMIN)
    assert client.get("/admin/coupons/999999").status_code == 404
