"""The coupons feature's settings (read through the seam) and the verifier they configure.

Production: set ``COUPONS_OIDC_ISSUER`` (the identity provider's issuer URL), the client id
and private key the provider registered, and ``COUPONS_PERSON_SECRET``; without an issuer
residents are told coupons are not available. Secrets come from the environment only.

Development (``make run``) without an issuer: the local OpenID provider of
``simulator.oidc`` stands in, on ``COUPONS_LOCAL_PROVIDER_PORT``, with a client key made at
start-up; the dev server starts it (a development service), nothing to configure.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app

from bot.config import ConfigError, Setting, positive
from bot.features import DevService, Running, seam
from bot.residentweb.links import public_url
from coupons.reports import DEFAULT_K
from coupons.verification import (
    CardVerifier,
    OidcVerifier,
    PrivateKey,
    load_private_key,
    public_jwks,
)

#: The person-key secret of development databases (refused in production: it is public).
DEV_PERSON_SECRET = "madoguchi-development-person-secret"  # noqa: S105 - not a secret
#: The client id the local provider knows the development bot by.
DEV_CLIENT_ID = "madoguchi-development"


def _https_or_local(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.query or parts.fragment or not parts.hostname:
        return "must be a URL without query or fragment"
    if parts.scheme == "https":
        return None
    try:
        local = parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        local = False
    return None if parts.scheme == "http" and local else "must be an https URL"


def _long_secret(value: str) -> str | None:
    return None if len(value) >= 32 else "must be at least 32 characters"


SETTINGS = (
    Setting(
        "COUPONS_OIDC_ISSUER",
        None,
        str,
        "Issuer URL of the identity provider that verifies My Number card holders (OpenID "
        "Connect discovery). Unset: coupons are off (development: the local provider).",
        _https_or_local,
    ),
    Setting(
        "COUPONS_OIDC_CLIENT_ID",
        None,
        str,
        "Client id the identity provider registered for this service.",
    ),
    Setting(
        "COUPONS_OIDC_PRIVATE_KEY",
        None,
        str,
        "The client's private key for `private_key_jwt` (PEM or JWK; RSA or EC P-256). "
        "Secret: environment only.",
    ),
    Setting(
        "COUPONS_PERSON_SECRET",
        None,
        str,
        "Secret of the person keys (HMAC of the provider's issuer and subject), 32+ "
        "characters. Secret; never change it during a campaign (every cap would restart).",
        _long_secret,
    ),
    Setting(
        "COUPONS_VERIFY_LINK_MINUTES",
        10,
        int,
        "Minutes a one-time verification link sent in LINE works.",
        lambda minutes: None if 1 <= minutes <= 60 else "must be 1 to 60",
    ),
    Setting(
        "COUPONS_VERIFY_ATTEMPTS_PER_HOUR",
        5,
        int,
        "Verification links a resident may get per hour.",
        positive,
    ),
    Setting(
        "COUPONS_OIDC_TIMEOUT",
        5.0,
        float,
        "Seconds before a call to the identity provider times out.",
        positive,
    ),
    Setting(
        "COUPONS_LOCAL_PROVIDER_PORT",
        5002,
        int,
        "Port of the local OpenID provider `make run` starts when no issuer is set.",
    ),
    Setting(
        "COUPONS_CODE_CHECKS_PER_MINUTE",
        30,
        int,
        "Codes one facility clerk may check per minute (scanned or typed); then 429.",
        lambda checks: None if 1 <= checks <= 600 else "must be 1 to 600",
    ),
    Setting(
        "COUPONS_REPORT_K",
        DEFAULT_K,
        int,
        "Coupon reports hide every figure that counts fewer people than this (k-anonymity).",
        lambda k: None if 2 <= k <= 100 else "must be 2 to 100",
    ),
)


@dataclass(frozen=True)
class CouponsSettings:
    """What the coupon pages and handlers need (``app.extensions["coupons"]``)."""

    #: ``None``: coupons are off (no identity provider configured).
    verifier: CardVerifier | None
    person_secret: str
    link_lifetime: timedelta
    attempts_per_hour: int
    #: Reports hide figures counting fewer people than this.
    report_k: int = DEFAULT_K
    #: Codes one clerk may check per minute: a desk sees a visitor a minute at its busiest,
    #: while guessing one of the 6-digit codes on show takes hundreds of thousands of tries.
    checks_per_minute: int = 30
    #: The client's key (its public half is registered with the provider).
    client_key: PrivateKey | None = None
    client_id: str | None = None


def coupons_settings(app: Flask | None = None) -> CouponsSettings:
    """The settings of the current (or given) app."""
    found: CouponsSettings = (app or current_app).extensions["coupons"]
    return found


def _required(config: dict[str, Any], names: tuple[str, ...]) -> None:
    missing = [name for name in names if not config.get(name)]
    if missing:
        raise ConfigError(
            "COUPONS_OIDC_ISSUER is set, so these are required too: " + ", ".join(missing)
        )


def read_settings(app: Flask) -> CouponsSettings:
    """Register and read the settings; wire the local provider in development.

    :raises ConfigError: an issuer without client id, key or person secret; a key that is not
        a private RSA or EC P-256 key; the development person secret in production.
    """
    features = seam(app)
    values = {setting.name: features.add_setting(setting) for setting in SETTINGS}
    development = app.config["MADOGUCHI_ENV"] == "development"
    issuer = values["COUPONS_OIDC_ISSUER"]
    common = {
        "link_lifetime": timedelta(minutes=values["COUPONS_VERIFY_LINK_MINUTES"]),
        "attempts_per_hour": values["COUPONS_VERIFY_ATTEMPTS_PER_HOUR"],
        "report_k": values["COUPONS_REPORT_K"],
        "checks_per_minute": values["COUPONS_CODE_CHECKS_PER_MINUTE"],
    }
    if issuer is None and development:
        return _local_provider(app, values, common)
    if issuer is None:
        return CouponsSettings(verifier=None, person_secret="", **common)
    _required(
        values, ("COUPONS_OIDC_CLIENT_ID", "COUPONS_OIDC_PRIVATE_KEY", "COUPONS_PERSON_SECRET")
    )
    if values["COUPONS_PERSON_SECRET"] == DEV_PERSON_SECRET and not development:
        raise ConfigError("COUPONS_PERSON_SECRET is the development placeholder")
    try:
        # Environment files often hold a PEM on one line with \n escapes.
        key = load_private_key(values["COUPONS_OIDC_PRIVATE_KEY"].replace("\\n", "\n"))
    except ValueError as error:
        raise ConfigError(f"COUPONS_OIDC_PRIVATE_KEY {error}") from None
    issuer = issuer.rstrip("/")
    app.config["COUPONS_OIDC_ISSUER"] = issuer
    verifier = OidcVerifier(
        issuer, values["COUPONS_OIDC_CLIENT_ID"], key, timeout=values["COUPONS_OIDC_TIMEOUT"]
    )
    return CouponsSettings(
        verifier=verifier,
        person_secret=values["COUPONS_PERSON_SECRET"],
        client_key=key,
        client_id=values["COUPONS_OIDC_CLIENT_ID"],
        **common,
    )


def _local_provider(app: Flask, values: dict[str, Any], common: dict[str, Any]) -> CouponsSettings:
    """Development without an issuer: the local provider, with a key made now."""
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256")
    key.ensure_kid()
    port = values["COUPONS_LOCAL_PROVIDER_PORT"]
    issuer = f"http://127.0.0.1:{port}"
    app.config["COUPONS_OIDC_ISSUER"] = issuer
    seam(app).add_dev_service(
        DevService(
            "coupons.identity-provider", lambda app: _start_local_provider(app, key), _describe
        )
    )
    verifier = OidcVerifier(issuer, DEV_CLIENT_ID, key, timeout=values["COUPONS_OIDC_TIMEOUT"])
    return CouponsSettings(
        verifier=verifier,
        person_secret=values["COUPONS_PERSON_SECRET"] or DEV_PERSON_SECRET,
        client_key=key,
        client_id=DEV_CLIENT_ID,
        **common,
    )


def redirect_uri() -> str:
    """Where the provider sends the resident back (register it with the provider)."""
    return public_url("coupons_resident.callback")


def _start_local_provider(app: Flask, key: PrivateKey) -> Running:
    """Serve the local provider on the configured port, with this app registered."""
    from simulator.oidc import ProviderState, start_provider

    state = ProviderState(issuer=app.config["COUPONS_OIDC_ISSUER"])
    with app.app_context():
        state.register_client(DEV_CLIENT_ID, public_jwks(key), (redirect_uri(),))
    return start_provider(state, port=app.config["COUPONS_LOCAL_PROVIDER_PORT"])


def _describe(running: Any) -> str:
    return (
        f"local OpenID provider (My Number card stand-in) at {running.state.issuer}; "
        "see docs/coupons.md"
    )
