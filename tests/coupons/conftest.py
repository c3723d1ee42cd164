"""Coupon fixtures: the local OpenID provider, an app that uses it, campaigns, and a resident
who verifies with the test client as their browser.

The app is the real one (every feature), configured like production with an identity
provider: the local provider of ``simulator.oidc``, served over real HTTP for the session,
with this app registered as a client (an RSA key made once). The resident's browser is the
Flask test client (it keeps the resident session's cookie) for madoguchi's pages, and
``requests`` for the provider's consent page, whose answer is a redirect back to the
callback, followed by the test client as a browser would.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from joserfc.jwk import RSAKey
from sqlalchemy import select
from werkzeug.test import TestResponse

from bot import create_app
from coupons.campaigns import TOKYO, read_campaign_file
from coupons.services import import_campaign
from models.base import utcnow
from models.coupons import Campaign
from simulator.oidc import RunningProvider, start_provider
from simulator.server import RunningPlatform
from tests.conftest import empty_tables
from tests.console.conftest import signed_in, staff_factory  # noqa: F401 - fixtures used here
from tests.support import Resident, app_settings

T = TypeVar("T")

#: Where the test app's links point: the test client's own host, so cookies follow.
PUBLIC_URL = "http://localhost"
CALLBACK = f"{PUBLIC_URL}/r/coupons/callback"
CLIENT_ID = "madoguchi-test"
PERSON_SECRET = "test-person-secret-of-32-characters!"


@pytest.fixture(scope="session")
def client_key() -> RSAKey:
    """The test app's client key (RSA, as most providers use)."""
    key = RSAKey.generate_key(2048)
    key.ensure_kid()
    return key


@pytest.fixture(scope="session")
def provider_session(client_key: RSAKey) -> Iterator[RunningProvider]:
    from coupons.verification import load_private_key, public_jwks

    running = start_provider()
    public = public_jwks(load_private_key(client_key.as_pem(private=True).decode()))
    running.state.register_client(CLIENT_ID, public, (CALLBACK,))
    yield running
    running.shutdown()


def coupon_settings(
    provider: RunningProvider, client_key: RSAKey, **overrides: Any
) -> dict[str, Any]:
    """Settings that point the coupons feature at the local provider."""
    return {
        "PUBLIC_BASE_URL": PUBLIC_URL,
        "COUPONS_OIDC_ISSUER": provider.state.issuer,
        "COUPONS_OIDC_CLIENT_ID": CLIENT_ID,
        "COUPONS_OIDC_PRIVATE_KEY": client_key.as_pem(private=True).decode(),
        "COUPONS_PERSON_SECRET": PERSON_SECRET,
        **overrides,
    }


@pytest.fixture(scope="session")
def session_coupons_app(
    database_url: str,
    platform: RunningPlatform,
    provider_session: RunningProvider,
    client_key: RSAKey,
) -> Iterator[Flask]:
    app = create_app(
        app_settings(database_url, platform.url, **coupon_settings(provider_session, client_key))
    )
    yield app
    app.extensions["line"].close()
    app.extensions["db"].dispose()


@pytest.fixture
def app(
    session_coupons_app: Flask, platform: RunningPlatform, provider_session: RunningProvider
) -> Iterator[Flask]:
    """The app with coupons on; tables, platform and provider fresh after each test."""
    yield session_coupons_app
    empty_tables(session_coupons_app)
    platform.state.reset()
    provider_session.state.reset()


@pytest.fixture
def provider(provider_session: RunningProvider, app: Flask) -> RunningProvider:
    """The local provider (reset after the test)."""
    return provider_session


CAMPAIGN = """
[campaign]
code = "{code}"
name = {{ ja = "県有施設無料クーポン", en = "Free entry to prefectural facilities" }}
benefit = {{ ja = "常設展の観覧料が無料", en = "Free admission to the permanent exhibition" }}
status = "published"
uses_per_person = {uses}
starts = {starts}
ends = {ends}
facilities = ["museum", "insect-forest"]
{extra}

[[facilities]]
code = "museum"
name = {{ ja = "県立近代美術館", en = "Museum of Modern Art" }}
address = {{ ja = "群馬県高崎市綿貫町992-1" }}
opening_hours = {{ ja = "9:30〜17:00（月曜休館）", en = "9:30-17:00, closed on Mondays" }}

[[facilities]]
code = "insect-forest"
name = {{ ja = "ぐんま昆虫の森", en = "Gunma Insect World" }}
"""


@pytest.fixture
def campaign(app: Flask) -> Callable[..., Campaign]:
    """Import an open campaign (two facilities): ``campaign(extra='[campaign.eligibility]
    ...', uses=3, code=...)``; it started yesterday and ends in 30 days (Tokyo)."""

    def make(*, code: str = "pilot", uses: int = 3, extra: str = "", **times: str) -> Campaign:
        today = utcnow().astimezone(TOKYO).date()
        text = CAMPAIGN.format(
            code=code,
            uses=uses,
            starts=times.get("starts", (today - timedelta(days=1)).isoformat()),
            ends=times.get("ends", (today + timedelta(days=30)).isoformat()),
            extra=extra,
        )
        with app.extensions["db"].unit_of_work() as session:
            return import_campaign(session, read_campaign_file(text)).campaign

    return make


