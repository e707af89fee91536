"""Row-level security on PostgreSQL: the database's own wall between organizations.

The pipeline already scopes every query to the active organization; these policies make the
database refuse the rest even to SQL the pipeline did not write (a project hook's raw query, a
bug in a join). On every tenant table (an entity with a tenant column, other than users and
organizations themselves, which authentication reads across organizations by design) a policy
shows and accepts only rows whose organization the acting user is a member of:

    current_setting('tenantry.system', true) = 'on'
    OR org_id IN (SELECT org FROM tenantry_member_orgs() AS org)

where ``tenantry_member_orgs()`` selects the acting user's organizations from the membership
table (``user_id = current_setting('tenantry.user_id')``).

The settings come from ``tenantry.db.actor`` (set per request; the system is the app itself,
outside requests). A connection that names nobody sees no tenant rows at all. The audit log is
readable under the same rule and open to inserts (its rows are written for failed sign-ins too,
which belong to no organization); its triggers refuse every change to the rows one can see.

Membership rather than only the active organization, because a user may read several of their
organizations at once (``?org_id=``); the pipeline narrows each request to what it asked for.
These policies are created once and left alone when present (``ENABLE ROW LEVEL SECURITY`` is
checked every time); Alembic does not manage them, so this runs after every migration.

An entity with bypass roles (Apso's ``scopeOptions.bypassRoles``) gets more policies on its table,
permissive, so they widen the one above for their users only: a row passes when the acting user's
platform role, read from the users table by the policy itself, is one of the listed roles:

    EXISTS (SELECT 1 FROM users WHERE id = <tenantry.user_id> AND <role> listed)

Nothing a client sends can make a request pass them: ``tenantry.user_id`` is set by the server
from the verified session, and the role is the users table's, read as the statement runs (a role
taken away counts from the next statement). One policy per command the bypassed operations use
(``SELECT`` for any of them, since writes read their rows back; ``INSERT``, ``UPDATE``,
``DELETE`` for create, update, delete). Tables without bypass roles carry none, and pay nothing.
Unlike the tenant policy, these are kept in step with the schema: each carries its condition as
its comment, and is replaced when that changes, dropped when the roles go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tenantry.db.tables import PostStep, TableSet

POLICY_PREFIX = "tenantry_"


@dataclass(frozen=True)
class TenantTable:
    """A table the policies guard: its name, its tenant column, and whether it is append-only."""

    table: str
    tenant_column: str
    append_only: bool = False
    # Scoped through a parent: ``tenant_column`` is the link to this table's ``id``, and a row is
    # visible when its parent is (the parent's own policy applies inside the policy's subquery).
    parent_table: str | None = None
    # Platform roles whose users pass, and for which commands (``SELECT``, ``INSERT``, ``UPDATE``,
    # ``DELETE``): Apso's ``bypassRoles`` for the operations its ``enforceOn`` names.
    bypass_roles: tuple[str, ...] = ()
    bypass_commands: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlatformRoles:
    """Where the policies read a user's platform role: the users table, its id and role columns."""

    table: str
    id_column: str
    role_column: str
    id_type: Any  # the id column's SQLAlchemy type, to compare with ``tenantry.user_id``


MEMBER_ORGS_FUNCTION = "tenantry_member_orgs"


def member_orgs_function(members: sa.Table, dialect: sa.engine.Dialect) -> tuple[str, str]:
    """The SQL function listing the acting user's organizations: ``(body, CREATE statement)``.

    A function rather than the subquery inline, because a policy's expression depends on every
    table it names: inline, the membership table could not be dropped (by a downgrade) before the
    tenant tables. A plain SQL function in FROM position is inlined by the planner, so the index on
    the membership's user column serves it as it would the subquery.
    """
    quote = dialect.identifier_preparer.quote
    user_type = members.c.user_id.type.compile(dialect=dialect)
    org_type = members.c.organization_id.type.compile(dialect=dialect)
    body = (
        f"SELECT {quote(members.c.organization_id.name)} FROM {quote(members.name)} "
        f"WHERE {quote(members.c.user_id.name)} = NULLIF(current_setting('tenantry.user_id', true), '')::{user_type}"
    )
    create = (
        f"CREATE OR REPLACE FUNCTION {MEMBER_ORGS_FUNCTION}() RETURNS SETOF {org_type} "
        f"LANGUAGE sql STABLE AS $body${body}$body$"
    )
    return body, create


