"""A local OpenID Connect provider standing in for a My Number card identity provider.

For development (``make run`` starts it beside the bot, through the coupons feature's
development service) and tests. It is a real authorization server built with Authlib:
authorization code flow with PKCE required (S256), ``nonce`` required, clients
authenticated with ``private_key_jwt`` (RFC 7523: the assertion is checked against the
client's registered public keys, and a ``jti`` is accepted once), codes usable once,
discovery, a key set and a UserInfo endpoint. What a real provider does with the card
(reading it over NFC, the PIN) is replaced by a consent page listing test card holders.

The consent page also picks a *failure mode*, so every way a real provider can fail can
be tried by hand or by a test: an ID token with the wrong nonce, an expired one, one signed
with another key, one from another issuer, a token endpoint that is down (503), or address
and birth date given only through UserInfo. Declining on the page answers
``error=access_denied``. :attr:`ProviderState.down` makes every endpoint answer 503.

State lives in memory (:class:`ProviderState`); nothing here is for production.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, cast

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidRequestError,
    OAuth2Error,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, Response, jsonify, render_template_string, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from simulator.server import ServedApp

#: How long an authorization code and an access token live, in seconds.
CODE_LIFETIME = 120
TOKEN_LIFETIME = 300
#: The issuer an ID token claims in the ``unknown_issuer`` failure mode.
STRANGER = "https://idp.unknown.example"


class FailureMode(StrEnum):
    """How the provider misbehaves for one authorization (chosen on the consent page)."""

    NONE = "none"
    WRONG_NONCE = "wrong_nonce"
    EXPIRED_TOKEN = "expired_token"  # noqa: S105 - a mode, not a password
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_ISSUER = "unknown_issuer"
    #: The token endpoint answers 503 (the code is not spent).
    PROVIDER_DOWN = "provider_down"
    #: Not a failure: address and birth date only from UserInfo, not in the ID token.
    CLAIMS_IN_USERINFO = "claims_in_userinfo"


#: What the consent page says of each mode.
MODE_LABELS: Mapping[FailureMode, str] = {
    FailureMode.NONE: "正常に応答する / answer normally",
    FailureMode.WRONG_NONCE: "違う nonce の ID トークン / wrong nonce",
    FailureMode.EXPIRED_TOKEN: "期限切れの ID トークン / expired ID token",
    FailureMode.BAD_SIGNATURE: "別の鍵で署名した ID トークン / signed with another key",
    FailureMode.UNKNOWN_ISSUER: "別の発行者の ID トークン / another issuer",
    FailureMode.PROVIDER_DOWN: "トークン発行時に停止中 (503) / token endpoint down",
    FailureMode.CLAIMS_IN_USERINFO: "住所・生年月日は UserInfo で / claims via UserInfo",
}


@dataclass(frozen=True)
class CardHolderProfile:
    """A pretend card holder: the claims a provider would give for each scope."""

    key: str
    label: str
    subject: str
    address: Mapping[str, str]
    birthdate: str
    name: str
    #: Claims sent whatever was asked: a misbehaving provider (the 12-digit guard's test).
    extra: Mapping[str, Any] = field(default_factory=dict)

    def claims(self, scopes: set[str]) -> dict[str, Any]:
        """The claims for these scopes (``sub`` always), plus the extra ones."""
        found: dict[str, Any] = {"sub": self.subject}
        if "address" in scopes:
            found["address"] = dict(self.address)
        if "birthdate" in scopes:
            found["birthdate"] = self.birthdate
        if "name" in scopes:
            found["name"] = self.name
        return {**found, **self.extra}


def _address(formatted: str, region: str, locality: str, postal: str) -> dict[str, str]:
    return {
        "formatted": formatted,
        "region": region,
        "locality": locality,
        "postal_code": postal,
        "country": "JP",
    }


#: The test card holders shown on the consent page (names and addresses are made up).
TEST_CARD_HOLDERS: tuple[CardHolderProfile, ...] = (
    CardHolderProfile(
        "gunma-adult",
        "群馬 太郎（前橋市、1985年生まれ）",
        "sim-4f7c2a91-0b6e-4d0e-9a51-6c3f0d2b7e18",
        _address("〒371-0026 群馬県前橋市大手町一丁目1番1号", "群馬県", "前橋市", "371-0026"),
        "1985-04-10",
        "群馬 太郎",
    ),
    CardHolderProfile(
        "gunma-child",
        "群馬 さくら（高崎市、2016年生まれ）",
        "sim-8b2d6e47-3c19-4f5a-b0e2-91d7a4c6f305",
        _address("〒370-0065 群馬県高崎市末広町115番地1", "群馬県", "高崎市", "370-0065"),
        "2016-08-20",
        "群馬 さくら",
    ),
    CardHolderProfile(
        "gunma-senior",
        "群馬 はな（桐生市、1940年生まれ）",
        "sim-c91e0a35-7d28-4b6f-8e13-2a5b9f0c4d67",
        _address("〒376-0045 群馬県桐生市末広町11番1号", "群馬県", "桐生市", "376-0045"),
        "1940-01-05",
        "群馬 はな",
    ),
    CardHolderProfile(
        "saitama-adult",
        "埼玉 次郎（さいたま市、1990年生まれ）",
        "sim-2e6f9b13-5a47-4c8d-a2f0-7b1e3d9c5a84",
        _address(
            "〒330-0063 埼玉県さいたま市浦和区高砂三丁目15番1号",
            "埼玉県",
            "さいたま市",
            "330-0063",
        ),
        "1990-12-01",
        "埼玉 次郎",
    ),
    CardHolderProfile(
        "leaky",
        "番号 漏子（個人番号を送ってしまうプロバイダーの例 / a provider that leaks the number）",
        "sim-6d3a8c52-1f94-4e7b-b5c0-8e2f4a6d1b93",
        _address(
            "〒371-0026 群馬県前橋市大手町一丁目1番1号 個人番号123456789018",
            "群馬県",
            "前橋市",
            "371-0026",
        ),
        "1985-04-10",
        "番号 漏子",
        extra={"mynumber": "123456789018", "individual_number": "1234 5678 9018"},
    ),
)


@dataclass
class RegisteredClient(ClientMixin):
    """A relying party: its id, public keys (for ``private_key_jwt``) and redirect URIs."""

    client_id: str
    public_keys: KeySet
    redirect_uris: tuple[str, ...]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        allowed = {"openid", "address", "birthdate", "name"}
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "private_key_jwt" and endpoint == "token"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class IssuedCode(AuthorizationCodeMixin):
    """An authorization code and what it was issued for."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    holder: CardHolderProfile
    mode: FailureMode
    auth_time: int
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


