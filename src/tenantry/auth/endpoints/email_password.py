"""Sign-up and sign-in with e-mail and password, password change and password reset."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from urllib.parse import quote, urljoin

from tenantry.auth.crypto import generate_id
from tenantry.auth.errors import auth_error
from tenantry.auth.passwords import hash_password_async, needs_rehash, verify_password_async
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.service import AuthContext, at_least
from tenantry.auth.store import UserRecord, new_user_core
from tenantry.auth.validate import boolean, email, is_email, string
from tenantry.db.errors import IntegrityViolation

CREDENTIAL = "credential"
RESET_TOKEN_LENGTH = 24
# Answers that must not reveal whether an address is registered take at least this long.
ENUMERATION_FLOOR = 0.5


def credential_account(accounts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The e-mail/password account among a user's accounts."""
    return next((a for a in accounts if a["provider_id"] == CREDENTIAL), None)


def _synthetic_user(
    ctx: AuthContext, name: str, email_: str, image: str | None, additional: dict[str, Any]
) -> dict[str, Any]:
    """The answer to a sign-up for an existing address when it must look like a new one."""
    record = UserRecord(
        id=ctx.store.new_user_id() or generate_id(),
        core=new_user_core(name, email_, verified=False, image=image),
        additional=additional,
    )
    return ctx.shapes.user_json(record)


