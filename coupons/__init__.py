"""E-coupons for verified My Number card holders (Gunma's FY2023 pilot): the feature.

Campaigns give free entry to facilities, so many uses per person; residents prove they hold
a My Number card through an OpenID Connect identity provider, and the coupons follow the
person, not the LINE account. Its parts:

* ``campaigns.py``: the rules of a campaign (files and the console); ``services.py``: the
  verb-first services; ``identity.py`` and ``verification.py``: what is kept of an identity
  and the OpenID Connect verifier; ``config.py``: the settings.
* ``pages.py``: the resident's pages (verification, result, a coupon and its rotating
  codes); ``admin.py``: the campaigns' console pages; ``facility.py``: the facility's page
  (scan, confirm, undo); ``reports.py`` and ``report_views.py``: the campaigns' reports
  (viewers and up) and their exports; ``messages.py``: what residents read; ``cli.py``:
  ``madoguchi coupons``.
* ``tokens.py`` and ``redemption.py``: the codes a resident shows and using a coupon.
* ``handlers/coupons.py``: クーポン in LINE; ``models/coupons.py``: the tables.

docs/coupons.md is the operator's guide.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask_babel import lazy_gettext as _l

from bot.console import NavItem
from bot.console.roles import Permission
from bot.features import seam
from bot.jobs import Job
from bot.menu import MAIN_MENU
from bot.routing import Postback, Text
from bot.work import Work
from coupons import admin, cli, facility, pages, redemption, report_views
from coupons.config import read_settings
from coupons.messages import VERIFY_AGAIN
from handlers import coupons as handlers
from models.base import utcnow


def purge_codes(app: Flask, work: Work) -> int:
    """Forgets the 6-digit codes shown more than an hour ago."""
    return redemption.purge_codes(work.session, utcnow())


#: The main menu's coupon entry (the rich menu's クーポン tile and quick reply).
MENU_ACTION = next(entry.action for entry in MAIN_MENU if entry.pictogram == "coupon")


def init_app(app: Flask) -> None:
    """Plug the coupons feature in: settings, LINE routes, pages, console, CLI."""
    app.extensions["coupons"] = read_settings(app)
    features = seam(app)
    features.add_route(
        "coupons.show",
        Postback(MENU_ACTION) | Text("クーポン", "coupon", "coupons"),
        handlers.show_coupons,
    )
    features.add_route("coupons.verify", Postback(VERIFY_AGAIN), handlers.send_verification_link)
    features.add_blueprint(pages.bp)
    features.add_blueprint(admin.bp)
    features.add_blueprint(facility.bp)
    features.add_nav(NavItem("coupons_admin.index", _l("Coupons"), Permission.COUPONS_MANAGE, 40))
    features.add_blueprint(report_views.bp)
    features.add_nav(
        NavItem("coupons_reports.index", _l("Coupon reports"), Permission.COUPONS_REPORTS, 45)
    )
    features.add_nav(
        NavItem("coupons_facility.index", _l("Coupon desk"), Permission.COUPONS_REDEEM, 41)
    )
    features.add_job(Job("coupons.purge-codes", purge_codes, timedelta(minutes=10)))
    features.add_command(cli.coupons_group)
