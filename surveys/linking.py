"""The console page where staff link their LINE account to rehearse draft surveys in LINE.

An editor makes a one-time code here (shown once, valid ten minutes) and sends it to the bot
as ``連携 ABCD-EFGH``; then ``リハーサル`` in LINE lists the drafts. Making a code and
unlinking are audited (``rehearsal.code``, ``rehearsal.unlink``).
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from bot.console import console_blueprint
from bot.console.audit import record
from bot.console.forms import EmptyForm
from bot.console.roles import Permission, requires
from bot.work import request_session
from models import Staff
from models.base import utcnow
from surveys import rehearsal

bp = console_blueprint(
    "surveys_rehearsal", __name__, "/admin/surveys/rehearsal", template_folder="templates"
)


def _me() -> Staff:
    staff = request_session().get(Staff, current_user.id)
    if staff is None:  # pragma: no cover - the session loader already checked
        abort(401)
    return staff


def _page(code: str | None = None) -> str:
    staff = _me()
    return render_template(
        "surveys/rehearsal.html",
        code=code,
        minutes=int(rehearsal.CODE_LIFETIME.total_seconds() // 60),
        linked_on=rehearsal.linked_on(request_session(), staff),
        form=EmptyForm(),
    )


@bp.get("")
@requires(Permission.SURVEYS_EDIT)
def show() -> str:
    """Whether one's LINE account is linked, and the buttons to link or unlink it."""
    return _page()


@bp.post("/code")
@requires(Permission.SURVEYS_EDIT)
def make_code() -> ResponseReturnValue:
    """A new one-time code, shown once in this answer."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    session = request_session()
    code = rehearsal.make_code(session, _me(), utcnow())
    record(session, "rehearsal.code", object_type="staff", object_id=current_user.id)
    return _page(code)


@bp.post("/unlink")
@requires(Permission.SURVEYS_EDIT)
def unlink() -> ResponseReturnValue:
    """Forget the linked LINE account."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    session = request_session()
    rehearsal.unlink(session, _me())
    record(session, "rehearsal.unlink", object_type="staff", object_id=current_user.id)
    flash(_("Your LINE account is no longer linked."), "info")
    return redirect(url_for(".show"))
