"""Managing a user's passkeys: list, rename, remove (the endpoints and the account page alike).

Only the caller's own passkeys: an unknown id is 404 PASSKEY_NOT_FOUND, someone else's 401 (Better
Auth's ``requireResourceOwnership``). Each change is audited in its transaction.
"""

from __future__ import annotations

from typing import Any

from tenantry.auth.errors import auth_error, validation_error
from tenantry.auth.plugins.passkey.store import Passkey, PasskeyStore
from tenantry.auth.service import AuthContext, ClientInfo, Current

LIST = "/passkey/list-user-passkeys"
UPDATE = "/passkey/update-passkey"
DELETE = "/passkey/delete-passkey"
NAME_LENGTH = 255


def passkey_name(name: str) -> str:
    """A passkey's name as stored (trimmed), or zod's 400 when it is empty or too long."""
    name = name.strip()
    if not name:
        raise validation_error("body.name", "Too small: expected string to have >=1 characters")
    if len(name) > NAME_LENGTH:
        raise validation_error("body.name", f"Too big: expected string to have <={NAME_LENGTH} characters")
    return name


class Passkeys:
    """The passkeys of one app's users."""

    def __init__(self, ctx: AuthContext, store: PasskeyStore) -> None:
        self.ctx = ctx
        self.store = store

    async def of_user(self, current: Current) -> list[dict[str, Any]]:
        """The caller's passkeys as Better Auth shows them."""
        return [p.json() for p in await self.store.of_user(current.user.id)]

    async def _owned(self, current: Current, passkey_id: str, forbidden: str) -> Passkey:
        passkey = await self.store.by_id(passkey_id) if passkey_id else None
        if passkey is None:
            raise auth_error(404, "PASSKEY_NOT_FOUND")
        if str(passkey.user_id) != str(current.user.id):
            raise auth_error(401, forbidden)
        return passkey

    async def rename(self, current: Current, client: ClientInfo, passkey_id: str, name: str) -> dict[str, Any]:
        """Give one of the caller's passkeys a new ``name``; the passkey as Better Auth shows it."""
        name = passkey_name(name)
        passkey = await self._owned(current, passkey_id, "YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY")
        async with self.ctx.db.transaction() as conn:
            updated = await self.store.rename(conn, passkey.id, name)
            if updated is None:  # removed since it was read
                raise auth_error(404, "PASSKEY_NOT_FOUND")
            await self.ctx.audit(
                conn,
                "passkey_update",
                client,
                session=current.session,
                resource_type="passkey",
                resource_id=passkey.id,
                old={"name": passkey.name},
                new={"name": updated.name},
            )
        return updated.json()

    async def delete(self, current: Current, client: ClientInfo, passkey_id: str) -> None:
        """Remove one of the caller's passkeys."""
        passkey = await self._owned(current, passkey_id, "UNAUTHORIZED")
        async with self.ctx.db.transaction() as conn:
            if await self.store.delete(conn, passkey.id, current.user.id):
                await self.ctx.audit(
                    conn,
                    "passkey_delete",
                    client,
                    session=current.session,
                    resource_type="passkey",
                    resource_id=passkey.id,
                    old=passkey.audit_summary(),
                )
