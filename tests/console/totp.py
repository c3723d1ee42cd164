"""TOTP in tests: codes of chosen time steps, computed with pyotp as an authenticator app
would, and enrolment through the console's own pages."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pyotp
from flask.testing import FlaskClient

from tests.console.conftest import post_form

_SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7]+)</code>')
_CODE = re.compile(r"<li><code>([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})</code></li>")
#: Seconds that must be left in the current time step before a test relies on it.
MARGIN = 3


def steady_step(secret: str) -> int:
    """The current time step, once at least ``MARGIN`` seconds of it are left (a test that
    computes codes for this step and the one before then finishes its requests in it)."""
    totp = pyotp.TOTP(secret)
    left = totp.interval - time.time() % totp.interval
    if left < MARGIN:
        time.sleep(left + 0.05)
    return totp.timecode(time.time())


def code(secret: str, step: int) -> str:
    """The code an authenticator app shows during ``step``."""
    return pyotp.TOTP(secret).generate_otp(step)


@dataclass(frozen=True)
class Enrolled:
    """What enrolment gave: the secret (read from the page) and the recovery codes shown."""

    secret: str
    recovery_codes: list[str]
    #: The time step whose code enrolment used (the next sign-in needs a later one).
    step: int


def enrol(client: FlaskClient) -> Enrolled:
    """Set up TOTP for the signed-in client like a person: read the key from the page and
    send the app's code of the step *before* now, so a sign-in may follow at once with the
    current step's code."""
    page = client.get("/admin/account/totp").get_data(as_text=True)
    found = _SECRET.search(page)
    assert found, "no TOTP key on the enrolment page"
    secret = found.group(1)
    step = steady_step(secret) - 1
    answer = post_form(
        client,
        "/admin/account/totp",
        {"code": code(secret, step)},
        token_from="/admin/account/totp",
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    codes = _CODE.findall(answer.get_data(as_text=True))
    assert len(codes) == 10
    return Enrolled(secret, codes, step)
