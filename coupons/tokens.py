"""The codes a resident shows at a facility: a QR token and a 6-digit code, both changing
every 30 seconds.

Time is cut into steps of :data:`STEP_SECONDS` (Unix time // 30). For one entitlement and
one step:

* the **QR token** is ``MC1.<entitlement>.<step>.<mac>``, where ``mac`` is HMAC-SHA-256 of
  the entitlement, its person (card holder), its campaign and the step, under a key derived
  from ``SECRET_KEY`` (cut to 128 bits, base64url). Changing any digit breaks the mac
  (*tampered*); a genuine token is accepted in its own step and the one after it only
  (*expired* later), so a screenshot is useless a minute later;
* the **6-digit code** is derived from the same key, entitlement, person, campaign and step
  (and a counter, :func:`six_digits`). Six digits cannot carry a mac, so the code shown is
  stored (``coupon_codes``) and a clerk's typed code is looked up there: unique per step,
  and kept unique over neighbouring steps by deriving again with the next counter.

Nothing here touches the database: :mod:`coupons.redemption` does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app

#: Seconds a code is shown before the next one.
STEP_SECONDS = 30
#: A genuine code is accepted in its own step and this many after it.
STEPS_ACCEPTED = 1
#: The QR token's prefix (madoguchi coupon, version 1).
PREFIX = "MC1"
#: ``MC1.<entitlement id>.<step>.<22 base64url characters>``.
TOKEN = re.compile(r"^MC1\.([1-9][0-9]{0,11})\.([1-9][0-9]{0,11})\.([A-Za-z0-9_-]{22})$")
#: A typed code: six digits (spaces and hyphens a clerk may type are removed first).
CODE = re.compile(r"^[0-9]{6}$")
#: Longest scanned text looked at (a QR code can hold far more; ours is short).
MAX_SCANNED = 200


def step_of(moment: datetime) -> int:
    """The time step ``moment`` falls in."""
    return int(moment.timestamp()) // STEP_SECONDS


def step_ends(step: int) -> float:
    """When ``step`` is over (seconds since the epoch)."""
    return float((step + 1) * STEP_SECONDS)


def derive_key(secret_key: str) -> bytes:
    """The codes' key, derived from the app's ``SECRET_KEY`` (never the key itself)."""
    return hmac.new(secret_key.encode(), b"madoguchi.coupon-codes.v1", hashlib.sha256).digest()


def app_key(app: Flask | None = None) -> bytes:
    """The codes' key of the current (or given) app."""
    return derive_key((app or current_app).config["SECRET_KEY"])


@dataclass(frozen=True)
class Subject:
    """What a code is about: the entitlement, whose it is and of which campaign."""

    entitlement_id: int
    holder_id: int
    campaign_id: int


def _mac(key: bytes, kind: bytes, subject: Subject, step: int, counter: int = 0) -> bytes:
    message = b"|".join(
        (
            kind,
            str(subject.entitlement_id).encode(),
            str(subject.holder_id).encode(),
            str(subject.campaign_id).encode(),
            str(step).encode(),
            str(counter).encode(),
        )
    )
    return hmac.new(key, message, hashlib.sha256).digest()


def _encode(mac: bytes) -> str:
    return base64.urlsafe_b64encode(mac[:16]).decode().rstrip("=")


def qr_token(key: bytes, subject: Subject, step: int) -> str:
    """The text of the QR code for ``subject`` in ``step``."""
    return f"{PREFIX}.{subject.entitlement_id}.{step}.{_encode(_mac(key, b'qr', subject, step))}"


@dataclass(frozen=True)
class ParsedToken:
    """A QR token's parts, not yet checked."""

    entitlement_id: int
    step: int
    mac: str


def parse_token(text: str) -> ParsedToken | None:
    """The parts of a scanned QR token; ``None`` when it is not shaped like one."""
    match = TOKEN.match(text.strip()) if len(text) <= MAX_SCANNED else None
    if match is None:
        return None
    return ParsedToken(int(match.group(1)), int(match.group(2)), match.group(3))


def token_is_genuine(key: bytes, subject: Subject, parsed: ParsedToken) -> bool:
    """True when the token's mac is the one ``subject`` has in the token's step."""
    expected = _encode(_mac(key, b"qr", subject, parsed.step))
    return hmac.compare_digest(expected.encode(), parsed.mac.encode())


def is_current(step: int, now: datetime) -> bool:
    """True when a code of ``step`` is still accepted at ``now`` (its step or the next)."""
    current = step_of(now)
    return current - STEPS_ACCEPTED <= step <= current


def six_digits(key: bytes, subject: Subject, step: int, counter: int) -> str:
    """The 6-digit code of ``subject`` in ``step`` (``counter`` > 0: derived again, after a
    collision)."""
    number = int.from_bytes(_mac(key, b"code", subject, step, counter)[:8], "big") % 1_000_000
    return f"{number:06d}"


def normalise_code(text: str) -> str | None:
    """A typed code as six digits (spaces and hyphens dropped, full-width digits read);
    ``None`` when it is not six digits."""
    if len(text) > MAX_SCANNED:
        return None
    cleaned = "".join(ch for ch in text if ch not in " -\u3000\u2010\u2212\uff0d")
    digits = cleaned.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    return digits if CODE.match(digits) else None
