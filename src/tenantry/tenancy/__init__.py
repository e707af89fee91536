"""Organizations, memberships, roles and the tenant boundary.

Public face: ``Tenancy``, the capability of an app whose schema has an organizations entity. It
is an authentication plugin, as Better Auth's organization plugin is: ``/api/auth/organization/*``
and sign-up with an organization, its tables (memberships, invitations, the session's active
organization), and in the pipeline the role policy, the tenant scope, the membership bookkeeping
and the user's view of their organization.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tenantry.auth import Authentication, AuthPlugin, AuthTables
from tenantry.context import RequestContext
from tenantry.core import App, Capabilities, OpenApiPart
from tenantry.db import Connection
from tenantry.db.compiler import Through
from tenantry.db.query import And, Condition, InSelect, Node, Or
from tenantry.errors import bad_request
from tenantry.pipeline import WriteEvent
from tenantry.schema import Entity
from tenantry.tenancy import endpoints
from tenantry.tenancy.access import Kinds, RolePolicy, TenantScope
from tenantry.tenancy.errors import ORGANIZATION_ERROR_CODES
from tenantry.tenancy.members import MemberStore
from tenantry.tenancy.openapi import organization_part
from tenantry.tenancy.service import OrganizationService
from tenantry.tenancy.tables import TenancyTables, tenancy_tables

if TYPE_CHECKING:
    from tenantry.auth.router import Endpoint
    from tenantry.db.tables import TableSet
    from tenantry.schema import Schema

__all__ = ["OrganizationService", "Tenancy", "TenancyTables", "tenancy_tables"]


class Tenancy(AuthPlugin):
    """The organizations of one app: Better Auth's organization plugin, wired into the pipeline."""

    name = "tenancy"
    error_codes = ORGANIZATION_ERROR_CODES

    kinds: Kinds
    tables: TenancyTables
    app: App
    members: MemberStore
    organizations: OrganizationService

    def enabled(self, schema: Schema) -> bool:
        """With an organizations entity, the app is multi-tenant."""
        return schema.system_entity("organizations") is not None

    def contribute(self, ts: TableSet, schema: Schema, capabilities: Capabilities) -> None:
        """Memberships, invitations and the session's active organization."""
        auth: AuthTables = ts.extensions["auth"]
        tenancy_tables(auth.preset)(ts, schema)

    def openapi(self, schema: Schema, tables: TableSet) -> OpenApiPart:
        """Better Auth's ``/organization/*`` endpoints, and a user's row as ``present`` shows it."""
        auth: AuthTables = tables.extensions["auth"]
        # ``check_write`` fills these on create: a client need not send them.
        users = schema.system_entity("users")
        filled = {
            f"{e.class_name}Create": [
                f for f in (e.tenant_field if e.inject_tenant else None, e.owner_field) if f is not None
            ]
            for e in schema.entities.values()
            if e is not users and (e.tenant_field or e.owner_field)
        }
        part = organization_part(auth.user_entity.class_name if auth.user_entity is not None else None)
        return OpenApiPart(part.paths, part.schemas, part.tags, properties=part.properties, optional=filled)

    def endpoints(self, app: App, auth: Authentication) -> Sequence[Endpoint]:
        """``/organization/*``; sign-up with an organization and the CRUD write listener come with it."""
        self.organizations = OrganizationService(self, app, auth.ctx)
        auth.ctx.on_sign_up = self.organizations.on_sign_up
        app.pipeline.listeners.append(self.organizations)
        return endpoints.endpoints(self.organizations)

    def install(self, app: App) -> None:
        tables: TenancyTables = app.tables.extensions["tenancy"]
        auth = app.get(Authentication).ctx
        schema = app.schema
        users = schema.system_entity("users")
        audit = next((e for e in schema.entities.values() if e.name == "audit_logs"), None)
        self.kinds = Kinds(
            organizations=tables.organization_entity.name,
            users=users.name if users else None,
            audit=audit.name if audit else None,
        )
        self.tables = tables
        self.app = app
        self.top_role = schema.roles[0]
        self.members = MemberStore(app.db, tables, app.pipeline.sql, auth.tables.user_id_type)
        self.auth = auth
        writable = {f.name for f in auth.tables.additional_writable}
        writable |= {name for name in ("name", "image") if users is not None and users.field(name) is not None}
        pipeline = app.pipeline
        pipeline.policy = RolePolicy(schema, tables, self.kinds)
        pipeline.scope = TenantScope(schema, tables, self.kinds, frozenset(writable))
        pipeline.listeners.append(self)
        pipeline.presenters.append(self)
        pipeline.translators.append(self)
        # "An organization's users" are its members: joins and filters go through the memberships.
        if users is not None:
            for rel in tables.organization_entity.relations:
                if rel.target == users.name and rel.remote_field == users.tenant_field:
                    pipeline.sql.through[(tables.organization_entity.name, rel.name)] = Through(
                        tables.members.name, tables.members.c.organization_id.name, tables.members.c.user_id.name
                    )
        # Better Auth's organization plugin: its endpoints, sign-up with an organization.
        super().install(app)

    # -- WriteListener: an organization created through the API belongs to its creator -------

    async def on_write(self, conn: Connection, event: WriteEvent) -> None:
        p = event.context.principal
        if event.entity.name != self.kinds.organizations or event.action != "create" or p.user_id is None:
            return
        await self.members.add(conn, event.id, p.user_id, self.top_role)
        if p.org_id is None and p.session_id is not None:
            # The user had no organization yet: this one becomes their active organization.
            await self.auth.store.set_active_organization_by_id(conn, p.session_id, event.id)

    # -- Presenter: the seed's UserWithOrg view (org_id, role, organization) ------------------

    async def present(self, ctx: RequestContext, entity: Entity, rows: list[dict[str, Any]]) -> None:
        if entity.name != self.kinds.users or not rows or ctx.principal.kind != "user":
            return  # the developer and the system see the stored columns
        org_id = ctx.principal.org_id
        roles = await self.members.roles_in(org_id, [r["id"] for r in rows if "id" in r]) if org_id else {}
        organization = await self._organization_summary(org_id) if org_id else None
        for row in rows:
            role = roles.get(str(row.get("id")))
            row["org_id"] = org_id if role else None
            row["role"] = role
            row["organization"] = organization if role else None

    async def _organization_summary(self, org_id: str) -> dict[str, Any] | None:
        entity = self.tables.organization_entity
        summary_fields = tuple(f for f in ("name", "slug") if entity.field(f) is not None)
        pipeline = self.app.pipeline
        stmt, values = pipeline.sql.select(entity, ("id", *summary_fields), Condition("id", "eq", org_id))
        row = await pipeline.db.fetchrow(stmt.sql, stmt.params(values))
        return pipeline.shaper(entity, ("id", *summary_fields))(row) if row is not None else None

    # -- FilterTranslator: filtering users by the org_id and role the presenter shows ---------

    def translate(self, ctx: RequestContext, entity: Entity, node: Node) -> Node:
        """``org_id`` and ``role`` of a user are their memberships (what ``present`` shows), not
        the stored columns, which a user in several organizations cannot hold: the seed's
        ``GET /api/users?org_id=…`` lists an organization's members, ``role||$eq||admin`` its admins."""
        users = self.kinds.users
        if entity.name != users or ctx.principal.kind != "user":
            return node
        user_entity = self.app.schema.entities[users]
        membership_fields = {name for name in (user_entity.tenant_field, "role") if name and user_entity.field(name)}
        return _map_conditions(
            node, lambda c: self._membership_condition(ctx, c) if c.field in membership_fields else c
        )

    def _membership_condition(self, ctx: RequestContext, cond: Condition) -> Node:
        if cond.op not in ("eq", "in"):
            raise bad_request("INVALID_FILTER", f"A user's {cond.field} is a membership: filter it with $eq or $in")
        value = tuple(str(v) for v in cond.value) if cond.op == "in" else str(cond.value)
        members = self.tables.members.name
        if cond.field == "role":
            match: tuple[tuple[str, Any], ...] = (("organization_id", ctx.principal.org_id or ""), ("role", value))
        else:
            match = (("organization_id", value),)
        return InSelect("id", members, "user_id", match)


def _map_conditions(node: Node, change: Callable[[Condition], Node]) -> Node:
    """``node`` with each plain condition replaced by ``change(condition)`` (relations left alone)."""
    if isinstance(node, Condition) and "." not in node.field:
        return change(node)
    if isinstance(node, And):
        return And(tuple(_map_conditions(n, change) for n in node.items))
    if isinstance(node, Or):
        return Or(tuple(_map_conditions(n, change) for n in node.items))
    return node