@dataclass
class ProviderState:
    """The provider's memory: its keys, clients, holders, codes and tokens."""

    #: The issuer URL (no trailing slash); set from the served URL when left empty.
    issuer: str = ""
    signing_key: RSAKey = field(default_factory=lambda: _new_key())
    #: A key that is not published: ID tokens "signed with another key" use it.
    stray_key: RSAKey = field(default_factory=lambda: _new_key())
    clients: dict[str, RegisteredClient] = field(default_factory=dict)
    holders: dict[str, CardHolderProfile] = field(
        default_factory=lambda: {h.key: h for h in TEST_CARD_HOLDERS}
    )
    codes: dict[str, IssuedCode] = field(default_factory=dict)
    #: access token -> (holder, scopes, mode), for UserInfo.
    tokens: dict[str, tuple[CardHolderProfile, set[str], FailureMode, float]] = field(
        default_factory=dict
    )
    used_jtis: set[str] = field(default_factory=set)
    #: Every endpoint answers 503 while set (the provider is down).
    down: bool = False
    #: Token requests received (tests count them).
    token_requests: int = 0
    clock: Callable[[], float] = time.time
    lock: threading.Lock = field(default_factory=threading.Lock)

    def register_client(
        self, client_id: str, public_jwks: Mapping[str, Any], redirect_uris: tuple[str, ...]
    ) -> None:
        """Register a relying party with its public key set and redirect URIs."""
        self.clients[client_id] = RegisteredClient(
            client_id, KeySet.import_key_set(cast(Any, dict(public_jwks))), redirect_uris
        )

    def jwks(self) -> dict[str, Any]:
        """The published key set (the stray key is not in it)."""
        public = self.signing_key.as_dict(private=False)
        public.update(use="sig", alg="RS256")
        return {"keys": [public]}

    def reset(self) -> None:
        """Forget codes, tokens and used assertion ids; come back up."""
        with self.lock:
            self.codes.clear()
            self.tokens.clear()
            self.used_jtis.clear()
            self.down = False
            self.token_requests = 0


def _new_key() -> RSAKey:
    key = RSAKey.generate_key(2048)
    key.ensure_kid()
    return key


