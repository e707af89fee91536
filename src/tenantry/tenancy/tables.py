"""Organizations' own tables: memberships and invitations, and the session's active organization.

They follow Better Auth's organization plugin (``member``, ``invitation``, ``session.
activeOrganizationId``, ``organization.logo``/``metadata``), named by the same two presets as the
authentication tables: ``tenantry`` (``org_members``, ``org_invitations``, snake_case) and
``better-auth`` (``member``, ``invitation``, camelCase).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import conv

from tenantry.auth.tables import AuthTables, Preset, id_column_type, platform_role_column, preset_column
from tenantry.db.tables import TableContributor, TableSet, db_name
from tenantry.db.types import SQLITE_NOW, UTCTimestamp
from tenantry.schema import Action, Entity, Schema
from tenantry.tenancy.rls import LinkTable, PlatformRoles, TenantTable, link_policies, tenant_policies

_NAMES: dict[Preset, dict[str, str]] = {
    "tenantry": {"member": "org_members", "invitation": "org_invitations"},
    "better-auth": {"member": "member", "invitation": "invitation"},
}


@dataclass
class TenancyTables:
    """Handles on the organization tables and the columns tenancy reads elsewhere."""

    organizations: sa.Table
    organization_entity: Entity
    members: sa.Table
    invitations: sa.Table
    session_active_org: sa.Column[Any]
    org_id_type: str


def tenancy_tables(preset: Preset = "tenantry") -> TableContributor:
    """Adds memberships, invitations and the active organization; runs after the auth contributor."""

    def contribute(ts: TableSet, schema: Schema) -> None:
        orgs = schema.system_entity("organizations")
        if orgs is None:
            return  # no organizations entity: the app is single-tenant
        auth: AuthTables = ts.extensions["auth"]
        names = _NAMES[preset]
        organizations = ts.tables[orgs.name]
        now = sa.text(SQLITE_NOW) if ts.dialect == "sqlite" else sa.text("CURRENT_TIMESTAMP")
        for key, type_ in (("logo", sa.Text()), ("metadata", sa.Text())):
            if orgs.field(key) is None:
                organizations.append_column(preset_column(preset, key, type_, nullable=True))
        org_id = id_column_type(orgs.id_type, preset)
        user_id = id_column_type(auth.user_id_type, preset)

        def fk(table: str, column: str, target: sa.Table) -> sa.ForeignKey:
            return sa.ForeignKey(f"{target.name}.id", ondelete="CASCADE", name=conv(db_name("fk", table, column)))

        members = sa.Table(
            names["member"],
            ts.metadata,
            preset_column(preset, "id", sa.String(64), primary_key=True),
            preset_column(
                preset, "organization_id", org_id, fk(names["member"], "organization_id", organizations), nullable=False
            ),
            preset_column(preset, "user_id", user_id, fk(names["member"], "user_id", auth.users), nullable=False),
            preset_column(preset, "role", sa.String(64), nullable=False),
            preset_column(preset, "created_at", UTCTimestamp(), nullable=False, server_default=now),
            sa.UniqueConstraint(
                "organization_id",  # column keys, which SQLAlchemy resolves whatever the preset's names
                "user_id",
                name=conv(db_name("uq", names["member"], "organization_user")),
            ),
        )
        # Looking up "which organizations is this user in" is on every request's path.
        sa.Index(db_name("ix", names["member"], "user_id"), members.c.user_id)

        invitations = sa.Table(
            names["invitation"],
            ts.metadata,
            preset_column(preset, "id", sa.String(64), primary_key=True),
            preset_column(
                preset,
                "organization_id",
                org_id,
                fk(names["invitation"], "organization_id", organizations),
                nullable=False,
            ),
            preset_column(preset, "email", sa.String(320), nullable=False),
            preset_column(preset, "role", sa.String(64), nullable=False),
            preset_column(preset, "status", sa.String(16), nullable=False),
            preset_column(preset, "expires_at", UTCTimestamp(), nullable=False),
            preset_column(preset, "created_at", UTCTimestamp(), nullable=False, server_default=now),
            preset_column(
                preset, "inviter_id", user_id, fk(names["invitation"], "inviter_id", auth.users), nullable=True
            ),
        )
        sa.Index(db_name("ix", names["invitation"], "organization_id"), invitations.c.organization_id)
        sa.Index(db_name("ix", names["invitation"], "email"), invitations.c.email)

        active = preset_column(preset, "active_organization_id", org_id, nullable=True)
        auth.sessions.append_column(active)

        guarded = _guarded_tables(ts, schema, orgs)
        ts.post_steps.append(tenant_policies(members, guarded, _platform_roles(auth)))
        ts.post_steps.append(link_policies(_guarded_links(schema, {g.table for g in guarded})))
        ts.extensions["tenancy"] = TenancyTables(
            organizations=organizations,
            organization_entity=orgs,
            members=members,
            invitations=invitations,
            session_active_org=active,
            org_id_type=orgs.id_type,
        )

    return contribute


def _guarded_tables(ts: TableSet, schema: Schema, orgs: Entity) -> list[TenantTable]:
    """The tables row-level security guards: every tenant entity's but the users' (read across
    organizations by authentication) and the audit log's as append-only."""
    guarded = []
    for entity in schema.entities.values():
        if entity.tenant_via is not None:
            # Scoped through its parent: rows whose parent row the policy of the parent's table shows.
            rel = entity.relation(entity.tenant_via)
            assert rel is not None
            parent = ts.tables[rel.target].name
            guarded.append(
                TenantTable(ts.tables[entity.name].name, rel.local_field, parent_table=parent, **_bypass_of(entity))
            )
            continue
        if entity.tenant_field is None or entity.system in ("users", "organizations") or entity is orgs:
            continue
        guarded.append(
            TenantTable(
                ts.tables[entity.name].name, entity.tenant_field, entity.system == "audit_logs", **_bypass_of(entity)
            )
        )
    return guarded


# The commands each bypassed action runs: writes read their rows back (RETURNING, an update's
# WHERE), so any bypass needs SELECT too.
_COMMANDS = {
    Action.READ: ("SELECT",),
    Action.CREATE: ("SELECT", "INSERT"),
    Action.UPDATE: ("SELECT", "UPDATE"),
    Action.DELETE: ("SELECT", "DELETE"),
}


def _bypass_of(entity: Entity) -> dict[str, Any]:
    """The bypass roles of an entity's table and the commands they pass for."""
    if not entity.bypass_roles:
        return {}
    # In a fixed order, so that the step reads the same in every process (a set's order varies).
    commands = sorted({c for action in entity.bypass_actions for c in _COMMANDS[action]})
    return {"bypass_roles": entity.bypass_roles, "bypass_commands": tuple(commands)}


def _platform_roles(auth: AuthTables) -> PlatformRoles | None:
    """Where the bypass policies read the platform role (None without the admin plugin)."""
    role = platform_role_column(auth)
    if role is None:
        return None
    users = auth.users
    return PlatformRoles(users.name, users.c.id.name, role.name, users.c.id.type)


def _guarded_links(schema: Schema, guarded: set[str]) -> list[LinkTable]:
    """Each many-to-many join table with the columns pointing at guarded tables (none: left open,
    as the rows it links are)."""
    links = []
    for m in schema.many_to_many:
        ends = tuple(
            (column, schema.entities[name].table)
            for column, name in ((m.owner_column, m.owner), (m.target_column, m.target))
            if schema.entities[name].table in guarded
        )
        if ends:
            links.append(LinkTable(m.table, ends))
    return links
