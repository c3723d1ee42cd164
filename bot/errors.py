"""Error pages: HTML for people in the console, plain text for machines."""

from __future__ import annotations

from flask import Flask, Response, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException


def _page(error: HTTPException) -> Response | HTTPException:
    """A console page for console URLs; Werkzeug's own answer elsewhere."""
    if not request.path.startswith("/admin"):
        return error
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
        code=error.code,
        title=error.name,
        message=messages.get(error.code or 500, _("Something went wrong.")),
    )
    return Response(body, status=error.code, mimetype="text/html")


def init_app(app: Flask) -> None:
    """Register the error pages."""
    for code in (400, 401, 403, 404, 405):
        app.register_error_handler(code, _page)
