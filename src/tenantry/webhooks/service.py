"""Managing an organization's endpoints: who may, what is valid, and the audit row of every change.

Only the organization's top role (``admin`` in the seed) manages endpoints: members get 403, and
an endpoint of another organization is a 404, exactly as a row of another organization is. Every
statement names the organization, and on PostgreSQL row-level security (the request acts as its
user) is the second wall. Each change is written with its audit row in one transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from tenantry.context import RequestContext
from tenantry.db import Connection
from tenantry.db.codecs import format_timestamp
from tenantry.db.ids import uuid7
from tenantry.errors import forbidden
from tenantry.webhooks import errors
from tenantry.webhooks.addresses import AddressRefused, check, parse_url
from tenantry.webhooks.catalogue import Catalogue
from tenantry.webhooks.fanout import is_message_id
from tenantry.webhooks.records import Endpoint, Message
from tenantry.webhooks.signing import new_secret
from tenantry.webhooks.store import WebhookStore
from tenantry.webhooks.tables import DESCRIPTION_LENGTH, URL_LENGTH

if TYPE_CHECKING:
    from tenantry.audit import Audit
    from tenantry.core import App
    from tenantry.webhooks.settings import WebhookSettings

RESOURCE: Final = "webhook_endpoints"
FIELDS: Final = frozenset({"url", "description", "event_types", "enabled"})


class EndpointService:
    """The endpoint operations the API and the settings page call."""

    def __init__(
        self, app: App, store: WebhookStore, catalogue: Catalogue, settings: WebhookSettings, audit: Audit | None
    ) -> None:
        self.app = app
        self.store = store
        self.catalogue = catalogue
        self.settings = settings
        self.audit = audit
        self.top_role = app.schema.roles[0]
        self.https_only = not app.settings.is_development

    # -- who asks -------------------------------------------------------------------------------------

    def admin_org(self, ctx: RequestContext) -> str:
        """The organization ``ctx`` manages webhooks of; 401/403 otherwise."""
        p = ctx.principal
        if p.kind != "user" or p.user_id is None:
            raise errors.sign_in_first()
        if not p.org_id or not p.role:
            raise errors.no_active_organization()
        if p.role != self.top_role:
            raise errors.admins_only(self.top_role)
        if p.scopes is not None:
            # An API key narrowed to some entities never reaches the webhooks (no scope names them).
            raise forbidden("This API key may not manage webhooks", "API_KEY_SCOPE_DENIED")
        return p.org_id

    # -- validation -----------------------------------------------------------------------------------

    async def _url(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise errors.invalid("url", "is required", "REQUIRED")
        if len(value) > URL_LENGTH:
            raise errors.invalid("url", f"must be at most {URL_LENGTH} characters", "TOO_LONG")
        try:
            url = parse_url(value, https_only=self.https_only)
            await check(url, allow_private=self.settings.allow_private)
        except AddressRefused as exc:
            raise errors.invalid("url", str(exc), exc.code) from None
        return str(url)

    def _description(self, value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise errors.invalid("description", "must be a string", "INVALID_TYPE")
        if len(value) > DESCRIPTION_LENGTH:
            raise errors.invalid("description", f"must be at most {DESCRIPTION_LENGTH} characters", "TOO_LONG")
        if "\x00" in value:
            raise errors.invalid("description", "must not contain NUL characters", "INVALID_CHARACTERS")
        return value

    def _event_types(self, value: Any) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise errors.invalid(
                "event_types", "must be a non-empty list of event types, or null for all", "INVALID_TYPE"
            )
        unknown = [v for v in value if v not in self.catalogue]
        if unknown:
            raise errors.invalid(
                "event_types",
                f"unknown event type(s): {', '.join(unknown[:5])} (see /api/webhooks/event-types)",
                "UNKNOWN_EVENT_TYPE",
            )
        return tuple(dict.fromkeys(value))

    @staticmethod
    def _enabled(value: Any) -> bool:
        if not isinstance(value, bool):
            raise errors.invalid("enabled", "must be true or false", "INVALID_TYPE")
        return value

    @staticmethod
    def _object(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.invalid("", "the body must be a JSON object", "INVALID_TYPE")
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            raise errors.invalid(
                unknown[0], f"is not a field of an endpoint ({', '.join(sorted(FIELDS))})", "UNKNOWN_FIELD"
            )
        return body

    # -- operations -----------------------------------------------------------------------------------

    async def list(self, ctx: RequestContext) -> list[Endpoint]:
        org_id = self.admin_org(ctx)
        return await self.store.endpoints(None, org_id)

    async def get(self, ctx: RequestContext, endpoint_id: str) -> Endpoint:
        org_id = self.admin_org(ctx)
        return await self._found(org_id, endpoint_id)

    async def _found(
        self, org_id: str, endpoint_id: str, conn: Connection | None = None, *, lock: bool = False
    ) -> Endpoint:
        try:
            key = str(uuid.UUID(endpoint_id))
        except ValueError:
            raise errors.endpoint_not_found() from None
        endpoint = await self.store.endpoint(conn, key, org_id, lock=lock)
        if endpoint is None:
            raise errors.endpoint_not_found()
        return endpoint

    async def create(self, ctx: RequestContext, body: Any) -> Endpoint:
        """A new endpoint with a fresh secret (the caller shows it once, in the answer)."""
        org_id = self.admin_org(ctx)
        body = self._object(body)
        url = await self._url(body.get("url"))
        now = self.app.clock()
        endpoint = Endpoint(
            id=str(uuid7()),
            org_id=org_id,
            url=url,
            description=self._description(body.get("description")),
            event_types=self._event_types(body.get("event_types")),
            enabled=self._enabled(body.get("enabled", True)),
            disabled_reason=None,
            secret=new_secret(),
            previous_secret=None,
            previous_secret_until=None,
            failing_since=None,
            created_at=now,
            updated_at=now,
        )
        async with self.app.db.transaction() as conn:
            await self.store.insert_endpoint(conn, endpoint)
            await self.audit_action(conn, ctx, "create", endpoint.id, org_id, new=endpoint.audited())
        return endpoint

    async def update(self, ctx: RequestContext, endpoint_id: str, body: Any) -> Endpoint:
        """Change the fields given; turning an endpoint on again clears why it was off and its failure streak."""
        org_id = self.admin_org(ctx)
        body = self._object(body)
        changes: dict[str, Any] = {}
        if "url" in body:
            changes["url"] = await self._url(body["url"])
        if "description" in body:
            changes["description"] = self._description(body["description"])
        if "event_types" in body:
            changes["event_types"] = self._event_types(body["event_types"])
        if "enabled" in body:
            changes["enabled"] = self._enabled(body["enabled"])
        async with self.app.db.transaction() as conn:
            current = await self._found(org_id, endpoint_id, conn, lock=True)
            if changes.get("enabled") and not current.enabled:
                changes |= {"disabled_reason": None, "failing_since": None}
            elif changes.get("enabled") is False and current.enabled:
                changes["disabled_reason"] = "manual"
            updated = replace(current, **changes, updated_at=self.app.clock())
            await self.store.update_endpoint(conn, updated)
            old, new = _changed(current.audited(), updated.audited())
            if new:
                await self.audit_action(conn, ctx, "update", current.id, org_id, old=old, new=new)
        return updated

    async def delete(self, ctx: RequestContext, endpoint_id: str) -> None:
        org_id = self.admin_org(ctx)
        async with self.app.db.transaction() as conn:
            current = await self._found(org_id, endpoint_id, conn, lock=True)
            await self.store.delete_endpoint(conn, current.id, org_id)
            await self.audit_action(conn, ctx, "delete", current.id, org_id, old=current.audited())

    async def secret(self, ctx: RequestContext, endpoint_id: str) -> dict[str, Any]:
        """The signing secret(s), for the admin configuring the receiver; the reading is audited."""
        org_id = self.admin_org(ctx)
        async with self.app.db.transaction() as conn:
            endpoint = await self._found(org_id, endpoint_id, conn)
            await self.audit_action(conn, ctx, "webhook_secret_read", endpoint.id, org_id)
        return _secrets_json(endpoint, self.app.clock())

    async def rotate(self, ctx: RequestContext, endpoint_id: str) -> dict[str, Any]:
        """A new secret; the current one keeps signing beside it for the grace period."""
        org_id = self.admin_org(ctx)
        now = self.app.clock()
        grace = dt.timedelta(hours=self.settings.rotation_grace_hours)
        async with self.app.db.transaction() as conn:
            current = await self._found(org_id, endpoint_id, conn, lock=True)
            rotated = replace(
                current,
                secret=new_secret(),
                previous_secret=current.secret if grace else None,
                previous_secret_until=now + grace if grace else None,
                updated_at=now,
            )
            await self.store.set_secrets(conn, rotated)
            await self.audit_action(conn, ctx, "webhook_secret_rotate", current.id, org_id)
        return _secrets_json(rotated, now)

    async def message(self, ctx: RequestContext, endpoint_id: str, message_id: str) -> tuple[Endpoint, Message]:
        org_id = self.admin_org(ctx)
        endpoint = await self._found(org_id, endpoint_id)
        found = await self.store.message(None, message_id, endpoint.id) if is_message_id(message_id) else None
        if found is None:
            raise errors.message_not_found()
        return endpoint, found

    async def audit_action(
        self,
        conn: Connection,
        ctx: RequestContext,
        action: str,
        endpoint_id: str,
        org_id: str,
        *,
        old: dict[str, Any] | None = None,
        new: dict[str, Any] | None = None,
    ) -> None:
        """The audit row of an action on an endpoint, on ``conn`` (in the action's transaction)."""
        if self.audit is None:
            return
        await self.audit.record(
            conn,
            action=action,
            resource_type=RESOURCE,
            user_id=ctx.principal.user_id,
            org_id=org_id,
            resource_id=endpoint_id,
            old=old,
            new=new,
            ip=ctx.ip_address,
            user_agent=ctx.user_agent,
        )


def _changed(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in new if old.get(k) != new.get(k)]
    return {k: old.get(k) for k in keys}, {k: new[k] for k in keys}


def _secrets_json(endpoint: Endpoint, now: dt.datetime) -> dict[str, Any]:
    in_grace = len(endpoint.signing_secrets(now)) > 1
    return {
        "id": endpoint.id,
        "secret": endpoint.secret,
        "previous_secret": endpoint.previous_secret if in_grace else None,
        "previous_secret_expires_at": (
            format_timestamp(endpoint.previous_secret_until)
            if in_grace and endpoint.previous_secret_until is not None
            else None
        ),
    }
