"""Roles and permissions: the one table of who may do what in the console, and refusals.

Views declare the permission they need with :func:`requires`; a console view without a
declaration is refused (fail closed). The role matrix test is generated from this table and
the app's URL map, so a new route without a rule fails the tests.

Some roles act only on their own objects: the facility role works at the facilities the
person is linked to, checked by :func:`require_facility`. Every refusal goes through
:func:`refuse` (403, recorded in the audit log).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from functools import wraps
from types import MappingProxyType
from typing import Any, NoReturn, TypeVar

from flask import request
from flask_login import current_user
from sqlalchemy.orm import Session

from bot.console.audit import record
from bot.errors import Refused
from models import Role


class Permission(StrEnum):
    """Something a view lets a staff member do."""

    #: Every signed-in person: own account, password, language, sign-out.
    ACCOUNT = "account"
    DASHBOARD = "dashboard.view"
    #: The residents list, pseudonymised (case ids, no LINE names or icons).
    RESIDENTS = "residents.view"
    #: LINE display names of residents.
    RESIDENT_NAMES = "residents.names"
    AUDIT = "audit.view"
    #: The event inbox: its backlog, and retrying or discarding parked events.
    INBOX = "inbox.manage"
    STAFF = "staff.manage"
    SETTINGS = "settings.manage"
    SURVEYS_EDIT = "surveys.edit"
    ANNOUNCEMENTS_EDIT = "announcements.edit"
    ANNOUNCEMENTS_APPROVE = "announcements.approve"
    CONSULTATIONS = "consultations.answer"
    #: Coupon campaigns: create, edit, publish, withdraw.
    COUPONS_MANAGE = "coupons.manage"
    COUPONS_REDEEM = "coupons.redeem"
    #: Coupon campaigns' reports and their exports (aggregates, small cells hidden).
    COUPONS_REPORTS = "coupons.reports"
    RESULTS = "results.view"


P = Permission
#: The permissions of each role. A person with several roles has the union.
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.ADMIN: frozenset(
            {
                P.ACCOUNT,
                P.DASHBOARD,
                P.RESIDENTS,
                P.RESIDENT_NAMES,
                P.AUDIT,
                P.INBOX,
                P.STAFF,
                P.SETTINGS,
                P.COUPONS_MANAGE,
                P.COUPONS_REPORTS,
                # Results are for the viewer role "and up" (the surveys issue): an admin
                # reads them too, but edits no survey.
                P.RESULTS,
            }
        ),
        Role.EDITOR: frozenset(
            {
                P.ACCOUNT,
                P.DASHBOARD,
                P.RESIDENTS,
                P.SURVEYS_EDIT,
                P.ANNOUNCEMENTS_EDIT,
                P.RESULTS,
                P.COUPONS_REPORTS,
            }
        ),
        Role.APPROVER: frozenset(
            {P.ACCOUNT, P.DASHBOARD, P.ANNOUNCEMENTS_APPROVE, P.RESULTS, P.COUPONS_REPORTS}
        ),
        Role.COUNSELLOR: frozenset({P.ACCOUNT, P.CONSULTATIONS, P.RESIDENTS}),
        Role.FACILITY: frozenset({P.ACCOUNT, P.COUPONS_REDEEM}),
        Role.VIEWER: frozenset({P.ACCOUNT, P.DASHBOARD, P.RESULTS, P.COUPONS_REPORTS}),
    }
)


def permissions_of(roles: frozenset[Role]) -> frozenset[Permission]:
    """Everything a holder of these roles may do."""
    return frozenset().union(*(ROLE_PERMISSIONS[role] for role in roles))


F = TypeVar("F", bound=Callable[..., Any])

#: Attribute a view function carries to say what it needs (``None``: public, e.g. sign-in).
PERMISSION_ATTRIBUTE = "required_permission"
#: Attribute of the views an account that must set up TOTP may still use.
ENROLMENT_ATTRIBUTE = "open_before_enrolment"


def requires(permission: Permission | None, *, before_enrolment: bool = False) -> Callable[[F], F]:
    """Declare the permission a console view needs (``None`` for public pages).

    The check itself runs in the console blueprint's ``before_request`` (``bot.console``),
    so it happens before any view code, for every method.

    :param before_enrolment: the view stays open to an account that must set up TOTP
        first (enrolment itself, sign-out); every other one sends it to enrolment.
    """

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return view(*args, **kwargs)

        setattr(wrapper, PERMISSION_ATTRIBUTE, permission)
        setattr(wrapper, ENROLMENT_ATTRIBUTE, before_enrolment)
        return wrapper  # type: ignore[return-value]

    return decorate


def refuse(object_type: str, object_id: object, **detail: str) -> NoReturn:
    """Answer 403 and record the refusal (``forbidden``) in the audit log.

    The refused request's own work is rolled back; the entry is written apart from it
    (``bot.errors.Refused``), so the audit log keeps it.

    :param object_type: what was refused, e.g. ``endpoint`` or ``facility``.
    :param object_id: which one.
    :param detail: extra facts (never personal data); the method is added.
    :raises bot.errors.Refused: always (a 403).
    """
    facts = {"method": request.method, **detail}

    def audit(session: Session) -> None:
        record(session, "forbidden", object_type=object_type, object_id=object_id, detail=facts)

    raise Refused(audit)


def require_facility(facility_id: int) -> None:
    """Let the signed-in staff member act at this facility only if they are linked to it.

    A facility page calls this with the facility the request is about, after its view's
    permission (``requires``) has been checked. An unknown or deactivated facility is
    refused like any other: the answer never tells whether it exists.

    :raises werkzeug.exceptions.Forbidden: not linked (the refusal is audited).
    """
    if facility_id not in getattr(current_user, "facility_ids", frozenset()):
        refuse("facility", facility_id, endpoint=request.endpoint or "")
