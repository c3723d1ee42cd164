"""The role matrix: every console route, requested by every role and by nobody.

Generated from one table: a console route missing from ``EXPECTED`` (or declaring another
permission than the table says) fails, so no page can be added without a rule.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.console import console_blueprint
from bot.console.facilities import link_facilities
from bot.console.roles import PERMISSION_ATTRIBUTE, ROLE_PERMISSIONS, Permission
from coupons.campaigns import read_campaign_file
from coupons.services import import_campaign
from models import AuditEntry, Facility, Role, Staff
from surveys.definition import Definition, Question, Section
from surveys.services import create_survey
from tests.console.conftest import StaffFactory, csrf_token

P = Permission
#: endpoint -> (method, path, permission; None = public)
EXPECTED: dict[str, tuple[str, str, Permission | None]] = {
    "console_auth.sign_in": ("GET", "/admin/signin", None),
    "console_auth.totp": ("GET", "/admin/signin/code", None),
    "console_auth.sign_out": ("POST", "/admin/signout", P.ACCOUNT),
    "console_account.show": ("GET", "/admin/account", P.ACCOUNT),
    "console_account.change_password": ("POST", "/admin/account/password", P.ACCOUNT),
    "console_account.change_language": ("POST", "/admin/account/language", P.ACCOUNT),
    "console_account.enrol": ("GET", "/admin/account/totp", P.ACCOUNT),
    "console_account.enable_totp": ("POST", "/admin/account/totp", P.ACCOUNT),
    "console_account.disable_totp": ("POST", "/admin/account/totp/disable", P.ACCOUNT),
    "console_account.new_recovery_codes": (
        "POST",
        "/admin/account/totp/recovery-codes",
        P.ACCOUNT,
    ),
    "console_account.end_session": ("POST", "/admin/account/sessions/999999/end", P.ACCOUNT),
    "console_settings.show": ("GET", "/admin/settings", P.SETTINGS),
    "console.dashboard": ("GET", "/admin/", P.DASHBOARD),
    "console.residents": ("GET", "/admin/residents", P.RESIDENTS),
    "console.audit_log": ("GET", "/admin/audit", P.AUDIT),
    "console.audit_csv": ("GET", "/admin/audit.csv", P.AUDIT),
    "console_events.show": ("GET", "/admin/events/", P.INBOX),
    "console_events.retry": ("POST", "/admin/events/retry", P.INBOX),
    "console_events.discard": ("POST", "/admin/events/discard", P.INBOX),
    "console.staff": ("GET", "/admin/staff", P.STAFF),
    "console.toggle_active": ("POST", "/admin/staff/{other}/active", P.STAFF),
    "console.staff_facilities": ("POST", "/admin/staff/{other}/facilities", P.STAFF),
    "console.end_staff_sessions": ("POST", "/admin/staff/{other}/sessions/end", P.STAFF),
    "coupons_admin.index": ("GET", "/admin/coupons/", P.COUPONS_MANAGE),
    "coupons_admin.new": ("POST", "/admin/coupons/new", P.COUPONS_MANAGE),
    "coupons_admin.edit": ("POST", "/admin/coupons/{campaign}", P.COUPONS_MANAGE),
    "coupons_reports.index": ("GET", "/admin/coupons/reports/", P.COUPONS_REPORTS),
    "coupons_reports.show": ("GET", "/admin/coupons/reports/{campaign}", P.COUPONS_REPORTS),
    "coupons_reports.csv_export": (
        "GET",
        "/admin/coupons/reports/{campaign}/funnel.csv",
        P.COUPONS_REPORTS,
    ),
    "coupons_reports.xlsx_export": (
        "GET",
        "/admin/coupons/reports/{campaign}/report.xlsx",
        P.COUPONS_REPORTS,
    ),
    "coupons_facility.index": ("GET", "/admin/redeem/", P.COUPONS_REDEEM),
    "coupons_facility.scan": ("GET", "/admin/redeem/{facility}", P.COUPONS_REDEEM),
    "coupons_facility.check": ("POST", "/admin/redeem/{facility}/check", P.COUPONS_REDEEM),
    "coupons_facility.confirm": ("POST", "/admin/redeem/{facility}/confirm", P.COUPONS_REDEEM),
    "coupons_facility.undo": ("POST", "/admin/redeem/{facility}/undo/999999", P.COUPONS_REDEEM),
    "surveys_builder.index": ("GET", "/admin/surveys/", P.RESULTS),
    "surveys_builder.new": ("GET", "/admin/surveys/new", P.SURVEYS_EDIT),
    "surveys_builder.import_new": ("GET", "/admin/surveys/import", P.SURVEYS_EDIT),
    "surveys_builder.show": ("GET", "/admin/surveys/{survey}", P.RESULTS),
    "surveys_builder.preview_page": ("GET", "/admin/surveys/{survey}/preview", P.RESULTS),
    "surveys_builder.download": ("GET", "/admin/surveys/{survey}/survey.xlsx", P.RESULTS),
    "surveys_builder.start_version": ("POST", "/admin/surveys/{survey}/edit", P.SURVEYS_EDIT),
    "surveys_builder.texts": ("GET", "/admin/surveys/{survey}/texts", P.SURVEYS_EDIT),
    "surveys_builder.settings": ("GET", "/admin/surveys/{survey}/settings", P.SURVEYS_EDIT),
    "surveys_builder.question_new": (
        "GET",
        "/admin/surveys/{survey}/questions/new",
        P.SURVEYS_EDIT,
    ),
    "surveys_builder.question_edit": ("GET", "/admin/surveys/{survey}/q/q1", P.SURVEYS_EDIT),
    "surveys_builder.question_delete": (
        "GET",
        "/admin/surveys/{survey}/q/q1/delete",
        P.SURVEYS_EDIT,
    ),
    "surveys_builder.question_move": ("POST", "/admin/surveys/{survey}/q/q1/move", P.SURVEYS_EDIT),
    "surveys_builder.reorder": ("POST", "/admin/surveys/{survey}/order", P.SURVEYS_EDIT),
    "surveys_builder.section": ("GET", "/admin/surveys/{survey}/s/part", P.SURVEYS_EDIT),
    "surveys_builder.section_delete": (
        "POST",
        "/admin/surveys/{survey}/s/part/delete",
        P.SURVEYS_EDIT,
    ),
    "surveys_builder.import_into": ("GET", "/admin/surveys/{survey}/import", P.SURVEYS_EDIT),
    "surveys_builder.publish_page": ("GET", "/admin/surveys/{survey}/publish", P.SURVEYS_EDIT),
    "surveys_builder.close_page": ("GET", "/admin/surveys/{survey}/close", P.SURVEYS_EDIT),
    "surveys_results.results": ("GET", "/admin/surveys/{survey}/results", P.RESULTS),
    "surveys_results.answers": ("GET", "/admin/surveys/{survey}/results/q/q1", P.RESULTS),
    "surveys_results.crosstab_page": ("GET", "/admin/surveys/{survey}/results/crosstab", P.RESULTS),
    "surveys_results.export_csv": ("GET", "/admin/surveys/{survey}/results.csv", P.RESULTS),
    "surveys_results.export_xlsx": ("GET", "/admin/surveys/{survey}/results.xlsx", P.RESULTS),
    "surveys_results.export_aggregate": (
        "GET",
        "/admin/surveys/{survey}/results-aggregate.csv",
        P.RESULTS,
    ),
    "surveys_results.photo": ("GET", "/admin/surveys/{survey}/photos/none", P.RESULTS),
    # Last: it deletes the matrix's draft survey.
    "surveys_builder.delete_page": ("POST", "/admin/surveys/{survey}/delete", P.SURVEYS_EDIT),
    "surveys_rehearsal.show": ("GET", "/admin/surveys/rehearsal", P.SURVEYS_EDIT),
    "surveys_rehearsal.make_code": ("POST", "/admin/surveys/rehearsal/code", P.SURVEYS_EDIT),
    "surveys_rehearsal.unlink": ("POST", "/admin/surveys/rehearsal/unlink", P.SURVEYS_EDIT),
}
#: Endpoints whose answer to the matrix's bare request, when allowed, is not a page: the
#: question order (a JSON call) refuses an order without the version's revision; a photo
#: that does not exist is not found.
ALLOWED_ANSWERS: dict[str, set[int]] = {
    "surveys_builder.reorder": {409},
    "surveys_results.photo": {404},  # the matrix's survey has no photo
    # The facility's coupon forms without a code, a confirmation, or a use to undo.
    "coupons_facility.check": {400},
    "coupons_facility.confirm": {400},
    "coupons_facility.undo": {409},
}


def test_every_console_route_has_a_rule(app: Flask) -> None:
    console = {r.endpoint for r in app.url_map.iter_rules() if r.rule.startswith("/admin")}
    assert console == set(EXPECTED), "add the new route to EXPECTED with its permission"
    for endpoint, (_method, _path, permission) in EXPECTED.items():
        view = app.view_functions[endpoint]
        assert getattr(view, PERMISSION_ATTRIBUTE) == permission, endpoint


def make_campaign(app: Flask) -> int:
    """A campaign to open in the matrix (its id)."""
    spec = read_campaign_file(
        """
        [campaign]
        code = "matrix"
        name = { ja = "検査", en = "Matrix" }
        benefit = { ja = "無料", en = "Free" }
        starts = 2030-01-01
        ends = 2030-12-31
        facilities = ["museum"]
        [[facilities]]
        code = "museum"
        name = { ja = "美術館", en = "Museum" }
        """
    )
    with app.extensions["db"].unit_of_work() as session:
        return import_campaign(session, spec).campaign.id


def _survey(app: Flask) -> int:
    """A draft survey with a question q1 in a section part (the matrix's ``{survey}``)."""
    definition = Definition(
        title={"ja": "調査"},
        sections=(Section("part"),),
        questions=(Question("q1", "text", {"ja": "質問"}, section="part"),),
    )
    with app.extensions["db"].unit_of_work() as session:
        return create_survey(session, definition).id


def _link_facility(app: Flask, staff: Staff | None) -> int:
    """The matrix's ``{facility}`` (the campaign's museum), where ``staff`` works."""
    with app.extensions["db"].unit_of_work() as session:
        museum = session.scalars(select(Facility).where(Facility.code == "museum")).one()
        if staff is not None:
            link_facilities(session.get_one(Staff, staff.id), [museum])
        return museum.id


def request(client: FlaskClient, method: str, path: str) -> int:
    if method == "GET":
        return client.get(path).status_code
    return client.post(path, data={"csrf_token": csrf_token(client)}).status_code


@pytest.mark.parametrize("role", [None, *Role])
def test_role_matrix(
    app: Flask,
    client: FlaskClient,
    staff_factory: StaffFactory,
    role: Role | None,
    signed_in: Callable[..., Staff],
) -> None:
    other = staff_factory(Role.VIEWER)
    campaign = make_campaign(app)
    survey = _survey(app)
    me = signed_in(role) if role else None
    facility = _link_facility(app, me)
    granted = ROLE_PERMISSIONS[role] if role else frozenset()
    for endpoint, (method, template, permission) in EXPECTED.items():
        if endpoint == "console_auth.sign_out":
            continue  # would end the session mid-matrix; covered below
        path = template.format(other=other.id, campaign=campaign, survey=survey, facility=facility)
        status = request(client, method, path)
        if permission is None:
            expected = {200, 302}
        elif role is None:
            expected = {302} if method == "GET" else {401}
        elif permission in granted:
            expected = ALLOWED_ANSWERS.get(endpoint, {200, 302})
        else:
            expected = {403}
        assert status in expected, f"{role} {method} {path} -> {status}"
    if me is not None:
        with app.extensions["db"].sessions() as session:
            refused = session.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "forbidden", AuditEntry.actor_id == me.id
                )
            ).all()
        denied = [
            e
            for e, (_m, _p, perm) in EXPECTED.items()
            if perm is not None and perm not in granted and e != "console_auth.sign_out"
        ]
        assert sorted(e.object_id for e in refused) == sorted(denied)
        assert (
            client.post("/admin/signout", data={"csrf_token": csrf_token(client)}).status_code
            == 302
        )
        assert client.get("/admin/account").status_code == 302  # signed out


def test_several_roles_grant_the_union(
    client: FlaskClient, signed_in: Callable[..., Staff]
) -> None:
    signed_in(Role.FACILITY, Role.VIEWER)
    assert client.get("/admin/").status_code == 200  # from viewer
    assert client.get("/admin/residents").status_code == 403  # neither has it


@pytest.mark.parametrize("prefix", ["/administrator", "/r/admin", "/", "admin"])
def test_console_pages_live_under_admin(prefix: str) -> None:
    with pytest.raises(ValueError, match="console pages live under /admin"):
        console_blueprint("x", __name__, prefix)
    assert console_blueprint("x", __name__, "/admin/surveys").url_prefix == "/admin/surveys"
