"""The coupons feature's settings: refused when incomplete or unsafe, off without a provider,
and the local provider wired in by itself in development."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from flask import Flask
from joserfc.jwk import ECKey, RSAKey

from bot import create_app
from bot.config import ConfigError
from bot.features import seam
from coupons.config import DEV_PERSON_SECRET, coupons_settings
from coupons.verification import load_private_key
from simulator.oidc import RunningProvider
from tests.coupons.conftest import coupon_settings
from tests.support import Resident, app_settings


@pytest.fixture
def settings(
    database_url: str, provider_session: RunningProvider, client_key: RSAKey
) -> Callable[..., dict[str, Any]]:
    def make(**overrides: Any) -> dict[str, Any]:
        return app_settings(
            database_url,
            "http://127.0.0.1:9",
            **coupon_settings(provider_session, client_key, **overrides),
        )

    return make


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"COUPONS_OIDC_CLIENT_ID": None, "COUPONS_PERSON_SECRET": None},
            "these are required too: COUPONS_OIDC_CLIENT_ID, COUPONS_PERSON_SECRET",
        ),
        ({"COUPONS_OIDC_PRIVATE_KEY": "not a key"}, "COUPONS_OIDC_PRIVATE_KEY not a PEM or JWK"),
        (
            {"COUPONS_OIDC_ISSUER": "http://idp.example.jp"},
            "COUPONS_OIDC_ISSUER must be an https URL",
        ),
        ({"COUPONS_OIDC_ISSUER": "https://idp.example.jp?x=1"}, "without query or fragment"),
        ({"COUPONS_PERSON_SECRET": "short"}, "COUPONS_PERSON_SECRET must be at least 32"),
        ({"COUPONS_PERSON_SECRET": DEV_PERSON_SECRET}, "development placeholder"),
        ({"COUPONS_VERIFY_LINK_MINUTES": 0}, "COUPONS_VERIFY_LINK_MINUTES must be 1 to 60"),
        ({"COUPONS_REPORT_K": 1}, "COUPONS_REPORT_K must be 2 to 100, got 1"),
        ({"COUPONS_REPORT_K": 101}, "COUPONS_REPORT_K must be 2 to 100, got 101"),
        ({"COUPONS_REPORT_K": "five"}, "COUPONS_REPORT_K"),
    ],
)
def test_an_incomplete_or_unsafe_configuration_stops_start_up(
    settings: Callable[..., dict[str, Any]], overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        create_app(settings(**overrides))


def test_a_public_key_is_refused() -> None:
    public = RSAKey.generate_key(2048).as_pem(private=False).decode()
    with pytest.raises(ValueError, match="a public key was given"):
        load_private_key(public)


def test_keys_come_as_pem_or_jwk_rsa_or_ec(client_key: RSAKey) -> None:
    ec = ECKey.generate_key("P-256")
    for text in (
        client_key.as_pem(private=True).decode(),
        json.dumps(client_key.as_dict(private=True)),
        ec.as_pem(private=True).decode(),
        json.dumps(ec.as_dict(private=True)),
        client_key.as_pem(private=True).decode().replace("\n", "\\n"),  # one line in .env
    ):
        key = load_private_key(text.replace("\\n", "\n"))
        assert key.is_private
        assert key.kid
    with pytest.raises(ValueError, match="P-256"):
        load_private_key(ECKey.generate_key("P-384").as_pem(private=True).decode())


def test_without_a_provider_coupons_are_off(
    make_app: Callable[..., Flask], resident_factory: Callable[..., Resident]
) -> None:
    """Production without COUPONS_OIDC_ISSUER: residents are told, nothing else happens."""
    off = make_app()
    assert coupons_settings(off).verifier is None
    resident = resident_factory()
    resident.client = off.test_client()
    resident.follow()
    resident.tap("v=1&a=menu.coupons")
    assert resident.texts()[-1] == "現在、クーポンはご利用いただけません。"


def test_development_wires_in_the_local_provider(database_url: str) -> None:
    port = _free_port()
    dev = create_app(
        app_settings(
            database_url,
            "http://127.0.0.1:9",
            MADOGUCHI_ENV="development",
            COUPONS_LOCAL_PROVIDER_PORT=port,
        )
    )
    try:
        verifier = coupons_settings(dev).verifier
        assert verifier is not None
        assert verifier.issuer == f"http://127.0.0.1:{port}"
        [service] = seam(dev).dev_services
        running = service.start(dev)
        try:
            assert "local OpenID provider" in service.describe(running)
            document = requests.get(
                f"{verifier.issuer}/.well-known/openid-configuration", timeout=5
            ).json()
            assert document["issuer"] == verifier.issuer
            with dev.app_context():
                assert verifier.form_origin() == verifier.issuer
        finally:
            running.shutdown()
    finally:
        dev.extensions["line"].close()
        dev.extensions["db"].dispose()


def test_the_client_keys_are_printed_for_registration(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["coupons", "client-jwks"])
    assert result.exit_code == 0, result.output
    [key] = json.loads(result.output)["keys"]
    assert (key["kty"], key["use"], key["alg"]) == ("RSA", "sig", "RS256")
    assert "d" not in key  # never the private part
    assert key["kid"] == coupons_settings(app).client_key.kid  # type: ignore[union-attr]


def test_the_client_keys_command_explains_what_is_missing(make_app: Callable[..., Flask]) -> None:
    result = make_app().test_cli_runner().invoke(args=["coupons", "client-jwks"])
    assert result.exit_code == 1
    assert "set COUPONS_OIDC_ISSUER and COUPONS_OIDC_PRIVATE_KEY" in result.output


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
