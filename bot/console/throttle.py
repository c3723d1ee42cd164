"""Throttling sign-in, so that guessing is slow and nobody can lock a colleague out.

Three counters stand between a guesser and a password, each answering a different attack:

1. **Per client address** (Flask-Limiter): ``SIGN_IN_LIMIT_PER_ADDRESS`` posts to the
   sign-in pages (20 a minute, 200 an hour), then 429. One address cannot hammer the form,
   whatever accounts it tries. An office behind one address shares this budget; it is set
   well above what its staff need.
2. **Per e-mail address and client address**: ``MAX_FAILED_SIGN_INS`` (5) password checks
   in ``LOCKOUT`` (15 minutes), counted before each check (second-step codes too) and cleared
   by a completed sign-in.
   This is the lock a person sees ("too many attempts"). It is counted for every e-mail
   typed, an account's or not, so an unknown address and a locked one answer alike; and it
   is counted per client address, so a stranger's guesses never lock the staff member out
   of their own office.
3. **Per account, from any address**: ``MAX_FAILED_SIGN_INS_ANY_ADDRESS`` (50) checks in
   the database (``bot.console.users``): the ceiling when the guesses come from many
   addresses. Reaching it takes ten addresses at counter 2's pace.

Counters 1 and 2 live in the limiter's storage: Redis when ``RATELIMIT_STORAGE_URI`` or
``REDIS_URL`` is set, else memory. Memory is per process: with several processes (gunicorn
workers, dynos) each keeps its own counts, so a guesser gets one budget per process; set a
Redis URL there (start-up warns in production without one). Counter 3 holds regardless.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from flask import Blueprint, Flask, current_app, request
from flask_limiter import Limiter, RequestLimit
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.strategies import RateLimiter

logger = logging.getLogger(__name__)

#: Counter 2's key prefix in the limiter's storage.
CHECKS = "signin-checks"


def client_address() -> str:
    """The client's address (the proxies' word for it with ``TRUSTED_PROXY_COUNT``)."""
    return request.remote_addr or "unknown"


@dataclass(frozen=True)
class AddressGuard:
    """Password checks made for one client address, counted per e-mail address (counter 2)."""

    strategy: RateLimiter
    item: RateLimitItem
    address: str

    def _key(self, subject: str) -> tuple[str, str, str]:
        # Hashed: what was typed as an e-mail is sometimes a password, and Redis is no vault.
        return CHECKS, hashlib.sha256(subject.encode()).hexdigest(), self.address

    def reserve(self, subject: str) -> bool:
        """Count a check of ``subject`` (an e-mail, ``bot.console.users``) before it is made,
        atomically; ``False`` when none is left."""
        return self.strategy.hit(self.item, *self._key(subject))

    def exhausted(self, subject: str) -> bool:
        """True when the next check would be refused."""
        return self.strategy.get_window_stats(self.item, *self._key(subject)).remaining <= 0

    def forget(self, subject: str) -> None:
        """Start afresh after a good sign-in."""
        self.strategy.clear(self.item, *self._key(subject))


@dataclass(frozen=True)
class Throttle:
    """The app's limiter and counter 2's rate (``app.extensions["throttle"]``)."""

    limiter: Limiter
    checks: RateLimitItem

    def guard(self, address: str | None = None) -> AddressGuard:
        """Counter 2 for ``address`` (default: the current request's client)."""
        return AddressGuard(self.limiter.limiter, self.checks, address or client_address())

    def hit(self, item: RateLimitItem, *key: str) -> bool:
        """Count one more of something a feature limits (``item`` per ``key``) in the same
        storage as the sign-in counts; ``False`` when none is left."""
        return self.limiter.limiter.hit(item, *key)

    def reset(self) -> None:
        """Forget every count (tests)."""
        self.limiter.reset()


def throttle(app: Flask | None = None) -> Throttle:
    """The app's throttle."""
    found: Throttle = (app or current_app).extensions["throttle"]
    return found


def _breached(limit: RequestLimit) -> None:
    """Say that an address is being throttled (not which: addresses stay out of the logs)."""
    logger.warning("sign-in throttled at %s (%s)", request.endpoint, limit.limit)


def storage_uri(app: Flask) -> str:
    """Where the counts live: the configured URI, else ``REDIS_URL``, else memory."""
    return str(
        app.config["RATELIMIT_STORAGE_URI"] or app.config["REDIS_URL"] or "memory://",
    )


def init_app(app: Flask, *, sign_in: Blueprint, max_checks: int, window_minutes: int) -> None:
    """Install the limiter: counter 1 on the sign-in pages' posts, counter 2's storage.

    :param sign_in: the blueprint of the sign-in pages (counter 1 limits its posts).
    :param max_checks: counter 2's checks per ``window_minutes``.
    """
    uri = storage_uri(app)
    production = app.config["MADOGUCHI_ENV"] == "production" and not app.config.get("TESTING")
    if uri.startswith("memory:") and production:
        logger.warning(
            "sign-in throttling counts in memory, per process: with several processes set "
            "RATELIMIT_STORAGE_URI or REDIS_URL (docs/security.md)"
        )
    limiter = Limiter(
        key_func=client_address,
        app=app,
        storage_uri=uri,
        strategy="moving-window",
        headers_enabled=True,
        key_prefix="madoguchi",
        on_breach=_breached,
    )
    limiter.limit(app.config["SIGN_IN_LIMIT_PER_ADDRESS"], methods=["POST"])(sign_in)
    checks = RateLimitItemPerMinute(max_checks, window_minutes)
    app.extensions["throttle"] = Throttle(limiter, checks)
