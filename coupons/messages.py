"""What residents read about coupons, in LINE and on the coupon pages (Japanese first).

LINE messages: the one-time verification link, the coupon cards (Flex: the facilities and
the uses left, with 表示 opening the coupon's page), what to do after a failure, and the
notice to a LINE account whose coupons moved to another one. The failure texts and the
validity text are shared with the resident pages, so both say the same thing.

Build messages inside the resident's locale (``bot.i18n.resident_locale``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from babel.dates import format_date
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from bot.i18n import DEFAULT_LANGUAGE
from bot.messages import (
    Message,
    bubble,
    carousel,
    flex,
    flex_rows,
    flex_separator,
    flex_text,
    postback_button,
    text,
    uri_button,
    with_main_menu,
)
from bot.postback import PostbackData
from bot.residentweb.views import sign_in_url
from coupons.campaigns import TOKYO
from models import Facility
from models.coupons import Campaign, Entitlement, Redemption, VerificationFailure

#: How long the 表示 button of a coupon card works (tap クーポン again for a fresh card).
CARD_LINK_LIFETIME = timedelta(days=1)
#: Facilities named on a card before "and N more".
CARD_FACILITIES = 4
#: The postback of "verify again" (a new one-time link).
VERIFY_AGAIN = "coupons.verify"

#: Per failure: the page's title and what to do (the LINE message says the latter).
FAILURES = {
    VerificationFailure.CONSENT_DENIED: (
        _l("Verification was cancelled"),
        _l(
            "You did not agree to share the information, so no coupons were issued. To "
            "receive them, tap Coupons in the LINE menu again and agree on the "
            "verification screen."
        ),
    ),
    VerificationFailure.STATE_MISMATCH: (
        _l("Verification could not be completed"),
        _l(
            "You seem to have come back in a different browser from the one you started "
            "in. Tap Coupons in the LINE menu for a new link, and finish in the same "
            "browser."
        ),
    ),
    VerificationFailure.STATE_REUSED: (
        _l("This verification has already been handled"),
        _l("Its result was sent to you in LINE. Please check your LINE messages."),
    ),
    VerificationFailure.CODE_REJECTED: (
        _l("Verification could not be completed"),
        _l(
            "The identity service's answer had already been used. Tap Coupons in the LINE "
            "menu and verify again."
        ),
    ),
    VerificationFailure.PROVIDER_DOWN: (
        _l("The identity service is not available"),
        _l(
            "We could not reach the identity service. Please wait a while, then tap "
            "Coupons in the LINE menu and try again."
        ),
    ),
    VerificationFailure.NOT_ELIGIBLE: (
        _l("No coupons for you at the moment"),
        _l(
            "Your My Number card was verified, but none of the current coupon campaigns "
            "is for you (they may be for residents of the prefecture or an age group). "
            "Nothing about you was kept."
        ),
    ),
}
#: The answer could not be trusted (signature, issuer, nonce, expiry, anything else odd).
UNTRUSTED = (
    _l("Verification could not be completed"),
    _l(
        "The identity service's answer could not be confirmed, so no coupons were issued "
        "to keep you safe. Please tap Coupons in the LINE menu and try again later."
    ),
)


def failure_text(reason: VerificationFailure) -> tuple[str, str]:
    """The title and what to do after a failure, in the current language."""
    title, body = FAILURES.get(reason, UNTRUSTED)
    return str(title), str(body)


def _language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE


def validity_text(campaign: Campaign) -> str:
    """``2023年9月30日まで``: the last day (or moment) coupons work, in Japan's time."""
    end = campaign.ends_at.astimezone(TOKYO)
    if (end.hour, end.minute, end.second) == (0, 0, 0):
        day = format_date(end.date() - timedelta(days=1), "long", locale=_language())
        return _("Until %(day)s", day=day)
    day = format_date(end.date(), "long", locale=_language())
    return _("Until %(day)s %(time)s", day=day, time=end.strftime("%H:%M"))


def start_text(campaign: Campaign) -> str:
    """``2023年7月1日``: when coupons start to work, in Japan's time."""
    start = campaign.starts_at.astimezone(TOKYO)
    day = format_date(start.date(), "long", locale=_language())
    return day if (start.hour, start.minute) == (0, 0) else f"{day} {start:%H:%M}"


def uses_text(entitlement: Entitlement) -> str:
    """``残り 2回（3回中）``."""
    return _(
        "%(left)s of %(total)s uses left",
        left=entitlement.uses_left,
        total=entitlement.uses_total,
    )


