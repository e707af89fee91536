"""The audit log's table: the schema's ``audit_logs`` entity when it declares one, else our own.

The seed declares ``audit_logs`` with user_id, org_id, action, resource_type, resource_id,
old_values, new_values, ip_address, user_agent and created_at. The schema builder relaxes that
declaration so that every event fits (see ``tenantry.schema.build._audit_field``): user and
organization are optional, ``action`` and ``resource_id`` are strings, and ``tenantry.db.tables``
creates no foreign keys from it. This contributor then finds each of those columns (snake_case or
camelCase), adds any the schema left out, indexes the log for "history of this row", and registers
the triggers that make the table append-only (``tenantry.audit.triggers``).

When the schema declares no audit log, the contributor creates ``audit_logs`` itself with the same
columns; it is then written and exported, but not served by the generic CRUD routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tenantry.audit.triggers import append_only
from tenantry.db.tables import TableSet, column_type, db_name, id_column, server_default
from tenantry.schema import Display, Entity, Field, FieldType, Schema
from tenantry.schema.model import SystemRole
from tenantry.schema.naming import snake_case

AUDIT_TABLE = "audit_logs"
ACTION_LENGTH = 64
RESOURCE_ID_LENGTH = 255

# The log's columns, by the names the seed gives them (the writer's vocabulary).
LOGICAL_COLUMNS = (
    "user_id",
    "org_id",
    "action",
    "resource_type",
    "resource_id",
    "old_values",
    "new_values",
    "ip_address",
    "user_agent",
    "created_at",
)
# Other spellings a declared entity may use for the same column (after snake_case).
_ALIASES = {"org_id": ("organization_id",)}


@dataclass(frozen=True)
class AuditTables:
    """The audit log as the writer and the export see it.

    ``entity`` is the schema's entity, or (``declared`` false) one describing the table made here;
    ``columns`` maps each logical column to its name in the table, and ``fields`` to the field that
    types its values (for columns the schema left out, a field made here).
    """

    table: sa.Table
    entity: Entity
    declared: bool
    columns: dict[str, str]
    fields: dict[str, Field]


def _own_fields(schema: Schema, ts: TableSet) -> tuple[Field, ...]:
    """The seed's columns, in the relaxed form the log needs (no references: no relations, no FKs)."""

    def id_field(name: str, role: SystemRole, extension_type: str | None) -> Field:
        entity = schema.system_entity(role)
        id_type = entity.id_type if entity is not None else extension_type
        if id_type == "uuid":
            return Field(name, FieldType.UUID)
        return Field(name, FieldType.STRING, length=64)  # text ids (Better Auth's) and serials as text

    auth = ts.extensions.get("auth")
    return (
        id_field("user_id", "users", getattr(auth, "user_id_type", None)),
        id_field("org_id", "organizations", None),
        Field("action", FieldType.STRING, required=True, nullable=False, length=ACTION_LENGTH),
        Field("resource_type", FieldType.STRING, required=True, nullable=False),
        Field("resource_id", FieldType.STRING, length=RESOURCE_ID_LENGTH),
        Field("old_values", FieldType.JSON),
        Field("new_values", FieldType.JSON),
        Field("ip_address", FieldType.STRING),
        Field("user_agent", FieldType.STRING),
        Field("created_at", FieldType.TIMESTAMP, required=True, nullable=False, auto="create", immutable=True),
    )


def _own_entity(schema: Schema, ts: TableSet) -> Entity:
    return Entity(
        name=AUDIT_TABLE,
        table=AUDIT_TABLE,
        route=AUDIT_TABLE,
        class_name="AuditLog",
        fields=_own_fields(schema, ts),
        system="audit_logs",
        # Scoped like any tenant table (an admin exports their organization's rows only).
        tenant_field="org_id" if schema.system_entity("organizations") is not None else None,
        display=Display(plural="Audit logs", singular="Audit log", title_field="action"),
    )


def _own_table(ts: TableSet, entity: Entity) -> sa.Table:
    if entity.table in ts.metadata.tables:
        raise ValueError(
            f"the table {entity.table} belongs to another entity; name that entity audit_logs to make it "
            "the audit log, or give it another table name"
        )
    columns: list[Any] = [id_column(entity)]
    for f in entity.fields:
        columns.append(
            sa.Column(f.name, column_type(f), nullable=f.nullable, server_default=server_default(f, ts.dialect))
        )
    table = sa.Table(entity.table, ts.metadata, *columns)
    # What an admin reads first: their organization's log, newest or oldest first; and one user's.
    sa.Index(db_name("ix", entity.table, "org_id", "created_at"), table.c.org_id, table.c.created_at)
    sa.Index(db_name("ix", entity.table, "user_id"), table.c.user_id)
    return table


def _find_field(entity: Entity, logical: str) -> Field | None:
    names = (logical, *_ALIASES.get(logical, ()))
    return next((f for f in entity.fields if snake_case(f.name) in names), None)


def audit_tables(ts: TableSet, schema: Schema) -> None:
    """Find or make the audit log's table and make it append-only (a ``TableContributor``)."""
    declared = schema.system_entity("audit_logs")
    if declared is not None:
        entity = declared
        table = ts.tables[entity.name]
    else:
        entity = _own_entity(schema, ts)
        table = ts.tables[entity.name] = _own_table(ts, entity)
    defaults = {f.name: f for f in _own_fields(schema, ts)}
    columns: dict[str, str] = {}
    fields: dict[str, Field] = {}
    for logical in LOGICAL_COLUMNS:
        found = _find_field(entity, logical)
        if found is None:
            # A column the schema left out: stored (the writer fills it), not served by the API.
            found = defaults[logical]
            if logical not in table.c:
                nullable = logical != "created_at"
                table.append_column(
                    sa.Column(
                        logical,
                        column_type(found),
                        nullable=nullable,
                        server_default=server_default(found, ts.dialect),
                    )
                )
        columns[logical] = found.name
        fields[logical] = found
    # "Everything that happened to this row": an index, since the log only grows.
    resource = [columns["resource_type"], columns["resource_id"]]
    if not any([c.name for c in ix.columns] == resource for ix in table.indexes):
        sa.Index(db_name("ix", table.name, "resource_type", "resource_id"), *(table.c[c] for c in resource))
    ts.post_steps.append(append_only(table.name))
    ts.extensions["audit"] = AuditTables(
        table=table, entity=entity, declared=declared is not None, columns=columns, fields=fields
    )
