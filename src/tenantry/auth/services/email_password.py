"""Sign-up and sign-in with e-mail and password, password change and password reset."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from tenantry.auth.cookies import CookieChanges
from tenantry.auth.crypto import generate_id
from tenantry.auth.errors import auth_error
from tenantry.auth.passwords import hash_password_async, needs_rehash, verify_password_async
from tenantry.auth.plugin import SecondStep
from tenantry.auth.service import AuthContext, ClientInfo, Current, at_least
from tenantry.auth.store import UserRecord, new_user_core
from tenantry.auth.validate import checked_email, is_email
from tenantry.core.metrics import SIGN_IN_FAILURES
from tenantry.db.errors import IntegrityViolation

SIGN_UP = "/sign-up/email"
SIGN_IN = "/sign-in/email"
# Paths, not secrets.
CHANGE_PASSWORD = "/change-password"  # noqa: S105
REQUEST_PASSWORD_RESET = "/request-password-reset"  # noqa: S105
RESET_PASSWORD = "/reset-password"  # noqa: S105

CREDENTIAL = "credential"
RESET_TOKEN_LENGTH = 24
# Answers that must not reveal whether an address is registered take at least this long.
ENUMERATION_FLOOR = 0.5


def credential_account(accounts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The e-mail/password account among a user's accounts."""
    return next((a for a in accounts if a["provider_id"] == CREDENTIAL), None)


@dataclass
class SignedUp:
    """A sign-up: the user as Better Auth shows it (a made-up one when the address is taken and
    that must not show), and the session's token when the user is signed in at once."""

    user: dict[str, Any]
    token: str | None = None
    cookies: CookieChanges = field(default_factory=CookieChanges)


@dataclass
class SignedIn:
    """A password sign-in: the session's token, or (token None) the second step a plugin asks for."""

    user: UserRecord
    token: str | None
    cookies: CookieChanges
    second_step: SecondStep | None = None


@dataclass
class PasswordChanged:
    """A changed password; with the other sessions revoked, the new session replacing the caller's."""

    user: dict[str, Any]
    token: str | None = None
    cookies: CookieChanges = field(default_factory=CookieChanges)


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


