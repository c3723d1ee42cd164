"""One's own account: password, console language, the TOTP second factor and its recovery
codes, and the sessions open in other browsers.

Turning TOTP off, setting it up again (a new phone) and making new recovery codes need the
password and a current code (or a recovery code); those checks count towards the sign-in
lockout. Recovery codes are shown once, in the answer to the form that made them.
"""

from __future__ import annotations

import io

from flask import Flask, abort, current_app, flash, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from bot.console import console_blueprint, second_factor, sessions
from bot.console.audit import record
from bot.console.forms import ConfirmForm, EmptyForm, LanguageForm, PasswordForm, TotpForm
from bot.console.roles import Permission, requires
from bot.console.throttle import throttle
from bot.console.users import SignInError, confirm_identity, set_password
from bot.work import request_session
from models import Staff
from models.base import utcnow

bp = console_blueprint("console_account", __name__, "/admin/account")


def _me() -> Staff:
    staff = request_session().get(Staff, current_user.id)
    if staff is None:  # pragma: no cover - the session loader already checked
        abort(401)
    return staff


def _qr_svg(uri: str) -> str:
    """The provisioning URI as an inline SVG (markup we generate; no user text inside)."""
    import qrcode  # imported on this rare page only: keeps web workers small
    import qrcode.image.svg

    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode("utf-8")


def _limits() -> sessions.Limits:
    return sessions.Limits.of(current_app.config)


@bp.get("")
@requires(Permission.ACCOUNT)
def show() -> str:
    """The account page."""
    db = request_session()
    staff = _me()
    return render_template(
        "console/account.html",
        staff=staff,
        password_form=PasswordForm(),
        language_form=LanguageForm(language=staff.language),
        confirm_form=ConfirmForm(),
        empty_form=EmptyForm(),
        codes_left=second_factor.recovery_codes_left(db, staff.id) if staff.totp_secret else 0,
        totp_required=second_factor.required_for(db, staff),
        open_sessions=sessions.open_sessions(db, staff.id, now=utcnow(), limits=_limits()),
    )


@bp.post("/password")
@requires(Permission.ACCOUNT)
def change_password() -> ResponseReturnValue:
    """Changes the password; other sessions of this account end."""
    form = PasswordForm()
    staff = _me()
    if not form.validate_on_submit():
        flash(
            form.control_error()
            or _(
                "Check the form: the new password needs at least 12 characters and must be "
                "typed the same twice."
            ),
            "error",
        )
        return redirect(url_for(".show"))
    db = request_session()
    try:  # counted like a sign-in: someone at an unlocked screen cannot guess on
        confirm_identity(
            db, staff, form.current.data or "", None, now=utcnow(), guard=throttle().guard()
        )
    except SignInError as error:
        locked = error.reason == "locked"
        record(
            db,
            "signin.locked" if locked else "staff.password_change_failed",
            object_type="staff",
            object_id=staff.id,
            detail={"step": "password_change"},
        )
        if not locked:
            flash(_("The current password is wrong."), "error")
            return redirect(url_for(".show"))
        sessions.end(db, staff.id, current_user.session_id)  # too many wrong passwords
        logout_user()
        session.clear()
        flash(_("Too many failed attempts. Sign-in is locked for 15 minutes."), "error")
        return redirect(url_for("console_auth.sign_in"))
    try:
        ended = set_password(staff, form.new.data or "", keep_session=current_user.session_id)
    except ValueError as error:  # a common password, or one made of the e-mail or name
        flash(str(error), "error")
        return redirect(url_for(".show"))
    record(
        db,
        "staff.password_change",
        object_type="staff",
        object_id=staff.id,
        detail={"sessions_ended": ended},
    )
    flash(_("Your password has been changed."), "info")
    return redirect(url_for(".show"))


@bp.post("/language")
@requires(Permission.ACCOUNT)
def change_language() -> ResponseReturnValue:
    """Switches the console language."""
    form = LanguageForm()
    if not form.validate_on_submit():
        flash(form.control_error() or _("Choose a language from the list."), "error")
    else:
        staff = _me()
        staff.language = form.language.data or "ja"
        record(
            request_session(),
            "staff.update",
            object_type="staff",
            object_id=staff.id,
            detail={"language": staff.language},
        )
    return redirect(url_for(".show"))


@bp.get("/totp")
@requires(Permission.ACCOUNT, before_enrolment=True)
def enrol() -> ResponseReturnValue:
    """Setting up TOTP: the QR code of a new secret (kept with this session, on the server)."""
    db = request_session()
    staff = _me()
    if staff.totp_secret:
        return redirect(url_for(".show"))
    secret = sessions.pending_secret(db, current_user.session_id)
    if secret is None:
        secret = second_factor.new_secret()
        sessions.set_pending_secret(db, current_user.session_id, secret)
    uri = second_factor.provisioning_uri(secret, staff.email)
    return render_template(
        "console/enrol.html",
        secret=secret,
        qr=_qr_svg(uri),
        form=TotpForm(),
        required=current_user.must_enrol,
    )