def membership_condition(tenant_column: str, dialect: sa.engine.Dialect) -> str:
    """The policy's condition: the system, or a row of an organization the acting user belongs to."""
    quote = dialect.identifier_preparer.quote
    return (
        "(current_setting('tenantry.system', true) = 'on' OR "
        f"{quote(tenant_column)} IN (SELECT org FROM {MEMBER_ORGS_FUNCTION}() AS org))"
    )


def parent_condition(link_column: str, parent_table: str, dialect: sa.engine.Dialect) -> str:
    """The policy's condition for a table scoped through its parent: the system, or a row whose
    parent the acting user may see (row-level security filters the subquery's table too)."""
    quote = dialect.identifier_preparer.quote
    return (
        "(current_setting('tenantry.system', true) = 'on' OR "
        f"{quote(link_column)} IN (SELECT id FROM {quote(parent_table)}))"
    )


def bypass_condition(roles: tuple[str, ...], platform: PlatformRoles, dialect: sa.engine.Dialect) -> str:
    """The bypass policies' condition: the acting user's stored platform role (Better Auth joins
    several with commas) includes one of ``roles`` (names of letters, digits, ``_`` and ``-``, as
    the schema checks; quoted as SQL literals all the same)."""
    quote = dialect.identifier_preparer.quote
    listed = ", ".join(_literal(role) for role in roles)
    id_type = platform.id_type.compile(dialect=dialect)
    return (
        f"(EXISTS (SELECT 1 FROM {quote(platform.table)} AS bypass_user "
        f"WHERE bypass_user.{quote(platform.id_column)} = "
        f"NULLIF(current_setting('tenantry.user_id', true), '')::{id_type} "
        f"AND ARRAY(SELECT btrim(r) FROM unnest(string_to_array(bypass_user.{quote(platform.role_column)}, ',')) AS r)"
        f" && ARRAY[{listed}]::text[]))"
    )


def tenant_policies(members: sa.Table, guarded: list[TenantTable], platform: PlatformRoles | None = None) -> PostStep:
    """A post-migration step putting row-level security on ``guarded`` (PostgreSQL only); with
    ``platform`` (the admin plugin's role column), the bypass policies of tables with bypass roles."""

    def step(conn: Connection, tables: TableSet) -> list[str]:
        if conn.dialect.name != "postgresql":
            return []
        changed: list[str] = []
        inspector = sa.inspect(conn)
        present = [item for item in guarded if inspector.has_table(item.table)]
        if present:
            changed.extend(_define_member_orgs(conn, members))
        for item in present:
            changed.extend(_guard(conn, item))
            changed.extend(_bypass(conn, item, platform))
        return changed

    return step


BYPASS_PREFIX = f"{POLICY_PREFIX}bypass_"
_BYPASS_CLAUSES = {
    "SELECT": "USING {c}",
    "INSERT": "WITH CHECK {c}",
    "UPDATE": "USING {c} WITH CHECK {c}",
    "DELETE": "USING {c}",
}


def _bypass(conn: Connection, item: TenantTable, platform: PlatformRoles | None) -> list[str]:
    """Bring the table's bypass policies in step with its bypass roles (none without the admin
    plugin: nobody has a platform role then)."""
    quote = conn.dialect.identifier_preparer.quote
    table = quote(item.table)
    wanted: dict[str, tuple[str, str]] = {}
    if platform is not None and item.bypass_roles and item.bypass_commands:
        condition = bypass_condition(item.bypass_roles, platform, conn.dialect)
        for command in item.bypass_commands:
            body = f"FOR {command} {_BYPASS_CLAUSES[command].format(c=condition)}"
            wanted[f"{BYPASS_PREFIX}{command.lower()}"] = (body, condition)
    existing: dict[str, str | None] = dict(
        conn.execute(
            sa.text(
                "SELECT polname, obj_description(oid, 'pg_policy') FROM pg_policy "
                "WHERE polrelid = to_regclass(:t) AND starts_with(polname, :p)"
            ),
            {"t": table, "p": BYPASS_PREFIX},
        ).all()
    )
    changed: list[str] = []
    for name, comment in existing.items():
        if name not in wanted or wanted[name][1] != comment:
            conn.exec_driver_sql(f"DROP POLICY {quote(name)} ON {table}")
            if name not in wanted:
                changed.append(f"drop policy {name} on {item.table}")
    for name, (body, condition) in wanted.items():
        if existing.get(name) == condition:
            continue
        conn.exec_driver_sql(f"CREATE POLICY {quote(name)} ON {table} {body}")
        # The comment is how the next run knows which roles the policy lets through.
        conn.exec_driver_sql(f"COMMENT ON POLICY {quote(name)} ON {table} IS {_literal(condition)}")
        changed.append(f"create policy {name} on {item.table}")
    return changed


