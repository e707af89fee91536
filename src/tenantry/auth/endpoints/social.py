"""Social sign-in: ``/sign-in/social``, ``/callback/{provider}``, linking, and the provider's tokens.

The redirect flow, as Better Auth runs it:

1. ``POST /sign-in/social`` (or ``/link-social``) mints a random ``state`` and a PKCE verifier,
   stores them in the verification table (identifier = the state, value = JSON with the callback
   URLs, the verifier, the OIDC nonce and, when linking, the user), sets the signed
   ``<prefix>.state`` cookie to the same state and answers ``{url, redirect: true}``.
2. The provider sends the browser to ``GET /callback/{provider}?code&state``. The state must exist,
   be unexpired and equal the browser's state cookie (a state minted in one browser cannot finish a
   sign-in in another); it is used up. Then the code is exchanged, the user read, and Better Auth's
   account-linking rules decide: known account -> sign in; known e-mail -> link only when the
   provider verified the e-mail (or is trusted) and the local e-mail is verified too; else a new
   user. The session is created in the same transaction, the cookie set, and the browser sent to
   ``newUserCallbackURL`` (first sign-in) or ``callbackURL``.

Failures after step 1 are redirects to ``errorCallbackURL`` (or ``/api/auth/error``) with
``?error=<code>``, Better Auth's codes: ``state_not_found``, ``state_mismatch``, ``no_code``,
``invalid_code``, ``unable_to_get_user_info``, ``account_not_linked``, ``email_not_found`` …
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin

from tenantry.auth.errors import AuthError, auth_error, validation_error
from tenantry.auth.providers import Provider, ProviderError, ProviderUser, Tokens, split_scopes
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.service import AuthContext, ClientInfo
from tenantry.auth.services import social as service
from tenantry.auth.services.social import (
    OAuthState,
    SocialStart,
    provider_of,
    redirect_uri,
    required_provider,
    state_cookie,
    state_cookie_name,
)
from tenantry.auth.store import UserRecord, iso, new_user_core
from tenantry.auth.validate import boolean, js_type, string
from tenantry.core.metrics import SIGN_IN_FAILURES
from tenantry.db.errors import IntegrityViolation

log = logging.getLogger("tenantry.auth.social")

# An access token this close to expiry is refreshed before it is handed out (Better Auth: 5 s).
REFRESH_MARGIN = dt.timedelta(seconds=5)
# ``idToken`` sign-in accepts ID tokens at most this old (Better Auth's maxTokenAge for Google).
ID_TOKEN_MAX_AGE = 60 * 60
CALLBACK_PARAMS = ("code", "error", "device_id", "error_description", "state", "user", "iss")


# -- providers and URLs -----------------------------------------------------------------------


def _required_provider(req: AuthRequest, key: str = "provider") -> Provider:
    provider_id = string(req.body, key)
    assert provider_id is not None
    return required_provider(req.ctx, provider_id)


def _absolute(ctx: AuthContext, url: str) -> str:
    # Callback URLs were checked (relative or trusted) when the flow began; resolve relative ones
    # against the app, as Better Auth does for the URLs it redirects to.
    return urljoin(ctx.base_url + "/", url)


def _with_error(url: str, error: str, description: str | None = None) -> str:
    params = {"error": error}
    if description:
        params["error_description"] = description
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def _scopes_body(body: dict[str, Any]) -> list[str] | None:
    value = body.get("scopes")
    if value is None:
        return None
    if not isinstance(value, list):
        raise validation_error("body.scopes", f"Invalid input: expected array, received {js_type(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise validation_error(f"body.scopes.{index}", f"Invalid input: expected string, received {js_type(item)}")
    return value


async def _begin(req: AuthRequest, provider: Provider, link: dict[str, str] | None = None) -> Reply:
    """Read the flow's options from the body and answer the provider's URL with the state cookie."""
    ctx, body = req.ctx, req.body
    callback = string(body, "callbackURL", required=False) or ctx.base_url
    error_callback = string(body, "errorCallbackURL", required=False)
    new_user_callback = string(body, "newUserCallbackURL", required=False)
    login_hint = string(body, "loginHint", required=False)
    disable_redirect = boolean(body, "disableRedirect") is True
    request_sign_up = boolean(body, "requestSignUp")
    scopes = _scopes_body(body)
    flow = SocialStart(callback, error_callback, new_user_callback, login_hint, scopes, request_sign_up)
    authorization = await service.start(ctx, provider, flow, link)
    headers = {"set-cookie": authorization.state_cookie}
    if not disable_redirect:
        headers["location"] = authorization.url  # Better Auth sets it too (the status stays 200)
    return Reply({"url": authorization.url, "redirect": not disable_redirect}, headers=headers)


async def _take_state(req: AuthRequest, state: str, default_error: str) -> OAuthState | Reply:
    """The stored state, used up; or the error redirect when it is unknown, foreign or expired."""
    ctx = req.ctx
    found = await ctx.store.peek_verification(state)
    data = OAuthState.from_json(found[0]) if found is not None else None
    if data is None:
        return Reply(redirect=_with_error(default_error, "state_mismatch"))
    error_url = _absolute(ctx, data.error_url) if data.error_url else default_error
    # The browser finishing the flow must be the one that started it. A mismatch leaves the state
    # alone: a forged callback cannot use up the legitimate browser's sign-in.
    cookie = ctx.cookies.read_signed(req.request, state_cookie_name(ctx))
    if cookie is None or not hmac.compare_digest(cookie, state):
        log.warning("social sign-in: state cookie missing or different (another browser?)")
        return Reply(redirect=_with_error(error_url, "state_mismatch"))
    async with ctx.db.transaction() as conn:
        consumed = await ctx.store.consume_verification(conn, state)
    if (
        consumed is None  # used by a concurrent callback
        or consumed[1] < dt.datetime.now(dt.UTC)
        or data.expires_at < time.time() * 1000
        or data.oauth_state not in (None, state)
    ):
        return Reply(redirect=_with_error(error_url, "state_mismatch"))
    return data


# -- signing in with a provider's user --------------------------------------------------------


@dataclass
class Outcome:
    """The result of Better Auth's ``handleOAuthUserInfo``: a session, or an error code."""

    error: str | None = None
    session: dict[str, Any] | None = None
    user: UserRecord | None = None
    is_register: bool = False