class _PrivateKeyJwt(JWTBearerClientAssertion):
    """``private_key_jwt``: an assertion signed with a key the client registered."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, state: ProviderState) -> None:
        super().__init__(validate_jti=True)
        self.state = state

    def get_audiences(self) -> list[str]:
        return [f"{self.state.issuer}/token", self.state.issuer]

    def validate_jti(self, claims: Any, jti: str) -> bool:
        with self.state.lock:
            if jti in self.state.used_jtis:
                return False
            self.state.used_jtis.add(jti)
            return True

    def resolve_client_public_key(self, client: RegisteredClient) -> KeySet:
        return client.public_keys


class _RequirePkce(CodeChallenge):
    """PKCE for every client, confidential ones too (RFC 9700 recommends it)."""

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        if not grant.request.payload.data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256)")
        if grant.request.payload.data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


def _code_grant(state: ProviderState) -> type[AuthorizationCodeGrant]:
    class CodeGrant(AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["private_key_jwt"]

        def save_authorization_code(self, code: str, req: Any) -> None:
            data = req.payload.data
            mode = FailureMode(request.form.get("mode", FailureMode.NONE.value))
            now = state.clock()
            with state.lock:
                state.codes[code] = IssuedCode(
                    code=code,
                    client_id=req.client.get_client_id(),
                    redirect_uri=req.payload.redirect_uri,
                    scope=req.payload.scope,
                    nonce=data.get("nonce"),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                    holder=req.user,
                    mode=mode,
                    auth_time=int(now),
                    expires_at=now + CODE_LIFETIME,
                )

        def query_authorization_code(self, code: str, client: Any) -> IssuedCode | None:
            with state.lock:
                found = state.codes.get(code)
            if found is None or found.client_id != client.get_client_id():
                return None
            return found if found.expires_at > state.clock() else None

        def delete_authorization_code(self, authorization_code: IssuedCode) -> None:
            with state.lock:
                state.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: IssuedCode) -> CardHolderProfile:
            return authorization_code.holder

    return CodeGrant


def _openid(state: ProviderState) -> OpenIDCode:
    class LocalOpenIDCode(OpenIDCode):
        def exists_nonce(self, nonce: str, req: Any) -> bool:
            with state.lock:
                return any(c.nonce == nonce for c in state.codes.values())

        def generate_user_info(self, user: CardHolderProfile, scope: str) -> dict[str, Any]:
            return user.claims(set(scope.split()))

        def encode_id_token(self, token: Mapping[str, Any], req: Any) -> str:
            code: IssuedCode = req.authorization_code
            now = int(state.clock())
            claims: dict[str, Any] = {
                "iss": state.issuer,
                "aud": code.client_id,
                "iat": now,
                "exp": now + TOKEN_LIFETIME,
                "auth_time": code.auth_time,
                "nonce": code.nonce,
            }
            scopes = set(code.scope.split())
            if code.mode == FailureMode.CLAIMS_IN_USERINFO:
                scopes -= {"address", "birthdate"}
            claims.update(code.holder.claims(scopes))
            key = state.signing_key
            if code.mode == FailureMode.WRONG_NONCE:
                claims["nonce"] = secrets.token_urlsafe(16)
            elif code.mode == FailureMode.EXPIRED_TOKEN:
                claims.update(iat=now - 3600, exp=now - 600)
            elif code.mode == FailureMode.BAD_SIGNATURE:
                key = state.stray_key
            elif code.mode == FailureMode.UNKNOWN_ISSUER:
                claims["iss"] = STRANGER
            header = {"alg": "RS256", "kid": state.signing_key.kid}
            return jwt.encode(header, claims, key)

    return LocalOpenIDCode(require_nonce=True)


CONSENT_PAGE = """<!doctype html>
<html lang="ja">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>本人確認（開発用） / Identity check (development)</title></head>
<body>
<main>
<h1>マイナンバーカードで本人確認（開発用のプロバイダー）</h1>
<p>Identity check with a My Number card: a local provider for development and tests.
No card is read; choose a test card holder.</p>
{% if error %}<p role="alert">{{ error }}</p>{% else %}
<p>{{ client_id }} が次の情報を求めています / asks for: {{ scopes }}</p>
<form method="post">
<fieldset><legend>テスト用のカード保有者 / Test card holder</legend>
{% for holder in holders %}
<p><label><input type="radio" name="holder" value="{{ holder.key }}"
  {%- if loop.first %} checked{% endif %}> {{ holder.label }}</label></p>
{% endfor %}
</fieldset>
<p><label for="mode">応答 / Answer</label>
<select id="mode" name="mode">
{% for mode, label in modes %}<option value="{{ mode }}">{{ label }}</option>{% endfor %}
</select></p>
<p><button type="submit" name="decision" value="allow">同意する / Allow</button>
<button type="submit" name="decision" value="deny">同意しない / Deny</button></p>
</form>{% endif %}
</main>
</body>
</html>"""


def create_provider_app(state: ProviderState) -> Flask:
    """The provider as a Flask app (serve it with :func:`start_provider`)."""
    app = Flask(__name__)
    app.config.update(OAUTH2_SCOPES_SUPPORTED=["openid", "address", "birthdate", "name"])

    def save_token(token: Mapping[str, Any], req: Any) -> None:
        code: IssuedCode = req.authorization_code
        with state.lock:
            state.tokens[token["access_token"]] = (
                code.holder,
                set(code.scope.split()),
                code.mode,
                state.clock() + TOKEN_LIFETIME,
            )

    server = AuthorizationServer(app, query_client=state.clients.get, save_token=save_token)
    server.register_client_auth_method("private_key_jwt", _PrivateKeyJwt(state))
    server.register_grant(_code_grant(state), [_RequirePkce(required=True), _openid(state)])

    @app.before_request
    def refuse_when_down() -> Response | None:
        if state.down:
            return Response("the identity provider is down", status=503)
        return None

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Response:
        issuer = state.issuer
        return jsonify(
            issuer=issuer,
            authorization_endpoint=f"{issuer}/authorize",
            token_endpoint=f"{issuer}/token",
            jwks_uri=f"{issuer}/jwks",
            userinfo_endpoint=f"{issuer}/userinfo",
            response_types_supported=["code"],
            subject_types_supported=["pairwise"],
            id_token_signing_alg_values_supported=["RS256"],
            scopes_supported=["openid", "address", "birthdate", "name"],
            token_endpoint_auth_methods_supported=["private_key_jwt"],
            token_endpoint_auth_signing_alg_values_supported=["RS256", "ES256"],
            code_challenge_methods_supported=["S256"],
            claims_supported=["sub", "address", "birthdate", "name"],
        )

    @app.get("/jwks")
    def jwks() -> Response:
        return jsonify(state.jwks())

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize() -> Any:
        try:
            grant = server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            page = render_template_string(CONSENT_PAGE, error=error.description or error.error)
            return Response(page, status=400)
        if request.method == "GET":
            return render_template_string(
                CONSENT_PAGE,
                error=None,
                client_id=grant.client.get_client_id(),
                scopes=grant.request.payload.scope,
                holders=list(state.holders.values()),
                modes=[(m.value, label) for m, label in MODE_LABELS.items()],
            )
        if request.form.get("mode", "none") not in {m.value for m in FailureMode}:
            return Response("unknown mode", status=400)
        holder = state.holders.get(request.form.get("holder", ""))
        allowed = request.form.get("decision") == "allow"
        # No holder: authlib answers error=access_denied (with the state) to the client.
        return server.create_authorization_response(
            grant_user=holder if allowed else None, grant=grant
        )

    @app.post("/token")
    def token() -> Any:
        with state.lock:
            state.token_requests += 1
            code = state.codes.get(request.form.get("code", ""))
        if code is not None and code.mode == FailureMode.PROVIDER_DOWN:
            return Response("token endpoint unavailable", status=503)
        return server.create_token_response()

    @app.get("/userinfo")
    def userinfo() -> Response:
        bearer = request.headers.get("Authorization", "")
        with state.lock:
            found = state.tokens.get(bearer.removeprefix("Bearer "))
        if found is None or found[3] <= state.clock():
            return Response(
                status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        holder, scopes, _mode, _until = found
        return jsonify(holder.claims(scopes))

    return app


class RunningProvider(ServedApp):
    """A provider being served; its issuer is ``state.issuer``."""

    def __init__(self, state: ProviderState, **options: Any) -> None:
        self.state = state
        super().__init__(**options)


def start_provider(
    state: ProviderState | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> RunningProvider:
    """Serve a provider on ``host:port`` (0: any free port) until ``shutdown()``.

    The issuer is the served URL unless ``state.issuer`` was set already.
    """
    state = state or ProviderState()
    running = RunningProvider(
        state, app=create_provider_app(state), host=host, port=port, name="oidc-provider"
    )
    if not state.issuer:
        state.issuer = running.url
    return running
