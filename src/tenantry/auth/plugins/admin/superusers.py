"""Making, listing and demoting superusers outside any request (the ``tenantry admin`` commands)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tenantry.auth.passwords import hash_password_async
from tenantry.auth.plugins.admin.access import DEFAULT_ROLE, is_admin
from tenantry.auth.plugins.admin.common import platform_role
from tenantry.auth.plugins.admin.fields import role_name
from tenantry.auth.plugins.admin.queries import AdminQueries, UserQuery
from tenantry.auth.service import AuthContext
from tenantry.auth.services.email_password import CREDENTIAL, credential_account
from tenantry.auth.store import UserRecord, new_user_core
from tenantry.auth.validate import is_email


class SuperuserError(ValueError):
    """A request the commands refuse, with a message for the terminal."""


@dataclass(frozen=True)
class Outcome:
    user: UserRecord
    created: bool
    password_set: bool


async def make_superuser(ctx: AuthContext, email: str, password: str | None, name: str | None) -> Outcome:
    """Create ``email`` as a verified superuser, or promote the existing user (and set the password
    when one is given), in one transaction with its audit row."""
    address = email.strip().lower()
    if not is_email(address):
        raise SuperuserError(f"{email!r} is not an e-mail address")
    if password is not None:
        if len(password) < ctx.auth.min_password_length:
            raise SuperuserError(f"the password needs at least {ctx.auth.min_password_length} characters")
        if len(password) > ctx.auth.max_password_length:
            raise SuperuserError(f"the password may have at most {ctx.auth.max_password_length} characters")
    hashed = await hash_password_async(password) if password else None
    now = dt.datetime.now(dt.UTC)
    async with ctx.db.transaction() as conn:
        user = await ctx.store.user_by_email(address, conn)
        created = user is None
        if user is None:
            if hashed is None:
                raise SuperuserError("a new user needs a password")
            core = new_user_core(name or address.split("@", 1)[0], address, verified=True, at=now)
            user = await ctx.store.create_user(conn, core, {})
        before = platform_role(ctx, user)
        promoted = await ctx.store.update_user(conn, user.id, {role_name(ctx.tables): "admin", "updatedAt": now})
        assert promoted is not None
        if hashed is not None:
            account = credential_account(await ctx.store.accounts_of(user.id, conn))
            if account is not None:
                await ctx.store.update_account(conn, account["id"], password=hashed)
            else:
                await ctx.store.create_account(conn, user.id, CREDENTIAL, str(user.id), password=hashed)
        await ctx.audit(
            conn,
            "admin_set_role",
            None,
            user_id=None,
            resource_id=user.id,
            old={"role": before},
            new={"role": "admin", "by": "command line", "created": created},
        )
    return Outcome(user=promoted, created=created, password_set=hashed is not None)


async def superusers(ctx: AuthContext) -> list[UserRecord]:
    """Every user whose platform role makes them a superuser, oldest first."""
    users, _ = await AdminQueries(ctx).list_users(
        UserQuery(filter_field="role", filter_value="admin", filter_operator="contains", sort_by="createdAt")
    )
    return [u for u in users if is_admin(platform_role(ctx, u))]


async def demote(ctx: AuthContext, email: str) -> UserRecord:
    """Make a superuser an ordinary user again (their sessions stay; their admin rights end at once)."""
    async with ctx.db.transaction() as conn:
        user = await ctx.store.user_by_email(email.strip().lower(), conn)
        if user is None:
            raise SuperuserError(f"no user with the e-mail address {email}")
        before = platform_role(ctx, user)
        if not is_admin(before):
            raise SuperuserError(f"{user.email} is not a superuser")
        now = dt.datetime.now(dt.UTC)
        demoted = await ctx.store.update_user(conn, user.id, {role_name(ctx.tables): DEFAULT_ROLE, "updatedAt": now})
        assert demoted is not None
        await ctx.audit(
            conn,
            "admin_set_role",
            None,
            resource_id=user.id,
            old={"role": before},
            new={"role": DEFAULT_ROLE, "by": "command line"},
        )
    return demoted
