"""Sign-up and sign-in with e-mail and password, password change and password reset.

The handlers read the body as Better Auth's schemas do and call ``services.email_password``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote, urljoin

from tenantry.auth.errors import auth_error
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.services import email_password as service
from tenantry.auth.validate import boolean, email, string


async def sign_up_email(req: AuthRequest) -> Reply:
    body = req.body
    name = string(body, "name")
    address = email(body).lower()
    password = string(body, "password")
    image = string(body, "image", required=False)
    callback = string(body, "callbackURL", required=False)
    remember = boolean(body, "rememberMe")
    assert name is not None and password is not None
    signed_up = await service.sign_up(
        req.ctx,
        req.client,
        name=name,
        email=address,
        password=password,
        image=image,
        callback_url=callback,
        remember=remember,
        fields=body,
    )
    return Reply.of({"token": signed_up.token, "user": signed_up.user}, signed_up.cookies)


async def sign_in_email(req: AuthRequest) -> Reply:
    ctx, body = req.ctx, req.body
    address = string(body, "email")
    password = string(body, "password")
    callback = string(body, "callbackURL", required=False)
    remember = boolean(body, "rememberMe")
    assert address is not None and password is not None
    signed_in = await service.sign_in(
        ctx, req.client, email=address, password=password, remember=remember, callback_url=callback
    )
    if signed_in.second_step is not None:
        return Reply.of(signed_in.second_step.body, signed_in.cookies)
    reply_body: dict[str, Any] = {"redirect": bool(callback), "token": signed_in.token}
    if callback:
        reply_body["url"] = callback
    reply_body["user"] = ctx.shapes.user_json(signed_in.user)
    headers = {"location": callback} if callback else {}
    return Reply.of(reply_body, signed_in.cookies, headers=headers)


async def change_password(req: AuthRequest) -> Reply:
    body = req.body
    current = await req.session()
    new_password = string(body, "newPassword")
    current_password = string(body, "currentPassword")
    revoke = boolean(body, "revokeOtherSessions")
    assert new_password is not None and current_password is not None
    changed = await service.change_password(
        req.ctx,
        req.client,
        current,
        current_password=current_password,
        new_password=new_password,
        revoke_others=bool(revoke),
    )
    return Reply.of({"token": changed.token, "user": changed.user}, changed.cookies)


async def request_password_reset(req: AuthRequest) -> Reply:
    address = email(req.body).lower()
    redirect_to = string(req.body, "redirectTo", required=False)
    await service.request_password_reset(req.ctx, email=address, redirect_to=redirect_to)
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
    body = req.body
    new_password = string(body, "newPassword")
    assert new_password is not None
    token = body.get("token") if isinstance(body.get("token"), str) else req.query.get("token")
    await service.reset_password(req.ctx, req.client, token=token or "", new_password=new_password)
    return Reply({"status": True})


ENDPOINTS = (
    Endpoint("POST", service.SIGN_UP, sign_up_email),
    Endpoint("POST", service.SIGN_IN, sign_in_email),
    Endpoint("POST", service.CHANGE_PASSWORD, change_password),
    Endpoint("POST", service.REQUEST_PASSWORD_RESET, request_password_reset),
    # Better Auth before 1.4 called it forget-password; older clients still send that.
    Endpoint("POST", "/forget-password", request_password_reset),
    Endpoint("GET", "/reset-password/{token}", reset_password_link),
    Endpoint("POST", service.RESET_PASSWORD, reset_password),
)
