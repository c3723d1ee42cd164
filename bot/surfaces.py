"""The parts of the site people see, and what each one's responses carry.

madoguchi answers three kinds of URL: the staff console (``/admin``), resident pages
(``/r``), and machine endpoints (the LINE webhook, ``/healthz``, ``/metrics``, static files).
A part served to people registers a :class:`Surface` for its URL prefix: its security
headers, its error pages and how it picks a page's language. The prefix decides, not the
blueprint, so that a URL no route matches (a 404) still gets its part's headers and page.

Every response carries the baseline: ``X-Content-Type-Options: nosniff``, and in production
``Strict-Transport-Security`` (a host-wide policy, so any response may carry it). Machine
endpoints get nothing more: no browser renders them, so a content policy or frame rule
would protect nothing, and their caching is their client's business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, current_app, has_request_context, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

#: Headers of every response, whatever part of the site it belongs to.
BASELINE_HEADERS = {"X-Content-Type-Options": "nosniff"}
HSTS = "max-age=31536000"


@dataclass(frozen=True)
class Surface:
    """A part of the site served to people, under one URL prefix."""

    name: str
    #: Path prefix without a trailing slash, e.g. ``/admin``: the surface owns that path and
    #: every path below it, never a mere name sharing its letters (``/administrator``).
    prefix: str
    #: Adds the surface's headers to one of its responses (never overriding a view's own).
    headers: Callable[[Response], None]
    #: Renders an error of the surface as a page.
    error_page: Callable[[HTTPException], ResponseReturnValue]
    #: The language a person has chosen (``None``: unknown; the browser's is used instead).
    language: Callable[[], str | None]

    def owns(self, path: str) -> bool:
        """True when ``path`` (without the script root) belongs to this surface."""
        return path == self.prefix or path.startswith(self.prefix + "/")


def register_surface(app: Flask, surface: Surface) -> None:
    """Add a part of the site.

    :raises ValueError: the prefix is malformed or another surface already has it.
    """
    if not surface.prefix.startswith("/") or surface.prefix.endswith("/"):
        raise ValueError(f"a surface prefix starts with / and does not end with one: {surface}")
    surfaces: list[Surface] = app.extensions.setdefault("surfaces", [])
    if any(s.owns(surface.prefix) or surface.owns(s.prefix) for s in surfaces):
        raise ValueError(f"{surface.prefix} overlaps a registered surface")
    surfaces.append(surface)


def surface_of(path: str, app: Flask | None = None) -> Surface | None:
    """The surface a path belongs to, or ``None`` for machine endpoints."""
    surfaces: list[Surface] = (app or current_app).extensions.get("surfaces", [])
    return next((s for s in surfaces if s.owns(path)), None)


def current_surface() -> Surface | None:
    """The surface of the current request (``None`` outside requests)."""
    return surface_of(request.path) if has_request_context() else None


def _headers(response: Response) -> Response:
    """The baseline headers, then the surface's own."""
    for name, value in BASELINE_HEADERS.items():
        response.headers.setdefault(name, value)
    if current_app.config["SESSION_COOKIE_SECURE"]:  # served over HTTPS: production
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    surface = current_surface()
    if surface is not None:
        surface.headers(response)
    return response


def init_app(app: Flask) -> None:
    """Install the response headers hook (the surfaces register themselves)."""
    app.extensions.setdefault("surfaces", [])
    app.after_request(_headers)