class _Refused(Exception):
    """Abandon the transaction with this Better Auth error code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _token_fields(tokens: Tokens) -> dict[str, Any]:
    """The account columns a token response fills (absent values keep what the row has)."""
    fields = {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "id_token": tokens.id_token,
        "access_token_expires_at": tokens.access_token_expires_at,
        "refresh_token_expires_at": tokens.refresh_token_expires_at,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _scope_column(scopes: tuple[str, ...] | list[str]) -> str | None:
    # Better Auth stores scopes comma-joined; list-accounts splits them again.
    return ",".join(scopes) or None


def _trusted(ctx: AuthContext, provider: Provider) -> bool:
    return provider.id in ctx.auth.trusted_providers


async def sign_in_with(
    ctx: AuthContext, client: ClientInfo, provider: Provider, profile: ProviderUser, tokens: Tokens, callback: str
) -> Outcome:
    """Find or link or create the user of ``profile`` and open a session (``open_session``); a refusal
    is counted as a failed sign-in by the provider's id and the error code."""
    outcome = await open_session(ctx, client, provider, profile, tokens, callback)
    if outcome.error is not None:
        SIGN_IN_FAILURES.labels(method=provider.id, reason=outcome.error).inc()
    return outcome


async def open_session(
    ctx: AuthContext, client: ClientInfo, provider: Provider, profile: ProviderUser, tokens: Tokens, callback: str
) -> Outcome:
    """Find or link or create the user of ``profile`` and open a session, in one transaction.

    Better Auth's rules: an account already linked to this provider identity signs its user in
    (tokens refreshed, ``scope`` left alone). Otherwise a user with the same e-mail gets the
    account linked only when linking is enabled, the provider vouches for the e-mail (verified, or
    the provider is trusted) and the local e-mail is verified too; anything else is
    ``account_not_linked``, so nobody takes over an account by registering its address elsewhere.
    Otherwise a new user is created from the profile.
    """
    assert profile.email is not None
    email = profile.email.lower()
    token_fields = _token_fields(tokens)
    try:
        async with ctx.db.transaction() as conn:
            is_register = False
            account = await ctx.store.account_by_provider(provider.id, profile.id, conn)
            if account is not None:
                user = await ctx.store.user_by_id(account["user_id"], conn)
                if user is None:
                    raise _Refused("unable_to_link_account")
                if token_fields:
                    await ctx.store.update_account(conn, account["id"], **token_fields)
            else:
                user = await ctx.store.user_by_email(email, conn)
                if user is not None:
                    vouched = profile.email_verified or _trusted(ctx, provider)
                    if not (ctx.auth.account_linking and vouched and user.email_verified):
                        raise _Refused("account_not_linked")
                    await ctx.store.create_account(
                        conn, user.id, provider.id, profile.id, scope=_scope_column(tokens.scopes), **token_fields
                    )
                else:
                    core = new_user_core(
                        profile.name or "", email, verified=profile.email_verified, image=profile.image
                    )
                    user = await ctx.store.create_user(conn, core, {})
                    await ctx.store.create_account(
                        conn, user.id, provider.id, profile.id, scope=_scope_column(tokens.scopes), **token_fields
                    )
                    is_register = True
            if profile.email_verified and not user.email_verified and email == user.email:
                # The provider has now proven the mailbox the user registered with.
                user = (
                    await ctx.store.update_user(
                        conn, user.id, {"emailVerified": True, "updatedAt": dt.datetime.now(dt.UTC)}
                    )
                    or user
                )
            if ctx.auth.require_email_verification and not user.email_verified:
                # As e-mail/password sign-in: no session for an unproven address. The user (and
                # the queued verification mail) are kept, so verifying lets the next sign-in pass.
                if is_register or ctx.auth.send_verification_on_sign_in:
                    await ctx.send_verification_email(conn, user, callback)
                return Outcome(error="email_not_verified", is_register=is_register)
            if is_register:
                # Written before the session (in the same transaction, so a refused session drops it too):
                # the log still reads sign_up, then sign_in.
                registered = {"email": email, "name": profile.name or "", "method": provider.id}
                await ctx.audit(conn, "sign_up", client, user_id=user.id, resource_id=user.id, new=registered)
            session = await ctx.sign_in(conn, user.id, client, method=provider.id)
    except _Refused as refused:
        return Outcome(error=refused.code)
    except IntegrityViolation:
        # A concurrent sign-in created the same user or account first.
        return Outcome(error="unable_to_create_user")
    return Outcome(session=session, user=user, is_register=is_register)


