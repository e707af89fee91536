"""Starting a social sign-in (or a link): the provider's authorization URL, its state bound to the browser.

``start`` mints a random ``state`` and a PKCE verifier, stores them in the verification table
(identifier = the state, value = JSON with the callback URLs, the verifier, the OIDC nonce and,
when linking, the user) and answers the provider's URL with the signed ``<prefix>.state``
cookie, which the callback compares with the state it gets back.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson

from tenantry.auth.cookies import CookieChanges
from tenantry.auth.crypto import generate_id, sign_value
from tenantry.auth.errors import AuthError, auth_error
from tenantry.auth.providers import Provider, ProviderError, providers_for
from tenantry.auth.service import AuthContext

log = logging.getLogger("tenantry.auth.social")

SIGN_IN_SOCIAL = "/sign-in/social"

STATE_TTL = 10 * 60
# The state cookie lives as long as the state it binds (Better Auth: 5 minutes), so a slow
# sign-in page at the provider does not fail with a mismatch while the state is still valid.
STATE_COOKIE_MAX_AGE = STATE_TTL
PKCE_VERIFIER_LENGTH = 128  # RFC 7636: 43..128 unreserved characters


# -- providers and URLs -----------------------------------------------------------------------


def provider_of(ctx: AuthContext, provider_id: str) -> Provider | None:
    """The configured provider ``provider_id``, or None."""
    return providers_for(ctx.auth).get(provider_id)


def required_provider(ctx: AuthContext, provider_id: str) -> Provider:
    """The configured provider ``provider_id``, or 404 PROVIDER_NOT_FOUND."""
    provider = provider_of(ctx, provider_id)
    if provider is None:
        log.error("social sign-in: provider %r is not configured", provider_id)
        raise auth_error(404, "PROVIDER_NOT_FOUND")
    return provider


def redirect_uri(ctx: AuthContext, provider: Provider) -> str:
    """``{base_url}/api/auth/callback/{provider}``: what the provider's client must have registered."""
    return f"{ctx.auth_url}/callback/{provider.id}"


# -- the state cookie -------------------------------------------------------------------------


def state_cookie_name(ctx: AuthContext) -> str:
    lead = "__Secure-" if ctx.cookies.names.secure else ""
    return f"{lead}{ctx.auth.cookie_prefix}.state"


def state_cookie(ctx: AuthContext, state: str | None) -> str:
    """A ``Set-Cookie`` value binding ``state`` to this browser, or expiring the binding (``None``)."""
    name = state_cookie_name(ctx)
    value = sign_value(ctx.secret, state) if state is not None else ""
    parts = [f"{name}={value}", f"Max-Age={STATE_COOKIE_MAX_AGE if state is not None else 0}", "Path=/", "HttpOnly"]
    if ctx.cookies.names.secure:
        parts.append("Secure")
    parts.append("SameSite=Lax")  # sent on the provider's top-level redirect back to us
    return "; ".join(parts)


# -- state ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OAuthState:
    """What a sign-in carries from ``/sign-in/social`` to the callback (Better Auth's ``StateData``)."""

    callback_url: str
    code_verifier: str
    expires_at: int  # epoch milliseconds
    error_url: str | None = None
    new_user_url: str | None = None
    link: dict[str, str] | None = None
    request_sign_up: bool | None = None
    nonce: str | None = None
    provider_id: str | None = None
    oauth_state: str | None = None

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "callbackURL": self.callback_url,
            "codeVerifier": self.code_verifier,
            "errorURL": self.error_url,
            "newUserURL": self.new_user_url,
            "link": self.link,
            "expiresAt": self.expires_at,
            "requestSignUp": self.request_sign_up,
            "idTokenNonce": self.nonce,
            "providerId": self.provider_id,
            "oauthState": self.oauth_state,
        }
        # As JSON.stringify drops undefined members.
        return orjson.dumps({k: v for k, v in data.items() if v is not None}).decode()

    @classmethod
    def from_json(cls, raw: str) -> OAuthState | None:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        callback, verifier, expires = data.get("callbackURL"), data.get("codeVerifier"), data.get("expiresAt")
        if not isinstance(callback, str) or not isinstance(verifier, str) or not isinstance(expires, int):
            return None
        link = data.get("link")
        if link is not None and not (
            isinstance(link, dict) and isinstance(link.get("userId"), str) and isinstance(link.get("email"), str)
        ):
            return None

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        return cls(
            callback_url=callback,
            code_verifier=verifier,
            expires_at=expires,
            error_url=text("errorURL"),
            new_user_url=text("newUserURL"),
            link=link,
            request_sign_up=data.get("requestSignUp") if isinstance(data.get("requestSignUp"), bool) else None,
            nonce=text("idTokenNonce"),
            provider_id=text("providerId"),
            oauth_state=text("oauthState"),
        )


# -- starting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SocialStart:
    """How a redirect flow should go: where the browser lands (after success, an error, a first
    sign-in), and what to ask the provider for."""

    callback_url: str
    error_callback_url: str | None = None
    new_user_callback_url: str | None = None
    login_hint: str | None = None
    scopes: list[str] | None = None
    request_sign_up: bool | None = None


@dataclass(frozen=True)
class Authorization:
    """Where to send the browser (the provider's authorization URL) and the state cookie binding
    the flow to this browser."""

    url: str
    state_cookie: str

    @property
    def cookies(self) -> CookieChanges:
        return CookieChanges(others=[self.state_cookie])


async def start(
    ctx: AuthContext, provider: Provider, flow: SocialStart, link: dict[str, str] | None = None
) -> Authorization:
    """Mint the state, store it, and answer the provider's URL (502 PROVIDER_UNAVAILABLE when the
    provider's discovery fails); ``link`` names the user an account is being linked to."""
    state = generate_id(32)
    verifier = generate_id(PKCE_VERIFIER_LENGTH)
    # OpenID Connect: the ID token must echo this nonce, binding it to this very redirect.
    nonce = generate_id(32) if provider.oidc else None
    try:
        url = await provider.authorization_url(
            state, verifier, redirect_uri(ctx, provider), flow.scopes, flow.login_hint, nonce=nonce
        )
    except ProviderError as exc:
        log.error("social sign-in: %s", exc)
        raise AuthError(502, "PROVIDER_UNAVAILABLE", "The identity provider could not be reached") from None
    data = OAuthState(
        callback_url=flow.callback_url,
        code_verifier=verifier,
        expires_at=int((time.time() + STATE_TTL) * 1000),
        error_url=flow.error_callback_url,
        new_user_url=flow.new_user_callback_url,
        link=link,
        request_sign_up=flow.request_sign_up,
        nonce=nonce,
        provider_id=provider.id,
        oauth_state=state,
    )
    async with ctx.db.transaction() as conn:
        await ctx.store.create_verification(
            conn, state, data.to_json(), dt.datetime.now(dt.UTC) + dt.timedelta(seconds=STATE_TTL)
        )
    return Authorization(url, state_cookie(ctx, state))
