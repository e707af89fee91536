"""The signed-in user: profile updates, e-mail verification and change, deletion, linked accounts."""

from __future__ import annotations

import datetime as dt

from tenantry.auth.crypto import TokenExpired
from tenantry.auth.errors import AuthError, auth_error
from tenantry.auth.passwords import verify_password_async
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.services import user as service
from tenantry.auth.services.email_password import credential_account
from tenantry.auth.store import iso
from tenantry.auth.validate import email, string


async def update_user(req: AuthRequest) -> Reply:
    body = req.body
    current = await req.session()
    if body.get("email"):
        raise auth_error(400, "EMAIL_CAN_NOT_BE_UPDATED")
    profile: dict[str, str | None] = {}
    if "name" in body:
        profile["name"] = string(body, "name")
    if "image" in body:
        profile["image"] = string(body, "image", required=False)
    changes = await service.update_user(req.ctx, req.client, current, profile, body)
    return Reply.of({"status": True}, changes)


async def send_verification_email(req: AuthRequest) -> Reply:
    address = email(req.body).lower()
    callback = string(req.body, "callbackURL", required=False)
    current = await req.optional_session()
    await service.send_verification_email(req.ctx, current, email=address, callback_url=callback)
    return Reply({"status": True})


async def verify_email(req: AuthRequest) -> Reply:
    ctx = req.ctx
    token = req.query.get("token")
    callback = req.query.get("callbackURL")

    def fail(code: str) -> Reply:
        if callback:
            separator = "&" if "?" in callback else "?"
            return Reply(redirect=f"{callback}{separator}error={code}")
        raise auth_error(401, code)

    if not token:
        raise AuthError(400, "VALIDATION_ERROR", "[query.token] Invalid input: expected string, received undefined")
    try:
        claims = ctx.read_verification_token(token)
    except TokenExpired:
        return fail("TOKEN_EXPIRED")
    if claims is None or not isinstance(claims.get("email"), str):
        return fail("INVALID_TOKEN")
    user = await ctx.store.user_by_email(claims["email"])
    if user is None:
        return fail("USER_NOT_FOUND")
    update_to = claims.get("updateTo")
    request_type = claims.get("requestType")
    jti = claims.get("jti")
    async with ctx.db.transaction() as conn:
        used = await ctx.store.consume_verification(conn, f"email-verification:{jti}") if jti else None
        if update_to:
            # Changing the address: each link works once.
            if used is None:
                return fail("INVALID_TOKEN")
            current = await req.optional_session()
            if current is not None and current.user.email != claims["email"]:
                return fail("INVALID_USER")
            if request_type == "change-email-confirmation":
                await ctx.send_verification_email(
                    conn,
                    user,
                    callback,
                    update_to=update_to,
                    request_type="change-email-verification",
                    template="verify_email",
                )
                return Reply(redirect=callback) if callback else Reply({"status": True})
            if await ctx.store.user_by_email(update_to, conn) is not None:
                return fail("USER_ALREADY_EXISTS")
            updated = await ctx.store.update_user(
                conn, user.id, {"email": update_to, "emailVerified": True, "updatedAt": dt.datetime.now(dt.UTC)}
            )
            assert updated is not None
            await ctx.audit(
                conn,
                "email_change",
                req.client,
                user_id=user.id,
                resource_id=user.id,
                old={"email": user.email},
                new={"email": update_to},
            )
            if callback:
                return Reply(redirect=callback)
            return Reply({"status": True, "user": ctx.shapes.user_json(updated)})
        if not user.email_verified:
            # Verifying the address is idempotent: a mail scanner that opened the link first does no harm.
            if used is None and jti is not None:
                return fail("INVALID_TOKEN")
            await ctx.store.update_user(conn, user.id, {"emailVerified": True, "updatedAt": dt.datetime.now(dt.UTC)})
            await ctx.audit(conn, "email_verify", req.client, user_id=user.id, resource_id=user.id)
    if callback:
        return Reply(redirect=callback)
    return Reply({"status": True, "user": None})


async def change_email(req: AuthRequest) -> Reply:
    ctx, body = req.ctx, req.body
    current = await req.session()
    new_email = email(body, "newEmail").lower()
    callback = string(body, "callbackURL", required=False)
    if new_email == current.user.email:
        raise AuthError(400, None, "Email is the same")
    if await ctx.store.user_by_email(new_email) is not None:
        # Taken: answer as if it worked, so the endpoint cannot probe for registered addresses.
        return Reply({"status": True})
    async with ctx.db.transaction() as conn:
        await ctx.audit(
            conn,
            "email_change_request",
            req.client,
            session=current.session,
            resource_id=current.user.id,
            old={"email": current.user.email},
            new={"email": new_email},
        )
        if current.user.email_verified:
            # Confirm from the current address first, then verify the new one.
            await ctx.send_verification_email(
                conn,
                current.user,
                callback,
                update_to=new_email,
                request_type="change-email-confirmation",
                template="change_email",
            )
        else:
            await ctx.send_verification_email(
                conn,
                current.user,
                callback,
                update_to=new_email,
                request_type="change-email-verification",
            )
    return Reply({"status": True})


async def delete_user(req: AuthRequest) -> Reply:
    ctx, body = req.ctx, req.body
    current = await req.session()
    password = string(body, "password", required=False)
    token = string(body, "token", required=False)
    callback = string(body, "callbackURL", required=False)
    if password:
        account = credential_account(await ctx.store.accounts_of(current.user.id))
        if account is None or not account["password"]:
            raise auth_error(400, "CREDENTIAL_ACCOUNT_NOT_FOUND")
        if not await verify_password_async(account["password"], password):
            raise auth_error(400, "INVALID_PASSWORD")
    if token:
        await service.delete_with_token(ctx, req.client, current, token)
        return Reply({"success": True, "message": "User deleted"}, clear_cookies=True)
    # Deletion is confirmed by e-mail: the link proves the mailbox, the session proves the person.
    await service.request_deletion(ctx, current, callback)
    return Reply({"success": True, "message": "Verification email sent"})


async def delete_user_callback(req: AuthRequest) -> Reply:
    current = await req.optional_session()
    if current is None:
        raise auth_error(404, "FAILED_TO_GET_USER_INFO")
    token = req.query.get("token", "")
    await service.delete_with_token(req.ctx, req.client, current, token)
    callback = req.query.get("callbackURL")
    if callback:
        return Reply(redirect=callback, clear_cookies=True)
    return Reply({"success": True, "message": "User deleted"}, clear_cookies=True)


async def list_accounts(req: AuthRequest) -> Reply:
    current = await req.session()
    accounts = await req.ctx.store.accounts_of(current.user.id)
    return Reply(
        [
            {
                "accountId": a["account_id"],
                "providerId": a["provider_id"],
                "userId": a["user_id"],
                "createdAt": iso(a["created_at"]),
                "updatedAt": iso(a["updated_at"]),
                "id": a["id"],
                "scopes": [s for s in (a["scope"] or "").replace(",", " ").split() if s],
            }
            for a in accounts
        ]
    )


ENDPOINTS = (
    Endpoint("POST", service.UPDATE_USER, update_user),
    Endpoint("POST", service.SEND_VERIFICATION_EMAIL, send_verification_email),
    Endpoint("GET", "/verify-email", verify_email),
    Endpoint("POST", "/change-email", change_email),
    Endpoint("POST", service.DELETE_USER, delete_user),
    Endpoint("GET", "/delete-user/callback", delete_user_callback),
    Endpoint("GET", "/list-accounts", list_accounts),
)
