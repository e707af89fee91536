"""What a typed client must know of each entity, read off the schema model as the CRUD API sees it.

Both generators (TypeScript and Python) work from these descriptions, so they agree with each
other and with the server: the columns a row has (``id``, the declared fields, ``deleted_at`` on
soft-deleting entities), what a create and an update body accept (``tenantry.validation``), which
names ``filter``, ``sort``, ``fields`` and ``join`` take (``tenantry.querystring``), and which
operators apply to which column (the parser's rules: LIKE-style and case-insensitive operators on
text, ordering on anything but booleans and JSON, JSON only tested for null).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tenantry.querystring import RESERVED
from tenantry.schema import Entity, Field, FieldType, Schema

# How a column may be filtered: the operator families the query parser allows for its type.
FilterKind = Literal["text", "ordered", "bool", "json", "array"]

_KINDS: dict[FieldType, FilterKind] = {
    FieldType.STRING: "text",
    FieldType.TEXT: "text",
    FieldType.UUID: "text",
    FieldType.ENUM: "text",
    FieldType.INTEGER: "ordered",
    FieldType.BIGINT: "ordered",
    FieldType.DECIMAL: "ordered",
    FieldType.FLOAT: "ordered",
    FieldType.TIMESTAMP: "ordered",
    FieldType.DATE: "ordered",
    FieldType.BOOLEAN: "bool",
    FieldType.JSON: "json",
}

# Nested join paths (``organization.users``) are offered one level deep: deeper ones are rare, and
# every level multiplies the names a compiler has to check.
MAX_JOIN_DEPTH = 2


@dataclass(frozen=True)
class Column:
    """One column of a row as the API returns it."""

    name: str
    type: FieldType
    nullable: bool
    enum_values: tuple[str, ...] = ()
    label: str | None = None
    # An array column: the type of its elements (`$cont` one of them, `$in` any of several).
    element: FieldType | None = None

    @property
    def kind(self) -> FilterKind:
        return "array" if self.element is not None else _KINDS[self.type]


@dataclass(frozen=True)
class BodyField:
    """A field of a create or update body; ``optional`` ones may be left out."""

    column: Column
    optional: bool
    note: str | None = None


@dataclass(frozen=True)
class RelationInfo:
    """A relation a read may ``join``: the key it appears under, the entity, one row or many."""

    name: str
    target: str
    many: bool
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class EntityInfo:
    """Everything a client generator needs about one entity."""

    entity: Entity
    columns: tuple[Column, ...]
    create: tuple[BodyField, ...]
    update: tuple[BodyField, ...]
    relations: tuple[RelationInfo, ...]
    # Filterable names with their column (``relation.field`` included), sortable names, join paths
    # with the relation key they fill in the result.
    filters: tuple[tuple[str, Column], ...]
    sorts: tuple[str, ...]
    joins: tuple[tuple[str, str], ...]
    equality: tuple[Column, ...]

    @property
    def name(self) -> str:
        return self.entity.name

    @property
    def route(self) -> str:
        return self.entity.route

    @property
    def class_name(self) -> str:
        return self.entity.class_name

    @property
    def id_column(self) -> Column:
        return self.columns[0]

    @property
    def tenant_field(self) -> str | None:
        return self.entity.tenant_field

    @property
    def paginated(self) -> bool:
        return self.entity.always_paginate

    @property
    def soft_delete(self) -> bool:
        return self.entity.soft_delete


def id_column(entity: Entity) -> Column:
    """``id`` as the API returns it: a UUID, an integer (``serial``) or text."""
    kind = {
        "uuid": FieldType.UUID,
        "serial": FieldType.INTEGER,
        "bigserial": FieldType.BIGINT,
        "text": FieldType.STRING,
    }[entity.id_type]
    return Column("id", kind, nullable=False)


def _column(f: Field) -> Column:
    return Column(f.name, f.type, f.nullable, f.enum_values, f.label, f.element)


def row_columns(entity: Entity) -> tuple[Column, ...]:
    """Every column a full row carries, in table order."""
    extra = (Column("deleted_at", FieldType.TIMESTAMP, nullable=True),) if entity.soft_delete else ()
    return (id_column(entity), *(_column(f) for f in entity.fields), *extra)


def create_fields(entity: Entity) -> tuple[BodyField, ...]:
    """A create body as ``EntityModels.create_filled`` accepts it from a signed-in caller.

    Server-managed fields are absent; the tenant and owner columns are optional, because the server
    fills them from the session; ``id`` is optional (and refused from signed-in users, who never
    choose ids) except on ``serial`` entities, where the database numbers rows.
    """
    out: list[BodyField] = []
    if not entity.serial_id:
        out.append(BodyField(id_column(entity), True, "chosen by the server unless given (never by signed-in users)"))
    for f in entity.fields:
        if f.server_managed:
            continue
        filled = f.name == entity.owner_field or (f.name == entity.tenant_field and entity.inject_tenant)
        note = "filled by the server from the session when left out" if filled and f.required else None
        out.append(BodyField(_column(f), not f.required or f.has_default or filled, note))
    return tuple(out)


def update_fields(entity: Entity) -> tuple[BodyField, ...]:
    """An update body: every field a client may change (not server-managed, not immutable)."""
    return tuple(BodyField(_column(f), True) for f in entity.fields if f.writable_on_update)


def describe(schema: Schema) -> list[EntityInfo]:
    """Every entity of ``schema``, as the clients describe it."""
    return [_describe_entity(schema, e) for e in schema.entities.values()]


def _describe_entity(schema: Schema, entity: Entity) -> EntityInfo:
    columns = row_columns(entity)
    relations = tuple(RelationInfo(r.name, r.target, r.kind == "many", r.aliases) for r in entity.relations if r.target)
    filters: list[tuple[str, Column]] = [(c.name, c) for c in columns]
    sorts = [c.name for c in columns if c.kind not in ("json", "array")]
    joins: list[tuple[str, str]] = []
    for rel in entity.relations:
        target = schema.entities[rel.target]
        target_columns = row_columns(target)
        filters.extend((f"{rel.name}.{c.name}", c) for c in target_columns)
        if rel.kind == "one":  # the parser refuses to sort by a relation with many rows per row
            sorts.extend(f"{rel.name}.{c.name}" for c in target_columns if c.kind not in ("json", "array"))
        for name in (rel.name, *rel.aliases):
            joins.append((name, rel.name))
        if MAX_JOIN_DEPTH > 1:
            joins.extend((f"{rel.name}.{nested.name}", rel.name) for nested in target.relations)
    # Plain ``?field=value`` equality, as the seed's client sends ``?org_id=…``: not for names the
    # query language reserves, nor for JSON (the parser would refuse the comparison).
    equality = tuple(c for c in columns if c.name not in RESERVED and c.kind not in ("json", "array"))
    return EntityInfo(
        entity=entity,
        columns=columns,
        create=create_fields(entity),
        update=update_fields(entity),
        relations=relations,
        filters=tuple(filters),
        sorts=tuple(sorts),
        joins=tuple(joins),
        equality=equality,
    )


# Codes the CRUD API answers with (``tenantry.errors`` and the capabilities in front of it), so a
# client can switch over them exhaustively. A server may add codes; clients pass them through.
ERROR_CODES: tuple[str, ...] = (
    "VALIDATION_FAILED",
    "UNIQUE_VIOLATION",
    "REFERENCE_NOT_FOUND",
    "REFERENCED_BY",
    "CONSTRAINT_VIOLATION",
    "NOT_FOUND",
    "ROUTE_NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "INVALID_ID",
    "INVALID_QUERY",
    "INVALID_FILTER",
    "INVALID_FILTER_VALUE",
    "INVALID_OPERATOR",
    "INVALID_FIELD",
    "INVALID_SORT",
    "INVALID_SEARCH",
    "INVALID_PAGE",
    "INVALID_LIMIT",
    "INVALID_OFFSET",
    "INVALID_PER_PAGE",
    "INVALID_JSON",
    "UNSUPPORTED_MEDIA_TYPE",
    "PAYLOAD_TOO_LARGE",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "FORBIDDEN_ACTION",
    "NO_ACTIVE_ORGANIZATION",
    "TENANT_MISMATCH",
    "TENANT_REQUIRED",
    "OWNER_MISMATCH",
    "INVALID_ORIGIN",
    "API_KEY_SCOPE_DENIED",
    "INVALID_API_KEY",
    "KEY_NOT_FOUND",
    "KEY_DISABLED",
    "KEY_EXPIRED",
    "USAGE_EXCEEDED",
    "USER_BANNED",
    "USER_NOT_MEMBER_OF_ORGANIZATION",
    "RATE_LIMITED",
    "DATABASE_UNAVAILABLE",
    "INTERNAL_ERROR",
)
# What the clients themselves report when there is no API error body to read.
CLIENT_ERROR_CODES: tuple[str, ...] = ("NETWORK_ERROR", "UNEXPECTED_RESPONSE")