def facilities_text(campaign: Campaign) -> str:
    """The participating facilities, the first few by name."""
    language = _language()
    names = [f.name(language) for f in campaign.facilities if f.active]
    if len(names) <= CARD_FACILITIES:
        return _(", ").join(names)
    return _(
        "%(names)s and %(count)s more",
        names=_(", ").join(names[:CARD_FACILITIES]),
        count=len(names) - CARD_FACILITIES,
    )


def verification_link(url: str, minutes: int) -> Message:
    """The one-time link to verify with the My Number card."""
    body = [
        flex_text(
            _(
                "Verify with your My Number card to receive coupons for free entry to "
                "prefectural facilities."
            )
        ),
        flex_text(
            _(
                "You need the Digital Authentication App and your card's 4-digit PIN. "
                "This link works once, for %(minutes)s minutes.",
                minutes=minutes,
            ),
            size="xs",
        ),
    ]
    card = bubble(
        body,
        title=_("Coupons"),
        buttons=[uri_button(_("Verify with My Number card"), url)],
        button_style="primary",
    )
    return flex(_("Verify with your My Number card to receive coupons"), card)


def coupon_cards(entitlements: Sequence[Entitlement], resident_id: int) -> Message:
    """The resident's coupons: one card per campaign with the facilities and uses left."""
    language = _language()
    bubbles = []
    for entitlement in entitlements[:12]:
        campaign = entitlement.campaign
        show = sign_in_url(
            resident_id,
            "coupons_resident.show",
            expires_in=CARD_LINK_LIFETIME,
            entitlement_id=entitlement.id,
        )
        body = [
            flex_text(campaign.benefit(language)),
            flex_separator(),
            flex_rows(
                [
                    (_("Uses"), uses_text(entitlement)),
                    (_("Valid"), validity_text(campaign)),
                    (_("Where"), facilities_text(campaign) or "-"),
                ]
            ),
        ]
        bubbles.append(
            bubble(
                body,
                title=campaign.name(language),
                buttons=[uri_button(_("Show"), show)],
                button_style="primary",
            )
        )
    contents = bubbles[0] if len(bubbles) == 1 else carousel(bubbles)
    again = postback_button(_("Verify again"), PostbackData(VERIFY_AGAIN))
    return flex(_("Your coupons"), contents, quick_replies=[again])


def coupons_sent() -> Message:
    """The short note before the cards, after a verification."""
    return text(_("Your My Number card was verified. Here are your coupons."))


def verification_failed(reason: VerificationFailure) -> Message:
    """What to do after a failed verification (with the main menu to try again)."""
    return with_main_menu(failure_text(reason)[1])


def coupons_moved() -> Message:
    """To the LINE account a person's coupons moved away from."""
    return with_main_menu(
        _(
            "Your coupons have moved to another LINE account, because the same My Number "
            "card was verified there. This LINE account can no longer use them. If this was "
            "not you, please contact the prefecture's coupon desk."
        )
    )


def too_many_attempts(retry_at: datetime) -> Message:
    """The resident has to wait before the next verification link."""
    return with_main_menu(
        _(
            "You have tried to verify several times in a short while. Please try again "
            "after %(time)s.",
            time=retry_at.astimezone(TOKYO).strftime("%H:%M"),
        )
    )


def no_campaign() -> Message:
    """No campaign is open."""
    return with_main_menu(_("There is no coupon campaign at the moment."))


def not_available() -> Message:
    """Verification is not set up on this server."""
    return with_main_menu(_("Coupons are not available at the moment."))


def coupon_used(facility: Facility, entitlement: Entitlement) -> Message:
    """After a use at a facility: where, and the uses left."""
    language = _language()
    return text(
        _(
            "Your coupon was used at %(facility)s. %(uses)s.",
            facility=facility.name(language),
            uses=uses_text(entitlement),
        )
    )


def coupon_use_undone(
    facility: Facility, redemption: Redemption, entitlement: Entitlement
) -> Message:
    """After the facility undid a use: which one, and the uses left."""
    language = _language()
    return text(
        _(
            "The use of your coupon at %(facility)s at %(time)s was cancelled and given "
            "back. %(uses)s.",
            facility=facility.name(language),
            time=redemption.redeemed_at.astimezone(TOKYO).strftime("%H:%M"),
            uses=uses_text(entitlement),
        )
    )
