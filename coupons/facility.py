"""The facility's coupon page (facility role, phone-sized): scan or type, check, confirm, undo.

1. ``/admin/redeem/<facility>``: the clerk scans the resident's QR code with the phone's
   camera (``bot/static/coupon-scan.js`` with jsQR, vendored from npm) or types the 6-digit
   code. Without script, typing works alone.
2. ``.../check``: the code is recognised and the rules are checked, nothing is used yet;
   the page shows the benefit and the uses left, and a confirm form carrying the scan,
   signed, with an idempotency key issued now. A refused code is logged and its reason
   shown in words the clerk can act on.
3. ``.../confirm``: the use (``coupons.redemption.redeem_coupon``). A retried post of the
   same form (a double tap, a reload, a flaky network) carries the same key and counts
   once. The resident gets a LINE message with the uses left.
4. ``.../undo/<use>``: within five minutes, by the staff member who confirmed it; audited;
   the resident is told.

Staff act only at the facilities they are linked to (``require_facility``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Response, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from bot.console import console_blueprint
from bot.console.audit import record
from bot.console.forms import ConsoleForm
from bot.console.roles import Permission, refuse, require_facility, requires
from bot.i18n import DEFAULT_LANGUAGE, resident_locale
from bot.messages import Message
from bot.work import request_session, request_work
from coupons import messages, redemption
from coupons.campaigns import TOKYO
from coupons.pages import coupon_texts
from coupons.redemption import Refused, Scan, UndoRefusal
from coupons.tokens import MAX_SCANNED, app_key
from models import Facility, Resident
from models.base import utcnow
from models.coupons import Entitlement, RefusalReason, ScanVia

bp = console_blueprint("coupons_facility", __name__, "/admin/redeem", template_folder="templates")
bp.context_processor(coupon_texts)

#: How long a confirm form works after the code was checked.
CONFIRM_SECONDS = 120
#: The scan page may use the camera (the console's policy turns it off elsewhere).
CAMERA_POLICY = "camera=(self), microphone=(), geolocation=()"

#: What the clerk reads for each refusal (the reason code is shown beside it).
REFUSALS: dict[RefusalReason, Any] = {
    RefusalReason.TAMPERED: _l(
        "This is not a valid coupon code. Ask the visitor to open the coupon from LINE "
        "(Show) and scan the code on that page."
    ),
    RefusalReason.EXPIRED: _l(
        "This code has expired: it changes every 30 seconds. Ask the visitor to show the "
        "current code on their phone (a screenshot does not work)."
    ),
    RefusalReason.UNKNOWN_CODE: _l(
        "No coupon shows this code now. Check the six digits, or scan the QR code."
    ),
    RefusalReason.AMBIGUOUS_CODE: _l(
        "This code cannot be told apart from another right now. Scan the QR code instead, "
        "or type the next code in 30 seconds."
    ),
    RefusalReason.WRONG_FACILITY: _l(
        "This coupon cannot be used at this facility. It is valid at: %(facilities)s."
    ),
    RefusalReason.OUTSIDE_VALIDITY: _l(
        "This coupon cannot be used now: its campaign has not started, is over, or was "
        "stopped (%(validity)s)."
    ),
    RefusalReason.REVOKED: _l(
        "This person's verification was revoked, so the coupon cannot be used. They can "
        "verify again from LINE (Coupons)."
    ),
    RefusalReason.OVER_CAP: _l(
        "All %(total)s uses of this coupon have been used. No use was counted."
    ),
    RefusalReason.BUDGET_SPENT: _l(
        "The campaign's budget has been used up, so coupons can no longer be used. No use "
        "was counted."
    ),
}
#: Why an undo was refused.
UNDO_REFUSALS = {
    UndoRefusal.UNKNOWN: _l("There is no such use at this facility."),
    UndoRefusal.UNDONE: _l("This use has been undone already."),
    UndoRefusal.OTHER_STAFF: _l("Only the staff member who confirmed a use may undo it."),
    UndoRefusal.TOO_LATE: _l(
        "A use can be undone only within 5 minutes. Please contact the coupon desk."
    ),
}


class ScanForm(ConsoleForm):
    """What the clerk scanned (the QR code's text, put here by the scanner) or typed."""

    code = StringField(
        _l("6-digit code"),
        validators=[DataRequired(), Length(max=MAX_SCANNED)],
        render_kw={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"},
    )


class ConfirmForm(ConsoleForm):
    """Confirming a checked code: the scan, signed with its idempotency key."""

    scan = HiddenField(validators=[DataRequired(), Length(max=500)])


class UndoForm(ConsoleForm):
    """Undoing a use (only its CSRF token)."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"],
        salt="madoguchi.coupon-scan",
        signer_kwargs={"digest_method": hashlib.sha256},
    )


def _sign(scan: Scan, facility_id: int) -> str:
    """The confirm form's value: the scan, the facility and a new idempotency key."""
    key = secrets.token_urlsafe(24)
    return _serializer().dumps(
        {"e": scan.entitlement_id, "s": scan.step, "v": scan.via.value, "f": facility_id, "k": key}
    )


def _unsign(value: str, facility_id: int) -> tuple[Scan, str] | None:
    """The scan and key of a confirm form, if genuine, for this facility and in time.

    :raises SignatureExpired: genuine, but the clerk waited too long.
    """
    try:
        data = _serializer().loads(value, max_age=CONFIRM_SECONDS)
    except SignatureExpired:
        raise
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("f") != facility_id:
        return None
    try:
        return Scan(int(data["e"]), int(data["s"]), ScanVia(data["v"])), str(data["k"])
    except (KeyError, TypeError, ValueError):
        return None


def _facility(facility_id: int) -> Facility:
    """The facility, if the signed-in staff member works there (else 403, audited)."""
    require_facility(facility_id)
    facility = request_session().get(Facility, facility_id)
    if facility is None or not facility.active:
        # A closed facility is refused like one the person does not work at.
        refuse("facility", facility_id, endpoint=request.endpoint or "")
    return facility


def _language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE


def _time(moment: datetime) -> str:
    return moment.astimezone(TOKYO).strftime("%H:%M")


def _day(moment: datetime) -> str:
    return format_datetime(moment.astimezone(TOKYO), "yyyy-MM-dd")


def refusal_text(refused: Refused, facility: Facility) -> str:
    """What the clerk reads: the reason, with when and where the use in the way was made."""
    session = request_session()
    entitlement = (
        session.get(Entitlement, refused.entitlement_id) if refused.entitlement_id else None
    )
    previous = refused.previous
    where = ""
    if previous is not None:
        other = session.get(Facility, previous.facility_id)
        here = previous.facility_id == facility.id
        where = _("here") if here or other is None else other.name(_language())
    reason = refused.reason
    if reason == RefusalReason.CODE_USED and previous is not None:
        return _(
            "This code was used already (%(place)s at %(time)s). If the visitor has uses "
            "left, ask them to show the next code (it changes every 30 seconds).",
            place=where,
            time=_time(previous.redeemed_at),
        )
    if reason == RefusalReason.DAY_LIMIT and previous is not None and entitlement is not None:
        return _(
            "Already used today (%(place)s at %(time)s): at most %(count)s a day. The "
            "visitor can use it again tomorrow.",
            place=where,
            time=_time(previous.redeemed_at),
            count=entitlement.campaign.uses_per_day,
        )
    if reason == RefusalReason.FACILITY_LIMIT and previous is not None and entitlement is not None:
        return _(
            "Already used at this facility (%(day)s at %(time)s): at most %(count)s per "
            "facility. It can be used at the campaign's other facilities.",
            day=_day(previous.redeemed_at),
            time=_time(previous.redeemed_at),
            count=entitlement.campaign.uses_per_facility,
        )
    text = str(REFUSALS.get(reason, REFUSALS[RefusalReason.TAMPERED]))
    if "%(" not in text:
        return text
    if entitlement is None:
        return str(REFUSALS[RefusalReason.TAMPERED])
    campaign = entitlement.campaign
    return text % {
        "facilities": messages.facilities_text(campaign),
        "validity": messages.validity_text(campaign),
        "total": entitlement.uses_total,
    }


def _refused_page(facility: Facility, refused: Refused) -> str:
    return render_template(
        "coupons/facility_refused.html",
        facility=facility,
        refused=refused,
        message=refusal_text(refused, facility),
        form=ScanForm(formdata=None),
    )


def _tell_resident(entitlement: Entitlement, build: Callable[[], Message], purpose: str) -> None:
    """Push the message ``build`` makes, in the resident's language, to the LINE account the
    coupon's person uses (if any: the push is skipped for one that blocked the account)."""
    resident_id = entitlement.holder.resident_id
    session = request_session()
    resident = session.get(Resident, resident_id) if resident_id is not None else None
    if resident is None:
        return
    with resident_locale(resident.language):
        message = build()
    request_work().outbox.push(session, resident, [message], purpose=purpose)


@bp.get("/")
@requires(Permission.COUPONS_REDEEM)
def index() -> ResponseReturnValue:
    """The facilities the staff member works at (straight to the one, if only one)."""
    ids = sorted(getattr(current_user, "facility_ids", frozenset()))
    facilities = list(
        request_session().scalars(
            select(Facility)
            .where(Facility.id.in_(ids), Facility.active.is_(True))
            .order_by(Facility.code)
        )
    )
    if len(facilities) == 1:
        return redirect(url_for(".scan", facility_id=facilities[0].id))
    return render_template("coupons/facility_choose.html", facilities=facilities)


@bp.get("/<int:facility_id>")
@requires(Permission.COUPONS_REDEEM)
def scan(facility_id: int) -> ResponseReturnValue:
    """Scan the resident's QR code, or type the 6-digit code."""
    facility = _facility(facility_id)
    page = render_template("coupons/facility_scan.html", facility=facility, form=ScanForm())
    response = Response(page, mimetype="text/html")
    response.headers["Permissions-Policy"] = CAMERA_POLICY
    return response


@bp.post("/<int:facility_id>/check")
@requires(Permission.COUPONS_REDEEM)
def check(facility_id: int) -> ResponseReturnValue:
    """Recognise the code and check the rules (nothing used yet): confirm, or why not."""
    facility = _facility(facility_id)
    form = ScanForm()
    if not form.validate_on_submit():
        return render_template("coupons/facility_scan.html", facility=facility, form=form), 400
    session = request_session()
    now = utcnow()
    text = form.code.data or ""
    scanned = redemption.read_scan(session, text, key=app_key(), now=now)
    checked = (
        redemption.check_scan(session, scanned, facility_id=facility.id, now=now)
        if isinstance(scanned, Scan)
        else scanned
    )
    if isinstance(checked, Refused) or not isinstance(scanned, Scan):
        refused = checked if isinstance(checked, Refused) else Refused(RefusalReason.TAMPERED)
        redemption.record_refusal(
            session,
            refused,
            facility_id=facility.id,
            staff_id=current_user.id,
            via=redemption.via_of(text),
            now=now,
        )
        return _refused_page(facility, refused)
    confirm = ConfirmForm(formdata=None, scan=_sign(scanned, facility.id))
    return render_template(
        "coupons/facility_confirm.html", facility=facility, preview=checked, form=confirm
    )


@bp.post("/<int:facility_id>/confirm")
@requires(Permission.COUPONS_REDEEM)
def confirm(facility_id: int) -> ResponseReturnValue:
    """Use the coupon (once per checked code, whatever the retries); tell the resident."""
    facility = _facility(facility_id)
    form = ConfirmForm()
    session = request_session()
    now = utcnow()
    try:
        signed = _unsign(form.scan.data or "", facility.id) if form.validate_on_submit() else None
    except SignatureExpired:
        refused = Refused(RefusalReason.EXPIRED)
        redemption.record_refusal(
            session,
            refused,
            facility_id=facility.id,
            staff_id=current_user.id,
            via=ScanVia.QR,
            now=now,
        )
        return _refused_page(facility, refused)
    if signed is None:
        return render_template(
            "coupons/facility_scan.html", facility=facility, form=ScanForm(formdata=None)
        ), 400
    scanned, key = signed
    outcome = redemption.redeem_coupon(
        session,
        scanned,
        facility_id=facility.id,
        staff_id=current_user.id,
        idempotency_key=key,
        now=now,
    )
    if isinstance(outcome, Refused):
        return _refused_page(facility, outcome)
    entitlement = outcome.entitlement
    if not outcome.replayed:
        record(
            session,
            "coupons.redeem",
            object_type="coupon_redemption",
            object_id=outcome.redemption.id,
            detail={"facility": facility.code, "via": scanned.via.value},
        )
        _tell_resident(
            entitlement, lambda: messages.coupon_used(facility, entitlement), "coupons.used"
        )
    return render_template(
        "coupons/facility_done.html",
        facility=facility,
        outcome=outcome,
        undo_form=UndoForm(formdata=None),
        undo_until=_time(outcome.redemption.redeemed_at + redemption.UNDO_WINDOW),
    )


@bp.post("/<int:facility_id>/undo/<int:redemption_id>")
@requires(Permission.COUPONS_REDEEM)
def undo(facility_id: int, redemption_id: int) -> ResponseReturnValue:
    """Give a use back (the same staff member, within five minutes); tell the resident."""
    facility = _facility(facility_id)
    form = UndoForm()
    if not form.validate_on_submit():
        return redirect(url_for(".scan", facility_id=facility.id))
    session = request_session()
    outcome = redemption.undo_redemption(
        session, redemption_id, facility_id=facility.id, staff_id=current_user.id, now=utcnow()
    )
    if isinstance(outcome, UndoRefusal):
        page = render_template(
            "coupons/facility_undo.html",
            facility=facility,
            refusal=outcome,
            message=str(UNDO_REFUSALS[outcome]),
            form=ScanForm(formdata=None),
        )
        return page, 409
    record(
        session,
        "coupons.redemption.undo",
        object_type="coupon_redemption",
        object_id=outcome.redemption.id,
        detail={"facility": facility.code},
    )
    entitlement = outcome.entitlement
    _tell_resident(
        entitlement,
        lambda: messages.coupon_use_undone(facility, outcome.redemption, entitlement),
        "coupons.undone",
    )
    return render_template(
        "coupons/facility_undo.html",
        facility=facility,
        undone=outcome,
        refusal=None,
        form=ScanForm(formdata=None),
    )
