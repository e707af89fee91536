"""A local identity provider: Google-shaped OpenID Connect and GitHub-shaped OAuth 2.0, for offline work.

Tenantry's social sign-in (Authlib) must be developed and tested without the network, through the
same code path as Google or GitHub. This emulator speaks the real wire protocols: discovery, the
authorization code flow with PKCE and ``nonce``, RS256 ID tokens checked against a JWKS, userinfo,
refresh tokens, and GitHub's own token endpoint and REST API with their quirks (form-encoded token
responses, errors with status 200, comma-separated scopes, ``"email": null`` for private emails).

It signs anyone in as whatever email they type: it is for ``tenantry dev`` and the tests only.

Run it standalone::

    python -m tenantry.emulators.oidc --port 9400 --client-id dev --client-secret dev-secret \\
        --redirect-uri http://127.0.0.1:8000/api/auth/callback/dev

or in-process with :func:`start_oidc_emulator` (tests, ``tenantry dev``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import html
import json
import os
import re
import secrets
import string
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

import jinja2
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tenantry.emulators.server import RunningServer, bind_socket, format_base_url, run_in_thread

__all__ = [
    "ACCESS_TOKEN_TTL_SECONDS",
    "CODE_TTL_SECONDS",
    "EmulatedUser",
    "OIDCClient",
    "create_oidc_app",
    "display_name_from_email",
    "load_or_generate_key",
    "main",
    "start_oidc_emulator",
]

CODE_TTL_SECONDS = 60
ACCESS_TOKEN_TTL_SECONDS = 3600
# Spent codes are remembered this long, so a replay is recognized (and revokes its tokens)
# rather than reported as merely unknown.
_SPENT_CODE_MEMORY_SECONDS = 600

OIDC_SCOPES = ("openid", "email", "profile")
_PROFILE_CLAIMS = ("name", "given_name", "family_name", "picture")
CLAIMS_SUPPORTED = (
    "iss",
    "sub",
    "aud",
    "azp",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "email",
    "email_verified",
    *_PROFILE_CLAIMS,
)

# RFC 7636 section 4.1: 43 to 128 unreserved characters (an S256 challenge has the same alphabet).
_PKCE_VALUE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# Deliberately loose (like <input type=email>): the emulator must accept "dev@localhost".
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_TRUTHY = frozenset({"true", "on", "1", "yes"})

_GITHUB_OAUTH_ERRORS_DOC = (
    "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/"
)
# GitHub answers token-endpoint failures with these codes and fixed sentences (and HTTP 200).
_GITHUB_TOKEN_ERRORS = {
    "invalid_client": ("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect."),
    "invalid_grant": ("bad_verification_code", "The code passed is incorrect or expired."),
    "redirect_uri_mismatch": (
        "redirect_uri_mismatch",
        "The redirect_uri MUST match the registered callback URL for this application.",
    ),
}
_GITHUB_EMAIL_SCOPES = frozenset({"user", "user:email"})

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Framing the sign-in page would allow clickjacking; no scripts are needed at all.
_PAGE_HEADERS = {
    **_NO_STORE,
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}

Flavor = Literal["oidc", "github"]

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class OIDCClient:
    """A registered relying party (Tenantry, or a test); it may use both the OIDC and the GitHub endpoints."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]
    name: str = "Tenantry"


