"""The resident's coupon pages: verifying with the My Number card, its result, a coupon.

The verification, as the resident meets it:

1. ``/r/coupons/verify/<token>`` (the one-time link from LINE): what will happen and what
   is shared, and a button. The link signs the resident in; it is not spent yet (link
   previews and a second look are harmless).
2. Posting the button spends the link (once: a conditional UPDATE), keeps the request's
   ``state``, ``nonce`` and PKCE verifier in the resident's session, and sends the browser
   to the identity provider.
3. ``/r/coupons/callback``: the provider sends the browser back. The answer is taken once
   (a replay finds it taken), must belong to this browser's attempt (the session's state),
   and the code is exchanged and checked (``coupons.verification``) *between* transactions:
   nothing waits on the provider inside a unit of work. Coupons are granted, the LINE
   account attached, the LINE messages queued.
4. ``/r/coupons/result/<token>``: says it worked (with the coupons), or what to do.

Every failure ends the attempt with a reason (the funnel counts them), shows a page and,
when the attempt is known, sends a LINE message saying what to do. Nothing is granted.

``/r/coupons/coupon/<id>`` shows one of the resident's coupons (the cards' 表示 button), with
the QR code and the 6-digit code of the current 30-second step (``coupons.tokens``). The QR
image is served at a signed link bound to the resident that works for a minute
(``/r/coupons/qr/<token>``); ``.../code`` gives the page's script the next step's code and
image, so the page changes by itself; without script, reloading shows the current one.
Resident pages are never cached (``Cache-Control: no-store``).
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
)
from flask.typing import ResponseReturnValue

from bot.console.forms import ConsoleForm
from bot.db import get_db
from bot.i18n import resident_locale
from bot.residentweb import (
    CONTENT_SECURITY_POLICY,
    current_resident,
    pages,
    public,
    resident_blueprint,
    resident_required,
    sign_in_resident,
)
from bot.residentweb.links import signed_link, signed_url
from bot.work import Work, request_session, unit_of_work
from coupons import messages, redemption, services
from coupons.config import coupons_settings, redirect_uri
from coupons.identity import CardHolderFacts
from coupons.tokens import app_key, is_current, qr_token
from coupons.verification import (
    CardVerifier,
    Request,
    VerificationFailed,
    Wanted,
    state_hash,
)
from models import Resident
from models.base import utcnow
from models.coupons import (
    CampaignStatus,
    Entitlement,
    Verification,
    VerificationFailure,
    VerificationStatus,
)

logger = logging.getLogger(__name__)

bp = resident_blueprint("coupons_resident", __name__, "/r/coupons", template_folder="templates")

#: Link purposes: the one-time verification link, the result page's link, a QR image.
VERIFY = "coupon-verify"
RESULT = "coupon-result"
QR = "coupon-qr"
#: How long a QR image's link works (its step and the next are accepted at the facility).
QR_LINK_LIFETIME = timedelta(seconds=60)
#: How long the result page's link works.
RESULT_LINK_LIFETIME = timedelta(minutes=30)
#: Where the attempt's secrets wait in the resident session while the resident is away.
FLOW_KEY = "coupons.flow"


@bp.context_processor
def coupon_texts() -> dict[str, Any]:
    """The coupon texts the pages share with the LINE messages."""
    return {
        "coupon_uses": messages.uses_text,
        "coupon_validity": messages.validity_text,
        "coupon_start": messages.start_text,
    }


class StartForm(ConsoleForm):
    """The button that leaves for the identity provider (only its CSRF token)."""


def _failure_page(reason: VerificationFailure, status: int = 400) -> Response:
    title, body = messages.failure_text(reason)
    page = render_template("coupons/failed.html", title=title, message=body, reason=reason.value)
    return Response(page, status=status, mimetype="text/html")


def _link_used() -> Response:
    """The one-time link was used already, or its time is up."""
    page = render_template("coupons/link_used.html")
    return Response(page, status=410, mimetype="text/html")


def _fail(work: Work, verification: Verification, reason: VerificationFailure) -> None:
    """End the attempt with ``reason`` and tell the resident in LINE what to do."""
    if not services.fail_verification(work.session, verification, reason, utcnow()):
        return
    resident = work.session.get(Resident, verification.resident_id)
    if resident is not None:
        with resident_locale(resident.language):
            message = messages.verification_failed(reason)
        work.outbox.push(work.session, resident, [message], purpose="coupons.failed")


def _result(verification_id: int) -> ResponseReturnValue:
    url = signed_url(
        "coupons_resident.result",
        purpose=RESULT,
        expires_in=RESULT_LINK_LIFETIME,
        verification=verification_id,
    )
    return redirect(url, code=303)


@bp.route("/verify/<token>", methods=["GET", "POST"])
@signed_link(VERIFY)
def verify(verification: int) -> ResponseReturnValue:
    """Explains the verification and, when the button is pressed, leaves for the provider."""
    settings = coupons_settings()
    db = get_db()
    with db.reading() as reading:
        found = reading.get(Verification, verification)
        usable = (
            found is not None
            and found.status == VerificationStatus.LINK_SENT
            and found.link_expires_at > utcnow()
        )
        resident_id = found.resident_id if found is not None else None
        campaigns = services.open_campaigns(reading, utcnow())
    if not usable or resident_id is None or settings.verifier is None:
        return _link_used()

    if request.method == "POST":
        form = StartForm()
        if not form.validate_on_submit():
            abort(400)
        return _leave(settings.verifier, verification)

    # The provider's address is needed for the page's form policy: fetched before any
    # transaction of this request.
    try:
        origin = settings.verifier.form_origin()
    except VerificationFailed as failure:
        logger.info("identity provider unreachable", extra={"reason": failure.reason.value})
        return _failure_page(failure.reason, 503)
    sign_in_resident(resident_id)
    page = render_template(
        "coupons/verify.html",
        form=StartForm(),
        wanted=services.wanted_for(campaigns),
        campaigns=campaigns,
    )
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'", f"form-action 'self' {origin}"
    )
    return response


def _leave(verifier: CardVerifier, verification_id: int) -> ResponseReturnValue:
    """Spend the link and send the browser to the provider."""
    oidc = Request.new()
    now = utcnow()
    with get_db().unit_of_work() as db_session:
        started = services.start_verification(
            db_session, verification_id, state_hash=oidc.state_hash, now=now
        )
        wanted = services.wanted_for(services.open_campaigns(db_session, now))
    if not started:
        return _link_used()
    try:
        url = verifier.authorization_url(oidc, redirect_uri=redirect_uri(), wanted=wanted)
    except VerificationFailed as failure:
        with unit_of_work(current_app) as work:
            found = work.session.get(Verification, verification_id)
            if found is not None:
                _fail(work, found, failure.reason)
        return _result(verification_id)
    session[FLOW_KEY] = {
        "a": verification_id,
        "state": oidc.state,
        "nonce": oidc.nonce,
        "verifier": oidc.code_verifier,
        "wanted": asdict(wanted),
    }
    logger.info("coupon verification started", extra={"verification": verification_id})
    return redirect(url, code=303)


def _flow() -> tuple[int, Request, Wanted] | None:
    """The attempt this browser started, from the resident session (taken out of it)."""
    flow: Any = session.pop(FLOW_KEY, None)
    try:
        return (
            int(flow["a"]),
            Request(str(flow["state"]), str(flow["nonce"]), str(flow["verifier"])),
            Wanted(**flow["wanted"]),
        )
    except (TypeError, KeyError, ValueError):
        return None


Flow = tuple[int, Request, Wanted]


def _take_answer(work: Work, state: str, mine: Flow | None) -> Flow | VerificationFailure:
    """This browser's attempt, taken once; else why the answer is refused."""
    found = services.find_by_state(work.session, state_hash(state)) if state else None
    if found is not None and found.status != VerificationStatus.STARTED:
        # A reload or a replay: the first answer's outcome stands, whoever sends it again.
        logger.info("coupon verification answer refused: taken already")
        return VerificationFailure.STATE_REUSED
    if not (
        mine is not None
        and found is not None
        and found.id == mine[0]
        and hmac.compare_digest(mine[1].state.encode(), state.encode())
    ):
        # Not this browser's attempt: a forged or mixed-up answer, or the resident came back
        # in another browser. The attempts involved end; nothing is granted.
        for attempt_id in {mine[0] if mine else None, found.id if found else None}:
            attempt = work.session.get(Verification, attempt_id) if attempt_id else None
            if attempt is not None and attempt.status == VerificationStatus.STARTED:
                _fail(work, attempt, VerificationFailure.STATE_MISMATCH)
        logger.info("coupon verification answer refused: state mismatch")
        return VerificationFailure.STATE_MISMATCH
    if not services.take_answer(work.session, found.id):
        logger.info("coupon verification answer refused: taken already")
        return VerificationFailure.STATE_REUSED
    return mine