def _literal(text: str) -> str:
    """A SQL string literal (COMMENT takes no bind parameter)."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class LinkTable:
    """A many-to-many join table, guarded through the rows it links: ``ends`` pairs each of its
    columns holding a guarded row's id with that row's table."""

    table: str
    ends: tuple[tuple[str, str], ...]


def link_policies(links: list[LinkTable]) -> PostStep:
    """Row-level security on join tables (PostgreSQL only): a link is visible, and may be written,
    only while every guarded row it links is visible to the acting user.

    The join table has no tenant column of its own; the ``EXISTS`` reads each linked table under
    that table's own policy, so a link is in the organization of the rows it links, and no tenant
    can link to, or see a link to, another's rows even with SQL the pipeline did not write.
    """

    def step(conn: Connection, tables: TableSet) -> list[str]:
        if conn.dialect.name != "postgresql":
            return []
        quote = conn.dialect.identifier_preparer.quote
        inspector = sa.inspect(conn)
        changed: list[str] = []
        for item in links:
            if not item.ends or not inspector.has_table(item.table):
                continue
            condition = " AND ".join(
                f"EXISTS (SELECT 1 FROM {quote(other)} WHERE {quote(other)}.id = {quote(item.table)}.{quote(column)})"
                for column, other in item.ends
            )
            changed.extend(
                _guard_with(
                    conn, item.table, f"{POLICY_PREFIX}link", f"FOR ALL USING ({condition}) WITH CHECK ({condition})"
                )
            )
        return changed

    return step


def _guard_with(conn: Connection, table_name: str, name: str, body: str) -> list[str]:
    """Enable row-level security on a table and create the policy ``name`` unless present."""
    quote = conn.dialect.identifier_preparer.quote
    table = quote(table_name)
    changed: list[str] = []
    enabled = conn.execute(
        sa.text("SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
    ).scalar()
    if not enabled:
        conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        changed.append(f"enable row-level security on {table_name}")
    present = conn.execute(
        sa.text("SELECT 1 FROM pg_policies WHERE schemaname = current_schema() AND tablename = :t AND policyname = :p"),
        {"t": table_name, "p": name},
    ).scalar()
    if not present:
        conn.exec_driver_sql(f"CREATE POLICY {quote(name)} ON {table} {body}")
        changed.append(f"create policy {name} on {table_name}")
    return changed


def _define_member_orgs(conn: Connection, members: sa.Table) -> list[str]:
    body, create = member_orgs_function(members, conn.dialect)
    current = conn.execute(
        sa.text("SELECT prosrc FROM pg_proc WHERE proname = :f AND pronamespace = current_schema()::regnamespace"),
        {"f": MEMBER_ORGS_FUNCTION},
    ).scalar()
    if current == body:
        return []
    conn.exec_driver_sql(create)
    return [f"create function {MEMBER_ORGS_FUNCTION}()"]


def _guard(conn: Connection, item: TenantTable) -> list[str]:
    quote = conn.dialect.identifier_preparer.quote
    table = quote(item.table)
    changed: list[str] = []
    enabled = conn.execute(
        sa.text("SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
    ).scalar()
    if not enabled:
        conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        changed.append(f"enable row-level security on {item.table}")
    existing = set(
        conn.execute(
            sa.text("SELECT policyname FROM pg_policies WHERE schemaname = current_schema() AND tablename = :t"),
            {"t": item.table},
        ).scalars()
    )
    condition = (
        membership_condition(item.tenant_column, conn.dialect)
        if item.parent_table is None
        else parent_condition(item.tenant_column, item.parent_table, conn.dialect)
    )
    wanted = (
        {
            f"{POLICY_PREFIX}read": f"FOR SELECT USING {condition}",
            # Any organization, or none: what is appended is decided by the app, and never changed.
            f"{POLICY_PREFIX}append": "FOR INSERT WITH CHECK (true)",
            # Rows one can see reach the append-only triggers, which refuse the change loudly;
            # without these policies an UPDATE or DELETE would quietly match nothing.
            f"{POLICY_PREFIX}update": f"FOR UPDATE USING {condition}",
            f"{POLICY_PREFIX}delete": f"FOR DELETE USING {condition}",
        }
        if item.append_only
        else {f"{POLICY_PREFIX}tenant": f"FOR ALL USING {condition} WITH CHECK {condition}"}
    )
    for name, body in wanted.items():
        if name not in existing:
            conn.exec_driver_sql(f"CREATE POLICY {quote(name)} ON {table} {body}")
            changed.append(f"create policy {name} on {item.table}")
    return changed
