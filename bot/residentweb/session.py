"""Two sessions that never meet: the staff console's, and the resident pages' own.

Flask has one session interface per app; :class:`SiteSessionInterface` picks by path
(before any URL is matched, which is when Flask opens the session). Resident pages
(``/r``) get :class:`ResidentSessionInterface`; every other path keeps Flask's default,
the staff session (``madoguchi_session``), exactly as before.

The resident cookie differs in everything that could let one be read as the other: its
name (``madoguchi_resident``), its path (``/r``, so browsers never send it to the console),
and its signing key, derived from ``SECRET_KEY`` with a salt of its own (and SHA-256), so a
resident cookie presented as a staff one, or the other way round, fails its signature and
reads as an empty session. It is HttpOnly, SameSite=Lax, Secure in production, and it ends
``RESIDENT_SESSION_MINUTES`` after it began, however active the resident is; the end is
checked on the server with the shell's clock, not only by the browser.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from flask import Flask, Request, Response, request
from flask.sessions import (
    SecureCookieSession,
    SecureCookieSessionInterface,
    SessionInterface,
    SessionMixin,
)

from bot.residentweb import COOKIE_NAME, PREFIX, is_resident_path, pages

#: Session key holding when the session began (seconds since the epoch).
STARTED_KEY = "_started"


class ResidentSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with the resident pages' cookie, key and lifetime."""

    salt = "madoguchi.resident-session"
    digest_method = staticmethod(hashlib.sha256)

    def get_cookie_name(self, app: Flask) -> str:
        return COOKIE_NAME

    def get_cookie_path(self, app: Flask) -> str:
        return request.script_root + PREFIX

    def get_cookie_httponly(self, app: Flask) -> bool:
        return True

    def get_cookie_samesite(self, app: Flask) -> str:
        return "Lax"

    def get_expiration_time(self, app: Flask, session: SessionMixin) -> datetime:
        ends = session[STARTED_KEY] + pages(app).session_lifetime.total_seconds()
        return datetime.fromtimestamp(ends, UTC)

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        session = super().open_session(app, request)
        if session and self._ended(app, session):
            ended = self.session_class()
            ended.modified = True  # saving an emptied session deletes the cookie
            return ended
        return session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if session and STARTED_KEY not in session:
            session[STARTED_KEY] = int(pages(app).now())
        super().save_session(app, session, response)

    @staticmethod
    def _ended(app: Flask, session: SessionMixin) -> bool:
        started = session.get(STARTED_KEY)
        if type(started) is not int:
            return True
        return pages(app).now() >= started + pages(app).session_lifetime.total_seconds()


class SiteSessionInterface(SessionInterface):
    """The staff session everywhere but on resident pages, which have their own."""

    def __init__(self) -> None:
        self.staff = SecureCookieSessionInterface()
        self.residents = ResidentSessionInterface()

    def _for(self, path: str) -> SecureCookieSessionInterface:
        return self.residents if is_resident_path(path) else self.staff

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        return self._for(request.path).open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        self._for(request.path).save_session(app, session, response)