def _check_answer(
    verifier: CardVerifier, oidc: Request, wanted: Wanted
) -> CardHolderFacts | VerificationFailure:
    """The provider's answer, exchanged and checked (HTTP: call it outside transactions)."""
    error = request.args.get("error")
    if error is not None:
        return (
            VerificationFailure.CONSENT_DENIED
            if error == "access_denied"
            else VerificationFailure.PROVIDER_ERROR
        )
    if "iss" in request.args and request.args["iss"] != verifier.issuer:
        return VerificationFailure.UNKNOWN_ISSUER  # RFC 9207: an answer from another issuer
    try:
        return verifier.finish(
            oidc,
            code=request.args.get("code", "")[:2000],
            redirect_uri=redirect_uri(),
            wanted=wanted,
        )
    except VerificationFailed as failure:
        return failure.reason


@bp.get("/callback")
@public
def callback() -> ResponseReturnValue:
    """Takes the provider's answer once, checks it and grants the coupons."""
    verifier = coupons_settings().verifier
    if verifier is None:
        abort(404)
    mine = _flow()
    with unit_of_work(current_app) as work:
        taken = _take_answer(work, request.args.get("state", "")[:200], mine)
    if taken == VerificationFailure.STATE_MISMATCH:
        return _failure_page(taken)
    if isinstance(taken, VerificationFailure):
        return _failure_page(taken, 409)
    attempt_id, oidc, wanted = taken
    answer = _check_answer(verifier, oidc, wanted)
    with unit_of_work(current_app) as work:
        attempt = work.session.get(Verification, attempt_id)
        resident = work.session.get(Resident, attempt.resident_id) if attempt else None
        if attempt is None or resident is None:
            abort(410)  # the resident's records were deleted meanwhile
        if isinstance(answer, VerificationFailure):
            _fail(work, attempt, answer)
        else:
            _grant(work, attempt, resident, answer)
    return _result(attempt_id)


