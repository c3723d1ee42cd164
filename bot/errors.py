"""Error pages: each part of the site (``bot.surfaces``) shows its own; machines get plain text.

The console's pages speak to staff (sign in, the refusal was recorded); the resident pages
speak to residents on a phone (open the link from LINE again). Any other URL (the webhook,
``/healthz``, ``/metrics``) gets Werkzeug's plain answer.

An HTTP error raised while a request is handled (``abort(403)``, a 404 from a view) also
rolls back the request's unit of work: a refused request changes nothing. A refusal the
audit log must keep is raised as :class:`Refused`; its entry is written in a unit of work of
its own, after that rollback.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, render_template
from flask.typing import ResponseReturnValue
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.exceptions import Forbidden, HTTPException

from bot.db import get_db
from bot.i18n import browser_language
from bot.surfaces import current_surface
from bot.work import discard_request_work


class Refused(Forbidden):
    """A 403 whose audit entry outlives the refused request (``audit`` writes it)."""

    def __init__(self, audit: Callable[[Session], object]) -> None:
        super().__init__()
        self.audit = audit


def _page(error: HTTPException) -> ResponseReturnValue:
    """Roll the request's work back, then the error page of the request's surface
    (Werkzeug's own answer elsewhere)."""
    discard_request_work()
    if isinstance(error, Refused):
        with get_db().unit_of_work() as session:
            error.audit(session)
    surface = current_surface()
    return error if surface is None else surface.error_page(error)


def console_page(error: HTTPException) -> ResponseReturnValue:
    """A console page for a 4xx; a 5xx keeps Werkzeug's answer (the console's layout needs
    the database, which may be what failed)."""
    code = error.code or 500
    if code >= 500:
        return error
    messages = {
        401: _("Please sign in."),
        403: _("You do not have permission to do this. The attempt has been recorded."),
        404: _("There is no such page."),
        400: _(
            "The request could not be understood. If you submitted a form, reload the page "
            "and try again."
        ),
        429: _(
            "There were too many attempts from your network in a short time. Wait a minute, "
            "then try again."
        ),
    }
    titles = {429: _("Too many attempts")}
    message = getattr(error, "page_message", None) or messages.get(code)
    body = render_template(
        "console/error.html",
        code=code,
        title=titles.get(code, error.name),
        message=message or _("Something went wrong."),
    )
    return Response(body, status=code, mimetype="text/html")


def resident_page(error: HTTPException) -> ResponseReturnValue:
    """A resident page: what happened and what to do next, in plain words."""
    code = error.code or 500
    if code >= 500:
        # The resident's language lives in the database, which may be what failed.
        with force_locale(browser_language()):
            return _resident_page(code)
    return _resident_page(code)


def _resident_page(code: int) -> Response:
    pages = {
        400: (
            _("This link is not valid"),
            _("Part of the link may be missing. Please open it again from the message in LINE."),
        ),
        403: (
            _("This page cannot be shown"),
            _(
                "Please open this page from the link in LINE. If you opened it a while ago, "
                "open the link again."
            ),
        ),
        404: (_("Page not found"), _("There is no such page. Please check the link in LINE.")),
        410: (
            _("This link has expired"),
            _(
                "Links work for a limited time to protect your information. Please open the "
                "latest message in LINE, or ask for a new link."
            ),
        ),
    }
    title, message = pages.get(
        code, (_("Something went wrong"), _("Please try again in a little while."))
    )
    body = render_template("resident/error.html", code=code, title=title, message=message)
    return Response(body, status=code, mimetype="text/html")


def init_app(app: Flask) -> None:
    """Register the error pages (for every HTTP error: each rolls the request's work back)."""
    app.register_error_handler(HTTPException, _page)
