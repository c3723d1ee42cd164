"""Verifying a My Number card holder: the verifier interface and its OpenID Connect adapter.

A :class:`CardVerifier` sends the resident to an identity provider and reads the answer.
The one production adapter, :class:`OidcVerifier`, speaks OpenID Connect's authorization
code flow as the Digital Agency's デジタル認証アプリ (and commercial card-identity
providers) do:

* configuration by issuer URL (discovery: ``/.well-known/openid-configuration``), client id
  and the client's private key;
* PKCE (S256), ``state`` and ``nonce`` on every request;
* ``private_key_jwt`` client authentication at the token endpoint (a JWT signed with the
  private key; RS256 for an RSA key, ES256 for an EC P-256 key);
* the ID token's signature checked with the provider's published keys (JWKS, fetched again
  once when an unknown key id appears), then its issuer, audience, expiry and nonce;
* scopes: ``openid``, plus ``address`` / ``birthdate`` only when a campaign checks
  residency or age. Never ``sign`` (the signing certificate is for signing documents, not
  for obtaining personal data) and nothing that could carry the 個人番号.

Every failure raises :class:`VerificationFailed` with a reason the pages and LINE messages
explain. Nothing here touches the database or Flask; the HTTP calls happen outside any unit
of work (the views call this between their transactions). Nothing from the provider is
logged but reasons and claim names.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    InvalidKeyIdError,
    JoseError,
)
from joserfc.jwk import ECKey, KeySet, RSAKey

from coupons.identity import CardHolderFacts, UnusableIdentity, read_facts
from models.coupons import VerificationFailure

logger = logging.getLogger(__name__)

#: How long discovery documents and key sets are reused before being fetched again.
METADATA_TTL = 3600.0
#: Clock difference tolerated in the ID token's times, in seconds.
LEEWAY = 60
#: Signature algorithms accepted on ID tokens.
ID_TOKEN_ALGORITHMS = ("RS256", "ES256")

PrivateKey = RSAKey | ECKey
F = VerificationFailure


class VerificationFailed(Exception):
    """The verification did not prove anything; ``reason`` says why."""

    def __init__(self, reason: VerificationFailure, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason


@dataclass(frozen=True)
class Wanted:
    """Which facts the open campaigns check (and so which scopes are requested)."""

    prefecture: bool = False
    birth_date: bool = False

    @property
    def scopes(self) -> tuple[str, ...]:
        """``openid`` and only the scopes these facts need (Digital Agency scope names)."""
        return (
            "openid",
            *(("address",) if self.prefecture else ()),
            *(("birthdate",) if self.birth_date else ()),
        )


@dataclass(frozen=True)
class Request:
    """One authorization request's secrets, kept in the resident's browser session."""

    state: str
    nonce: str
    code_verifier: str

    @classmethod
    def new(cls) -> Request:
        """Fresh random values (PKCE's verifier is 43+ characters, RFC 7636)."""
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48))

    @property
    def state_hash(self) -> str:
        """What the database keeps of the state."""
        return state_hash(self.state)


def state_hash(state: str) -> str:
    """SHA-256 (hex) of an OpenID Connect state."""
    return hashlib.sha256(state.encode()).hexdigest()


class CardVerifier(Protocol):
    """Sends a resident to an identity provider and reads what came back."""

    #: The provider, as configured (its issuer).
    issuer: str

    def authorization_url(self, request: Request, *, redirect_uri: str, wanted: Wanted) -> str:
        """Where to send the resident's browser.

        :raises VerificationFailed: the provider cannot be reached (``provider_down``) or
            its configuration is unusable.
        """

    def form_origin(self) -> str:
        """The origin of the authorization endpoint (resident pages allow forms to go there).

        :raises VerificationFailed: the provider cannot be reached.
        """

    def finish(
        self, request: Request, *, code: str, redirect_uri: str, wanted: Wanted
    ) -> CardHolderFacts:
        """Exchange the code and check the answer.

        :raises VerificationFailed: with the reason.
        """


def load_private_key(text: str) -> PrivateKey:
    """The client's private key, from PEM or a JWK (JSON); its ``kid`` is the JWK's, else
    its RFC 7638 thumbprint.

    :raises ValueError: not a private RSA or EC P-256 key.
    """
    text = text.strip()
    try:
        if text.startswith("{"):
            data = json.loads(text)
            key: Any = (RSAKey if data.get("kty") == "RSA" else ECKey).import_key(data)
        else:
            try:
                key = RSAKey.import_key(text)
            except (JoseError, ValueError, TypeError):
                key = ECKey.import_key(text)
    except (JoseError, ValueError, TypeError, json.JSONDecodeError) as error:
        raise ValueError("not a PEM or JWK private key (RSA, or EC P-256)") from error
    if not key.is_private:
        raise ValueError("a public key was given; the client signs with its private key")
    if isinstance(key, ECKey) and key.curve_name != "P-256":
        raise ValueError("an EC key must be on P-256 (ES256)")
    if not key.kid:
        key.ensure_kid()
    return key


