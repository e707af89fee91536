"""Social sign-in providers: Google and any OpenID Connect issuer, and GitHub, spoken through Authlib.

Every provider offers the same four steps to the endpoints (``endpoints/social.py``):

1. ``authorization_url``: where to send the browser, with ``state``, a PKCE S256 challenge and, for
   OpenID Connect, a ``nonce``;
2. ``exchange``: the authorization code (and the PKCE verifier) for tokens;
3. ``user_info``: who signed in. OpenID Connect providers verify the ID token (signature against the
   issuer's JWKS, ``iss``, ``aud``/``azp``, ``exp``, ``nonce``, ``at_hash``) and fill missing claims
   from the userinfo endpoint; GitHub asks its REST API (``/user`` and ``/user/emails``);
4. ``refresh``: a new access token from the refresh token.

OpenID Connect endpoints come from the issuer's discovery document, fetched once and cached, so
Google in production and the local emulator in tests go through the same code.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import logging
import re
import ssl
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from types import ModuleType

    import httpx
    from joserfc.jwk import KeySet

    from tenantry.auth.settings import AuthSettings

log = logging.getLogger("tenantry.auth.providers")


@functools.cache
def _authlib() -> ModuleType:
    """Authlib's httpx client module, loaded by the first sign-in with a provider (not by every worker)."""
    from authlib.deprecate import AuthlibDeprecationWarning  # type: ignore[import-untyped]

    # Authlib 1.6+ warns on import that it would rather use the ``httpx2`` package; httpx works the
    # same, so the warning is only noise.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The httpx module is deprecated", category=AuthlibDeprecationWarning)
        from authlib.integrations import httpx_client  # type: ignore[import-untyped]
    return cast("ModuleType", httpx_client)


@functools.cache
def _httpx() -> ModuleType:
    """httpx, loaded with the first provider's request: it imports rich, click and pygments (its
    command line) with itself, which a worker that never signs anyone in with a provider does without."""
    import httpx

    return httpx


__all__ = [
    "GitHubProvider",
    "OIDCProvider",
    "Provider",
    "ProviderError",
    "ProviderUser",
    "Tokens",
    "build_providers",
    "providers_for",
]

HTTP_TIMEOUT = 10.0
USER_AGENT = "tenantry-auth"
DISCOVERY_TTL = 24 * 60 * 60
JWKS_TTL = 60 * 60
# A token naming an unknown key triggers a JWKS re-fetch (the issuer rotated its keys), at most
# this often: forged ``kid`` values must not turn us into a request amplifier.
JWKS_REFETCH_INTERVAL = 60
CLOCK_LEEWAY = 60
# Only asymmetric algorithms: ``none`` and HMAC (keyed with the client secret) are never accepted.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
OIDC_DEFAULT_SCOPES = ("openid", "email", "profile")
GOOGLE_DEFAULT_SCOPES = ("email", "profile", "openid")  # Better Auth's order
GOOGLE_ISSUER = "https://accounts.google.com"
GITHUB_DEFAULT_SCOPES = ("read:user", "user:email")


class ProviderError(Exception):
    """The provider refused, could not be reached, or answered something unusable.

    The message is for logs: it never reaches the user, who sees Better Auth's error code.
    """


@dataclass(frozen=True)
class Tokens:
    """A token endpoint's answer, as Better Auth stores it in the account row."""

    access_token: str | None = None
    refresh_token: str | None = None
    id_token: str | None = None
    token_type: str | None = None
    access_token_expires_at: dt.datetime | None = None
    refresh_token_expires_at: dt.datetime | None = None
    scopes: tuple[str, ...] = ()

    @classmethod
    def from_response(cls, data: Mapping[str, Any]) -> Tokens:
        """Read an RFC 6749 token response (Authlib's ``OAuth2Token`` adds ``expires_at``)."""
        now = time.time()
        expires_at: float | None = None
        if isinstance(data.get("expires_at"), int | float):
            expires_at = float(data["expires_at"])
        elif isinstance(data.get("expires_in"), int | float) and data["expires_in"]:
            expires_at = now + float(data["expires_in"])
        refresh_in = data.get("refresh_token_expires_in")
        return cls(
            access_token=_str_or_none(data.get("access_token")),
            refresh_token=_str_or_none(data.get("refresh_token")),
            id_token=_str_or_none(data.get("id_token")),
            token_type=_str_or_none(data.get("token_type")),
            access_token_expires_at=_from_epoch(expires_at),
            refresh_token_expires_at=_from_epoch(now + float(refresh_in))
            if isinstance(refresh_in, int | float) and refresh_in
            else None,
            scopes=split_scopes(data.get("scope")),
        )