# -- endpoints --------------------------------------------------------------------------------


async def sign_in_social(req: AuthRequest) -> Reply:
    """``POST /sign-in/social``: the provider's authorization URL, or a session from an ``idToken``."""
    provider = _required_provider(req)
    if req.body.get("idToken") is not None:
        return await _sign_in_id_token(req, provider)
    return await _begin(req, provider)


def _id_token_body(req: AuthRequest) -> dict[str, Any]:
    value = req.body["idToken"]
    if not isinstance(value, dict):
        raise validation_error("body.idToken", f"Invalid input: expected object, received {js_type(value)}")
    string(value, "token", where="body.idToken")
    for key in ("nonce", "accessToken", "refreshToken"):
        string(value, key, required=False, where="body.idToken")
    return value


async def _profile_from_id_token(provider: Provider, id_token: dict[str, Any]) -> tuple[ProviderUser, Tokens]:
    if not provider.oidc:
        raise auth_error(404, "ID_TOKEN_NOT_SUPPORTED")
    tokens = Tokens(
        id_token=id_token["token"], access_token=id_token.get("accessToken"), refresh_token=id_token.get("refreshToken")
    )
    try:
        profile = await provider.user_info(tokens, nonce=id_token.get("nonce"), max_age=ID_TOKEN_MAX_AGE)
    except ProviderError as exc:
        log.warning("social sign-in: %s", exc)
        raise auth_error(401, "INVALID_TOKEN") from None
    if not profile.email:
        raise auth_error(401, "USER_EMAIL_NOT_FOUND")
    return profile, tokens


