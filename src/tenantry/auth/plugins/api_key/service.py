"""What can be done with keys, for the endpoints and the account page alike: create (the key is
shown once), read, update, delete and list a user's own keys, each write audited in its
transaction. Another user's key is never found (404), as in Better Auth.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from tenantry.auth.crypto import generate_id
from tenantry.auth.plugins.api_key.errors import key_error
from tenantry.auth.plugins.api_key.keys import hash_key, new_key, start_of
from tenantry.auth.plugins.api_key.scopes import Scopes, dump_scopes
from tenantry.auth.plugins.api_key.settings import ApiKeySettings
from tenantry.auth.plugins.api_key.store import ApiKey, ApiKeyStore
from tenantry.auth.service import ClientInfo, Current
from tenantry.db.codecs import utc_now
from tenantry.tenancy import Tenancy

if TYPE_CHECKING:
    from tenantry.auth import Authentication
    from tenantry.core import App

CREATE = "/api-key/create"
LIST = "/api-key/list"
DELETE = "/api-key/delete"

NAME_LENGTH = (1, 32)  # Better Auth's minimumNameLength / maximumNameLength
PREFIX_LENGTH = (1, 32)
DAY = 60 * 60 * 24
UNSET: Any = object()


@dataclass
class NewKey:
    """What creating a key sets; the server-only fields (limits, quota) come from settings unless given."""

    name: str | None = None
    prefix: str | None = None
    expires_in: float | None = None  # seconds
    scopes: Scopes | None = None
    metadata: Any = None
    organization_id: str | None = None
    remaining: int | None = None
    refill_amount: int | None = None
    refill_interval: int | None = None
    rate_limit_enabled: bool | None = None
    rate_limit_time_window: int | None = None
    rate_limit_max: int | None = None


class ApiKeys:
    """A user's keys."""

    def __init__(self, app: App, auth: Authentication, store: ApiKeyStore, settings: ApiKeySettings) -> None:
        self.app = app
        self.auth = auth
        self.ctx = auth.ctx
        self.store = store
        self.settings = settings

    @property
    def entities(self) -> Iterable[str]:
        """What scopes may name: the schema's entities."""
        return self.app.schema.entities.keys()

    @property
    def has_organizations(self) -> bool:
        return self.store.t.members is not None

    # -- checks shared with the pages ---------------------------------------------------------

    def check_name(self, name: str | None) -> None:
        if name and not NAME_LENGTH[0] <= len(name) <= NAME_LENGTH[1]:
            raise key_error(400, "INVALID_NAME_LENGTH")

    def check_prefix(self, prefix: str | None) -> None:
        if prefix and not PREFIX_LENGTH[0] <= len(prefix) <= PREFIX_LENGTH[1]:
            raise key_error(400, "INVALID_PREFIX_LENGTH")

    def check_expires_in(self, seconds: float | None) -> None:
        if not seconds:
            return
        days = seconds / DAY
        if days < self.settings.min_expires_in_days:
            raise key_error(400, "EXPIRES_IN_IS_TOO_SMALL")
        if days > self.settings.max_expires_in_days:
            raise key_error(400, "EXPIRES_IN_IS_TOO_LARGE")

    def check_metadata(self, metadata: Any) -> None:
        if metadata:
            if not self.settings.enable_metadata:
                raise key_error(400, "METADATA_DISABLED")
            if not isinstance(metadata, dict | list):
                raise key_error(400, "INVALID_METADATA_TYPE")

    async def role_in(self, organization_id: str, user_id: Any) -> str | None:
        """The user's role in the organization now, or None when not a member (or no such id)."""
        tenancy = self.app.find(Tenancy)
        if tenancy is None:
            return None
        try:
            roles = await tenancy.members.roles_in(organization_id, [user_id])
        except (ValueError, TypeError):  # not an id of the organizations' type
            return None
        return roles.get(str(user_id))

    async def organizations(self, user_id: Any) -> list[dict[str, Any]]:
        """The user's organizations (id, name), for choosing where a key acts."""
        tenancy = self.app.find(Tenancy)
        if tenancy is None:
            return []
        return await tenancy.organizations.store.organizations_of(None, user_id)

    # -- operations ---------------------------------------------------------------------------

    async def create(self, user_id: Any, new: NewKey, client: ClientInfo) -> tuple[ApiKey, str]:
        """A new key for ``user_id``: its row and the key itself (never stored, shown once)."""
        self.check_name(new.name)
        self.check_prefix(new.prefix)
        self.check_expires_in(new.expires_in)
        self.check_metadata(new.metadata)
        if new.refill_amount and not new.refill_interval:
            raise key_error(400, "REFILL_AMOUNT_AND_INTERVAL_REQUIRED")
        if new.refill_interval and not new.refill_amount:
            raise key_error(400, "REFILL_INTERVAL_AND_AMOUNT_REQUIRED")
        organization_id = new.organization_id if self.has_organizations else None
        if organization_id is not None and await self.role_in(organization_id, user_id) is None:
            raise key_error(403, "USER_NOT_MEMBER_OF_ORGANIZATION")
        prefix = new.prefix or self.settings.default_prefix
        raw = new_key(prefix)
        now = utc_now()
        values: dict[str, Any] = {
            "id": generate_id(),
            "config_id": "default",
            "name": new.name,
            "start": start_of(raw),
            "reference_id": user_id,
            "prefix": prefix,
            "key": hash_key(raw),
            "refill_interval": new.refill_interval,
            "refill_amount": new.refill_amount,
            "enabled": True,
            "rate_limit_enabled": True if new.rate_limit_enabled is None else new.rate_limit_enabled,
            "rate_limit_time_window": new.rate_limit_time_window or self.settings.rate_limit_window * 1000,
            "rate_limit_max": new.rate_limit_max or self.settings.rate_limit_max,
            "request_count": 0,
            "remaining": new.remaining if new.remaining is not None else new.refill_amount,
            "expires_at": now + dt.timedelta(seconds=new.expires_in) if new.expires_in else None,
            "created_at": now,
            "updated_at": now,
            "permissions": dump_scopes(new.scopes),
            "metadata": orjson.dumps(new.metadata).decode() if new.metadata else None,
            "organization_id": organization_id,
        }
        async with self.ctx.db.transaction() as conn:
            # Better Auth sweeps expired keys when keys are created; here, the user's own.
            await self.store.delete_expired(conn, user_id, now)
            key = await self.store.create(conn, values)
            await self.ctx.audit(
                conn,
                "api_key_create",
                client,
                user_id=user_id,
                org_id=organization_id,
                resource_type="api_key",
                resource_id=key.id,
                new=_summary(key),
            )
        return key, raw

    async def owned(self, user_id: Any, key_id: str) -> ApiKey:
        """The user's key ``key_id``, or 404 KEY_NOT_FOUND (also for another user's key)."""
        key = await self.store.by_id(key_id) if key_id else None
        if key is None or str(key.reference_id) != str(user_id):
            raise key_error(404, "KEY_NOT_FOUND")
        return key

    async def update(self, user_id: Any, key_id: str, changes: dict[str, Any], client: ClientInfo) -> ApiKey:
        """Apply ``changes`` (by column key) to the user's key, or 400 NO_VALUES_TO_UPDATE."""
        key = await self.owned(user_id, key_id)
        if not changes:
            raise key_error(400, "NO_VALUES_TO_UPDATE")
        async with self.ctx.db.transaction() as conn:
            updated = await self.store.update(conn, key.id, changes)
            if updated is None:  # deleted in the meantime
                raise key_error(404, "KEY_NOT_FOUND")
            before, after = _summary(key), _summary(updated)
            changed = [k for k in after if before.get(k) != after.get(k)]
            await self.ctx.audit(
                conn,
                "api_key_update",
                client,
                user_id=user_id,
                org_id=updated.organization_id,
                resource_type="api_key",
                resource_id=key.id,
                old={k: before.get(k) for k in changed},
                new={k: after.get(k) for k in changed},
            )
        return updated

    async def delete(self, user_id: Any, key_id: str, client: ClientInfo) -> None:
        """Revoke the user's key: it stops working on the next request, on every process."""
        key = await self.owned(user_id, key_id)
        async with self.ctx.db.transaction() as conn:
            if not await self.store.delete(conn, key.id):
                raise key_error(404, "KEY_NOT_FOUND")
            await self.ctx.audit(
                conn,
                "api_key_delete",
                client,
                user_id=user_id,
                org_id=key.organization_id,
                resource_type="api_key",
                resource_id=key.id,
                old=_summary(key),
            )

    async def of_user(
        self, user_id: Any, *, organization_id: str | None = None, sort: str | None = None, descending: bool = False
    ) -> list[ApiKey]:
        """The user's keys (only those acting in ``organization_id`` when given), sorted by a field."""
        return await self.store.of_user(user_id, organization_id=organization_id, sort=sort, descending=descending)

    async def revoke(self, current: Current, key_id: str, client: ClientInfo) -> None:
        """``delete`` for the caller's session: a banned user's sessions revoke nothing (401 USER_BANNED)."""
        if current.user.plugin.get("banned") is True:
            raise key_error(401, "USER_BANNED")
        await self.delete(current.user.id, key_id, client)

    async def delete_expired(self, user_id: Any) -> int:
        async with self.ctx.db.transaction() as conn:
            return await self.store.delete_expired(conn, user_id, utc_now())


def _summary(key: ApiKey) -> dict[str, Any]:
    """What the audit log keeps of a key (never its hash)."""
    return {
        "name": key.name,
        "start": key.start,
        "organizationId": key.organization_id,
        "permissions": key.scopes,
        "enabled": key.enabled,
        "expiresAt": key.expires_at,
    }