def _grant(work: Work, attempt: Verification, resident: Resident, facts: CardHolderFacts) -> None:
    """Record the verified person; queue the coupons (and the notice to a former account)."""
    settings = coupons_settings()
    outcome = services.record_verified(
        work.session, attempt, resident, facts, secret=settings.person_secret, now=utcnow()
    )
    if not outcome.eligible:
        with resident_locale(resident.language):
            message = messages.verification_failed(VerificationFailure.NOT_ELIGIBLE)
        work.outbox.push(work.session, resident, [message], purpose="coupons.failed")
        return
    with resident_locale(resident.language):
        cards = [
            messages.coupons_sent(),
            messages.coupon_cards(outcome.entitlements, resident.id),
        ]
    work.outbox.push(work.session, resident, cards, purpose="coupons.verified")
    if outcome.moved_from is not None:
        with resident_locale(outcome.moved_from.language):
            notice = messages.coupons_moved()
        work.outbox.push(work.session, outcome.moved_from, [notice], purpose="coupons.moved")


@bp.get("/result/<token>")
@signed_link(RESULT)
def result(verification: int) -> ResponseReturnValue:
    """Says whether the verification worked (and shows the coupons) or what to do."""
    db_session = request_session()
    attempt = db_session.get(Verification, verification)
    if attempt is None:
        abort(410)
    if attempt.status == VerificationStatus.VERIFIED:
        # The link proves the resident (like a sign-in link): the coupons' pages open.
        resident = current_resident()
        if resident is None or resident.id != attempt.resident_id:
            resident = sign_in_resident(attempt.resident_id)
        holder = services.holder_of(db_session, resident)
        coupons = services.usable_entitlements(db_session, holder, utcnow()) if holder else []
        return render_template("coupons/verified.html", coupons=coupons)
    if attempt.status == VerificationStatus.FAILED and attempt.failure is not None:
        return _failure_page(attempt.failure, 200)
    abort(410)