def signing_algorithm(key: PrivateKey) -> str:
    """RS256 for an RSA key, ES256 for an EC P-256 key."""
    return "RS256" if isinstance(key, RSAKey) else "ES256"


def public_jwks(key: PrivateKey) -> dict[str, Any]:
    """The client's public key set, to register with the provider."""
    public = key.as_dict(private=False)
    public.update(use="sig", alg=signing_algorithm(key))
    return {"keys": [public]}


@dataclass
class _Cached:
    value: Any
    until: float


@dataclass
class OidcVerifier:
    """The production verifier: OpenID Connect, code flow, PKCE, ``private_key_jwt``."""

    issuer: str
    client_id: str
    private_key: PrivateKey
    timeout: float = 5.0
    http: requests.Session = field(default_factory=requests.Session)
    clock: Callable[[], float] = time.time
    _cache: dict[str, _Cached] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the provider's metadata and keys ------------------------------------------------

    def _get_json(self, url: str, what: str, headers: Mapping[str, str] | None = None) -> Any:
        """GET a JSON document from the provider (``what`` names it in errors)."""
        try:
            response = self.http.get(url, headers=headers, timeout=self.timeout)
        except requests.RequestException as error:
            raise VerificationFailed(F.PROVIDER_DOWN, f"{what}: {type(error).__name__}") from error
        if response.status_code >= 500:
            raise VerificationFailed(F.PROVIDER_DOWN, f"{what}: HTTP {response.status_code}")
        try:
            response.raise_for_status()
            return response.json()
        except (requests.HTTPError, ValueError) as error:
            raise VerificationFailed(F.PROVIDER_ERROR, f"{what}: {error}") from error

    def _cached(self, name: str, fetch: Callable[[], Any], *, fresh: bool = False) -> Any:
        now = self.clock()
        with self._lock:
            hit = self._cache.get(name)
            if hit is not None and hit.until > now and not fresh:
                return hit.value
        value = fetch()
        with self._lock:
            self._cache[name] = _Cached(value, now + METADATA_TTL)
        return value

    def metadata(self) -> Mapping[str, Any]:
        """The provider's discovery document (cached for an hour).

        :raises VerificationFailed: unreachable (``provider_down``), or a document for another
            issuer (``unknown_issuer``) or without the endpoints the flow needs.
        """

        def fetch() -> Mapping[str, Any]:
            document = self._get_json(
                f"{self.issuer}/.well-known/openid-configuration", "discovery"
            )
            if not isinstance(document, Mapping):
                raise VerificationFailed(F.PROVIDER_ERROR, "discovery")
            if document.get("issuer") != self.issuer:
                raise VerificationFailed(F.UNKNOWN_ISSUER, "discovery")
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(document.get(name), str):
                    raise VerificationFailed(F.PROVIDER_ERROR, f"no {name}")
            return document

        found: Mapping[str, Any] = self._cached("metadata", fetch)
        return found

    def _keys(self, *, fresh: bool = False) -> KeySet:
        def fetch() -> KeySet:
            data = self._get_json(self.metadata()["jwks_uri"], "jwks")
            try:
                return KeySet.import_key_set(data)
            except (JoseError, ValueError, TypeError, KeyError) as error:
                raise VerificationFailed(F.PROVIDER_ERROR, "jwks") from error

        keys: KeySet = self._cached("jwks", fetch, fresh=fresh)
        return keys

    # -- the flow ------------------------------------------------------------------------

    def form_origin(self) -> str:
        """The origin of the authorization endpoint."""
        parts = urlsplit(self.metadata()["authorization_endpoint"])
        return f"{parts.scheme}://{parts.netloc}"

    def _session(self, redirect_uri: str, wanted: Wanted) -> OAuth2Session:
        session = OAuth2Session(
            self.client_id,
            self.private_key,
            token_endpoint_auth_method=PrivateKeyJWT.name,
            scope=" ".join(wanted.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )
        session.register_client_auth_method(
            PrivateKeyJWT(
                self.metadata()["token_endpoint"],
                headers={"kid": self.private_key.kid},
                alg=signing_algorithm(self.private_key),
            )
        )
        return session

    def authorization_url(self, request: Request, *, redirect_uri: str, wanted: Wanted) -> str:
        """The authorization request: code flow, PKCE S256, state and nonce."""
        with self._session(redirect_uri, wanted) as session:
            url, _state = session.create_authorization_url(
                self.metadata()["authorization_endpoint"],
                state=request.state,
                code_verifier=request.code_verifier,
                nonce=request.nonce,
            )
        return str(url)

    def _exchange(self, request: Request, code: str, redirect_uri: str, wanted: Wanted) -> Any:
        token_endpoint = self.metadata()["token_endpoint"]
        with self._session(redirect_uri, wanted) as session:
            try:
                return session.fetch_token(
                    token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=request.code_verifier,
                    timeout=self.timeout,
                )
            except OAuthError as error:
                reason = F.CODE_REJECTED if error.error == "invalid_grant" else F.PROVIDER_ERROR
                raise VerificationFailed(reason, f"token endpoint: {error.error}") from error
            except requests.HTTPError as error:
                raise VerificationFailed(F.PROVIDER_DOWN, "token endpoint: server error") from error
            except requests.RequestException as error:
                raise VerificationFailed(F.PROVIDER_DOWN, type(error).__name__) from error
            except ValueError as error:
                raise VerificationFailed(F.PROVIDER_ERROR, "token endpoint: not JSON") from error

    def _decode(self, id_token: str) -> jwt.Token:
        """The ID token, its signature checked with the provider's keys (fetched again once
        for a key id we do not know yet: the provider may have rotated its keys)."""
        for fresh in (False, True):
            try:
                return jwt.decode(id_token, self._keys(fresh=fresh), list(ID_TOKEN_ALGORITHMS))
            except BadSignatureError as error:
                raise VerificationFailed(F.BAD_SIGNATURE, "id_token") from error
            except InvalidKeyIdError as error:  # no key with that kid: maybe rotated
                if fresh:
                    raise VerificationFailed(F.BAD_SIGNATURE, "id_token: unknown key") from error
            except JoseError as error:
                raise VerificationFailed(F.PROVIDER_ERROR, f"id_token: {error.error}") from error
        raise AssertionError("unreachable")  # pragma: no cover

    def _check(self, token: jwt.Token, request: Request, access_token: str | None) -> None:
        claims = CodeIDToken(
            token.claims,
            token.header,
            options={
                "iss": {"essential": True, "value": self.issuer},
                "aud": {"essential": True, "value": self.client_id},
                "exp": {"essential": True},
            },
            params={
                "nonce": request.nonce,
                "client_id": self.client_id,
                "access_token": access_token,
            },
        )
        try:
            claims.validate(now=int(self.clock()), leeway=LEEWAY)
        except ClaimError as error:  # joserfc's ExpiredTokenError is one, for "exp"
            reasons = {
                "iss": F.UNKNOWN_ISSUER,
                "nonce": F.NONCE_MISMATCH,
                "exp": F.TOKEN_EXPIRED,
            }
            reason = reasons.get(error.claim, F.PROVIDER_ERROR)
            raise VerificationFailed(reason, f"id_token claim {error.claim}") from error

    def _userinfo(self, access_token: str, subject: Any) -> Mapping[str, Any]:
        """The UserInfo answer (providers that put address and birth date there), checked to
        be about the ID token's subject."""
        endpoint = self.metadata().get("userinfo_endpoint")
        if not isinstance(endpoint, str):
            return {}
        answer = self._get_json(
            endpoint, "userinfo", headers={"Authorization": f"Bearer {access_token}"}
        )
        if not isinstance(answer, Mapping) or answer.get("sub") != subject:
            raise VerificationFailed(F.PROVIDER_ERROR, "userinfo subject")
        return answer

    def finish(
        self, request: Request, *, code: str, redirect_uri: str, wanted: Wanted
    ) -> CardHolderFacts:
        """Exchange the code, check the ID token, and keep only the facts asked for."""
        token = self._exchange(request, code, redirect_uri, wanted)
        id_token = token.get("id_token") if isinstance(token, Mapping) else None
        if not isinstance(id_token, str):
            raise VerificationFailed(F.PROVIDER_ERROR, "no id_token")
        access_token = token.get("access_token")
        decoded = self._decode(id_token)
        self._check(decoded, request, access_token if isinstance(access_token, str) else None)
        claims: dict[str, Any] = dict(decoded.claims)
        missing = (wanted.prefecture and "address" not in claims) or (
            wanted.birth_date and "birthdate" not in claims
        )
        if missing and isinstance(access_token, str):
            info = self._userinfo(access_token, claims.get("sub"))
            claims.update({k: v for k, v in info.items() if k in ("address", "birthdate")})
        try:
            return read_facts(
                self.issuer,
                claims,
                want_prefecture=wanted.prefecture,
                want_birth_date=wanted.birth_date,
            )
        except UnusableIdentity as error:
            raise VerificationFailed(F.PROVIDER_ERROR, str(error)) from error