async def _sign_in_id_token(req: AuthRequest, provider: Provider) -> Reply:
    """An ID token the app got from the provider itself (Google One Tap …), verified like a callback's."""
    ctx = req.ctx
    id_token = _id_token_body(req)
    profile, tokens = await _profile_from_id_token(provider, id_token)
    callback = string(req.body, "callbackURL", required=False) or ctx.base_url
    outcome = await sign_in_with(ctx, req.client, provider, profile, tokens, callback)
    if outcome.error == "email_not_verified":
        raise auth_error(403, "EMAIL_NOT_VERIFIED")
    if outcome.error is not None or outcome.session is None or outcome.user is None:
        raise AuthError(401, "OAUTH_LINK_ERROR", (outcome.error or "unable_to_create_session").replace("_", " "))
    token = outcome.session["token"]
    return Reply(
        {"redirect": False, "token": token, "user": ctx.shapes.user_json(outcome.user)},
        set_session=(token, False),
    )


async def callback_post(req: AuthRequest) -> Reply:
    """``POST /callback/{provider}`` (``response_mode=form_post``): on to the GET, which carries cookies.

    A cross-site POST does not send SameSite=Lax cookies, so the state cookie only arrives on the
    same-site GET this redirects to.
    """
    merged = {**req.body, **req.query}
    params = {k: str(merged[k]) for k in CALLBACK_PARAMS if merged.get(k) is not None}
    return Reply(redirect=f"{req.ctx.auth_url}/callback/{req.params['provider']}?{urlencode(params)}")


async def callback(req: AuthRequest) -> Reply:
    """``GET /callback/{provider}``: finish the redirect flow (see the module docstring)."""
    ctx, query = req.ctx, req.query
    default_error = f"{ctx.auth_url}/error"
    state = query.get("state")
    if not state:
        return Reply(redirect=_with_error(default_error, "state_not_found"))
    taken = await _take_state(req, state, default_error)
    if isinstance(taken, Reply):
        return taken
    data = taken
    # From here on the state is spent: every answer also drops the browser's state cookie.
    clear = {"set-cookie": state_cookie(ctx, None)}
    error_url = _absolute(ctx, data.error_url) if data.error_url else default_error

    def fail(code: str, description: str | None = None) -> Reply:
        return Reply(redirect=_with_error(error_url, code, description), headers=clear)

    if query.get("error"):
        # The provider's own code (access_denied when the user cancelled), passed on as it is.
        return fail(query["error"], query.get("error_description"))
    code = query.get("code")
    if not code:
        return fail("no_code")
    provider = provider_of(ctx, req.params["provider"])
    if provider is None:
        return fail("oauth_provider_not_found")
    if data.provider_id is not None and data.provider_id != provider.id:
        # A state minted for another provider: the code would go to the wrong token endpoint.
        return fail("state_mismatch")
    issuer = query.get("iss")
    if issuer and provider.issuer and issuer.rstrip("/") != provider.issuer:
        return fail("issuer_mismatch")  # RFC 9207: the response came from another issuer
    if provider.oidc and not data.nonce:
        return fail("nonce_binding_missing")
    try:
        tokens = await provider.exchange(code, data.code_verifier, redirect_uri(ctx, provider))
    except ProviderError as exc:
        log.warning("social sign-in: %s", exc)
        return fail("invalid_code")
    try:
        profile = await provider.user_info(tokens, nonce=data.nonce)
    except ProviderError as exc:
        log.warning("social sign-in: %s", exc)
        return fail("unable_to_get_user_info")
    if data.link is not None:
        return await _finish_link(ctx, provider, profile, tokens, data, fail, clear)
    if not profile.email:
        return fail("email_not_found")
    try:
        outcome = await sign_in_with(ctx, req.client, provider, profile, tokens, data.callback_url)
    except AuthError as exc:
        if exc.code is None:
            raise
        # A plugin refused the session (a banned user): back to the app with the code, as Better Auth does.
        return fail(exc.code, exc.message)
    if outcome.error is not None or outcome.session is None:
        return fail(outcome.error or "unable_to_create_session")
    target = (data.new_user_url or data.callback_url) if outcome.is_register else data.callback_url
    return Reply(redirect=_absolute(ctx, target), set_session=(outcome.session["token"], False), headers=clear)