@bp.post("/totp")
@requires(Permission.ACCOUNT, before_enrolment=True)
def enable_totp() -> ResponseReturnValue:
    """Turns TOTP on once the app shows a valid code, and shows the recovery codes once."""
    db = request_session()
    staff = _me()
    if staff.totp_secret:
        flash(_("Two-step sign-in is already on."), "error")
        return redirect(url_for(".show"))
    form = TotpForm()
    secret = sessions.pending_secret(db, current_user.session_id)
    try:
        if not (form.validate_on_submit() and secret):
            raise ValueError("no code, or no secret being set up")
        codes = second_factor.enable(db, staff, secret, form.code.data or "", now=utcnow())
    except ValueError:
        flash(form.control_error() or _("The code is not right. Try the current code."), "error")
        return redirect(url_for(".enrol"))
    sessions.set_pending_secret(db, current_user.session_id, None)
    record(db, "staff.totp_enable", object_type="staff", object_id=staff.id)
    flash(_("Two-step sign-in is on."), "info")
    return render_template("console/recovery_codes.html", codes=codes)


def _confirmed(purpose: str) -> tuple[Staff, str] | None:
    """The signed-in person, once the password and code of the confirmation form are
    checked (counted like a sign-in); a refusal is audited and flashed.

    :param purpose: what is confirmed (for the audit log).
    :return: the person and how the second factor was shown, or None when refused (or
        when the person has no TOTP).
    """
    db = request_session()
    staff = _me()
    form = ConfirmForm()
    if not staff.totp_secret:
        return None
    if not form.validate_on_submit():
        flash(_("Enter your password and a current code."), "error")
        return None
    try:
        method = confirm_identity(
            db,
            staff,
            form.password.data or "",
            form.code.data or "",
            now=utcnow(),
            guard=throttle().guard(),
        )
    except SignInError as error:
        locked = error.reason == "locked"
        record(
            db,
            "signin.locked" if locked else "staff.confirm_failed",
            object_type="staff",
            object_id=staff.id,
            detail={"for": purpose},
        )
        if locked:
            flash(_("Too many failed attempts. The account is locked for 15 minutes."), "error")
        else:
            flash(_("The password or the code is wrong, or the code was used already."), "error")
        return None
    return staff, method


@bp.post("/totp/disable")
@requires(Permission.ACCOUNT)
def disable_totp() -> ResponseReturnValue:
    """Turns TOTP off (to set it up again on a new phone, too) after password and code."""
    confirmed = _confirmed("totp_disable")
    if confirmed is None:
        return redirect(url_for(".show"))
    staff, confirmed_with = confirmed
    second_factor.disable(request_session(), staff)
    record(
        request_session(),
        "staff.totp_disable",
        object_type="staff",
        object_id=staff.id,
        detail={"confirmed_with": confirmed_with},
    )
    flash(_("Two-step sign-in is off."), "info")
    return redirect(url_for(".show"))


@bp.post("/totp/recovery-codes")
@requires(Permission.ACCOUNT)
def new_recovery_codes() -> ResponseReturnValue:
    """Makes a new set of recovery codes (the old ones stop working) and shows them once."""
    confirmed = _confirmed("recovery_codes")
    if confirmed is None:
        return redirect(url_for(".show"))
    staff, confirmed_with = confirmed
    db = request_session()
    codes = second_factor.replace_recovery_codes(db, staff.id)
    record(
        db,
        "staff.recovery_codes",
        object_type="staff",
        object_id=staff.id,
        detail={"confirmed_with": confirmed_with},
    )
    return render_template("console/recovery_codes.html", codes=codes)


@bp.post("/sessions/<int:session_id>/end")
@requires(Permission.ACCOUNT)
def end_session(session_id: int) -> ResponseReturnValue:
    """Ends one of one's own sessions (this one too: that signs out)."""
    if not EmptyForm().validate_on_submit():  # pragma: no cover - CSRF is checked app-wide
        return redirect(url_for(".show"))
    db = request_session()
    if not sessions.end(db, current_user.id, session_id):
        flash(_("That session had already ended."), "info")
        return redirect(url_for(".show"))
    record(db, "session.end", object_type="session", object_id=session_id)
    if session_id == current_user.session_id:
        logout_user()
        session.clear()
        flash(_("You have signed out."), "info")
        return redirect(url_for("console_auth.sign_in"))
    flash(_("The session has ended."), "info")
    return redirect(url_for(".show"))


def init_app(app: Flask) -> None:
    """Register the account pages."""
    app.register_blueprint(bp)
