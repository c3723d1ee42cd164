"""The coupons feature in LINE: クーポン shows the resident's coupons, or sends a one-time link
to verify with the My Number card (coupons/pages.py takes it from there)."""

from __future__ import annotations

from flask import current_app

from bot.context import EventContext
from bot.residentweb.links import signed_url
from coupons import messages, services
from coupons.config import coupons_settings
from coupons.pages import VERIFY

#: LINE's in-app browser opens a link carrying this in the phone's own browser, which is
#: where the identity provider's app sends the resident back to (the attempt's secrets are
#: in that browser's session).
EXTERNAL_BROWSER = "openExternalBrowser=1"


def show_coupons(ctx: EventContext) -> None:
    """Shows the resident's coupons; without any, sends a link to verify the card."""
    holder = services.holder_of(ctx.session, ctx.resident)
    coupons = services.usable_entitlements(ctx.session, holder, ctx.now) if holder else []
    if coupons:
        ctx.reply(messages.coupon_cards(coupons, ctx.resident.id))
        return
    send_verification_link(ctx)


def send_verification_link(ctx: EventContext) -> None:
    """Sends a one-time link to verify with the My Number card (a few per hour at most)."""
    settings = coupons_settings(current_app)
    if settings.verifier is None:
        ctx.reply(messages.not_available())
        return
    if not services.open_campaigns(ctx.session, ctx.now):
        ctx.reply(messages.no_campaign())
        return
    issued = services.issue_verification(
        ctx.session,
        ctx.resident,
        now=ctx.now,
        lifetime=settings.link_lifetime,
        per_hour=settings.attempts_per_hour,
    )
    if isinstance(issued, services.TooManyAttempts):
        ctx.reply(messages.too_many_attempts(issued.retry_at))
        return
    url = signed_url(
        "coupons_resident.verify",
        purpose=VERIFY,
        expires_in=settings.link_lifetime,
        verification=issued.id,
    )
    minutes = int(settings.link_lifetime.total_seconds() // 60)
    ctx.reply(messages.verification_link(f"{url}?{EXTERNAL_BROWSER}", minutes))
