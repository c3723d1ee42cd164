"""The console's security settings page (admins): requiring TOTP of admin and approver
accounts, and who among them has not set it up yet."""

from __future__ import annotations

from flask import Flask, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from bot.console import NavItem, console_blueprint, register_nav, second_factor
from bot.console.audit import record
from bot.console.forms import SecurityForm
from bot.console.roles import Permission, requires
from bot.work import request_session
from models import Staff

bp = console_blueprint("console_settings", __name__, "/admin/settings")


@bp.route("", methods=["GET", "POST"])
@requires(Permission.SETTINGS)
def show() -> ResponseReturnValue:
    """The settings, and the accounts the TOTP requirement concerns that lack TOTP."""
    db = request_session()
    form = SecurityForm()
    if form.validate_on_submit():
        required = bool(form.totp_required.data)
        second_factor.require_totp(db, required)
        record(db, "settings.update", object_type="settings", detail={"totp_required": required})
        flash(_("The settings have been saved."), "info")
        return redirect(url_for(".show"))
    form.totp_required.data = second_factor.totp_required(db)
    people = db.scalars(select(Staff).where(Staff.active).order_by(Staff.email))
    without = [p for p in people if p.role_set & second_factor.REQUIRED_FOR and not p.totp_secret]
    return render_template("console/settings.html", form=form, without_totp=without)


def init_app(app: Flask) -> None:
    """Register the settings page and its menu entry."""
    app.register_blueprint(bp)
    register_nav(app, NavItem("console_settings.show", _l("Settings"), Permission.SETTINGS, 85))
