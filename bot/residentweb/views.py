"""The shell's own resident page: where a sign-in link sent in LINE lands.

A feature that wants a resident signed in on its page sends :func:`sign_in_url` in a LINE
message. Opening it starts the resident session (a fresh one) and redirects to the page.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import abort, current_app, redirect
from flask.typing import ResponseReturnValue

from bot.residentweb import (
    ACCESS_ATTRIBUTE,
    PREFIX,
    is_resident_path,
    resident_blueprint,
    sign_in_resident,
)
from bot.residentweb.links import public_url, signed_link, signed_url

bp = resident_blueprint("resident", __name__, PREFIX)

#: The purpose of sign-in links.
SIGN_IN = "sign-in"
#: How long a sign-in link works unless the feature says otherwise.
SIGN_IN_LINK_LIFETIME = timedelta(minutes=10)


@bp.get("/enter/<token>")
@signed_link(SIGN_IN)
def enter(resident: int, to: str) -> ResponseReturnValue:
    """Signs the resident in and opens the page the link was sent for."""
    try:
        sign_in_resident(resident)
    except LookupError:
        abort(410)  # the resident's records were deleted after the link was sent
    return redirect(to)


def sign_in_url(
    resident_id: int,
    endpoint: str,
    *,
    expires_in: timedelta = SIGN_IN_LINK_LIFETIME,
    **values: Any,
) -> str:
    """A link for a LINE message: opening it signs the resident in and opens a page.

    :param resident_id: the internal id of the resident the message goes to.
    :param endpoint: a resident page (usually one with ``resident_required``).
    :param expires_in: how long the link works (10 minutes unless said otherwise).
    :param values: the page's URL values.
    :return: an absolute URL on ``PUBLIC_BASE_URL``.
    :raises ValueError: the endpoint is not a resident page.
    :raises werkzeug.routing.BuildError: the values do not fit the page's route.
    """
    view = current_app.view_functions.get(endpoint)
    if view is None or not hasattr(view, ACCESS_ATTRIBUTE):
        raise ValueError(f"{endpoint} is not a resident page")
    if not all(is_resident_path(rule.rule) for rule in current_app.url_map.iter_rules(endpoint)):
        raise ValueError(f"{endpoint} is not a resident page")
    return signed_url(
        "resident.enter",
        purpose=SIGN_IN,
        expires_in=expires_in,
        resident=resident_id,
        to=public_url(endpoint, external=False, **values),
    )