def _digest_int(namespace: str, email: str) -> int:
    digest = hashlib.sha256(f"{namespace}:{email.strip().casefold()}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def display_name_from_email(email: str) -> str:
    """A plausible name for an email's owner: ``ada.lovelace+x@example.com`` gives ``Ada Lovelace``."""
    local = email.split("@", 1)[0].split("+", 1)[0]
    words = [w for w in re.split(r"[._\-\s]+", local) if w]
    return " ".join(w[:1].upper() + w[1:] for w in words) or email


@dataclass(frozen=True)
class EmulatedUser:
    """The person signing in: what they typed on the sign-in page.

    Identifiers derive from the email (case-insensitively) and nothing else, so the same person
    keeps the same ``sub``/GitHub ``id`` across emulator restarts and ports, and an account
    linked in a development database keeps working.
    """

    email: str
    #: ``None`` only for GitHub users who set no display name (GitHub returns ``"name": null``).
    name: str | None
    email_verified: bool = True
    #: GitHub only: a private email is ``null`` in ``/user`` and only listed by ``/user/emails``.
    public_email: bool = True

    @property
    def sub(self) -> str:
        """OIDC subject: 21 digits like Google's, stable per email."""
        return "1" + str(_digest_int("oidc", self.email) % 10**20).zfill(20)

    @property
    def github_id(self) -> int:
        """GitHub's numeric user id, stable per email (below 2**53, safe in JavaScript)."""
        return 10_000_000 + _digest_int("github", self.email) % 190_000_000

    @property
    def github_login(self) -> str:
        """A GitHub-style login made from the email's local part."""
        local = self.email.split("@", 1)[0].split("+", 1)[0]
        return re.sub(r"[^A-Za-z0-9]+", "-", local).strip("-")[:39] or f"user{self.github_id}"

    @property
    def given_name(self) -> str | None:
        """First word of the name."""
        parts = (self.name or "").split(None, 1)
        return parts[0] if parts else None

    @property
    def family_name(self) -> str | None:
        """The rest of the name after the first word (absent for one-word names, as at Google)."""
        parts = (self.name or "").split(None, 1)
        return parts[1] if len(parts) == 2 else None


@dataclass(frozen=True)
class _AuthRequest:
    """A validated authorization request (from the query string, or the sign-in form's hidden fields)."""

    flavor: Flavor
    client: OIDCClient
    redirect_uri: str
    response_type: str | None
    scope: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    login_hint: str | None
    prompt: tuple[str, ...]

    def hidden_fields(self) -> list[tuple[str, str]]:
        """What the sign-in form carries back to ``POST``, where it is validated again."""
        fields = {
            "client_id": self.client.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": self.response_type,
            "scope": " ".join(self.scope),
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.code_challenge,
            "code_challenge_method": self.code_challenge_method,
        }
        return [(key, value) for key, value in fields.items() if value]


@dataclass
class _Code:
    flavor: Flavor
    client_id: str
    redirect_uri: str
    scope: tuple[str, ...]
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    user: EmulatedUser
    auth_time: int
    expires_at: float


@dataclass
class _Token:
    kind: Literal["access", "refresh"]
    flavor: Flavor
    client_id: str
    scope: tuple[str, ...]
    user: EmulatedUser
    auth_time: int
    nonce: str | None
    #: The authorization code the grant came from: replaying that code revokes this token.
    origin_code: str
    expires_at: float | None


class _TokenError(Exception):
    """An RFC 6749 section 5.2 error; the GitHub endpoint translates it to GitHub's vocabulary."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


def load_or_generate_key(key_path: str | Path | None = None) -> RSAKey:
    """The RS256 signing key: read from a PEM file (PKCS#8 or PKCS#1, unencrypted), or a fresh RSA 2048 key.

    A PEM file keeps the JWKS (and ``kid``) identical across restarts; a fresh key is enough when
    relying parties fetch the JWKS from this process, as Authlib does.
    """
    private_key: Any
    if key_path is None:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        private_key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError(f"{key_path}: the signing key must be an RSA private key (RS256)")
    key = RSAKey.import_key(private_key, {"use": "sig", "alg": "RS256"})
    key.ensure_kid()  # RFC 7638 thumbprint: stable for a given key
    return key


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _add_query(url: str, params: Mapping[str, str | None]) -> str:
    """``url`` with ``params`` appended to its query string, keeping what was there (RFC 6749 section 3.1.2)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(key, value) for key, value in params.items() if value is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _bearer_token(request: Request, schemes: Iterable[str] = ("bearer",)) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    value = value.strip()
    return value if scheme.lower() in schemes and value else None


class _Emulator:
    """The provider's state (clients, codes, tokens, signing key) and its request handlers."""

    def __init__(
        self,
        issuer: str,
        clients: Sequence[OIDCClient],
        key: RSAKey,
        code_ttl: float,
        access_token_ttl: int,
        clock: Callable[[], float],
    ) -> None:
        self.issuer = issuer
        self.key = key
        self.code_ttl = code_ttl
        self.access_token_ttl = access_token_ttl
        self.clock = clock
        self.clients: dict[str, OIDCClient] = {}
        for client in clients:
            if client.client_id in self.clients:
                raise ValueError(f"client_id {client.client_id!r} is registered twice")
            if not client.redirect_uris:
                raise ValueError(f"client {client.client_id!r} has no redirect URI")
            self.clients[client.client_id] = client
        # Handlers run on one event loop and never await between reading and updating these,
        # so no lock is needed.
        self.codes: dict[str, _Code] = {}
        self.spent_codes: dict[str, float] = {}
        self.tokens: dict[str, _Token] = {}
        self.users: dict[str, EmulatedUser] = {}

    # -- helpers --------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.issuer + path

    def _prune(self) -> None:
        now = self.clock()
        for code in [c for c, record in self.codes.items() if record.expires_at <= now]:
            del self.codes[code]
        for code in [c for c, until in self.spent_codes.items() if until <= now]:
            del self.spent_codes[code]
        for value in [v for v, t in self.tokens.items() if t.expires_at is not None and t.expires_at <= now]:
            del self.tokens[value]

    def _page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(_templates.get_template(template).render(**context), status, headers=_PAGE_HEADERS)

    def _error_page(self, flavor: Flavor, title: str, message: str) -> HTMLResponse:
        return self._page("oidc_error.html", 400, title=title, message=message, provider_label=_provider_label(flavor))

    def _make_user(
        self, flavor: Flavor, email: str, name: str, email_verified: bool, public_email: bool
    ) -> EmulatedUser:
        # A Google account always has a name; a GitHub profile may not (and then "name" is null).
        display = name or (display_name_from_email(email) if flavor == "oidc" else None)
        user = EmulatedUser(email=email, name=display, email_verified=email_verified, public_email=public_email)
        self.users[user.sub] = user
        return user

    def _picture(self, user: EmulatedUser) -> str:
        return self.url(f"/avatars/{user.sub}.svg")

    def _user_claims(self, user: EmulatedUser, scope: Iterable[str]) -> dict[str, Any]:
        """Standard claims released for ``scope`` (OIDC Core section 5.4), as Google releases them."""
        scopes = set(scope)
        claims: dict[str, Any] = {"sub": user.sub}
        if "email" in scopes:
            claims["email"] = user.email
            claims["email_verified"] = user.email_verified
        if "profile" in scopes:
            profile = {
                "name": user.name,
                "given_name": user.given_name,
                "family_name": user.family_name,
                "picture": self._picture(user),
            }
            claims.update({key: value for key, value in profile.items() if value is not None})
        return claims

    # -- authorization endpoint (both flavors) ---------------------------------------------------

    def _parse_authorization(self, flavor: Flavor, params: Mapping[str, str]) -> _AuthRequest | Response:
        """Validate an authorization request; on failure, the response to send instead.

        Until the client and redirect URI are known to belong together, errors are shown on a page:
        redirecting to an unverified URI would make the emulator an open redirector.
        """
        client_id = params.get("client_id", "")
        client = self.clients.get(client_id)
        if client is None:
            message = f"Unknown client_id {client_id!r}." if client_id else "The client_id parameter is missing."
            return self._error_page(flavor, "Unknown application", message)
        redirect_uri = params.get("redirect_uri") or None
        if redirect_uri is None and flavor == "github":
            # GitHub falls back to the app's registered callback URL.
            redirect_uri = client.redirect_uris[0]
        if redirect_uri is None:
            return self._error_page(flavor, "Invalid redirect URI", "The redirect_uri parameter is missing.")
        if redirect_uri not in client.redirect_uris:
            return self._error_page(
                flavor,
                "Invalid redirect URI",
                f"{redirect_uri!r} is not registered for {client.name!r}; registered: "
                + ", ".join(client.redirect_uris),
            )
        state = params.get("state") or None

        def fail(error: str, description: str) -> Response:
            return self._error_redirect(flavor, redirect_uri, state, error, description)

        response_type = params.get("response_type") or None
        if flavor == "oidc":
            if response_type is None:
                return fail("invalid_request", "response_type is required")
            if response_type != "code":
                return fail("unsupported_response_type", "Only the authorization code flow (response_type=code)")
            scope = tuple(params.get("scope", "").split())
            if "openid" not in scope:
                return fail("invalid_scope", "scope must include openid")
            unknown = [s for s in scope if s not in OIDC_SCOPES]
            if unknown:
                return fail("invalid_scope", f"Unsupported scope: {' '.join(unknown)}")
        else:
            if response_type not in (None, "code"):
                return fail("unsupported_response_type", "Only response_type=code")
            # GitHub accepts scopes separated by spaces or commas; unknown ones are not an error.
            scope = tuple(dict.fromkeys(s for s in re.split(r"[\s,]+", params.get("scope", "")) if s))

        challenge = params.get("code_challenge") or None
        method = params.get("code_challenge_method") or None
        if challenge is None:
            if method is not None:
                return fail("invalid_request", "code_challenge_method without code_challenge")
        else:
            method = method or "plain"  # RFC 7636 section 4.3: the default
            allowed = ("S256", "plain") if flavor == "oidc" else ("S256",)
            if method not in allowed:
                return fail("invalid_request", f"code_challenge_method must be one of: {', '.join(allowed)}")
            if not _PKCE_VALUE.fullmatch(challenge):
                return fail("invalid_request", "code_challenge must be 43 to 128 characters [A-Za-z0-9-._~]")

        login_hint = params.get("login_hint") or (params.get("login") if flavor == "github" else None) or None
        return _AuthRequest(
            flavor=flavor,
            client=client,
            redirect_uri=redirect_uri,
            response_type=response_type,
            scope=scope,
            state=state,
            nonce=params.get("nonce") or None,
            code_challenge=challenge,
            code_challenge_method=method if challenge else None,
            login_hint=login_hint,
            prompt=tuple(params.get("prompt", "").split()),
        )

    def _error_redirect(
        self, flavor: Flavor, redirect_uri: str, state: str | None, error: str, description: str
    ) -> RedirectResponse:
        params: dict[str, str | None] = {"error": error, "error_description": description}
        if flavor == "github" and error == "access_denied":
            params["error_description"] = "The user has denied your application access."
            params["error_uri"] = (
                "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors"
                "/#access-denied"
            )
        params["state"] = state
        if flavor == "oidc":
            params["iss"] = self.issuer  # RFC 9207, advertised in the discovery document
        return RedirectResponse(_add_query(redirect_uri, params), 302, headers=_NO_STORE)

    def _render_signin(
        self,
        auth: _AuthRequest,
        *,
        email: str,
        name: str,
        email_verified: bool,
        public_email: bool,
        error: str | None = None,
    ) -> HTMLResponse:
        return self._page(
            "oidc_signin.html",
            400 if error else 200,
            provider_label=_provider_label(auth.flavor),
            client_name=auth.client.name,
            # Relative, so the form posts back to this very endpoint whatever host or prefix served it.
            action="authorize",
            hidden_fields=auth.hidden_fields(),
            email=email,
            name=name,
            email_verified=email_verified,
            public_email=public_email,
            github=auth.flavor == "github",
            redirect_uri=auth.redirect_uri,
            error=error,
        )

    def _issue_code(self, auth: _AuthRequest, user: EmulatedUser) -> RedirectResponse:
        now = self.clock()
        code = secrets.token_urlsafe(32)
        self.codes[code] = _Code(
            flavor=auth.flavor,
            client_id=auth.client.client_id,
            redirect_uri=auth.redirect_uri,
            scope=auth.scope,
            nonce=auth.nonce,
            code_challenge=auth.code_challenge,
            code_challenge_method=auth.code_challenge_method,
            user=user,
            auth_time=int(now),
            expires_at=now + self.code_ttl,
        )
        params: dict[str, str | None] = {"code": code, "state": auth.state}
        if auth.flavor == "oidc":
            params["iss"] = self.issuer
        return RedirectResponse(_add_query(auth.redirect_uri, params), 302, headers=_NO_STORE)

    async def authorize(self, request: Request, flavor: Flavor) -> Response:
        """``GET``: validate and show the sign-in page (or sign in at once with ``prompt=none``); ``POST``: the form."""
        self._prune()
        if request.method == "POST":
            form = await request.form()
            params = {key: value for key, value in form.items() if isinstance(value, str)}
        else:
            params = dict(request.query_params)
        auth = self._parse_authorization(flavor, params)
        if isinstance(auth, Response):
            return auth

        if request.method == "GET":
            if "none" in auth.prompt:
                # Emulator-only shortcut for automated tests: no page, the hinted email signs in
                # (verified). Real providers answer prompt=none with login_required when there is
                # no session; so does this one without a usable login_hint.
                hint = (auth.login_hint or "").strip()
                if not _EMAIL.fullmatch(hint):
                    return self._error_redirect(
                        flavor, auth.redirect_uri, auth.state, "login_required", "prompt=none needs login_hint=<email>"
                    )
                name = display_name_from_email(hint)
                return self._issue_code(auth, self._make_user(flavor, hint, name, True, True))
            hint = (auth.login_hint or "").strip()
            return self._render_signin(
                auth,
                email=hint,
                name=display_name_from_email(hint) if _EMAIL.fullmatch(hint) else "",
                email_verified=True,
                public_email=True,
            )

        if params.get("action", "continue") == "cancel":
            return self._error_redirect(flavor, auth.redirect_uri, auth.state, "access_denied", "The user cancelled")
        email = params.get("email", "").strip()
        name = " ".join(params.get("name", "").split())
        # Unchecked checkboxes are absent from a form submission.
        verified = params.get("email_verified", "").lower() in _TRUTHY
        public = params.get("public_email", "").lower() in _TRUTHY
        if not _EMAIL.fullmatch(email):
            return self._render_signin(
                auth,
                email=email,
                name=name,
                email_verified=verified,
                public_email=public,
                error="Enter an email address, like ada@example.com.",
            )
        return self._issue_code(auth, self._make_user(flavor, email, name, verified, public))

    # -- token endpoint helpers (both flavors) ---------------------------------------------------

    def _authenticate_client(self, request: Request, params: Mapping[str, str]) -> OIDCClient:
        """client_secret_basic (RFC 6749 section 2.3.1: form-encoded, then Base64) or client_secret_post."""
        header = request.headers.get("authorization", "")
        if header[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise _TokenError("invalid_client", "Malformed HTTP Basic credentials", 401) from None
            raw_id, colon, raw_secret = decoded.partition(":")
            if not colon:
                raise _TokenError("invalid_client", "Malformed HTTP Basic credentials", 401)
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
            if params.get("client_id", client_id) != client_id:
                raise _TokenError("invalid_client", "client_id in the body differs from HTTP Basic", 401)
        else:
            client_id = params.get("client_id", "")
            secret = params.get("client_secret", "")
            if not client_id or not secret:
                raise _TokenError(
                    "invalid_client", "Client authentication required (client_secret_basic or client_secret_post)", 401
                )
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(secret.encode(), client.client_secret.encode()):
            raise _TokenError("invalid_client", "Unknown client or wrong client_secret", 401)
        return client

    def _redeem_code(self, flavor: Flavor, client: OIDCClient, params: Mapping[str, str]) -> tuple[str, _Code]:
        code = params.get("code")
        if not code:
            raise _TokenError("invalid_request", "code is required")
        now = self.clock()
        record = self.codes.pop(code, None)
        if record is None or record.flavor != flavor:
            if code in self.spent_codes:
                # RFC 6749 section 4.1.2: a replayed code is denied and the tokens it produced revoked.
                self._revoke_grant(code)
                raise _TokenError("invalid_grant", "The authorization code was already used; its tokens are revoked")
            raise _TokenError("invalid_grant", "Unknown or expired authorization code")
        # Any redemption attempt spends the code: no retries, so a PKCE verifier cannot be guessed.
        self.spent_codes[code] = now + _SPENT_CODE_MEMORY_SECONDS
        if record.client_id != client.client_id:
            raise _TokenError("invalid_grant", "The authorization code was issued to another client")
        if now >= record.expires_at:
            raise _TokenError("invalid_grant", "The authorization code has expired")
        redirect_uri = params.get("redirect_uri") or None
        if flavor == "oidc" and redirect_uri != record.redirect_uri:
            raise _TokenError("invalid_grant", "redirect_uri does not match the authorization request")
        if flavor == "github" and redirect_uri is not None and redirect_uri != record.redirect_uri:
            raise _TokenError("redirect_uri_mismatch", "redirect_uri does not match the authorization request")
        _verify_pkce(record, params.get("code_verifier") or None)
        return code, record

    def _revoke_grant(self, code: str) -> None:
        for value in [v for v, token in self.tokens.items() if token.origin_code == code]:
            del self.tokens[value]

    def _new_token(
        self,
        kind: Literal["access", "refresh"],
        flavor: Flavor,
        origin_code: str,
        grant: _Code | _Token,
        scope: tuple[str, ...] | None = None,
    ) -> tuple[str, _Token]:
        # GitHub's OAuth app token format: "gho_" and 36 alphanumerics.
        alphabet = string.ascii_letters + string.digits
        value = (
            "gho_" + "".join(secrets.choice(alphabet) for _ in range(36))
            if flavor == "github"
            else secrets.token_urlsafe(32)
        )
        expires_at = None
        if kind == "access" and flavor == "oidc":  # GitHub OAuth app tokens do not expire
            expires_at = self.clock() + self.access_token_ttl
        token = _Token(
            kind=kind,
            flavor=flavor,
            client_id=grant.client_id,
            scope=grant.scope if scope is None else scope,
            user=grant.user,
            auth_time=grant.auth_time,
            nonce=grant.nonce,
            origin_code=origin_code,
            expires_at=expires_at,
        )
        self.tokens[value] = token
        return value, token

    def _valid_token(self, value: str | None, flavor: Flavor) -> _Token | None:
        token = self.tokens.get(value or "")
        if token is None or token.kind != "access" or token.flavor != flavor:
            return None
        if token.expires_at is not None and token.expires_at <= self.clock():
            return None
        return token

    def _id_token(self, token: _Token, access_token: str, nonce: str | None) -> str:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "azp": token.client_id,
            "aud": token.client_id,
            "sub": token.user.sub,
            "iat": now,
            "exp": now + self.access_token_ttl,
            "auth_time": token.auth_time,
            # OIDC Core section 3.1.3.6: left half of SHA-256 of the access token; Authlib checks it.
            "at_hash": _b64url(hashlib.sha256(access_token.encode("ascii")).digest()[:16]),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(self._user_claims(token.user, token.scope))
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key)

    # -- OpenID Connect endpoints ----------------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        """OpenID Provider Metadata (OpenID Connect Discovery 1.0, section 3)."""
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": self.url("/authorize"),
                "token_endpoint": self.url("/token"),
                "userinfo_endpoint": self.url("/userinfo"),
                "jwks_uri": self.url("/jwks"),
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": list(OIDC_SCOPES),
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                "claims_supported": list(CLAIMS_SUPPORTED),
                "code_challenge_methods_supported": ["S256", "plain"],
                "prompt_values_supported": ["none", "login", "consent", "select_account"],
                "authorization_response_iss_parameter_supported": True,
            }
        )

    async def jwks(self, request: Request) -> Response:
        """The public signing key as a JWK Set."""
        return JSONResponse({"keys": [dict(self.key.as_dict(private=False))]})

    async def token(self, request: Request) -> Response:
        """The token endpoint: ``authorization_code`` and ``refresh_token`` grants, RFC 6749 errors."""
        self._prune()
        params = await _form_params(request)
        try:
            grant_type = params.get("grant_type")
            if not grant_type:
                raise _TokenError("invalid_request", "grant_type is required")
            client = self._authenticate_client(request, params)
            if grant_type == "authorization_code":
                body = self._authorization_code_grant(client, params)
            elif grant_type == "refresh_token":
                body = self._refresh_token_grant(client, params)
            else:
                raise _TokenError("unsupported_grant_type", f"Unsupported grant_type {grant_type!r}")
        except _TokenError as exc:
            headers = dict(_NO_STORE)
            if exc.status == 401:
                headers["WWW-Authenticate"] = f'Basic realm="{self.issuer}"'
            return JSONResponse({"error": exc.error, "error_description": exc.description}, exc.status, headers=headers)
        return JSONResponse(body, headers=_NO_STORE)

    def _authorization_code_grant(self, client: OIDCClient, params: Mapping[str, str]) -> dict[str, Any]:
        code, record = self._redeem_code("oidc", client, params)
        access_token, token = self._new_token("access", "oidc", code, record)
        refresh_token, _ = self._new_token("refresh", "oidc", code, record)
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.access_token_ttl,
            "id_token": self._id_token(token, access_token, record.nonce),
            "refresh_token": refresh_token,
            "scope": " ".join(record.scope),
        }

    def _refresh_token_grant(self, client: OIDCClient, params: Mapping[str, str]) -> dict[str, Any]:
        value = params.get("refresh_token")
        if not value:
            raise _TokenError("invalid_request", "refresh_token is required")
        grant = self.tokens.get(value)
        if grant is None or grant.kind != "refresh" or grant.flavor != "oidc":
            raise _TokenError("invalid_grant", "Unknown or revoked refresh token")
        if grant.client_id != client.client_id:
            raise _TokenError("invalid_grant", "The refresh token was issued to another client")
        scope = grant.scope
        if params.get("scope"):
            requested = tuple(params["scope"].split())
            if not set(requested) <= set(grant.scope):
                raise _TokenError("invalid_scope", "The requested scope exceeds the original grant")
            scope = requested
        access_token, token = self._new_token("access", "oidc", grant.origin_code, grant, scope)
        # As at Google: the refresh token is not rotated, and a new ID token (without nonce) comes along.
        body: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.access_token_ttl,
            "scope": " ".join(scope),
        }
        if "openid" in scope:
            body["id_token"] = self._id_token(token, access_token, None)
        return body

    async def userinfo(self, request: Request) -> Response:
        """The UserInfo endpoint (OIDC Core section 5.3), claims released by the token's scope."""
        value = _bearer_token(request)
        realm = f'Bearer realm="{self.issuer}"'
        if value is None:
            # RFC 6750 section 3.1: no error code when the request carried no credentials.
            return JSONResponse(
                {"error": "invalid_request", "error_description": "Authorization: Bearer <access token> required"},
                401,
                headers={"WWW-Authenticate": realm},
            )
        token = self._valid_token(value, "oidc")
        if token is None:
            return JSONResponse(
                {"error": "invalid_token", "error_description": "The access token is invalid, expired or revoked"},
                401,
                headers={
                    "WWW-Authenticate": f'{realm}, error="invalid_token", '
                    'error_description="The access token is invalid, expired or revoked"'
                },
            )
        return JSONResponse(self._user_claims(token.user, token.scope))

    async def avatar(self, request: Request) -> Response:
        """An SVG with the user's initials, so ``picture``/``avatar_url`` render without the network."""
        user = self.users.get(request.path_params["sub"])
        if user is None:
            return Response("Not Found", 404, media_type="text/plain")
        words = (user.name or user.email).split()
        initials = "".join(w[:1] for w in words[:2]).upper() or "?"
        hue = int(user.sub[-6:]) % 360
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96" role="img" '
            f'aria-label="{html.escape(user.name or user.email)}">'
            f'<rect width="96" height="96" rx="48" fill="hsl({hue} 55% 45%)"/>'
            '<text x="48" y="60" font-family="system-ui, sans-serif" font-size="36" fill="#fff" '
            f'text-anchor="middle">{html.escape(initials)}</text></svg>'
        )
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "max-age=3600"})

    async def index(self, request: Request) -> Response:
        """Where everything is, for a developer opening the emulator's URL."""
        return JSONResponse(
            {
                "emulator": "tenantry OIDC / GitHub OAuth (development only: signs anyone in)",
                "issuer": self.issuer,
                "discovery": self.url("/.well-known/openid-configuration"),
                "github": {
                    "authorize": self.url("/github/login/oauth/authorize"),
                    "access_token": self.url("/github/login/oauth/access_token"),
                    "api_base": self.url("/github/api"),
                },
                "clients": {
                    c.client_id: {"name": c.name, "redirect_uris": c.redirect_uris} for c in self.clients.values()
                },
            }
        )

    # -- GitHub-shaped endpoints -----------------------------------------------------------------

    async def github_access_token(self, request: Request) -> Response:
        """``POST /login/oauth/access_token``: GitHub's token endpoint, errors included, with status 200."""
        self._prune()
        # GitHub reads parameters from the query string as well as from the body.
        params = dict(request.query_params)
        params.update(await _form_params(request))
        body: dict[str, str]
        try:
            if params.get("grant_type", "authorization_code") != "authorization_code":
                # OAuth apps get non-expiring tokens and no refresh tokens.
                raise _TokenError("unsupported_grant_type", "Only the authorization_code grant is supported")
            client = self._authenticate_client(request, params)
            code, record = self._redeem_code("github", client, params)
            access_token, _ = self._new_token("access", "github", code, record)
            # Key order (in the form-encoded answer) and comma-separated scopes as GitHub sends them.
            body = {"access_token": access_token, "scope": ",".join(record.scope), "token_type": "bearer"}
        except _TokenError as exc:
            error, description = _GITHUB_TOKEN_ERRORS.get(exc.error, (exc.error, exc.description))
            body = {"error": error, "error_description": description, "error_uri": _GITHUB_OAUTH_ERRORS_DOC + error}
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(body, headers=_NO_STORE)
        # GitHub's default is a form-encoded body, which JSON-only clients choke on.
        return Response(
            urlencode(body), media_type="application/x-www-form-urlencoded; charset=utf-8", headers=_NO_STORE
        )

    def _github_token(self, request: Request, docs: str) -> _Token | Response:
        value = _bearer_token(request, ("bearer", "token"))
        if value is None:
            return _github_json({"message": "Requires authentication", "documentation_url": docs, "status": "401"}, 401)
        token = self._valid_token(value, "github")
        if token is None:
            return _github_json(
                {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"},
                401,
            )
        return token

    async def github_user(self, request: Request) -> Response:
        """``GET /user``: the authenticated user's profile; ``email`` is null unless the user made it public."""
        token = self._github_token(request, "https://docs.github.com/rest/users/users#get-the-authenticated-user")
        if isinstance(token, Response):
            return token
        user = token.user
        login = user.github_login
        api = self.url("/github/api")
        return _github_json(
            {
                "login": login,
                "id": user.github_id,
                "node_id": "U_" + _b64url(str(user.github_id).encode())[:12],
                "avatar_url": self._picture(user),
                "gravatar_id": "",
                "url": f"{api}/users/{login}",
                "html_url": self.url(f"/github/{login}"),
                "type": "User",
                "user_view_type": "public",
                "site_admin": False,
                "name": user.name,
                "company": None,
                "blog": "",
                "location": None,
                "email": user.email if user.public_email else None,
                "hireable": None,
                "bio": None,
                "twitter_username": None,
                "public_repos": 0,
                "public_gists": 0,
                "followers": 0,
                "following": 0,
                "created_at": "2020-01-01T00:00:00Z",
                "updated_at": "2020-01-01T00:00:00Z",
            },
            scopes=token.scope,
        )

    async def github_user_emails(self, request: Request) -> Response:
        """``GET /user/emails``: needs the ``user:email`` (or ``user``) scope, else 404 as at GitHub."""
        docs = "https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user"
        token = self._github_token(request, docs)
        if isinstance(token, Response):
            return token
        if not _GITHUB_EMAIL_SCOPES & set(token.scope):
            return _github_json(
                {"message": "Not Found", "documentation_url": docs, "status": "404"},
                404,
                scopes=token.scope,
                accepted="user, user:email",
            )
        user = token.user
        return _github_json(
            [
                {
                    "email": user.email,
                    "primary": True,
                    "verified": user.email_verified,
                    "visibility": "public" if user.public_email else "private",
                },
                # Every GitHub account also has a verified, non-primary noreply address.
                {
                    "email": f"{user.github_id}+{user.github_login}@users.noreply.github.com",
                    "primary": False,
                    "verified": True,
                    "visibility": None,
                },
            ],
            scopes=token.scope,
            accepted="user, user:email",
        )


def _provider_label(flavor: Flavor) -> str:
    return "Dev OpenID Connect" if flavor == "oidc" else "GitHub"


def _verify_pkce(record: _Code, verifier: str | None) -> None:
    """RFC 7636 section 4.6, and RFC 9700 section 2.1.1: a verifier without a challenge is a downgrade."""
    if record.code_challenge is None:
        if verifier is not None:
            raise _TokenError(
                "invalid_grant", "code_verifier sent, but the authorization request had no code_challenge"
            )
        return
    if verifier is None:
        raise _TokenError("invalid_grant", "code_verifier is required (PKCE)")
    if not _PKCE_VALUE.fullmatch(verifier):
        raise _TokenError("invalid_grant", "code_verifier must be 43 to 128 characters [A-Za-z0-9-._~]")
    if record.code_challenge_method == "S256":
        computed = _b64url(hashlib.sha256(verifier.encode("ascii")).digest())
    else:
        computed = verifier
    if not hmac.compare_digest(computed, record.code_challenge):
        raise _TokenError("invalid_grant", "code_verifier does not match the code_challenge (PKCE)")


async def _form_params(request: Request) -> dict[str, str]:
    """The body's parameters: form-encoded (RFC 6749), or JSON (which GitHub also accepts)."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(await request.body())
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(key): str(value) for key, value in data.items() if isinstance(value, str | int)}
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _github_json(body: Any, status: int = 200, *, scopes: Iterable[str] = (), accepted: str = "") -> JSONResponse:
    # GitHub tells clients which scopes a token has and which the endpoint wants.
    headers = {"X-OAuth-Scopes": ", ".join(scopes), "X-Accepted-OAuth-Scopes": accepted}
    return JSONResponse(body, status, headers=headers, media_type="application/json; charset=utf-8")


def create_oidc_app(
    issuer: str,
    clients: list[OIDCClient],
    *,
    key_path: str | Path | None = None,
    code_ttl: float = CODE_TTL_SECONDS,
    access_token_ttl: int = ACCESS_TOKEN_TTL_SECONDS,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The identity provider as an ASGI app, serving ``issuer`` (the URL clients reach it at).

    OpenID Connect (Google-shaped): ``/.well-known/openid-configuration``, ``/authorize``, ``/token``,
    ``/userinfo``, ``/jwks``. GitHub-shaped OAuth 2.0: ``/github/login/oauth/authorize``,
    ``/github/login/oauth/access_token``, ``/github/api/user``, ``/github/api/user/emails``.
    Every client may use both. ``key_path``: a PEM RSA private key (else a fresh RSA 2048 key);
    ``clock``: seconds since the epoch, replaceable so tests can expire codes and tokens.
    """
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"issuer must be an http(s) URL without query or fragment, not {issuer!r}")
    emulator = _Emulator(issuer.rstrip("/"), clients, load_or_generate_key(key_path), code_ttl, access_token_ttl, clock)

    async def oidc_authorize(request: Request) -> Response:
        return await emulator.authorize(request, "oidc")

    async def github_authorize(request: Request) -> Response:
        return await emulator.authorize(request, "github")

    routes = [
        Route("/", emulator.index, methods=["GET"]),
        Route("/.well-known/openid-configuration", emulator.discovery, methods=["GET"]),
        Route("/jwks", emulator.jwks, methods=["GET"]),
        Route("/authorize", oidc_authorize, methods=["GET", "POST"]),
        Route("/token", emulator.token, methods=["POST"]),
        Route("/userinfo", emulator.userinfo, methods=["GET", "POST"]),
        Route("/avatars/{sub}.svg", emulator.avatar, methods=["GET"]),
        Route("/github/login/oauth/authorize", github_authorize, methods=["GET", "POST"]),
        Route("/github/login/oauth/access_token", emulator.github_access_token, methods=["POST"]),
        Route("/github/api/user", emulator.github_user, methods=["GET"]),
        Route("/github/api/user/emails", emulator.github_user_emails, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.oidc_emulator = emulator
    return app


def start_oidc_emulator(
    clients: list[OIDCClient],
    host: str = "127.0.0.1",
    port: int = 0,
    **options: Any,
) -> RunningServer:
    """Serve a new emulator on ``host:port`` (``0``: any free port) in a background thread.

    The issuer is the server's own URL (``server.base_url``), known before the app is built because
    the socket is bound first. ``options`` go to :func:`create_oidc_app`. Stop it with
    ``server.stop()`` or use it as a context manager.
    """
    sock = bind_socket(host, port)
    try:
        issuer = format_base_url(host, sock.getsockname()[1])
        app = create_oidc_app(issuer, clients, **options)
    except BaseException:
        sock.close()
        raise
    return run_in_thread(app, sock=sock)


def _with_github_callbacks(redirect_uris: Sequence[str]) -> list[str]:
    """The URIs plus, for each ``…/callback/<provider>``, its ``…/callback/github`` sibling."""
    result = list(dict.fromkeys(redirect_uris))
    for uri in redirect_uris:
        parts = urlsplit(uri)
        head, slash, _ = parts.path.rpartition("/")
        if slash and head.endswith("/callback"):
            github = urlunsplit(parts._replace(path=f"{head}/github"))
            if github not in result:
                result.append(github)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m tenantry.emulators.oidc``: serve the emulator in the foreground until Ctrl+C."""
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m tenantry.emulators.oidc",
        description="Local OpenID Connect + GitHub OAuth identity provider (development only: signs anyone in).",
        epilog="Every option also reads an environment variable, e.g. TENANTRY_OIDC_PORT; "
        "TENANTRY_OIDC_REDIRECT_URIS holds several URIs separated by spaces or commas.",
    )
    parser.add_argument("--host", default=env.get("TENANTRY_OIDC_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=env.get("TENANTRY_OIDC_PORT", "9400"), help="0: any free port")
    parser.add_argument(
        "--issuer", default=env.get("TENANTRY_OIDC_ISSUER"), help="public URL (default: http://HOST:PORT)"
    )
    parser.add_argument("--client-id", default=env.get("TENANTRY_OIDC_CLIENT_ID", "dev"))
    parser.add_argument("--client-secret", default=env.get("TENANTRY_OIDC_CLIENT_SECRET", "dev-secret"))
    parser.add_argument("--client-name", default=env.get("TENANTRY_OIDC_CLIENT_NAME", "Tenantry"))
    parser.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        metavar="URI",
        help="registered redirect URI (repeatable; default http://127.0.0.1:8000/api/auth/callback/dev); "
        "the .../callback/github sibling of each is registered too",
    )
    parser.add_argument(
        "--key-file", default=env.get("TENANTRY_OIDC_KEY_FILE"), help="PEM RSA private key (default: a fresh key)"
    )
    parser.add_argument("--log-level", default=env.get("TENANTRY_OIDC_LOG_LEVEL", "info"))
    args = parser.parse_args(argv)

    redirect_uris: list[str] = args.redirect_uris or re.split(r"[\s,]+", env.get("TENANTRY_OIDC_REDIRECT_URIS", ""))
    redirect_uris = [uri for uri in redirect_uris if uri] or ["http://127.0.0.1:8000/api/auth/callback/dev"]
    client = OIDCClient(args.client_id, args.client_secret, _with_github_callbacks(redirect_uris), args.client_name)

    sock = bind_socket(args.host, args.port)
    issuer = (args.issuer or format_base_url(args.host, sock.getsockname()[1])).rstrip("/")
    app = create_oidc_app(issuer, [client], key_path=args.key_file)
    print(f"OIDC discovery: {issuer}/.well-known/openid-configuration")
    print(f"GitHub-shaped OAuth: {issuer}/github/login/oauth/authorize, {issuer}/github/login/oauth/access_token,")
    print(f"                     {issuer}/github/api/user, {issuer}/github/api/user/emails")
    print(f"Client {client.client_id!r} ({client.name}), redirect URIs:")
    for uri in client.redirect_uris:
        print(f"  {uri}")
    print("Development only: anyone can sign in as any email.", flush=True)
    config = uvicorn.Config(app, lifespan="on", log_level=args.log_level)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
