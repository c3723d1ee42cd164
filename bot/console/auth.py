"""Sign-in (password, then the TOTP code or a recovery code if the account has TOTP) and
sign-out.

A full sign-in opens a server-side session (``bot.console.sessions``) in a fresh cookie; an
account that must set up TOTP first is sent to enrolment. Between the two steps the cookie
holds only the account's id and when its password was checked (no secret).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from bot.console import console_blueprint, home_url, second_factor, sessions
from bot.console.audit import record
from bot.console.forms import CodeForm, EmptyForm, SignInForm
from bot.console.roles import Permission, requires
from bot.console.throttle import throttle
from bot.console.users import (
    SignInError,
    StaffUser,
    authenticate,
    check_second_factor,
    complete_sign_in,
)
from bot.db import get_db
from bot.inputs import has_control_characters, is_email, normalise_email
from bot.work import request_session
from models import Staff
from models.base import utcnow

bp = console_blueprint("console_auth", __name__, "/admin")

#: A password step is good for this long before the TOTP code must follow.
PENDING_SECONDS = 300


def _safe_next(target: str | None) -> str:
    """Only local paths: never redirect to another site after sign-in (nor put a control
    character in the ``Location`` header; query strings with one are refused earlier)."""
    if (
        target
        and target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and not has_control_characters(target)
        and not urlsplit(target).netloc
    ):
        return target
    return home_url()


def _finish(staff: Staff, second_step: str | None) -> ResponseReturnValue:
    """Start the session of a fully authenticated staff member.

    :param second_step: how the second factor was shown (``totp``, ``recovery_code``), if.
    """
    db = request_session()
    now = utcnow()
    try:
        complete_sign_in(db, staff, now=now, guard=throttle().guard())
    except SignInError as error:
        return _refused(error, staff.email, "console/sign_in.html", SignInForm())
    started = sessions.start(
        db, staff.id, ip=request.remote_addr, user_agent=request.user_agent.string, now=now
    )
    session.clear()  # a fresh session: no fixation across the sign-in
    session[sessions.COOKIE_KEY] = started.token
    must_enrol = second_factor.must_enrol(db, staff)
    login_user(StaffUser.of(staff, session_id=started.id, must_enrol=must_enrol))
    record(
        db,
        "signin",
        object_type="staff",
        object_id=staff.id,
        detail={"session": started.id, "second_factor": second_step or "none"},
        actor_id=staff.id,
        actor_label=staff.email,
    )
    if must_enrol:
        return redirect(url_for("console_account.enrol"))
    return redirect(_safe_next(request.args.get("next")))


def _refused(error: SignInError, email: str, template: str, form: Any) -> ResponseReturnValue:
    """A refused sign-in: audited (what was typed as the e-mail, normalised; flagged when it
    is not an e-mail address), and answered 401 with the reason."""
    label = normalise_email(email)
    record(
        request_session(),
        "signin.locked" if error.reason == "locked" else "signin.failed",
        object_type="staff",
        object_id=error.staff.id if error.staff else None,
        actor_label=label or "anonymous",
        detail=None if is_email(label) else {"not_an_email": True},
    )
    if error.reason == "locked":
        flash(_("Too many failed attempts. Sign-in is locked for 15 minutes."), "error")
    else:
        flash(_("The email or the password is wrong."), "error")
    return render_template(template, form=form), 401


@bp.route("/signin", methods=["GET", "POST"])
@requires(None)
def sign_in() -> ResponseReturnValue:
    """The sign-in page."""
    form = SignInForm()
    if form.validate_on_submit():
        db = request_session()
        email, password = form.email.data or "", form.password.data or ""
        try:
            staff = authenticate(
                get_db(), db, email, password, now=utcnow(), guard=throttle().guard()
            )
        except SignInError as error:
            return _refused(error, email, "console/sign_in.html", form)
        if staff.totp_secret:
            session.clear()
            session["pending_staff"] = staff.id
            session["pending_at"] = time.time()
            return redirect(url_for("console_auth.totp", next=request.args.get("next")))
        return _finish(staff, None)
    if form.is_submitted() and not form.csrf_token.errors:
        record(
            request_session(),
            "signin.failed",
            object_type="staff",
            actor_label=normalise_email(request.form.get("email", "")) or "anonymous",
            detail={"malformed": sorted(form.errors)},
        )
        return render_template("console/sign_in.html", form=form), 400
    return render_template("console/sign_in.html", form=form)


@bp.route("/signin/code", methods=["GET", "POST"])
@requires(None)
def totp() -> ResponseReturnValue:
    """The second step for accounts with TOTP: a code from the app, or a recovery code."""
    staff_id = session.get("pending_staff")
    pending_at = session.get("pending_at", 0)
    if type(staff_id) is not int or time.time() - pending_at > PENDING_SECONDS:
        session.pop("pending_staff", None)
        return redirect(url_for("console_auth.sign_in"))
    form = CodeForm()
    if form.validate_on_submit():
        db = request_session()
        staff = db.get(Staff, staff_id)
        if staff is None:  # pragma: no cover - staff rows are never deleted
            session.clear()
            return redirect(url_for("console_auth.sign_in"))
        try:
            second_step = check_second_factor(
                db, staff, form.code.data or "", now=utcnow(), guard=throttle().guard()
            )
        except SignInError as error:
            if error.reason == "locked":
                session.clear()  # start again once the lock is over
                return _refused(error, staff.email, "console/sign_in.html", SignInForm())
            record(
                db,
                "signin.code_failed",
                object_type="staff",
                object_id=staff.id,
                actor_label=staff.email,
            )
            flash(_("The code is not right, or it was used already. Try the next code."), "error")
            return render_template("console/totp.html", form=form), 401
        if second_step == "recovery_code":
            record(
                db,
                "signin.recovery_code",
                object_type="staff",
                object_id=staff.id,
                detail={"left": second_factor.recovery_codes_left(db, staff.id)},
                actor_id=staff.id,
                actor_label=staff.email,
            )
        return _finish(staff, second_step)
    return render_template("console/totp.html", form=form)


@bp.route("/signout", methods=["POST"])
@requires(Permission.ACCOUNT, before_enrolment=True)
def sign_out() -> ResponseReturnValue:
    """Ends the session (its cookie, and any copy of it, no longer signs anyone in)."""
    EmptyForm().validate_on_submit()  # CSRF is checked app-wide; nothing else to read
    db = request_session()
    sessions.end(db, current_user.id, current_user.session_id)
    record(db, "signout", object_type="session", object_id=current_user.session_id)
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("console_auth.sign_in"))


def init_app(app: Flask) -> None:
    """Register the sign-in pages."""
    app.register_blueprint(bp)