def stored_campaign(app: Flask, code: str) -> Campaign:
    with app.extensions["db"].sessions() as session:
        return session.scalars(select(Campaign).where(Campaign.code == code)).one()


def components(value: Any, kind: str) -> list[dict[str, Any]]:
    """Every object of this ``type`` in a message, depth first (Flex texts, URI actions)."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if value.get("type") == kind:
            found.append(value)
        for inner in value.values():
            found += components(inner, kind)
    elif isinstance(value, list):
        for inner in value:
            found += components(inner, kind)
    return found


def uri_buttons(message: dict[str, Any]) -> list[str]:
    """The URIs of every URI action in a message (Flex buttons, quick replies)."""
    return [action["uri"] for action in components(message, "uri")]


def at_once(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run the calls in threads released together; their results (in finishing order)."""
    results: list[T] = []
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> None:
        start.wait()
        results.append(call())

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def local(url: str) -> str:
    """A URL on PUBLIC_BASE_URL as the test client opens it (path and query)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def form_token(page: str) -> str:
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


@dataclass
class CardHolderBrowser:
    """A resident in LINE plus their phone's browser (the test client), verifying a card."""

    resident: Resident
    client: FlaskClient

    def tap_coupons(self) -> dict[str, Any]:
        """Tap クーポン in the rich menu; the reply."""
        self.resident.tap("v=1&a=menu.coupons")
        return self.resident.received()[-1]

    def link(self, *, again: bool = False) -> str:
        """Tap クーポン (or "verify again" under the coupon card) and return the one-time
        link it sent."""
        if again:
            self.resident.tap("v=1&a=coupons.verify")
        reply = self.resident.received()[-1] if again else self.tap_coupons()
        [uri] = uri_buttons(reply)
        assert uri.endswith("?openExternalBrowser=1")
        return uri.removesuffix("?openExternalBrowser=1")

    def open(self, link: str) -> TestResponse:
        """Open the link (the explanation page)."""
        return self.client.get(local(link))

    def leave(self, link: str) -> str:
        """Open the link and press the button: the provider's authorization URL."""
        page = self.open(link)
        assert page.status_code == 200, page.get_data(as_text=True)
        posted = self.client.post(
            local(link), data={"csrf_token": form_token(page.get_data(as_text=True))}
        )
        assert posted.status_code == 303, posted.get_data(as_text=True)
        return posted.headers["Location"]

    @staticmethod
    def consent(
        authorization_url: str, holder: str = "gunma-adult", mode: str = "none", allow: bool = True
    ) -> str:
        """Answer the provider's consent page; the callback URL it redirects to."""
        page = requests.get(authorization_url, timeout=5)
        assert page.status_code == 200, page.text
        answer = requests.post(
            authorization_url,
            data={"holder": holder, "mode": mode, "decision": "allow" if allow else "deny"},
            allow_redirects=False,
            timeout=5,
        )
        assert answer.status_code == 302, answer.text
        location: str = answer.headers["Location"]
        assert location.startswith(CALLBACK)
        return location

    def come_back(self, callback_url: str) -> TestResponse:
        """The provider sends the browser back; follow to the result page."""
        return self.client.get(local(callback_url), follow_redirects=True)

    def verify(self, holder: str = "gunma-adult", mode: str = "none") -> TestResponse:
        """The whole flow; the page the resident ends on."""
        return self.come_back(self.consent(self.leave(self.link()), holder, mode))


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


@pytest.fixture
def holder_browser(
    app: Flask, resident_factory: Callable[..., Resident]
) -> Callable[..., CardHolderBrowser]:
    """A resident who followed the account, with a browser of their own."""

    def make(**profile: Any) -> CardHolderBrowser:
        resident = resident_factory(**profile)
        resident.follow()
        return CardHolderBrowser(resident, app.test_client())

    return make


@dataclass(frozen=True)
class Coupon:
    """A verified person's coupon of a campaign (rows made directly, no verification)."""

    entitlement_id: int
    holder_id: int
    campaign_id: int
    resident_id: int | None


def grant(
    app: Flask, campaign: Campaign, *, number: int = 1, resident_id: int | None = None
) -> Coupon:
    """Store card holder ``number`` with the campaign's uses (attached to ``resident_id``)."""
    from models.coupons import CardHolder, Entitlement

    now = utcnow()
    with app.extensions["db"].unit_of_work() as session:
        holder = CardHolder(person_key=f"{number:064x}", resident_id=resident_id, verified_at=now)
        session.add(holder)
        session.flush()
        entitlement = Entitlement(
            campaign_id=campaign.id,
            holder_id=holder.id,
            uses_total=campaign.uses_per_person,
            uses_left=campaign.uses_per_person,
        )
        session.add(entitlement)
        session.flush()
        return Coupon(entitlement.id, holder.id, campaign.id, resident_id)


def facility_id(app: Flask, code: str) -> int:
    """The id of the facility of this code (made if missing, outside every campaign)."""
    from models import Facility

    with app.extensions["db"].unit_of_work() as session:
        found = session.scalars(select(Facility.id).where(Facility.code == code)).first()
        if found is not None:
            return found
        facility = Facility(code=code, name_ja=f"施設 {code}", name_en=f"Facility {code}")
        session.add(facility)
        session.flush()
        return facility.id