async def _finish_link(
    ctx: AuthContext,
    provider: Provider,
    profile: ProviderUser,
    tokens: Tokens,
    data: OAuthState,
    fail: Callable[[str], Reply],
    clear: dict[str, str],
) -> Reply:
    """The callback of ``/link-social``: add the provider account to the user who asked."""
    assert data.link is not None
    link = data.link
    if not ctx.auth.account_linking or not (profile.email_verified or _trusted(ctx, provider)):
        return fail("unable_to_link_account")
    if (profile.email or "").lower() != link["email"].lower():
        return fail("email_does_not_match")
    try:
        async with ctx.db.transaction() as conn:
            existing = await ctx.store.account_by_provider(provider.id, profile.id, conn)
            if existing is not None:
                if str(existing["user_id"]) != link["userId"]:
                    raise _Refused("account_already_linked_to_different_user")
                merged = split_scopes(existing["scope"]) + tokens.scopes
                await ctx.store.update_account(
                    conn,
                    existing["id"],
                    scope=_scope_column(tuple(dict.fromkeys(merged))),
                    **_token_fields(tokens),
                )
            else:
                await ctx.store.create_account(
                    conn,
                    link["userId"],
                    provider.id,
                    profile.id,
                    scope=_scope_column(tokens.scopes),
                    **_token_fields(tokens),
                )
    except _Refused as refused:
        return fail(refused.code)
    except IntegrityViolation:  # the user was deleted meanwhile, or a concurrent link won
        return fail("unable_to_link_account")
    return Reply(redirect=_absolute(ctx, data.callback_url), headers=clear)


async def link_social(req: AuthRequest) -> Reply:
    """``POST /link-social``: start a redirect flow whose callback links the account to the caller."""
    current = await req.session()
    provider = _required_provider(req)
    if req.body.get("idToken") is not None:
        return await _link_id_token(req, provider, current.user)
    return await _begin(req, provider, link={"userId": str(current.user.id), "email": current.user.email})


async def _link_id_token(req: AuthRequest, provider: Provider, user: UserRecord) -> Reply:
    """Link with an ID token the app obtained itself; Better Auth's codes for each refusal."""
    ctx = req.ctx
    profile, tokens = await _profile_from_id_token(provider, _id_token_body(req))
    existing = await ctx.store.account_by_provider(provider.id, profile.id)
    if existing is not None and str(existing["user_id"]) != str(user.id):
        raise auth_error(409, "SOCIAL_ACCOUNT_ALREADY_LINKED")
    if existing is None:
        if not ctx.auth.account_linking or not (profile.email_verified or _trusted(ctx, provider)):
            raise AuthError(401, "LINKING_NOT_ALLOWED", "Account not linked - linking not allowed")
        if (profile.email or "").lower() != user.email.lower():
            raise AuthError(
                401, "LINKING_DIFFERENT_EMAILS_NOT_ALLOWED", "Account not linked - different emails not allowed"
            )
    try:
        async with ctx.db.transaction() as conn:
            if existing is not None:
                await ctx.store.update_account(conn, existing["id"], **_token_fields(tokens))
            else:
                await ctx.store.create_account(conn, user.id, provider.id, profile.id, **_token_fields(tokens))
    except IntegrityViolation:
        raise AuthError(417, "LINKING_FAILED", "Account not linked - unable to create account") from None
    return Reply({"url": "", "status": True, "redirect": False})


def _pick_account(
    accounts: list[dict[str, Any]], provider_id: str | None, account_id: str | None
) -> dict[str, Any] | None:
    """The account a request names: by provider (and the provider's account id), or by our row id.

    Better Auth 1.6 names accounts by ``providerId`` (+ the provider's ``accountId``); 1.7 by the
    account row's id alone. Both are understood.
    """
    if provider_id is None and account_id is None:
        return None
    for account in accounts:
        if provider_id is not None and account["provider_id"] != provider_id:
            continue
        if account_id is not None and account_id not in (account["account_id"], account["id"]):
            continue
        return account
    return None


