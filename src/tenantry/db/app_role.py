"""The database role application connections act as on PostgreSQL, and what it may touch.

Row-level security binds neither superusers nor roles with BYPASSRLS, and binds a table's owner
only when forced. The app therefore does its work as ``tenantry_app`` (``tenantry.db.actor``): a
role that logs in as nobody, owns nothing and bypasses nothing, to which every connection of the
pool switches (``SET ROLE``) as it opens. This post-migration step creates the role when it is
missing, lets the migrating user switch to it, and grants it the rows (never the DDL) of every
table the app manages, again after each migration so that new tables are covered.

On a managed database where the migrating user may not create roles, create it once by hand:
``CREATE ROLE tenantry_app NOLOGIN; GRANT tenantry_app TO <the app's user>;``.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tenantry.db.actor import APP_ROLE
from tenantry.db.tables import TableSet

_CREATE_ROLE = f"""
DO $body$
BEGIN
    CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another database of this server (or a concurrent migration) made it first
END
$body$
"""

_TABLE_RIGHTS = ("SELECT", "INSERT", "UPDATE", "DELETE")
# Alembic's table of applied revisions, and the revisions a database is at.
VERSION_TABLE = "alembic_version"
REVISIONS_SQL = f"SELECT version_num FROM {VERSION_TABLE}"


class AppRoleError(RuntimeError):
    """The role could not be created or granted by the migrating user."""


def grant_app_role(conn: Connection, tables: TableSet) -> list[str]:
    """Create ``tenantry_app`` if needed and grant it the rows of every table in ``tables`` (PostgreSQL)."""
    if conn.dialect.name != "postgresql":
        return []
    changed: list[str] = []
    exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE}).scalar()
    if not exists:
        try:
            with conn.begin_nested():
                conn.exec_driver_sql(_CREATE_ROLE)
        except sa.exc.DBAPIError as exc:
            raise AppRoleError(
                f"cannot create the database role {APP_ROLE} ({exc.orig}); create it once as an administrator: "
                f"CREATE ROLE {APP_ROLE} NOLOGIN; GRANT {APP_ROLE} TO <the app's database user>;"
            ) from exc
        changed.append(f"create role {APP_ROLE}")
    if not conn.execute(sa.text("SELECT pg_has_role(current_user, :r, 'MEMBER')"), {"r": APP_ROLE}).scalar():
        conn.exec_driver_sql(f"GRANT {APP_ROLE} TO CURRENT_USER")
        changed.append(f"grant role {APP_ROLE} to the migrating user")
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
    quote = conn.dialect.identifier_preparer.quote
    if not conn.execute(sa.text("SELECT has_schema_privilege(:r, :s, 'USAGE')"), {"r": APP_ROLE, "s": schema}).scalar():
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {quote(str(schema))} TO {APP_ROLE}")
        changed.append(f"grant usage on schema {schema} to {APP_ROLE}")
    inspector = sa.inspect(conn)
    for table in tables.metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue  # an upgrade that stopped before the revision creating it
        if _has_rights(conn, table.name):
            continue
        # Not reported: a table's grant goes with its creation, which the migration reports already.
        conn.exec_driver_sql(f"GRANT {', '.join(_TABLE_RIGHTS)} ON {quote(table.name)} TO {APP_ROLE}")
    # Readiness probes compare the applied revision with the code's (``/readyz``): reading it is all.
    if (
        inspector.has_table(VERSION_TABLE)
        and not conn.execute(
            sa.text("SELECT has_table_privilege(:r, :t, 'SELECT')"), {"r": APP_ROLE, "t": VERSION_TABLE}
        ).scalar()
    ):
        conn.exec_driver_sql(f"GRANT SELECT ON {quote(VERSION_TABLE)} TO {APP_ROLE}")
    # Serial ids draw from sequences; granting all of them is idempotent and cheap.
    conn.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quote(str(schema))} TO {APP_ROLE}")
    return changed


def _has_rights(conn: Connection, table: str) -> bool:
    checks = " AND ".join(f"has_table_privilege(:r, :t, '{right}')" for right in _TABLE_RIGHTS)
    quoted = conn.dialect.identifier_preparer.quote(table)
    return bool(conn.execute(sa.text(f"SELECT {checks}"), {"r": APP_ROLE, "t": quoted}).scalar())
