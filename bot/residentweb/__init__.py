"""The shell of resident web pages: their blueprints, session, headers, language and errors.

Resident pages (identity verification, coupon QR codes, LIFF apps) live under ``/r`` and are
kept apart from the staff console:

* :func:`resident_blueprint` makes a blueprint for them; each view declares who may open
  it, or is refused (fail closed): :func:`public`, :func:`resident_required`, or
  ``bot.residentweb.links.signed_link`` (a signed, expiring URL).
* Their session is Flask's signed cookie under a name, signing salt and lifetime of their
  own (``bot.residentweb.session``): a staff session is never read there, and a resident
  session never opens the console. :func:`sign_in_resident` and :func:`current_resident`
  work with it.
* Their responses carry headers of their own (a strict content policy, no referrer, never
  cached: they show personal data), their error pages use ``resident/layout.html``, and
  their language is the resident's LINE language, else the browser's, else Japanese.

How a feature adds a page: docs/resident-pages.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, Response, abort, current_app, g, has_request_context, request
from flask import session as flask_session

from bot import errors
from bot.surfaces import Surface, register_surface
from bot.work import request_session
from models import Resident

logger = logging.getLogger(__name__)

#: Where resident pages live (every resident blueprint's prefix is this or below it).
PREFIX = "/r"
#: The resident session's cookie (the staff console's is ``madoguchi_session``).
COOKIE_NAME = "madoguchi_resident"
#: Session key holding the signed-in resident's internal id.
RESIDENT_KEY = "_resident"

#: No inline scripts or styles, nothing from elsewhere, never in a frame, forms post here.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    # Links carry signed tokens and pages personal data: tell no other site where we were.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

#: Attribute a resident view carries to say who may open it: ``public``, ``resident`` or
#: ``link:<purpose>``.
ACCESS_ATTRIBUTE = "resident_access"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class ResidentPages:
    """The shell's settings, in ``app.extensions["residentweb"]``."""

    #: How long a resident session lasts from sign-in (never extended by activity).
    session_lifetime: timedelta
    #: Seconds since the epoch; tests replace it to move time without sleeping.
    clock: Callable[[], float] = time.time

    def now(self) -> float:
        """The current time, in seconds since the epoch."""
        return self.clock()


def pages(app: Flask | None = None) -> ResidentPages:
    """The shell's settings of the current (or given) app."""
    found: ResidentPages = (app or current_app).extensions["residentweb"]
    return found


def is_resident_path(path: str) -> bool:
    """True for ``/r`` and every path below it (``path`` without the script root)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def _on_resident_page() -> bool:
    return has_request_context() and is_resident_path(request.path)


# Blueprints and access ---------------------------------------------------------------------


def resident_blueprint(name: str, import_name: str, url_prefix: str, **options: Any) -> Blueprint:
    """A blueprint for resident pages: each view must declare who may open it (fail closed).

    :param url_prefix: ``/r`` or a path below it, e.g. ``/r/coupons``.
    :param options: more ``Blueprint`` arguments (e.g. ``template_folder``).
    :raises ValueError: the prefix is elsewhere (the resident session, headers and error
        pages apply under ``/r`` only).
    """
    if not is_resident_path(url_prefix) or url_prefix.endswith("/"):
        raise ValueError(f"resident pages live under {PREFIX}, not {url_prefix!r}")
    blueprint = Blueprint(name, import_name, url_prefix=url_prefix, **options)
    blueprint.before_request(_check_declared)
    return blueprint


def _check_declared() -> None:
    """Refuse a resident view that does not say who may open it."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and not hasattr(view, ACCESS_ATTRIBUTE):
        logger.error("resident page without an access rule: %s", request.endpoint)
        abort(403)


def declare_access(view: F, access: str) -> F:
    """Mark a view with who may open it (used by the decorators)."""
    setattr(view, ACCESS_ATTRIBUTE, access)
    return view


def public(view: F) -> F:
    """Anyone may open this resident page (help pages, the landing of a sign-in link)."""
    return declare_access(view, "public")


def resident_required(view: F) -> F:
    """Only a signed-in resident may open this page; anyone else gets the 403 page."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_resident() is None:
            abort(403)
        return view(*args, **kwargs)

    return declare_access(cast(F, wrapper), "resident")


# The signed-in resident --------------------------------------------------------------------


def current_resident() -> Resident | None:
    """The resident signed in on this resident page, if any (``None`` on any other page)."""
    if not _on_resident_page():
        return None
    if "resident_page_resident" not in g:
        resident_id = flask_session.get(RESIDENT_KEY)
        g.resident_page_resident = (
            request_session().get(Resident, resident_id) if type(resident_id) is int else None
        )
        # Kept apart: an error page after a refused request (its work rolled back, the row
        # detached) still speaks the resident's language.
        g.resident_page_language = (
            g.resident_page_resident.language if g.resident_page_resident else None
        )
    resident: Resident | None = g.resident_page_resident
    return resident


def sign_in_resident(resident_id: int) -> Resident:
    """Start a resident session for this resident (a fresh one: nothing carries over).

    Call it on a resident page that has proved who the resident is, e.g. the landing of a
    signed link sent to them in LINE (``bot.residentweb.views.sign_in_url``).

    :param resident_id: the internal id (``Resident.id``), never the LINE user id.
    :return: the resident.
    :raises LookupError: there is no such resident.
    :raises RuntimeError: not on a resident page (it would write the staff session).
    """
    if not _on_resident_page():
        raise RuntimeError(f"residents sign in on resident pages only (under {PREFIX})")
    resident = request_session().get(Resident, resident_id)
    if resident is None:
        raise LookupError(f"no resident {resident_id}")
    flask_session.clear()
    flask_session[RESIDENT_KEY] = resident.id
    g.resident_page_resident = resident
    g.resident_page_language = resident.language
    logger.info("resident signed in", extra={"resident_id": resident.id})
    return resident


def sign_out_resident() -> None:
    """End the resident session of this request (its cookie is deleted)."""
    if _on_resident_page():
        flask_session.clear()
        g.resident_page_resident = None


# Surface: headers, language, templates -----------------------------------------------------


def _headers(response: Response) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)


def _language() -> str | None:
    if current_resident() is None:
        return None
    language: str | None = g.get("resident_page_language")
    return language


def init_app(app: Flask) -> None:
    """Install the shell: settings, the session interface, the surface, its own pages."""
    from bot.residentweb import views
    from bot.residentweb.session import SiteSessionInterface

    app.extensions["residentweb"] = ResidentPages(
        session_lifetime=timedelta(minutes=app.config["RESIDENT_SESSION_MINUTES"])
    )
    app.session_interface = SiteSessionInterface()
    register_surface(
        app,
        Surface(
            "resident",
            PREFIX,
            headers=_headers,
            error_page=errors.resident_page,
            language=_language,
        ),
    )
    app.register_blueprint(views.bp)
