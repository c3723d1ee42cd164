"""The staff console shell: sign-in, roles, CSRF, security headers, layout and navigation.

Who is signed in comes from the session's row (``bot.console.sessions``): Flask-Login's user
loader checks it on every console request, and a session that ended or expired is signed
out with a notice. An account that must set up TOTP first may use only the pages that do it.

Feature packages add their pages with :func:`console_blueprint` (a blueprint whose every
view must declare a permission) and :func:`register_nav` (an entry in the shared menu, shown
only to people who may use it). Dashboard tiles register with :func:`register_tile`.

The console is the ``/admin`` surface (``bot.surfaces``): its headers, error pages and
template globals apply to console URLs only; resident pages have their own
(``bot.residentweb``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import LoginManager, current_user, logout_user
from flask_wtf.csrf import CSRFProtect

from bot import errors
from bot.console import second_factor, sessions
from bot.console.roles import ENROLMENT_ATTRIBUTE, PERMISSION_ATTRIBUTE, Permission, refuse
from bot.console.stats import TOKYO
from bot.console.users import StaffUser
from bot.surfaces import Surface, current_surface, register_surface
from bot.work import request_session
from models import Staff
from models.base import utcnow

#: Where the console lives.
PREFIX = "/admin"

#: The policy every console page is served with: no inline scripts, nothing from elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'"
)

csrf = CSRFProtect()
login_manager = LoginManager()


@dataclass(frozen=True)
class NavItem:
    """An entry of the console menu."""

    endpoint: str
    label: Any  # a lazy string
    permission: Permission
    order: int = 100


@dataclass(frozen=True)
class Tile:
    """A dashboard tile: a title and a function computing its figure for the current user."""

    title: Any
    permission: Permission
    value: Callable[[], str]
    order: int = 100


def register_nav(app: Flask, item: NavItem) -> None:
    """Add an entry to the console menu."""
    app.extensions.setdefault("console_nav", []).append(item)
    app.extensions["console_nav"].sort(key=lambda i: i.order)


def register_tile(app: Flask, tile: Tile) -> None:
    """Add a tile to the dashboard."""
    app.extensions.setdefault("console_tiles", []).append(tile)
    app.extensions["console_tiles"].sort(key=lambda t: t.order)


def console_blueprint(name: str, import_name: str, url_prefix: str, **options: Any) -> Blueprint:
    """A blueprint for console pages: each view must declare its permission (fail closed).

    :param options: more ``Blueprint`` arguments (e.g. ``template_folder``).
    :raises ValueError: ``url_prefix`` is not under ``/admin`` (the console's headers, error
        pages and sign-in apply there only).
    """
    if url_prefix != PREFIX and not url_prefix.startswith(PREFIX + "/"):
        raise ValueError(f"console pages live under {PREFIX}, not {url_prefix}")
    blueprint = Blueprint(name, import_name, url_prefix=url_prefix, **options)
    blueprint.before_request(_authorize)
    return blueprint


def _authorize() -> ResponseReturnValue | None:
    """Refuse a console request the signed-in person may not make (before any view runs)."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return None  # Flask answers 404/405 itself
    if not hasattr(view, PERMISSION_ATTRIBUTE):
        current_app.logger.error("console view without a permission: %s", request.endpoint)
        abort(403)
    permission: Permission | None = getattr(view, PERMISSION_ATTRIBUTE)
    if permission is None:
        return None
    if not current_user.is_authenticated:
        if request.method == "GET":
            return redirect(url_for("console_auth.sign_in", next=request.full_path.rstrip("?")))
        abort(401)
    if current_user.must_enrol and not getattr(view, ENROLMENT_ATTRIBUTE, False):
        if request.method == "GET":
            return redirect(url_for("console_account.enrol"))
        abort(403)
    if not current_user.can(permission):
        refuse("endpoint", request.endpoint, permission=str(permission))
    return None


