"""Error pages: HTML for people in the console, plain text for machines.

An HTTP error raised while a request is handled (``abort(403)``, a 404 from a view) also
rolls back the request's unit of work: a refused request changes nothing.
"""

from __future__ import annotations

from flask import Flask, Response, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from bot.work import discard_request_work


def _page(error: HTTPException) -> Response | HTTPException:
    """A console page for console URLs; Werkzeug's own answer elsewhere."""
    discard_request_work()
    if not request.path.startswith("/admin"):
        return error
    return console_error_page(error.code or 500, error.name)


def console_error_page(code: int, title: str | None = None) -> Response:
    """The console's error page for an HTTP status (a response: the request's work commits).

    :param code: the status, e.g. 403.
    :param title: the heading; the status's standard name by default.
    """
    messages = {
        401: _("Please sign in."),
        403: _("You do not have permission to do this. The attempt has been recorded."),
        404: _("There is no such page."),
        400: _(
            "The request could not be understood. If you submitted a form, reload the page "
            "and try again."
        ),
    }
    body = render_template(
        "console/error.html",
        code=code,
        title=title or HTTP_STATUS_CODES.get(code, "Error"),
        message=messages.get(code, _("Something went wrong.")),
    )
    return Response(body, status=code, mimetype="text/html")


def init_app(app: Flask) -> None:
    """Register the error pages (for every HTTP error)."""
    app.register_error_handler(HTTPException, _page)
