"""Signed, expiring URLs to resident pages: links sent in LINE, QR code images.

:func:`signed_url` makes an absolute URL (on ``PUBLIC_BASE_URL``) to a view decorated with
:func:`signed_link`; the view receives the values the URL was made with. The token in the
URL is signed with a key derived from ``SECRET_KEY`` and a salt per purpose, so a token
made for one purpose is refused by a view of another (400), as is a tampered one (400); a
token past its time is refused with the "link has expired" page (410).

A link is a bearer credential until it expires: anyone who has it may open it, as often
as they like. Keep lifetimes short, put ids (never personal data: the token is signed, not
encrypted) in the values, and make one-time actions (redeeming a coupon) one-time in their
own records. The resident pages' ``Referrer-Policy: no-referrer`` keeps tokens from leaking
to other sites.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.exceptions import BadRequest, Gone

from bot.residentweb import ACCESS_ATTRIBUTE, declare_access, pages

logger = logging.getLogger(__name__)

#: A purpose names what a link is for, e.g. ``coupon-qr``: lower-case words with ``-``/``.``.
PURPOSE = re.compile(r"^[a-z][a-z0-9.-]{0,39}$")
#: The longest a link may live.
MAX_LIFETIME = timedelta(days=30)
#: Longer tokens are refused before any decoding (ours are far shorter).
MAX_TOKEN_LENGTH = 1000

F = TypeVar("F", bound=Callable[..., Any])


class InvalidLink(BadRequest):
    """A token that is not ours: tampered with, cut short, or made for another purpose."""

    description = "This link is not valid."


class ExpiredLink(Gone):
    """A genuine token whose time is up."""

    description = "This link has expired."


def _access(purpose: str) -> str:
    if not PURPOSE.match(purpose):
        raise ValueError(f"a link purpose is a short lower-case name like 'coupon-qr': {purpose!r}")
    return f"link:{purpose}"


def _serializer(purpose: str) -> URLSafeSerializer:
    app = current_app
    keys = [*(app.config.get("SECRET_KEY_FALLBACKS") or []), app.config["SECRET_KEY"]]
    return URLSafeSerializer(
        keys,  # the last one signs; the others still verify (key rotation)
        salt=f"madoguchi.link.{purpose}",
        signer_kwargs={"digest_method": hashlib.sha256},
    )


def public_url(endpoint: str, *, external: bool = True, **values: Any) -> str:
    """The URL of an endpoint on ``PUBLIC_BASE_URL`` (works outside requests too: handlers
    and clock jobs make links for LINE messages).

    :param external: the whole URL; ``False`` for the path alone (with the base URL's path).
    :raises werkzeug.routing.BuildError: no such endpoint, or values missing.
    """
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=external)


def signed_url(endpoint: str, *, purpose: str, expires_in: timedelta, **values: int | str) -> str:
    """An absolute URL to a :func:`signed_link` view, carrying ``values`` signed.

    :param endpoint: the view, which has ``<token>`` in its route and was decorated with
        ``signed_link(purpose)``.
    :param purpose: what the link is for (the view's purpose).
    :param expires_in: how long the link works (at most 30 days).
    :param values: ints and strings the view receives as keyword arguments (ids, not
        personal data: anyone holding the link can decode them).
    :raises ValueError: the endpoint is not a signed-link view for this purpose, the
        lifetime is not positive or too long, or a value is not an int or a string.
    """
    access = _access(purpose)
    view = current_app.view_functions.get(endpoint)
    if view is None or getattr(view, ACCESS_ATTRIBUTE, None) != access:
        raise ValueError(f"{endpoint} is not a signed-link page for {purpose!r}")
    if not any("token" in rule.arguments for rule in current_app.url_map.iter_rules(endpoint)):
        raise ValueError(f"the route of {endpoint} needs a <token> in its path")
    if not timedelta(0) < expires_in <= MAX_LIFETIME:
        raise ValueError(f"a link lives more than 0 and at most {MAX_LIFETIME.days} days")
    for name, value in values.items():
        if name == "token" or type(value) not in (int, str):
            raise ValueError(f"link value {name!r} must be an int or a string (not 'token')")
    expires = int(pages().now() + expires_in.total_seconds())
    token = _serializer(purpose).dumps({"v": values, "x": expires})
    return public_url(endpoint, token=token)


def read_link(token: str, purpose: str) -> dict[str, Any]:
    """The values a link was made with, if it is genuine, for ``purpose``, and in time.

    :raises InvalidLink: tampered with, malformed, or made for another purpose (400).
    :raises ExpiredLink: genuine, but past its time (410).
    """
    _access(purpose)
    try:
        if len(token) > MAX_TOKEN_LENGTH:
            raise BadSignature("overlong token")
        payload = _serializer(purpose).loads(token)
    except BadSignature as error:
        logger.info("signed link refused: %s", type(error).__name__, extra={"purpose": purpose})
        raise InvalidLink() from error
    if not (
        isinstance(payload, dict)
        and isinstance(payload.get("v"), dict)
        and type(payload.get("x")) is int
    ):
        raise InvalidLink()  # signed by us, but not a link (another use of the same salt)
    if pages().now() >= payload["x"]:
        logger.info("signed link expired", extra={"purpose": purpose})
        raise ExpiredLink()
    values: dict[str, Any] = payload["v"]
    return values


def signed_link(purpose: str) -> Callable[[F], F]:
    """Make a resident view the target of signed links for ``purpose``.

    The route has a ``<token>``; the view is called with the link's values instead::

        @bp.get("/qr/<token>")
        @signed_link("coupon-qr")
        def qr(coupon: int) -> Response: ...

    :raises ValueError: the purpose is not a short lower-case name.
    """
    access = _access(purpose)

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(token: str, **kwargs: Any) -> Any:
            return view(**kwargs, **read_link(token, purpose))

        return declare_access(cast(F, wrapper), access)

    return decorate