def _load_user(user_id: str) -> StaffUser | None:
    """The signed-in staff member, or ``None`` when the account or the session has ended
    (why is left in ``g.session_ended`` for :func:`_end_dead_session`)."""
    if not user_id.isdigit():
        return None
    db = request_session()
    staff = db.get(Staff, int(user_id))
    if staff is None or not staff.active:
        g.session_ended = "ended"
        return None
    try:
        session_id = sessions.check(
            db,
            session.get(sessions.COOKIE_KEY),
            staff_id=staff.id,
            now=utcnow(),
            limits=sessions.Limits.of(current_app.config),
        )
    except sessions.SessionEnded as ended:
        g.session_ended = ended.reason
        return None
    return StaffUser.of(
        staff, session_id=session_id, must_enrol=second_factor.must_enrol(db, staff)
    )


def _end_dead_session() -> None:
    """Sign out a browser whose session has ended or expired, with a notice saying so."""
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        return None  # no session to check (LINE's webhook calls, first visits): do not open one
    if "_user_id" not in session or not request.path.startswith(PREFIX):
        return None
    if current_user.is_authenticated:
        return None
    reason = g.pop("session_ended", "ended")
    logout_user()
    session.clear()
    # Kept in the fresh session: the notice shows on the sign-in page redirected to.
    if reason == "expired":
        flash(_("Your session expired. Please sign in again."), "info")
    else:
        flash(_("Your session has ended. Please sign in again."), "info")
    return None


def _headers(response: Response) -> None:
    """The console's headers (``bot.surfaces`` adds the baseline to every response)."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    signed_in = (
        current_app.config["SESSION_COOKIE_NAME"] in request.cookies and "_user_id" in session
    )
    if signed_in:  # a staff page: never cached (checked without loading the user)
        response.headers.setdefault("Cache-Control", "no-store")


def _language() -> str | None:
    """A signed-in staff member's chosen language."""
    return current_user.language if current_user.is_authenticated else None


def home_url() -> str:
    """Where the signed-in person starts: the first menu entry they may use (the dashboard
    for most roles; the coupon desk for facility staff), else their account page."""
    for item in current_app.extensions.get("console_nav", []):
        if current_user.is_authenticated and current_user.can(item.permission):
            return url_for(item.endpoint)
    return url_for("console_account.show")


def _template_globals() -> dict[str, Any]:
    """What console templates use; nothing elsewhere (resident pages never load a staff
    member: Flask-Login's own context processor, which would, is turned off)."""
    surface = current_surface()
    if surface is None or surface.name != "console":
        return {}
    nav = [
        i
        for i in current_app.extensions.get("console_nav", [])
        if current_user.is_authenticated and current_user.can(i.permission)
    ]
    return {
        "current_user": current_user,
        "console_nav": nav,
        "console_home": home_url() if current_user.is_authenticated else None,
        "Permission": Permission,
        "tz": TOKYO,
        "now": utcnow(),
    }


def init_app(app: Flask) -> None:
    """Install the console: sessions, CSRF, sign-in, headers, its pages."""
    # Production, and development with a real LINE channel (bot.config): HTTPS-only cookies.
    secure = app.config["SECURE_DEPLOYMENT"] and not app.config.get("TESTING")
    app.config.update(
        SESSION_COOKIE_NAME="madoguchi_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        # Flask refuses cookies signed longer ago (resident pages' too: at least 12 hours).
        PERMANENT_SESSION_LIFETIME=max(12, app.config["STAFF_SESSION_HOURS"]) * 3600,
        WTF_CSRF_TIME_LIMIT=None,  # the session bounds the token's life
    )
    csrf.init_app(app)
    login_manager.init_app(app, add_context_processor=False)
    login_manager.session_protection = "strong"
    login_manager.user_loader(_load_user)
    app.before_request(_end_dead_session)
    register_surface(
        app,
        Surface(
            "console",
            PREFIX,
            headers=_headers,
            error_page=errors.console_page,
            language=_language,
        ),
    )
    app.context_processor(_template_globals)

    from bot.console import account, auth, events, settings, throttle, views
    from bot.console.users import LOCKOUT, MAX_FAILED_SIGN_INS

    app.add_template_filter(sessions.browser, "browser")
    for module in (auth, account, views, events, settings):
        module.init_app(app)
    throttle.init_app(
        app,
        sign_in=auth.bp,
        max_checks=MAX_FAILED_SIGN_INS,
        window_minutes=int(LOCKOUT.total_seconds() // 60),
    )