async def unlink_account(req: AuthRequest) -> Reply:
    """``POST /unlink-account``: remove a linked account, never the user's last one."""
    ctx, body = req.ctx, req.body
    current = await req.session(fresh=True)
    provider_id = string(body, "providerId", required=False)
    account_id = string(body, "accountId", required=False)
    if provider_id is None and account_id is None:
        string(body, "providerId")  # the 400 VALIDATION_ERROR for the missing field
    async with ctx.db.transaction() as conn:
        # Lock the user row first: two concurrent unlinks must not each leave "one other" account.
        await ctx.store.update_user(conn, current.user.id, {"updatedAt": dt.datetime.now(dt.UTC)})
        accounts = await ctx.store.accounts_of(current.user.id, conn)
        if len(accounts) == 1:
            raise auth_error(400, "FAILED_TO_UNLINK_LAST_ACCOUNT")
        account = _pick_account(accounts, provider_id, account_id)
        if account is None:
            raise auth_error(400, "ACCOUNT_NOT_FOUND")
        await ctx.store.delete_account(conn, account["id"])
    return Reply({"status": True})


async def _selected_account(
    req: AuthRequest, values: dict[str, Any], where: str
) -> tuple[dict[str, Any], Provider | None]:
    """The caller's account named by ``providerId``/``accountId`` (``userId`` only for server calls)."""
    current = await req.session()  # over HTTP the session's user always wins over a userId
    provider_id = string(values, "providerId", required=False, where=where)
    account_id = string(values, "accountId", required=False, where=where)
    if provider_id is not None and provider_of(req.ctx, provider_id) is None:
        raise AuthError(400, "PROVIDER_NOT_SUPPORTED", f"Provider {provider_id} is not supported.")
    accounts = await req.ctx.store.accounts_of(current.user.id)
    account = _pick_account(accounts, provider_id, account_id)
    if account is None:
        raise auth_error(400, "ACCOUNT_NOT_FOUND")
    return account, provider_of(req.ctx, account["provider_id"])


async def _valid_tokens(ctx: AuthContext, provider: Provider, account: dict[str, Any]) -> dict[str, Any]:
    """The account, its access token refreshed first when it (nearly) expired and can be."""
    expires: dt.datetime | None = account["access_token_expires_at"]
    if account["refresh_token"] and expires is not None and expires - dt.datetime.now(dt.UTC) < REFRESH_MARGIN:
        tokens = await provider.refresh(account["refresh_token"])
        fields = {
            "access_token": tokens.access_token,
            "access_token_expires_at": tokens.access_token_expires_at,
            "refresh_token": tokens.refresh_token or account["refresh_token"],
            "refresh_token_expires_at": tokens.refresh_token_expires_at or account["refresh_token_expires_at"],
            "id_token": tokens.id_token or account["id_token"],
        }
        async with ctx.db.transaction() as conn:
            await ctx.store.update_account(conn, account["id"], **fields)
        account = {**account, **fields}
    return account


def _stored_scopes(account: dict[str, Any]) -> list[str]:
    return list(split_scopes(account["scope"]))


async def get_access_token(req: AuthRequest) -> Reply:
    """``POST /get-access-token``: a valid access token of a linked account, refreshed if needed."""
    account, provider = await _selected_account(req, req.body, "body")
    if provider is None:
        raise AuthError(400, "PROVIDER_NOT_SUPPORTED", f"Provider {account['provider_id']} is not supported.")
    try:
        account = await _valid_tokens(req.ctx, provider, account)
    except ProviderError as exc:
        log.warning("get-access-token: %s", exc)
        raise AuthError(400, "FAILED_TO_GET_ACCESS_TOKEN", "Failed to get a valid access token") from None
    body: dict[str, Any] = {"accessToken": account["access_token"] or ""}
    if account["access_token_expires_at"] is not None:
        body["accessTokenExpiresAt"] = iso(account["access_token_expires_at"])
    body["scopes"] = _stored_scopes(account)
    if account["id_token"]:
        body["idToken"] = account["id_token"]
    return Reply(body)


