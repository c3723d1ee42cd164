"""Roles and permissions: the one table of who may do what in the console.

Views declare the permission they need with :func:`requires`; a console view without a
declaration is refused (fail closed). The role matrix test is generated from this table and
the app's URL map, so a new route without a rule fails the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from functools import wraps
from types import MappingProxyType
from typing import Any, TypeVar

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
    STAFF = "staff.manage"
    SETTINGS = "settings.manage"
    SURVEYS_EDIT = "surveys.edit"
    ANNOUNCEMENTS_EDIT = "announcements.edit"
    ANNOUNCEMENTS_APPROVE = "announcements.approve"
    CONSULTATIONS = "consultations.answer"
    COUPONS_REDEEM = "coupons.redeem"
    RESULTS = "results.view"


P = Permission
#: The permissions of each role. A person with several roles has the union.
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.ADMIN: frozenset(
            {P.ACCOUNT, P.DASHBOARD, P.RESIDENTS, P.RESIDENT_NAMES, P.AUDIT, P.STAFF, P.SETTINGS}
        ),
        Role.EDITOR: frozenset(
            {P.ACCOUNT, P.DASHBOARD, P.RESIDENTS, P.SURVEYS_EDIT, P.ANNOUNCEMENTS_EDIT, P.RESULTS}
        ),
        Role.APPROVER: frozenset({P.ACCOUNT, P.DASHBOARD, P.ANNOUNCEMENTS_APPROVE, P.RESULTS}),
        Role.COUNSELLOR: frozenset({P.ACCOUNT, P.CONSULTATIONS, P.RESIDENTS}),
        Role.FACILITY: frozenset({P.ACCOUNT, P.COUPONS_REDEEM}),
        Role.VIEWER: frozenset({P.ACCOUNT, P.DASHBOARD, P.RESULTS}),
    }
)


def permissions_of(roles: frozenset[Role]) -> frozenset[Permission]:
    """Everything a holder of these roles may do."""
    return frozenset().union(*(ROLE_PERMISSIONS[role] for role in roles))


F = TypeVar("F", bound=Callable[..., Any])

#: Attribute a view function carries to say what it needs (``None``: public, e.g. sign-in).
PERMISSION_ATTRIBUTE = "required_permission"


def requires(permission: Permission | None) -> Callable[[F], F]:
    """Declare the permission a console view needs (``None`` for public pages).

    The check itself runs in the console blueprint's ``before_request`` (``bot.console``),
    so it happens before any view code, for every method.
    """

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return view(*args, **kwargs)

        setattr(wrapper, PERMISSION_ATTRIBUTE, permission)
        return wrapper  # type: ignore[return-value]

    return decorate
