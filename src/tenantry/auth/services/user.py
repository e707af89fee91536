"""The signed-in user's profile, and e-mail verification links."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tenantry.auth.cookies import CookieChanges
from tenantry.auth.crypto import generate_id
from tenantry.auth.errors import AuthError, auth_error
from tenantry.auth.service import AuthContext, ClientInfo, Current, at_least
from tenantry.auth.services.email_password import ENUMERATION_FLOOR
from tenantry.auth.validate import checked_email
from tenantry.db.errors import IntegrityViolation

UPDATE_USER = "/update-user"
SEND_VERIFICATION_EMAIL = "/send-verification-email"
DELETE_USER = "/delete-user"
DELETE_TOKEN_TTL = 60 * 60 * 24
DELETE_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
# The core user fields a user may change on their own (the e-mail address has its own flow).
PROFILE_FIELDS = ("name", "image")


async def update_user(
    ctx: AuthContext,
    client: ClientInfo,
    current: Current,
    profile: Mapping[str, str | None],
    additional: Mapping[str, Any] | None = None,
) -> CookieChanges:
    """Change the caller's ``profile`` (``name``, ``image``: only those given) and ``additional``
    user fields (raw values, validated here), audited; the session cookie is issued again."""
    changes: dict[str, Any] = {k: profile[k] for k in PROFILE_FIELDS if k in profile}
    ctx.check_fits("name", changes.get("name"))
    ctx.check_fits("image", changes.get("image"))
    changes.update(ctx.shapes.additional_input(dict(additional or {})))
    if not changes:
        raise AuthError(400, None, "No fields to update")
    before = {k: current.user.core.get(k, current.user.additional.get(k)) for k in changes}
    after = dict(changes)
    changes["updatedAt"] = dt.datetime.now(dt.UTC)
    async with ctx.db.transaction() as conn:
        await ctx.store.update_user(conn, current.user.id, changes)
        await ctx.audit(
            conn, "user_update", client, session=current.session, resource_id=current.user.id, old=before, new=after
        )
    # Better Auth re-issues the session cookie after a profile change.
    return CookieChanges.new_session(current.session["token"], current.dont_remember)


async def send_verification_email(
    ctx: AuthContext, current: Current | None, *, email: str, callback_url: str | None = None
) -> None:
    """Mail a new verification link (leading to ``callback_url``) to ``email``.

    Without a session: to an unverified registered address, and the same outcome after the same
    time otherwise. With one: the address must be the user's own (400 EMAIL_MISMATCH) and not
    verified yet (400 EMAIL_ALREADY_VERIFIED).
    """
    started = time.monotonic()
    address = checked_email(email).lower()
    if current is None:
        user = await ctx.store.user_by_email(address)
        if user is not None and not user.email_verified:
            async with ctx.db.transaction() as conn:
                await ctx.send_verification_email(conn, user, callback_url)
        # Registered or not, verified or not: the same answer after the same time.
        await at_least(ENUMERATION_FLOOR, started)
        return
    if current.user.email.lower() != address:
        raise auth_error(400, "EMAIL_MISMATCH")
    if current.user.email_verified:
        raise auth_error(400, "EMAIL_ALREADY_VERIFIED")
    async with ctx.db.transaction() as conn:
        await ctx.send_verification_email(conn, current.user, callback_url)


async def request_deletion(
    ctx: AuthContext, current: Current, callback_url: str | None = None, *, confirm_url: str | None = None
) -> None:
    """Mail the caller a link that deletes their account (``delete-user`` without a token): the link
    proves the mailbox, the session proves the person. The link is the API's callback, which deletes
    and leads to ``callback_url``, or ``confirm_url?token=…`` (a page that asks before deleting)."""
    token = generate_id(32, DELETE_ALPHABET)
    if confirm_url is not None:
        url = f"{confirm_url}?token={token}"
    else:
        url = f"{ctx.auth_url}/delete-user/callback?token={token}&callbackURL={quote(callback_url or '/', safe='')}"
    async with ctx.db.transaction() as conn:
        await ctx.store.create_verification(
            conn,
            f"delete-account-{token}",
            str(current.user.id),
            dt.datetime.now(dt.UTC) + dt.timedelta(seconds=DELETE_TOKEN_TTL),
        )
        await ctx.mail(
            conn,
            template="delete_account",
            to=current.user.email,
            url=url,
            user=current.user,
            dedupe_key=f"delete-account:{token}",
        )


async def delete_with_token(ctx: AuthContext, client: ClientInfo, current: Current, token: str) -> None:
    """Delete the caller's account with the token of its e-mailed link, audited (404 INVALID_TOKEN for
    a token that is unknown, expired or another user's; 409 USER_HAS_REFERENCES while records of the
    schema still refer to the account)."""
    user_id = current.user.id
    try:
        async with ctx.db.transaction() as conn:
            consumed = await ctx.store.consume_verification(conn, f"delete-account-{token}")
            if consumed is None or consumed[0] != str(user_id) or consumed[1] < dt.datetime.now(dt.UTC):
                raise auth_error(404, "INVALID_TOKEN")
            await ctx.store.delete_user(conn, user_id)  # sessions and accounts go with it (ON DELETE CASCADE)
            # The log keeps the account's history: it has no foreign key to the user it names.
            await ctx.audit(
                conn,
                "account_delete",
                client,
                session=current.session,
                user_id=user_id,
                resource_id=user_id,
                old={"email": current.user.email, "name": current.user.core.get("name")},
            )
    except IntegrityViolation:
        raise AuthError(
            409, "USER_HAS_REFERENCES", "This account still owns records; transfer or delete them first"
        ) from None