async def sign_up_email(req: AuthRequest) -> Reply:
    ctx, body = req.ctx, req.body
    name = string(body, "name")
    address = email(body).lower()
    password = string(body, "password")
    image = string(body, "image", required=False)
    callback = string(body, "callbackURL", required=False)
    remember = boolean(body, "rememberMe")
    assert name is not None and password is not None
    if not password:
        raise auth_error(400, "INVALID_PASSWORD")
    ctx.check_password_length(password)
    ctx.check_fits("name", name)
    ctx.check_fits("email", address)
    ctx.check_fits("image", image)
    additional = ctx.shapes.additional_input(body)
    hidden_duplicates = ctx.auth.require_email_verification or not ctx.auth.auto_sign_in
    # Hash first, always: the same work for new and existing addresses, outside the transaction.
    hashed = await hash_password_async(password)
    if await ctx.store.user_by_email(address) is not None:
        if hidden_duplicates:
            return Reply({"token": None, "user": _synthetic_user(ctx, name, address, image, additional)})
        raise auth_error(422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL")
    session = None
    try:
        async with ctx.db.transaction() as conn:
            user = await ctx.store.create_user(
                conn, new_user_core(name, address, verified=False, image=image), additional
            )
            await ctx.store.create_account(conn, user.id, CREDENTIAL, str(user.id), password=hashed)
            await ctx.audit(
                conn, "sign_up", req.client, user_id=user.id, resource_id=user.id, new={"email": address, "name": name}
            )
            if ctx.on_sign_up is not None:
                # Organizations: found one (organizationName) or join one (invitationId), all or nothing.
                user = await ctx.on_sign_up(conn, user, body)
            # An address proven by the invitation it signed up with needs no verification mail.
            needs_verification = ctx.auth.require_email_verification and not user.email_verified
            if needs_verification:
                await ctx.send_verification_email(conn, user, callback)
            if ctx.auth.auto_sign_in and not needs_verification:
                session = await ctx.create_session(conn, user.id, req.client, dont_remember=remember is False)
    except IntegrityViolation:
        # Lost a race with a concurrent sign-up for the same address.
        if hidden_duplicates:
            return Reply({"token": None, "user": _synthetic_user(ctx, name, address, image, additional)})
        raise auth_error(422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL") from None
    user_json = ctx.shapes.user_json(user)
    if session is None:
        return Reply({"token": None, "user": user_json})
    return Reply({"token": session["token"], "user": user_json}, set_session=(session["token"], remember is False))


async def sign_in_email(req: AuthRequest) -> Reply:
    ctx, body = req.ctx, req.body
    address = string(body, "email")
    password = string(body, "password")
    callback = string(body, "callbackURL", required=False)
    remember = boolean(body, "rememberMe")
    assert address is not None and password is not None
    if not is_email(address):
        raise auth_error(400, "INVALID_EMAIL")
    user = await ctx.store.user_by_email(address.lower())
    account = credential_account(await ctx.store.accounts_of(user.id)) if user else None
    stored = account["password"] if account else None
    # With no user or no password, verify against a dummy hash: same time, same answer.
    if not await verify_password_async(stored, password) or user is None or account is None:
        # Recorded although the request fails: its own transaction (known address or not, the same work).
        failed = {"email": address.lower(), "reason": "INVALID_EMAIL_OR_PASSWORD"}
        user_id = user.id if user is not None else None
        await ctx.audit_alone("sign_in_failed", req.client, user_id=user_id, resource_id=user_id, new=failed)
        raise auth_error(401, "INVALID_EMAIL_OR_PASSWORD")
    if ctx.auth.require_email_verification and not user.email_verified:
        unverified = {"email": user.email, "reason": "EMAIL_NOT_VERIFIED"}
        await ctx.audit_alone("sign_in_failed", req.client, user_id=user.id, resource_id=user.id, new=unverified)
        if ctx.auth.send_verification_on_sign_in:
            async with ctx.db.transaction() as conn:
                await ctx.send_verification_email(conn, user, callback)
        raise auth_error(403, "EMAIL_NOT_VERIFIED")
    await ctx.guard_session(None, user)
    if stored is not None and needs_rehash(stored):
        # A Better Auth scrypt hash (or older argon2 parameters): upgrade it now that we have the
        # password, also when the session waits for a second factor.
        rehashed = await hash_password_async(password)
        async with ctx.db.transaction() as conn:
            await ctx.store.update_account(conn, account["id"], password=rehashed)
    for second_factor in ctx.hooks.second_factors:
        # Two-factor: the password was right, but the session waits for the second step.
        pending = await second_factor(req, user, remember is False)
        if pending is not None:
            return pending
    async with ctx.db.transaction() as conn:
        session = await ctx.sign_in(conn, user.id, req.client, method="email", dont_remember=remember is False)
    reply_body: dict[str, Any] = {"redirect": bool(callback), "token": session["token"]}
    if callback:
        reply_body["url"] = callback
    reply_body["user"] = ctx.shapes.user_json(user)
    headers = {"location": callback} if callback else {}
    return Reply(reply_body, set_session=(session["token"], remember is False), headers=headers)


async def change_password(req: AuthRequest) -> Reply:
    ctx, body = req.ctx, req.body
    current = await req.session()
    new_password = string(body, "newPassword")
    current_password = string(body, "currentPassword")
    revoke = boolean(body, "revokeOtherSessions")
    assert new_password is not None and current_password is not None
    ctx.check_password_length(new_password)
    account = credential_account(await ctx.store.accounts_of(current.user.id))
    if account is None or not account["password"]:
        raise auth_error(400, "CREDENTIAL_ACCOUNT_NOT_FOUND")
    if not await verify_password_async(account["password"], current_password):
        raise auth_error(400, "INVALID_PASSWORD")
    hashed = await hash_password_async(new_password)
    session = None
    async with ctx.db.transaction() as conn:
        await ctx.store.update_account(conn, account["id"], password=hashed)
        if revoke:
            await ctx.store.delete_sessions_of(conn, current.user.id)
            session = await ctx.create_session(conn, current.user.id, req.client)
        await ctx.audit(
            conn,
            "password_change",
            req.client,
            session=current.session,
            resource_id=current.user.id,
            new={"revoked_other_sessions": bool(revoke)},
        )
    user_json = ctx.shapes.user_json(current.user)
    if session is None:
        return Reply({"token": None, "user": user_json})
    return Reply({"token": session["token"], "user": user_json}, set_session=(session["token"], False))


async def request_password_reset(req: AuthRequest) -> Reply:
    ctx, body = req.ctx, req.body
    started = time.monotonic()
    address = email(body).lower()
    redirect_to = string(body, "redirectTo", required=False)
    user = await ctx.store.user_by_email(address)
    if user is not None:
        token = generate_id(RESET_TOKEN_LENGTH)
        url = f"{ctx.auth_url}/reset-password/{token}?callbackURL={quote(redirect_to or '/', safe='')}"
        async with ctx.db.transaction() as conn:
            await ctx.store.create_verification(
                conn,
                f"reset-password:{token}",
                str(user.id),
                dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ctx.auth.reset_password_expires_in),
            )
            await ctx.mail(
                conn, template="reset_password", to=user.email, url=url, user=user, dedupe_key=f"reset-password:{token}"
            )
    # The same answer, in about the same time, whether or not the address is registered.
    await at_least(ENUMERATION_FLOOR, started)
    return Reply({"status": True, "message": "If this email exists in our system, check your email for the reset link"})


async def reset_password_link(req: AuthRequest) -> Reply:
    """The e-mailed link: check the token (without using it) and send the browser to the app's page."""
    ctx = req.ctx
    token = req.params["token"]
    callback = req.query.get("callbackURL")
    if not callback:
        raise auth_error(400, "CALLBACK_URL_REQUIRED")
    target = urljoin(ctx.base_url + "/", callback)
    separator = "&" if "?" in target else "?"
    found = await ctx.store.peek_verification(f"reset-password:{token}")
    if found is None or found[1] < dt.datetime.now(dt.UTC):
        return Reply(redirect=f"{target}{separator}error=INVALID_TOKEN")
    return Reply(redirect=f"{target}{separator}token={quote(token, safe='')}")


async def reset_password(req: AuthRequest) -> Reply:
    ctx, body = req.ctx, req.body
    new_password = string(body, "newPassword")
    assert new_password is not None
    token = body.get("token") if isinstance(body.get("token"), str) else req.query.get("token")
    if not token:
        raise auth_error(400, "INVALID_TOKEN")
    ctx.check_password_length(new_password)
    hashed = await hash_password_async(new_password)
    async with ctx.db.transaction() as conn:
        consumed = await ctx.store.consume_verification(conn, f"reset-password:{token}")
        if consumed is None or consumed[1] < dt.datetime.now(dt.UTC):
            raise auth_error(400, "INVALID_TOKEN")
        user_id = consumed[0]
        accounts = await ctx.store.accounts_of(user_id, conn)
        account = credential_account(accounts)
        if account is None:
            await ctx.store.create_account(conn, user_id, CREDENTIAL, str(user_id), password=hashed)
        else:
            await ctx.store.update_account(conn, account["id"], password=hashed)
        if ctx.auth.revoke_sessions_on_password_reset:
            await ctx.store.delete_sessions_of(conn, user_id)
        await ctx.audit(
            conn,
            "password_reset",
            req.client,
            user_id=user_id,
            resource_id=user_id,
            new={"revoked_sessions": ctx.auth.revoke_sessions_on_password_reset},
        )
    return Reply({"status": True})


ENDPOINTS = (
    Endpoint("POST", "/sign-up/email", sign_up_email),
    Endpoint("POST", "/sign-in/email", sign_in_email),
    Endpoint("POST", "/change-password", change_password),
    Endpoint("POST", "/request-password-reset", request_password_reset),
    # Better Auth before 1.4 called it forget-password; older clients still send that.
    Endpoint("POST", "/forget-password", request_password_reset),
    Endpoint("GET", "/reset-password/{token}", reset_password_link),
    Endpoint("POST", "/reset-password", reset_password),
)
