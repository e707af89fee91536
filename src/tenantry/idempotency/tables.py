"""The table of idempotency keys: one row per (caller, key), holding the first answer for 24 hours.

- ``scope``: a digest of who sent the key (the user, the API key, the active organization; the
  development principal), so two callers' keys never meet;
- ``idem_key``: the client's ``Idempotency-Key`` (at most 255 characters), unique within its scope;
- ``fingerprint``: a digest of the method, path and body of the request first sent with the key;
- ``state``: ``running`` while a request holds the key (until ``locked_until``: its lease, after which a
  retry may take over a request that died), ``done`` once its write committed with its answer;
- ``status``/``body``: that answer (``body`` NULL: an empty one);
- ``user_id``: whose key it is, for row-level security on PostgreSQL: a request sees and writes only
  its own user's keys (the system, which sweeps, sees them all).
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import conv

from tenantry.db.tables import TableSet, db_name
from tenantry.db.types import GUID, UTCTimestamp
from tenantry.schema import Schema

KEYS_TABLE: Final = "idempotency_keys"
MAX_KEY_LENGTH: Final = 255
# Hex SHA-256 digests.
DIGEST_LENGTH: Final = 64
USER_ID_LENGTH: Final = 64
# Named like the tenancy policies (``tenantry_…``), so an operator finds them all together.
POLICY: Final = "tenantry_own_keys"


def idempotency_tables(ts: TableSet, schema: Schema) -> None:
    """Add ``idempotency_keys`` and its row-level security (PostgreSQL)."""
    if KEYS_TABLE in ts.metadata.tables:
        raise ValueError(f"the table {KEYS_TABLE} is reserved for idempotency keys; give the entity another table name")
    table = sa.Table(
        KEYS_TABLE,
        ts.metadata,
        sa.Column("id", GUID(), primary_key=True),
        sa.Column("scope", sa.String(DIGEST_LENGTH), nullable=False),
        sa.Column("idem_key", sa.String(MAX_KEY_LENGTH), nullable=False),
        sa.Column("user_id", sa.String(USER_ID_LENGTH), nullable=True),
        sa.Column("fingerprint", sa.String(DIGEST_LENGTH), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        # The holder of a running key: only it may seal or release it.
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("locked_until", UTCTimestamp(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("created_at", UTCTimestamp(), nullable=False),
        sa.UniqueConstraint("scope", "idem_key", name=conv(db_name("uq", KEYS_TABLE, "scope_key"))),
    )
    sa.Index(db_name("ix", KEYS_TABLE, "created_at"), table.c.created_at)
    ts.tables[table.name] = table
    ts.post_steps.append(own_keys_policy)
    ts.extensions["idempotency"] = table


def own_keys_policy(conn: Connection, tables: TableSet) -> list[str]:
    """Row-level security on the keys (PostgreSQL): a request reaches only its own user's keys.

    Keyed by user rather than organization: a key belongs to its caller, and a user with no active
    organization has keys too. A connection acting for nobody (anonymous) reaches none.
    """
    if conn.dialect.name != "postgresql" or not sa.inspect(conn).has_table(KEYS_TABLE):
        return []
    changed: list[str] = []
    enabled = conn.execute(
        sa.text("SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass(:t)"), {"t": KEYS_TABLE}
    )
    if not enabled.scalar():
        conn.exec_driver_sql(f"ALTER TABLE {KEYS_TABLE} ENABLE ROW LEVEL SECURITY")
        changed.append(f"enable row-level security on {KEYS_TABLE}")
    present = conn.execute(
        sa.text("SELECT 1 FROM pg_policies WHERE schemaname = current_schema() AND tablename = :t AND policyname = :p"),
        {"t": KEYS_TABLE, "p": POLICY},
    ).scalar()
    if not present:
        condition = (
            "(current_setting('tenantry.system', true) = 'on' OR "
            "user_id = NULLIF(current_setting('tenantry.user_id', true), ''))"
        )
        conn.exec_driver_sql(f"CREATE POLICY {POLICY} ON {KEYS_TABLE} FOR ALL USING {condition} WITH CHECK {condition}")
        changed.append(f"create policy {POLICY} on {KEYS_TABLE}")
    return changed