async def sign_up(
    ctx: AuthContext,
    client: ClientInfo,
    *,
    name: str,
    email: str,
    password: str,
    image: str | None = None,
    callback_url: str | None = None,
    remember: bool | None = None,
    fields: Mapping[str, Any] | None = None,
) -> SignedUp:
    """A new user with a password; signed in at once unless the address must be verified first.

    ``fields`` are the request's other members: additional user fields, and what the sign-up hook
    reads (organizations: ``organizationName`` or ``invitationId``). ``remember`` False keeps the
    session for the browser session only.
    """
    address = checked_email(email).lower()
    if not password:
        raise auth_error(400, "INVALID_PASSWORD")
    ctx.check_password_length(password)
    ctx.check_fits("name", name)
    ctx.check_fits("email", address)
    ctx.check_fits("image", image)
    given = dict(fields or {})
    additional = ctx.shapes.additional_input(given)
    hidden_duplicates = ctx.auth.require_email_verification or not ctx.auth.auto_sign_in
    # Hash first, always: the same work for new and existing addresses, outside the transaction.
    hashed = await hash_password_async(password)
    if await ctx.store.user_by_email(address) is not None:
        if hidden_duplicates:
            return SignedUp(_synthetic_user(ctx, name, address, image, additional))
        raise auth_error(422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL")
    session = None
    try:
        async with ctx.db.transaction() as conn:
            user = await ctx.store.create_user(
                conn, new_user_core(name, address, verified=False, image=image), additional
            )
            await ctx.store.create_account(conn, user.id, CREDENTIAL, str(user.id), password=hashed)
            await ctx.audit(
                conn, "sign_up", client, user_id=user.id, resource_id=user.id, new={"email": address, "name": name}
            )
            if ctx.on_sign_up is not None:
                # Organizations: found one (organizationName) or join one (invitationId), all or nothing.
                user = await ctx.on_sign_up(conn, user, given)
            # An address proven by the invitation it signed up with needs no verification mail.
            needs_verification = ctx.auth.require_email_verification and not user.email_verified
            if needs_verification:
                await ctx.send_verification_email(conn, user, callback_url)
            if ctx.auth.auto_sign_in and not needs_verification:
                session = await ctx.create_session(conn, user.id, client, dont_remember=remember is False)
    except IntegrityViolation:
        # Lost a race with a concurrent sign-up for the same address.
        if hidden_duplicates:
            return SignedUp(_synthetic_user(ctx, name, address, image, additional))
        raise auth_error(422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL") from None
    user_json = ctx.shapes.user_json(user)
    if session is None:
        return SignedUp(user_json)
    token = session["token"]
    return SignedUp(user_json, token, CookieChanges.new_session(token, remember is False))


async def sign_in(
    ctx: AuthContext,
    client: ClientInfo,
    *,
    email: str,
    password: str,
    remember: bool | None = None,
    callback_url: str | None = None,
) -> SignedIn:
    """A session for the right password, unless a plugin asks for a second step first.

    A wrong one is audited and answered 401 INVALID_EMAIL_OR_PASSWORD, in the same time whether
    or not the address is registered. An unverified address is refused (403 EMAIL_NOT_VERIFIED)
    and, when configured, sent a new verification link leading to ``callback_url``.
    """
    if not is_email(email):
        raise auth_error(400, "INVALID_EMAIL")
    user = await ctx.store.user_by_email(email.lower())
    account = credential_account(await ctx.store.accounts_of(user.id)) if user else None
    stored = account["password"] if account else None
    # With no user or no password, verify against a dummy hash: same time, same answer.
    if not await verify_password_async(stored, password) or user is None or account is None:
        # Recorded although the request fails: its own transaction (known address or not, the same work).
        failed = {"email": email.lower(), "reason": "INVALID_EMAIL_OR_PASSWORD"}
        user_id = user.id if user is not None else None
        await ctx.audit_alone("sign_in_failed", client, user_id=user_id, resource_id=user_id, new=failed)
        SIGN_IN_FAILURES.labels(method="email", reason="INVALID_EMAIL_OR_PASSWORD").inc()
        raise auth_error(401, "INVALID_EMAIL_OR_PASSWORD")
    if ctx.auth.require_email_verification and not user.email_verified:
        unverified = {"email": user.email, "reason": "EMAIL_NOT_VERIFIED"}
        await ctx.audit_alone("sign_in_failed", client, user_id=user.id, resource_id=user.id, new=unverified)
        SIGN_IN_FAILURES.labels(method="email", reason="EMAIL_NOT_VERIFIED").inc()
        if ctx.auth.send_verification_on_sign_in:
            async with ctx.db.transaction() as conn:
                await ctx.send_verification_email(conn, user, callback_url)
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
        pending = await second_factor(client, user, remember is False)
        if pending is not None:
            return SignedIn(user, None, CookieChanges(others=list(pending.cookies)), pending)
    async with ctx.db.transaction() as conn:
        session = await ctx.sign_in(conn, user.id, client, method="email", dont_remember=remember is False)
    token = session["token"]
    return SignedIn(user, token, CookieChanges.new_session(token, remember is False))


async def change_password(
    ctx: AuthContext,
    client: ClientInfo,
    current: Current,
    *,
    current_password: str,
    new_password: str,
    revoke_others: bool = False,
) -> PasswordChanged:
    """Replace the caller's password (400 INVALID_PASSWORD unless ``current_password`` is right);
    ``revoke_others`` ends every session and opens a new one for the caller."""
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
        if revoke_others:
            await ctx.store.delete_sessions_of(conn, current.user.id)
            session = await ctx.create_session(conn, current.user.id, client)
        await ctx.audit(
            conn,
            "password_change",
            client,
            session=current.session,
            resource_id=current.user.id,
            new={"revoked_other_sessions": revoke_others},
        )
    user_json = ctx.shapes.user_json(current.user)
    if session is None:
        return PasswordChanged(user_json)
    return PasswordChanged(user_json, session["token"], CookieChanges.new_session(session["token"]))


async def request_password_reset(ctx: AuthContext, *, email: str, redirect_to: str | None = None) -> None:
    """Mail a one-time reset link (to the app's page ``redirect_to``) if the address is registered;
    the same outcome, in about the same time, when it is not."""
    started = time.monotonic()
    address = checked_email(email).lower()
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
    await at_least(ENUMERATION_FLOOR, started)


async def reset_password(ctx: AuthContext, client: ClientInfo, *, token: str, new_password: str) -> None:
    """Set a new password with an e-mailed reset token (used up; 400 INVALID_TOKEN when it is not
    valid), ending every session of the user when configured."""
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
            client,
            user_id=user_id,
            resource_id=user_id,
            new={"revoked_sessions": ctx.auth.revoke_sessions_on_password_reset},
        )
