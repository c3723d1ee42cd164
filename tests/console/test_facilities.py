"""Facilities and the staff linked to them: records, CLI, the staff page, and the rule that
the facility role acts at its own facilities only."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.console.facilities import add_facility
from bot.console.users import StaffUser
from models import AuditEntry, Facility, Role, Staff
from tests.console.conftest import StaffFactory, post_form


@pytest.fixture
def app(toy_app: Flask) -> Flask:
    """The app with the toy feature, whose facility page these tests open."""
    return toy_app


@pytest.fixture
def facility(app: Flask) -> Callable[..., Facility]:
    """Add a facility: ``facility("museum", active=False)``."""

    def make(code: str, *, active: bool = True) -> Facility:
        with app.extensions["db"].unit_of_work() as session:
            added = add_facility(session, code=code, name_ja=f"{code}館", name_en=f"{code} hall")
            added.active = active
            return added

    return make


def link(app: Flask, staff: Staff, *facilities: Facility) -> None:
    with app.extensions["db"].unit_of_work() as session:
        person = session.get_one(Staff, staff.id)
        person.facilities = [session.get_one(Facility, f.id) for f in facilities]


def codes_of(app: Flask, staff_id: int) -> list[str]:
    with app.extensions["db"].sessions() as session:
        return [f.code for f in session.get_one(Staff, staff_id).facilities]


def all_codes(app: Flask) -> list[str]:
    with app.extensions["db"].sessions() as session:
        return list(session.scalars(select(Facility.code).order_by(Facility.code)))


# Records ---------------------------------------------------------------------------------


def test_codes_are_normalised_and_bad_facilities_refused(app: Flask) -> None:
    with app.extensions["db"].unit_of_work() as session:
        added = add_facility(session, code=" Museum-01 ", name_ja=" 県立美術館 ", name_en="Museum")
        assert (added.code, added.name_ja) == ("museum-01", "県立美術館")
    bad = [
        ({"code": ""}, "facility code"),
        ({"code": "-museum"}, "facility code"),
        ({"code": "museum-"}, "facility code"),
        ({"code": "the museum"}, "facility code"),
        ({"code": "美術館"}, "facility code"),
        ({"code": "m" * 33}, "facility code"),
        ({"name_ja": "  "}, "Japanese name"),
        ({"name_en": ""}, "English name"),
        ({"name_en": "x" * 201}, "English name"),
        ({"code": "MUSEUM-01"}, "already a facility museum-01"),
    ]
    for change, message in bad:
        values = {"code": "park", "name_ja": "公園", "name_en": "Park", **change}
        with (
            app.extensions["db"].unit_of_work() as session,
            pytest.raises(ValueError, match=re.escape(message)),
        ):
            add_facility(session, **values)
    assert all_codes(app) == ["museum-01"]


def test_the_schema_keeps_codes_lower_case_and_unique(app: Flask) -> None:
    for code in ("Upper", "same", "same"):
        try:
            with app.extensions["db"].unit_of_work() as session:
                session.add(Facility(code=code, name_ja="館", name_en="Hall"))
        except IntegrityError:
            continue
    assert all_codes(app) == ["same"]


def test_the_snapshot_knows_the_active_facilities(
    app: Flask, staff_factory: StaffFactory, facility: Callable[..., Facility]
) -> None:
    museum, park, closed = facility("museum"), facility("park"), facility("old", active=False)
    staff = staff_factory(Role.FACILITY)
    link(app, staff, museum, closed)
    with app.extensions["db"].sessions() as session:
        user = StaffUser.of(session.get_one(Staff, staff.id))
    assert user.facility_ids == frozenset({museum.id})
    assert park.id not in user.facility_ids


# The rule --------------------------------------------------------------------------------


def test_facility_staff_act_at_their_own_facilities_only(
    app: Flask,
    client: FlaskClient,
    signed_in: Callable[..., Staff],
    facility: Callable[..., Facility],
) -> None:
    museum, park, closed = facility("museum"), facility("park"), facility("old", active=False)
    me = signed_in(Role.FACILITY)
    link(app, me, museum, closed)
    assert client.get(f"/admin/test-facility/{museum.id}").get_data(as_text=True) == "done"
    for refused in (park.id, closed.id, 999_999):
        answer = client.get(f"/admin/test-facility/{refused}")
        assert answer.status_code == 403, refused
        assert "記録されました" in answer.get_data(as_text=True)  # the console's 403 page
    with app.extensions["db"].sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "forbidden").order_by(AuditEntry.id)
        ).all()
    assert [(e.object_type, e.object_id, e.actor_id) for e in entries] == [
        ("facility", str(park.id), me.id),
        ("facility", str(closed.id), me.id),
        ("facility", "999999", me.id),
    ]
    assert entries[0].detail == {"method": "GET", "endpoint": "facility_test.at_facility"}


def test_other_roles_are_refused_before_the_facility_check(
    app: Flask,
    client: FlaskClient,
    signed_in: Callable[..., Staff],
    facility: Callable[..., Facility],
) -> None:
    museum = facility("museum")
    admin = signed_in(Role.ADMIN)
    link(app, admin, museum)  # linked, but without the facility role
    assert client.get(f"/admin/test-facility/{museum.id}").status_code == 403
    with app.extensions["db"].sessions() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "forbidden"))
    assert (entry.object_type, entry.object_id) == ("endpoint", "facility_test.at_facility")


# The staff page --------------------------------------------------------------------------


def test_admins_assign_facilities_on_the_staff_page(
    app: Flask,
    client: FlaskClient,
    signed_in: Callable[..., Staff],
    staff_factory: StaffFactory,
    facility: Callable[..., Facility],
) -> None:
    signed_in(Role.ADMIN)
    person = staff_factory(Role.FACILITY, name="受付 一郎")
    assert "madoguchi facility add" in client.get("/admin/staff").get_data(as_text=True)
    museum, park = facility("museum"), facility("park")
    page = client.get("/admin/staff").get_data(as_text=True)
    assert "施設を変更" in page
    assert "museum館" in page
    path = f"/admin/staff/{person.id}/facilities"

    saved = post_form(client, path, {"facilities": [museum.id, park.id]}, token_from="/admin/staff")
    assert saved.status_code == 302
    assert codes_of(app, person.id) == ["museum", "park"]
    listed = client.get("/admin/staff").get_data(as_text=True)
    assert "施設を保存しました" in listed
    assert f'value="{museum.id}" checked' in listed

    for bad in ([999_999], ["museum"], [museum.id, -1]):
        refused = post_form(client, path, {"facilities": bad}, token_from="/admin/staff")
        assert refused.status_code == 302
        assert "施設は変更されていません" in client.get("/admin/staff").get_data(as_text=True)
        assert codes_of(app, person.id) == ["museum", "park"], bad
    forged = client.post(path, data={"facilities": [museum.id]})  # no CSRF token
    assert forged.status_code == 400
    assert codes_of(app, person.id) == ["museum", "park"]
    assert post_form(client, "/admin/staff/999999/facilities", {}).status_code == 404

    cleared = post_form(client, path, {}, token_from="/admin/staff")
    assert cleared.status_code == 302
    assert codes_of(app, person.id) == []
    with app.extensions["db"].sessions() as session:
        updates = session.scalars(
            select(AuditEntry.detail)
            .where(AuditEntry.action == "staff.update", AuditEntry.object_id == str(person.id))
            .order_by(AuditEntry.id)
        ).all()
    assert updates == [{"facilities": ["museum", "park"]}, {"facilities": []}]


# The CLI ---------------------------------------------------------------------------------


def test_cli_adds_and_lists_facilities(app: Flask) -> None:
    runner = app.test_cli_runner()
    empty = runner.invoke(args=["facility", "list"])
    assert empty.exit_code == 0
    assert "no facilities yet" in empty.output
    added = runner.invoke(
        args=[
            "facility",
            "add",
            "--code",
            "Museum",
            "--name-ja",
            "県立美術館",
            "--name-en",
            "Museum",
        ]
    )
    assert added.exit_code == 0, added.output
    assert "added museum: 県立美術館 / Museum" in added.output
    for args, code, message in (
        (["--code", "museum", "--name-ja", "別館", "--name-en", "Annex"], 1, "already"),
        (["--code", "bad code", "--name-ja", "館", "--name-en", "Hall"], 1, "facility code"),
        (["--code", "annex", "--name-ja", "", "--name-en", "Annex"], 1, "Japanese name"),
        (["--code", "annex", "--name-ja", "別館"], 2, "--name-en"),
    ):
        refused = runner.invoke(args=["facility", "add", *args])
        assert refused.exit_code == code, refused.output
        assert message in refused.output
    listed = runner.invoke(args=["facility", "list"])
    assert listed.output.splitlines() == ["museum\tactive\t県立美術館\tMuseum"]
    with app.extensions["db"].sessions() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "facility.create"))
    assert entry.detail == {"code": "museum", "via": "cli"}


def test_cli_creates_staff_at_facilities(app: Flask, facility: Callable[..., Facility]) -> None:
    facility("museum")
    facility("park")
    runner = app.test_cli_runner()
    base = ["staff", "create", "--role", "facility", "--password-stdin"]
    created = runner.invoke(
        args=[
            *base,
            "--email",
            "desk@pref.example.jp",
            "--facility",
            "park",
            "--facility",
            "MUSEUM",
        ],
        input="a strong first password\n",
    )
    assert created.exit_code == 0, created.output
    assert "at museum, park" in created.output
    refused = runner.invoke(
        args=[*base, "--email", "other@pref.example.jp", "--facility", "nowhere"],
        input="a strong first password\n",
    )
    assert refused.exit_code == 1
    assert "no such facility: nowhere" in refused.output
    with app.extensions["db"].sessions() as session:
        people = {s.email: [f.code for f in s.facilities] for s in session.scalars(select(Staff))}
    assert people == {"desk@pref.example.jp": ["museum", "park"]}
