"""One's own account: password, console language, and the TOTP second factor (admins)."""

from __future__ import annotations

import io
import time

import pyotp
from flask import Flask, abort, flash, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from bot.console import console_blueprint
from bot.console.audit import record
from bot.console.forms import EmptyForm, LanguageForm, PasswordForm, TotpForm
from bot.console.roles import Permission, requires
from bot.console.throttle import throttle
from bot.console.users import SignInError, confirm_password, set_password
from bot.work import request_session
from models import Role, Staff
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


@bp.get("")
@requires(Permission.ACCOUNT)
def show() -> str:
    """The account page."""
    staff = _me()
    enrolling = None
    if Role.ADMIN in staff.role_set and not staff.totp_secret:
        secret = session.setdefault("totp_enrolling", pyotp.random_base32())
        uri = pyotp.TOTP(secret).provisioning_uri(name=staff.email, issuer_name="madoguchi")
        enrolling = {"secret": secret, "qr": _qr_svg(uri)}
    return render_template(
        "console/account.html",
        staff=staff,
        password_form=PasswordForm(),
        language_form=LanguageForm(language=staff.language),
        totp_form=TotpForm(),
        empty_form=EmptyForm(),
        enrolling=enrolling,
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
    now = utcnow()
    db = request_session()
    try:  # counted like a sign-in: someone at an unlocked screen cannot guess on
        confirm_password(db, staff, form.current.data or "", now=now, guard=throttle().guard())
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
        logout_user()  # too many wrong passwords: this session ends too
        session.clear()
        flash(_("Too many failed attempts. Sign-in is locked for 15 minutes."), "error")
        return redirect(url_for("console_auth.sign_in"))
    try:
        set_password(staff, form.new.data or "", now=now)
    except ValueError as error:  # a common password, or one made of the e-mail or name
        flash(str(error), "error")
        return redirect(url_for(".show"))
    record(request_session(), "staff.password_change", object_type="staff", object_id=staff.id)
    session["signed_in_at"] = time.time()  # this session stays valid
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


@bp.post("/totp")
@requires(Permission.SETTINGS)
def enable_totp() -> ResponseReturnValue:
    """Turns on the second factor once the admin shows a valid code from the app."""
    form = TotpForm()
    secret = session.get("totp_enrolling")
    staff = _me()
    if not (
        form.validate_on_submit()
        and secret
        and pyotp.TOTP(secret).verify((form.code.data or "").strip(), valid_window=1)
    ):
        flash(form.control_error() or _("The code is not right. Try the current code."), "error")
        return redirect(url_for(".show"))
    staff.totp_secret = secret
    session.pop("totp_enrolling", None)
    record(request_session(), "staff.totp_enable", object_type="staff", object_id=staff.id)
    flash(_("Two-step sign-in is on."), "info")
    return redirect(url_for(".show"))


@bp.post("/totp/disable")
@requires(Permission.SETTINGS)
def disable_totp() -> ResponseReturnValue:
    """Turns off the second factor."""
    if EmptyForm().validate_on_submit():
        staff = _me()
        staff.totp_secret = None
        record(request_session(), "staff.totp_disable", object_type="staff", object_id=staff.id)
        flash(_("Two-step sign-in is off."), "info")
    return redirect(url_for(".show"))


def init_app(app: Flask) -> None:
    """Register the account pages."""
    app.register_blueprint(bp)