@dataclass(frozen=True)
class ProviderUser:
    """Who signed in, in Better Auth's terms; ``data`` is the provider's raw profile."""

    id: str
    email: str | None
    email_verified: bool
    name: str | None
    image: str | None
    data: dict[str, Any] = field(default_factory=dict)


class Provider(Protocol):
    """One social sign-in provider, as the ``/api/auth`` endpoints use it."""

    #: The provider's id in URLs (``/callback/<id>``), request bodies and account rows.
    id: str
    name: str
    #: The issuer identifier a callback's ``iss`` parameter must equal (RFC 9207), if known.
    issuer: str | None
    #: OpenID Connect: ID tokens (so a ``nonce``, and the ``idToken`` sign-in) are supported.
    oidc: bool

    async def authorization_url(
        self,
        state: str,
        code_verifier: str,
        redirect_uri: str,
        scopes: Sequence[str] | None = None,
        login_hint: str | None = None,
        *,
        nonce: str | None = None,
    ) -> str:
        """The provider's authorization endpoint with every parameter of this sign-in."""
        ...

    async def exchange(self, code: str, code_verifier: str, redirect_uri: str) -> Tokens:
        """Redeem an authorization code (with its PKCE verifier) for tokens."""
        ...

    async def user_info(self, tokens: Tokens, *, nonce: str | None = None, max_age: int | None = None) -> ProviderUser:
        """The signed-in user; ``nonce``/``max_age`` constrain the ID token when there is one."""
        ...

    async def refresh(self, refresh_token: str) -> Tokens:
        """New tokens from a refresh token."""
        ...


# -- helpers ----------------------------------------------------------------------------------


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _from_epoch(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, dt.UTC)


def split_scopes(value: object) -> tuple[str, ...]:
    """Scopes from a token response or an account row: space- (RFC 6749) or comma-separated (GitHub)."""
    if isinstance(value, str):
        return tuple(dict.fromkeys(s for s in re.split(r"[\s,]+", value) if s))
    if isinstance(value, list | tuple):
        return tuple(dict.fromkeys(str(s) for s in value if s))
    return ()


def _merge_scopes(defaults: Sequence[str], extra: Sequence[str] | None) -> list[str]:
    return list(dict.fromkeys([*defaults, *(extra or ())]))


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # One context (certifi's roots) for every request: building one per client costs milliseconds.
    return cast("ssl.SSLContext", _httpx().create_ssl_context())


def _verified(value: object) -> bool:
    # Some issuers send the claim as the string "true".
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _hash_for(alg: str) -> Any:
    # OIDC Core 3.1.3.6: the hash of the ID token's JWS algorithm (EdDSA: SHA-512, per the errata).
    if alg.endswith("384"):
        return hashlib.sha384
    if alg.endswith("512") or alg == "EdDSA":
        return hashlib.sha512
    return hashlib.sha256