async def refresh_token(req: AuthRequest) -> Reply:
    """``POST /refresh-token``: refresh now, whatever the expiry, and answer the new tokens."""
    ctx = req.ctx
    account, provider = await _selected_account(req, req.body, "body")
    if provider is None:
        raise AuthError(400, "PROVIDER_NOT_SUPPORTED", f"Provider {account['provider_id']} is not supported.")
    if not account["refresh_token"]:
        raise AuthError(400, "REFRESH_TOKEN_NOT_FOUND", "Refresh token not found")
    try:
        tokens = await provider.refresh(account["refresh_token"])
    except ProviderError as exc:
        log.warning("refresh-token: %s", exc)
        raise AuthError(400, "FAILED_TO_REFRESH_ACCESS_TOKEN", "Failed to refresh access token") from None
    fields: dict[str, Any] = {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token or account["refresh_token"],
        "access_token_expires_at": tokens.access_token_expires_at,
        "refresh_token_expires_at": tokens.refresh_token_expires_at or account["refresh_token_expires_at"],
        "scope": _scope_column(tokens.scopes) or account["scope"],
        "id_token": tokens.id_token or account["id_token"],
    }
    async with ctx.db.transaction() as conn:
        await ctx.store.update_account(conn, account["id"], **fields)
    body: dict[str, Any] = {
        "accessToken": fields["access_token"],
        "refreshToken": fields["refresh_token"],
        "accessTokenExpiresAt": iso(fields["access_token_expires_at"]),
        "refreshTokenExpiresAt": iso(fields["refresh_token_expires_at"]),
        "scope": fields["scope"],
        "idToken": fields["id_token"],
        "providerId": account["provider_id"],
        "accountId": account["account_id"],
    }
    return Reply({k: v for k, v in body.items() if v is not None})


async def account_info(req: AuthRequest) -> Reply:
    """``GET /account-info?accountId=``: the provider's current profile of a linked account."""
    ctx = req.ctx
    query: dict[str, Any] = dict(req.query)
    current = await req.session()
    account_id = string(query, "accountId", required=False, where="query")
    provider_id = string(query, "providerId", required=False, where="query")
    accounts = await ctx.store.accounts_of(current.user.id)
    matching = [
        a
        for a in accounts
        if account_id is not None
        and account_id in (a["account_id"], a["id"])
        and (provider_id is None or a["provider_id"] == provider_id)
    ]
    if len(matching) > 1:
        raise AuthError(
            400, "AMBIGUOUS_ACCOUNT", "Multiple accounts share this account ID. Pass a providerId to disambiguate."
        )
    if not matching:
        raise auth_error(400, "ACCOUNT_NOT_FOUND")
    account = matching[0]
    provider = provider_of(ctx, account["provider_id"])
    if provider is None:
        raise AuthError(400, "PROVIDER_NOT_CONFIGURED", "Account is not associated with a configured social provider.")
    try:
        account = await _valid_tokens(ctx, provider, account)
    except ProviderError as exc:
        log.warning("account-info: %s", exc)
        raise AuthError(400, "FAILED_TO_GET_ACCESS_TOKEN", "Failed to get a valid access token") from None
    if not account["access_token"]:
        raise AuthError(400, "ACCESS_TOKEN_NOT_FOUND", "Access token not found")
    try:
        # The access token alone: the userinfo endpoint answers with today's profile, where the
        # stored ID token is a snapshot of the sign-in (and long expired).
        profile = await provider.user_info(Tokens(access_token=account["access_token"]))
    except ProviderError as exc:
        log.warning("account-info: %s", exc)
        raise auth_error(401, "FAILED_TO_GET_USER_INFO") from None
    user = {
        "id": profile.id,
        "name": profile.name,
        "email": profile.email,
        "image": profile.image,
        "emailVerified": profile.email_verified,
    }
    return Reply({"user": user, "data": profile.data})


ENDPOINTS = (
    Endpoint("POST", service.SIGN_IN_SOCIAL, sign_in_social),
    Endpoint("GET", "/callback/{provider}", callback),
    Endpoint("POST", "/callback/{provider}", callback_post),
    Endpoint("POST", "/link-social", link_social),
    Endpoint("POST", "/unlink-account", unlink_account),
    Endpoint("POST", "/get-access-token", get_access_token),
    Endpoint("POST", "/refresh-token", refresh_token),
    Endpoint("GET", "/account-info", account_info),
)
