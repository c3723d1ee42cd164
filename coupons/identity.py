"""What the pilot keeps of a verified identity, and what it never lets through.

An identity provider answers with claims about the person. Of them the pilot reads only:

* ``sub``, which with the issuer becomes the person key: an HMAC-SHA-256 with a server
  secret (:func:`person_key`). The subject itself is never stored or logged.
* ``address``, only when a campaign checks residency: the prefecture is read from it, the
  rest is dropped.
* ``birthdate``, only when a campaign checks age: the age is decided from it, only the year
  may be kept.

The card's 12-digit 個人番号 is never requested. Should a provider send it anyway, in any
claim, :func:`read_facts` discards the claim that holds a 12-digit number, and refuses an
answer whose ``sub`` *is* one (an opaque subject that merely contains twelve digits, as a
UUID may, is only ever hashed): the number never reaches the database or the logs, which
see claim *names* at most.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from coupons.prefectures import prefecture_of

logger = logging.getLogger(__name__)

#: Twelve digits in a row, as the card prints them or not (``1234 5678 9012``, ``1234-5678-
#: 9012``): the shape of a 個人番号.
TWELVE_DIGITS = re.compile(r"(?<!\d)(?:\d[\s\-\u3000]?){11}\d(?!\d)")
#: A subject that is nothing but such a number.
ONLY_TWELVE_DIGITS = re.compile(r"\s*(?:\d[\s\-\u3000]?){11}\d\s*")
#: Longest subject accepted (OpenID Connect says 255 ASCII characters).
MAX_SUBJECT = 255


class UnusableIdentity(ValueError):
    """The provider's answer cannot identify a person safely (no subject, or one that looks
    like a 個人番号)."""


@dataclass(frozen=True)
class CardHolderFacts:
    """What a verification proved, in memory only until the pilot keeps what it needs.

    ``prefecture`` and ``birth_date`` are read only when asked for, and are ``None`` when
    the provider did not give them usably.
    """

    issuer: str
    subject: str
    prefecture: str | None = None
    birth_date: date | None = None

    def __repr__(self) -> str:  # never print the subject or the facts by accident
        return "CardHolderFacts(<hidden>)"

    def age_on(self, day: date) -> int | None:
        """Age in whole years on ``day`` (``None`` without a birth date)."""
        born = self.birth_date
        if born is None:
            return None
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def holds_twelve_digits(value: Any) -> bool:
    """True when a claim's value (text, or text nested in lists and objects) holds 12 digits
    in a row: the shape of a 個人番号."""
    if isinstance(value, str):
        return TWELVE_DIGITS.search(value) is not None
    if isinstance(value, int) and not isinstance(value, bool):
        return holds_twelve_digits(str(value))
    if isinstance(value, Mapping):
        return any(holds_twelve_digits(v) for v in value.values())
    if isinstance(value, list):
        return any(holds_twelve_digits(v) for v in value)
    return False


def person_key(secret: str, issuer: str, subject: str) -> str:
    """The person key: HMAC-SHA-256 (hex) of issuer and subject with the server secret.

    The same person at the same provider always gets the same key; without the secret the
    key says nothing about the subject.
    """
    message = f"{issuer}\n{subject}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _address_prefecture(value: Any) -> str | None:
    """The prefecture of an OpenID Connect ``address`` claim (an object or a string)."""
    if isinstance(value, str):
        return prefecture_of(value)
    if isinstance(value, Mapping):
        for part in ("region", "formatted", "street_address"):
            if isinstance(value.get(part), str) and (found := prefecture_of(value[part])):
                return found
    return None


def _birth_date(value: Any) -> date | None:
    """An OpenID Connect ``birthdate`` (``YYYY-MM-DD``); a year alone does not tell an age."""
    if not isinstance(value, str):
        return None
    try:
        born = date.fromisoformat(value)
    except ValueError:
        return None
    return born if date(1880, 1, 1) <= born <= date(2200, 1, 1) else None


def read_facts(
    issuer: str,
    claims: Mapping[str, Any],
    *,
    want_prefecture: bool,
    want_birth_date: bool,
) -> CardHolderFacts:
    """Keep what the pilot needs of a provider's claims; drop everything else.

    A claim whose value holds a 12-digit number is discarded (logged by name only).

    :param claims: the ID token's claims, with the UserInfo answer's added if any.
    :raises UnusableIdentity: no usable ``sub``, or one that is a 12-digit number.
    """
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT:
        raise UnusableIdentity("no usable subject")
    if ONLY_TWELVE_DIGITS.fullmatch(subject):
        raise UnusableIdentity("the subject is a 12-digit number")
    suspicious = sorted(
        name for name, value in claims.items() if name != "sub" and holds_twelve_digits(value)
    )
    if suspicious:
        # Names only: the values are exactly what must never be written anywhere.
        logger.warning("identity claims discarded: they held a 12-digit number: %s", suspicious)
    kept = {name: value for name, value in claims.items() if name not in suspicious}
    return CardHolderFacts(
        issuer=issuer,
        subject=subject,
        prefecture=_address_prefecture(kept.get("address")) if want_prefecture else None,
        birth_date=_birth_date(kept.get("birthdate")) if want_birth_date else None,
    )
