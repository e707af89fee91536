"""The API key table: Better Auth's ``apikey`` model plus the organization a key acts in.

Columns (Better Auth 1.7's names): ``id``, ``configId``, ``name``, ``start`` (the key's first
characters, shown to recognise it), ``referenceId`` (the owning user), ``prefix``, ``key`` (the
SHA-256 of the key, base64url: keys are never stored in clear), ``refillInterval``/
``refillAmount``/``lastRefillAt``/``remaining`` (a usage quota), ``enabled``,
``rateLimitEnabled``/``rateLimitTimeWindow`` (milliseconds)/``rateLimitMax``/``requestCount``,
``lastRequest`` (last use), ``expiresAt``, ``createdAt``, ``updatedAt``, ``permissions`` (JSON:
entity -> actions, the key's scopes) and ``metadata`` (JSON). Tenantry adds ``organizationId`` (the
organization the key acts in; null for a personal key) and ``windowStart`` (when the current
rate-limit window began, so the limit is a true fixed window shared by every process).

The ``tenantry`` preset names the table ``auth_api_keys`` with snake_case columns; ``better-auth``
names it ``apikey`` with Better Auth's column names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import conv

from tenantry.auth.tables import AuthTables, Preset, id_column_type, preset_column
from tenantry.db.tables import TableSet, db_name
from tenantry.db.types import SQLITE_NOW, UTCTimestamp

TABLE_NAMES: dict[Preset, str] = {"tenantry": "auth_api_keys", "better-auth": "apikey"}
EXTENSION = "api-key"


@dataclass(frozen=True)
class ApiKeyTables:
    """The API key table, the tables it refers to, and the preset it was named by."""

    keys: sa.Table
    users: sa.Table
    members: sa.Table | None  # None in an app without organizations
    preset: Preset
    org_id_type: str | None


def api_key_tables(ts: TableSet, preset: Preset, auth: AuthTables) -> ApiKeyTables:
    """Add the API key table to ``ts``: its rows go with their user and their organization."""
    ba = preset == "better-auth"
    name = TABLE_NAMES[preset]
    tenancy = ts.extensions.get("tenancy")
    now = sa.text(SQLITE_NOW) if ts.dialect == "sqlite" else sa.text("CURRENT_TIMESTAMP")

    def col(key: str, type_: Any, *args: Any, **kwargs: Any) -> sa.Column[Any]:
        return preset_column(preset, key, type_, *args, **kwargs)

    def fk(column: str, target: sa.Table) -> sa.ForeignKey:
        return sa.ForeignKey(f"{target.name}.id", ondelete="CASCADE", name=conv(db_name("fk", name, column)))

    def flag() -> sa.Boolean:
        return sa.Boolean(create_constraint=False)

    text_id = sa.Text() if ba else sa.String(64)
    # Better Auth's referenceId is plain text (it may name a user or an organization); Tenantry's
    # keys always belong to a user, so the tenantry preset makes it a foreign key.
    reference = (
        col("reference_id", sa.Text(), nullable=False)
        if ba
        else col(
            "reference_id", id_column_type(auth.user_id_type, preset), fk("reference_id", auth.users), nullable=False
        )
    )
    columns: list[sa.Column[Any]] = [
        col("id", text_id, primary_key=True),
        col("config_id", sa.Text() if ba else sa.String(64), nullable=False, server_default="default"),
        col("name", sa.Text(), nullable=True),
        col("start", sa.Text(), nullable=True),
        reference,
        col("prefix", sa.Text(), nullable=True),
        col("key", sa.Text(), nullable=False),
        col("refill_interval", sa.BigInteger(), nullable=True),
        col("refill_amount", sa.Integer(), nullable=True),
        col("last_refill_at", UTCTimestamp(), nullable=True),
        col("enabled", flag(), nullable=False, server_default=sa.true()),
        col("rate_limit_enabled", flag(), nullable=False, server_default=sa.true()),
        col("rate_limit_time_window", sa.BigInteger(), nullable=True),
        col("rate_limit_max", sa.Integer(), nullable=True),
        col("request_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        col("remaining", sa.Integer(), nullable=True),
        col("last_request", UTCTimestamp(), nullable=True),
        col("expires_at", UTCTimestamp(), nullable=True),
        col("created_at", UTCTimestamp(), nullable=False, server_default=now),
        col("updated_at", UTCTimestamp(), nullable=False, server_default=now),
        col("permissions", sa.Text(), nullable=True),
        col("metadata", sa.Text(), nullable=True),
        col("window_start", UTCTimestamp(), nullable=True),
    ]
    if tenancy is not None:
        org_type = id_column_type(tenancy.org_id_type, preset)
        columns.append(col("organization_id", org_type, fk("organization_id", tenancy.organizations), nullable=True))
    table = sa.Table(name, ts.metadata, *columns)

    def index_name(key: str) -> str:
        return db_name(name, table.c[key].name, "idx") if ba else db_name("ix", name, key)

    # Looked up by hash on every request made with a key: unique, so one hash names one key
    # (Better Auth's own DDL has a plain index, which the better-auth preset keeps as it is).
    if ba:
        sa.Index(index_name("key"), table.c.key)
    else:
        sa.Index(db_name("uq", name, "key"), table.c.key, unique=True)
    sa.Index(index_name("reference_id"), table.c.reference_id)
    sa.Index(index_name("config_id"), table.c.config_id)
    if tenancy is not None:
        sa.Index(index_name("organization_id"), table.c.organization_id)
    return ApiKeyTables(
        keys=table,
        users=auth.users,
        members=tenancy.members if tenancy is not None else None,
        preset=preset,
        org_id_type=tenancy.org_id_type if tenancy is not None else None,
    )