def qr_svg(text: str) -> bytes:
    """A QR code of ``text`` as SVG (error correction M: a phone screen held to a phone)."""
    import qrcode  # imported where used: keeps web workers that never draw one small
    import qrcode.image.svg

    image = qrcode.make(
        text,
        image_factory=qrcode.image.svg.SvgPathFillImage,
        box_size=10,
        border=4,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
    )
    data: bytes = image.to_string()
    return data


def _now() -> datetime:
    """The resident shell's time (one clock for links and code steps; tests move it)."""
    return datetime.fromtimestamp(pages().now(), UTC)


def _my_coupon(entitlement_id: int) -> tuple[Entitlement, Resident]:
    """One of the signed-in resident's coupons (404 for anyone else's)."""
    entitlement = request_session().get(Entitlement, entitlement_id)
    resident = current_resident()
    if entitlement is None or resident is None or entitlement.holder.resident_id != resident.id:
        abort(404)  # another person's coupon reads as no coupon at all
    return entitlement, resident


def _showable(entitlement: Entitlement, now: datetime) -> bool:
    """True when the coupon can be used now (a code is worth showing)."""
    campaign = entitlement.campaign
    return (
        entitlement.uses_left > 0
        and entitlement.revoked_at is None
        and campaign.status == CampaignStatus.PUBLISHED
        and campaign.starts_at <= now < campaign.ends_at
    )


def _code(entitlement: Entitlement, resident: Resident, now: datetime) -> dict[str, Any] | None:
    """The current step's 6-digit code, the URL of its QR image and when it changes."""
    if not _showable(entitlement, now):
        return None
    shown = redemption.show_code(request_session(), entitlement, key=app_key(), now=now)
    image = signed_url(
        "coupons_resident.qr",
        purpose=QR,
        expires_in=QR_LINK_LIFETIME,
        entitlement=entitlement.id,
        step=shown.step,
        resident=resident.id,
    )
    return {
        "code": f"{shown.code[:3]} {shown.code[3:]}",
        "qr": image,
        "changes_in": max(1, int(shown.next_at - now.timestamp())),
    }


@bp.get("/coupon/<int:entitlement_id>")
@resident_required
def show(entitlement_id: int) -> ResponseReturnValue:
    """One of the resident's coupons: the code to show at the facility (QR and six digits,
    changing every 30 seconds), the benefit, uses left, validity and facilities."""
    entitlement, resident = _my_coupon(entitlement_id)
    now = _now()
    return render_template(
        "coupons/coupon.html",
        entitlement=entitlement,
        now=now,
        code=_code(entitlement, resident, now),
    )


@bp.get("/coupon/<int:entitlement_id>/code")
@resident_required
def code(entitlement_id: int) -> ResponseReturnValue:
    """The page's script asks for the current code (JSON): the code, its QR image, when it
    changes, and the uses left (they change when the facility confirms)."""
    entitlement, resident = _my_coupon(entitlement_id)
    now = _now()
    current = _code(entitlement, resident, now)
    return jsonify(
        {
            "usable": current is not None,
            "uses": messages.uses_text(entitlement),
            **(current or {}),
        }
    )


@bp.get("/qr/<token>")
@signed_link(QR)
def qr(entitlement: int, step: int, resident: int) -> ResponseReturnValue:
    """The QR code of one coupon in one step (SVG), for the resident the link was made for."""
    found = request_session().get(Entitlement, entitlement)
    if found is None or found.holder.resident_id != resident:
        abort(404)
    if not is_current(step, _now()):
        abort(410)
    subject = redemption.subject_of(found)
    return Response(qr_svg(qr_token(app_key(), subject, step)), mimetype="image/svg+xml")