def _at_hash(access_token: str, alg: str) -> str:
    digest = _hash_for(alg)(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def _json(response: httpx.Response, what: str) -> Any:
    if response.status_code != 200:
        raise ProviderError(f"{what}: HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise ProviderError(f"{what}: not JSON") from None


class _OAuthProvider:
    """What every provider shares: client credentials and Authlib's OAuth 2.0 client."""

    id: str
    name: str
    issuer: str | None = None
    oidc: bool = False

    def __init__(self, provider_id: str, name: str, client_id: str, client_secret: str, auth_method: str) -> None:
        self.id = provider_id
        self.name = name
        self.client_id = client_id
        self.client_secret = client_secret
        self.auth_method = auth_method

    def client(self, token: Mapping[str, Any] | None = None) -> Any:
        """A fresh Authlib client: it keeps the token of one exchange, so clients are never shared."""
        return _authlib().AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_endpoint_auth_method=self.auth_method,
            code_challenge_method="S256",
            token=dict(token) if token else None,
            timeout=HTTP_TIMEOUT,
            verify=_ssl_context(),
            # Token endpoints must answer, not redirect (a redirect would carry the code elsewhere).
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    async def _authorization_url(
        self,
        endpoint: str,
        state: str,
        code_verifier: str,
        redirect_uri: str,
        scopes: Sequence[str],
        **params: str | None,
    ) -> str:
        extra = {k: v for k, v in params.items() if v}
        async with self.client() as client:
            url, _ = client.create_authorization_url(
                endpoint,
                state=state,
                code_verifier=code_verifier,
                redirect_uri=redirect_uri,
                scope=" ".join(scopes),
                **extra,
            )
        return str(url)

    async def _fetch_token(self, endpoint: str, code: str, code_verifier: str, redirect_uri: str) -> Tokens:
        try:
            async with self.client() as client:
                token = await client.fetch_token(
                    endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                    redirect_uri=redirect_uri,
                )
        except _authlib().OAuthError as exc:
            raise ProviderError(f"{self.id}: token endpoint refused the code: {exc.error}") from None
        except (_httpx().HTTPError, ValueError) as exc:
            raise ProviderError(f"{self.id}: token endpoint failed: {exc!r}") from None
        tokens = Tokens.from_response(token)
        if not tokens.access_token:
            raise ProviderError(f"{self.id}: token response without access_token")
        return tokens

    async def _refresh(self, endpoint: str, refresh_token: str) -> Tokens:
        try:
            async with self.client() as client:
                token = await client.refresh_token(endpoint, refresh_token=refresh_token)
        except _authlib().OAuthError as exc:
            raise ProviderError(f"{self.id}: refresh refused: {exc.error}") from None
        except (_httpx().HTTPError, ValueError) as exc:
            raise ProviderError(f"{self.id}: refresh failed: {exc!r}") from None
        tokens = Tokens.from_response(token)
        if not tokens.access_token:
            raise ProviderError(f"{self.id}: refresh response without access_token")
        return tokens

    async def _get(self, url: str, what: str, access_token: str | None = None, **headers: str) -> httpx.Response:
        token = {"access_token": access_token, "token_type": "Bearer"} if access_token else None
        try:
            async with self.client(token) as client:
                response: httpx.Response = await client.request(
                    "GET", url, withhold_token=token is None, headers=headers
                )
        except (_httpx().HTTPError, _authlib().OAuthError) as exc:
            raise ProviderError(f"{self.id}: {what} failed: {exc!r}") from None
        return response


# -- OpenID Connect ---------------------------------------------------------------------------


class OIDCProvider(_OAuthProvider):
    """An OpenID Connect provider found by discovery from its issuer (Google, or any other).

    The discovery document and the JWKS are cached per provider; an ID token signed with a key the
    cached JWKS does not have makes it re-fetch (key rotation), at most once a minute.
    """

    oidc = True

    def __init__(
        self,
        provider_id: str,
        name: str,
        issuer: str,
        client_id: str,
        client_secret: str,
        *,
        scopes: Sequence[str] = OIDC_DEFAULT_SCOPES,
        alternate_issuers: Sequence[str] = (),
        authorization_params: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(provider_id, name, client_id, client_secret, "client_secret_basic")
        self.issuer = issuer.rstrip("/")
        self.scopes = tuple(scopes)
        self.accepted_issuers = (self.issuer, *alternate_issuers)
        self.authorization_params = dict(authorization_params or {})
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    async def metadata(self) -> dict[str, Any]:
        """The issuer's discovery document (OpenID Connect Discovery 1.0), cached for a day."""
        if self._metadata is not None and time.monotonic() - self._metadata_at < DISCOVERY_TTL:
            return self._metadata
        url = f"{self.issuer}/.well-known/openid-configuration"
        data = _json(await self._get(url, "discovery"), f"{self.id}: discovery")
        if not isinstance(data, dict):
            raise ProviderError(f"{self.id}: discovery document is not an object")
        # Discovery section 4.3: the document must name the issuer it was fetched from.
        if str(data.get("issuer", "")).rstrip("/") != self.issuer:
            raise ProviderError(f"{self.id}: discovery names issuer {data.get('issuer')!r}, expected {self.issuer!r}")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(data.get(key), str):
                raise ProviderError(f"{self.id}: discovery document lacks {key}")
        # Basic is the spec's default; some issuers only take the secret in the body.
        methods = data.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        self.auth_method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
        self._metadata, self._metadata_at = data, time.monotonic()
        return data

    async def _key_set(self, *, refetch: bool = False) -> KeySet:
        if self._keys is not None:
            age = time.monotonic() - self._keys_at
            if age < (JWKS_REFETCH_INTERVAL if refetch else JWKS_TTL):
                return self._keys
        # Concurrent first requests may each fetch: harmless, the key set is the same.
        meta = await self.metadata()
        data = _json(await self._get(meta["jwks_uri"], "JWKS"), f"{self.id}: JWKS")
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        try:
            keys = KeySet.import_key_set(data)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise ProviderError(f"{self.id}: unusable JWKS: {exc!r}") from None
        self._keys, self._keys_at = keys, time.monotonic()
        return keys

    async def verify_id_token(
        self, id_token: str, *, nonce: str | None = None, access_token: str | None = None, max_age: int | None = None
    ) -> dict[str, Any]:
        """The claims of a valid ID token for this client (OIDC Core 3.1.3.7), else ``ProviderError``."""
        meta = await self.metadata()
        offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in offered if a in ASYMMETRIC_ALGORITHMS]
        from joserfc import jwt
        from joserfc.errors import InvalidKeyIdError, JoseError

        try:
            try:
                token = jwt.decode(id_token, await self._key_set(), algorithms=algorithms)
            except InvalidKeyIdError:
                token = jwt.decode(id_token, await self._key_set(refetch=True), algorithms=algorithms)
            checks: dict[str, Any] = {
                "iss": {"essential": True, "values": list(self.accepted_issuers)},
                "aud": {"essential": True, "value": self.client_id},
                "sub": {"essential": True},
                "exp": {"essential": True},
                "iat": {"essential": True},
            }
            if nonce is not None:
                checks["nonce"] = {"essential": True, "value": nonce}
            jwt.JWTClaimsRegistry(leeway=CLOCK_LEEWAY, **checks).validate(token.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise ProviderError(f"{self.id}: invalid ID token: {exc!r}") from None
        claims = dict(token.claims)
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        # Several audiences, or a named authorized party: it must be us.
        if (len(audiences) > 1 or azp is not None) and azp != self.client_id:
            raise ProviderError(f"{self.id}: ID token authorized party {azp!r} is not this client")
        if access_token and "at_hash" in claims:
            expected = _at_hash(access_token, str(token.header.get("alg", "RS256")))
            if claims["at_hash"] != expected:
                raise ProviderError(f"{self.id}: ID token at_hash does not match the access token")
        if max_age is not None and time.time() - float(claims["iat"]) > max_age + CLOCK_LEEWAY:
            raise ProviderError(f"{self.id}: ID token is older than {max_age} s")
        return claims

    async def authorization_url(
        self,
        state: str,
        code_verifier: str,
        redirect_uri: str,
        scopes: Sequence[str] | None = None,
        login_hint: str | None = None,
        *,
        nonce: str | None = None,
    ) -> str:
        """The discovered authorization endpoint with state, PKCE S256, nonce and the scopes."""
        meta = await self.metadata()
        return await self._authorization_url(
            meta["authorization_endpoint"],
            state,
            code_verifier,
            redirect_uri,
            _merge_scopes(self.scopes, scopes),
            nonce=nonce,
            login_hint=login_hint,
            **self.authorization_params,
        )

    async def exchange(self, code: str, code_verifier: str, redirect_uri: str) -> Tokens:
        """Redeem the code at the discovered token endpoint."""
        meta = await self.metadata()
        return await self._fetch_token(meta["token_endpoint"], code, code_verifier, redirect_uri)

    async def refresh(self, refresh_token: str) -> Tokens:
        """The ``refresh_token`` grant at the discovered token endpoint."""
        meta = await self.metadata()
        return await self._refresh(meta["token_endpoint"], refresh_token)

    async def user_info(self, tokens: Tokens, *, nonce: str | None = None, max_age: int | None = None) -> ProviderUser:
        """Claims of the verified ID token, completed from the userinfo endpoint when it lacks some.

        Without an ID token (``account-info`` asks with the access token alone) the userinfo
        endpoint answers. A sign-in that sent a ``nonce`` must get an ID token carrying it.
        """
        claims: dict[str, Any] = {}
        if tokens.id_token:
            claims = await self.verify_id_token(
                tokens.id_token, nonce=nonce, access_token=tokens.access_token, max_age=max_age
            )
        elif nonce is not None:
            raise ProviderError(f"{self.id}: no ID token in the token response")
        if tokens.access_token and ("email" not in claims or "name" not in claims):
            meta = await self.metadata()
            endpoint = meta.get("userinfo_endpoint")
            if isinstance(endpoint, str):
                info = _json(await self._get(endpoint, "userinfo", tokens.access_token), f"{self.id}: userinfo")
                if not isinstance(info, dict):
                    raise ProviderError(f"{self.id}: userinfo is not an object")
                # OIDC Core 5.3.2: userinfo about someone else must be ignored (token substitution).
                if claims and info.get("sub") != claims.get("sub"):
                    raise ProviderError(f"{self.id}: userinfo sub differs from the ID token's")
                claims = {**info, **claims}
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise ProviderError(f"{self.id}: no subject")
        name = claims.get("name") or " ".join(str(claims[k]) for k in ("given_name", "family_name") if claims.get(k))
        return ProviderUser(
            id=subject,
            email=_str_or_none(claims.get("email")),
            email_verified=_verified(claims.get("email_verified")),
            name=str(name) if name else None,
            image=_str_or_none(claims.get("picture")),
            data=claims,
        )


# -- GitHub -----------------------------------------------------------------------------------


class GitHubProvider(_OAuthProvider):
    """GitHub's OAuth 2.0 (no OpenID Connect): the profile comes from its REST API.

    The e-mail is the public one of ``/user``, else the primary of ``/user/emails``; whether it is
    verified comes from ``/user/emails`` (Better Auth's rule), so a private or unverified address
    is reported as such.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        authorize_url: str,
        token_url: str,
        api_url: str,
        scopes: Sequence[str] = GITHUB_DEFAULT_SCOPES,
    ) -> None:
        # GitHub reads the client secret from the body, as Better Auth sends it.
        super().__init__("github", "GitHub", client_id, client_secret, "client_secret_post")
        self.authorize_url = authorize_url
        self.token_url = token_url
        self.api_url = api_url.rstrip("/")
        self.scopes = tuple(scopes)

    async def authorization_url(
        self,
        state: str,
        code_verifier: str,
        redirect_uri: str,
        scopes: Sequence[str] | None = None,
        login_hint: str | None = None,
        *,
        nonce: str | None = None,
    ) -> str:
        """GitHub's authorize URL (PKCE S256 included; GitHub has no nonce)."""
        return await self._authorization_url(
            self.authorize_url,
            state,
            code_verifier,
            redirect_uri,
            _merge_scopes(self.scopes, scopes),
            login=login_hint,
        )

    async def exchange(self, code: str, code_verifier: str, redirect_uri: str) -> Tokens:
        """Redeem the code (GitHub answers errors with HTTP 200; Authlib raises on them)."""
        return await self._fetch_token(self.token_url, code, code_verifier, redirect_uri)

    async def refresh(self, refresh_token: str) -> Tokens:
        """Refresh (only GitHub Apps with expiring user tokens issue refresh tokens)."""
        return await self._refresh(self.token_url, refresh_token)

    async def user_info(self, tokens: Tokens, *, nonce: str | None = None, max_age: int | None = None) -> ProviderUser:
        """``GET /user`` and ``GET /user/emails`` with the access token."""
        if not tokens.access_token:
            raise ProviderError("github: no access token")
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        profile = _json(
            await self._get(f"{self.api_url}/user", "GET /user", tokens.access_token, **headers), "github: /user"
        )
        if not isinstance(profile, dict) or profile.get("id") is None:
            raise ProviderError("github: /user has no id")
        response = await self._get(f"{self.api_url}/user/emails", "GET /user/emails", tokens.access_token, **headers)
        # Without the user:email scope GitHub answers 404: then only the public e-mail is known.
        emails: list[dict[str, Any]] = []
        if response.status_code == 200:
            listed = _json(response, "github: /user/emails")
            emails = [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
        email = _str_or_none(profile.get("email"))
        if email is None and emails:
            chosen = next((e for e in emails if e.get("primary")), emails[0])
            email = _str_or_none(chosen.get("email"))
        verified = any(e.get("email") == email and e.get("verified") is True for e in emails)
        return ProviderUser(
            id=str(profile["id"]),
            email=email,
            email_verified=verified,
            name=_str_or_none(profile.get("name")) or _str_or_none(profile.get("login")),
            image=_str_or_none(profile.get("avatar_url")),
            data=profile,
        )


# -- the configured providers -----------------------------------------------------------------


def build_providers(settings: AuthSettings) -> dict[str, Provider]:
    """The enabled providers by id: each one whose client id is set."""
    providers: dict[str, Provider] = {}
    if settings.google_client_id:
        issuer = settings.google_issuer.rstrip("/")
        providers["google"] = OIDCProvider(
            "google",
            "Google",
            issuer,
            settings.google_client_id,
            _secret(settings.google_client_secret),
            scopes=GOOGLE_DEFAULT_SCOPES,
            # Google's ID tokens name their issuer with or without the scheme.
            alternate_issuers=("accounts.google.com",) if issuer == GOOGLE_ISSUER else (),
            authorization_params={"include_granted_scopes": "true"},
        )
    if settings.github_client_id:
        providers["github"] = GitHubProvider(
            settings.github_client_id,
            _secret(settings.github_client_secret),
            authorize_url=settings.github_authorize_url,
            token_url=settings.github_token_url,
            api_url=settings.github_api_url,
        )
    for config in settings.oidc_providers:
        providers[config.id] = OIDCProvider(
            config.id,
            config.name or config.id,
            config.issuer,
            config.client_id,
            config.client_secret.get_secret_value(),
            scopes=config.scopes or OIDC_DEFAULT_SCOPES,
        )
    return providers


def _secret(value: Any) -> str:
    return str(value.get_secret_value()) if value is not None else ""


_REGISTRIES: dict[tuple[Any, ...], dict[str, Provider]] = {}


def providers_for(settings: AuthSettings) -> dict[str, Provider]:
    """The providers of these settings, built once per distinct configuration.

    Keyed by configuration rather than by app, so the discovery and JWKS caches survive as long as
    the process and are shared by apps (and tests) that configure the same issuer.
    """
    key = (
        settings.google_client_id,
        _secret(settings.google_client_secret),
        settings.google_issuer,
        settings.github_client_id,
        _secret(settings.github_client_secret),
        settings.github_authorize_url,
        settings.github_token_url,
        settings.github_api_url,
        tuple(
            (p.id, p.name, p.issuer, p.client_id, p.client_secret.get_secret_value(), tuple(p.scopes or ()))
            for p in settings.oidc_providers
        ),
    )
    registry = _REGISTRIES.get(key)
    if registry is None:
        registry = _REGISTRIES[key] = build_providers(settings)
    return registry
