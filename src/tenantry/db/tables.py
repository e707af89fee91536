"""SQLAlchemy Core tables derived from the schema model.

Constraint names follow one convention (``uq_<table>_<column>``, ``fk_<table>_<column>`` …) so a
database error naming a constraint can be traced back to the schema field that caused it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.sql.elements import conv

from tenantry.db.features import refuse_spatial, spatial_fields
from tenantry.db.types import GUID, SQLITE_NOW, Spatial, UTCTimestamp, array_type, json_type
from tenantry.schema import Entity, Field, FieldType, ManyToMany, Schema
from tenantry.schema.types import DEFAULT_STRING_LENGTH

DialectName = Literal["postgresql", "sqlite"]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

EMAIL_LENGTH = 320
MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names; SQLAlchemy refuses them


def db_name(*parts: str) -> str:
    """A constraint or index name from its parts, shortened with a stable hash to fit PostgreSQL's 63."""
    name = "_".join(parts)
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{name[: MAX_IDENTIFIER - 9]}_{digest}"


@dataclass(frozen=True)
class ConstraintInfo:
    """What a named constraint protects, for turning database errors into field errors."""

    entity: str
    fields: tuple[str, ...]
    kind: Literal["unique", "foreign_key", "check"]


@dataclass
class TableSet:
    """The metadata for one dialect plus lookups from entities and constraint names."""

    metadata: sa.MetaData
    dialect: DialectName
    tables: dict[str, sa.Table] = field(default_factory=dict)
    constraints: dict[str, ConstraintInfo] = field(default_factory=dict)
    # What contributors built, by capability name (e.g. "auth" -> its table handles).
    extensions: dict[str, Any] = field(default_factory=dict)
    # DDL that Alembic neither compares nor generates (triggers, row-level security policies):
    # contributors register steps here, and every sync, upgrade and downgrade runs them afterwards.
    post_steps: list[PostStep] = field(default_factory=list)
    # PostGIS fields (entity, field): checked against the database before any DDL (``tenantry.db.features``).
    spatial: list[tuple[Entity, Field]] = field(default_factory=list)

    def table(self, entity: Entity | str) -> sa.Table:
        return self.tables[entity if isinstance(entity, str) else entity.name]


# A capability (auth, tenancy, audit, events …) adds its own tables or columns through one of these.
TableContributor = Callable[[TableSet, Schema], None]

# A post-migration step: given the migration's (synchronous) connection, inside its transaction,
# bring the DDL it owns up to date and return one line per change made. It must be idempotent
# (nothing to do, nothing returned) and skip tables that do not exist yet (an upgrade that stops
# at an older revision).
PostStep = Callable[[sa.engine.Connection, TableSet], list[str]]


def string_length(f: Field) -> int:
    """The maximum length stored for a string field (declared, or the default)."""
    if f.length:
        return f.length
    return EMAIL_LENGTH if f.email else DEFAULT_STRING_LENGTH


def column_type(f: Field) -> sa.types.TypeEngine[Any]:
    """The DDL type of a field."""
    t = f.type
    if t is FieldType.STRING:
        return sa.String(string_length(f))
    if t is FieldType.TEXT:
        return sa.Text()
    if t is FieldType.UUID:
        return GUID()
    if t is FieldType.INTEGER:
        return sa.Integer()
    if t is FieldType.BIGINT:
        return sa.BigInteger()
    if t is FieldType.DECIMAL:
        return sa.Numeric(f.precision, f.scale, asdecimal=True)
    if t is FieldType.FLOAT:
        return sa.Double()
    if t is FieldType.BOOLEAN:
        return sa.Boolean(create_constraint=False)
    if t is FieldType.TIMESTAMP:
        return UTCTimestamp()
    if t is FieldType.DATE:
        return sa.Date()
    if t is FieldType.JSON and f.spatial is not None:
        return Spatial(f.spatial)
    if t is FieldType.JSON and f.element is not None:
        return array_type(f.element.value)
    if t is FieldType.JSON:
        return json_type()
    if t is FieldType.ENUM:
        return sa.Enum(
            *f.enum_values,
            native_enum=False,
            create_constraint=True,
            length=max(len(v) for v in f.enum_values),
            # The naming convention turns this into ck_<table>_<field> (Alembic renders it the same way).
            name=f.name,
            validate_strings=False,
        )
    raise AssertionError(f"unhandled field type {t}")


def id_column(entity: Entity) -> sa.Column[Any]:
    if entity.id_type == "serial":
        return sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True)
    if entity.id_type == "bigserial":
        # SQLite numbers only an INTEGER PRIMARY KEY (its rowid, 64-bit anyway); PostgreSQL gets bigserial.
        return sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        )
    if entity.id_type == "text":
        # text, as Better Auth's own tables declare their ids (its databases can be served unchanged).
        return sa.Column("id", sa.Text(), primary_key=True)
    return sa.Column("id", GUID(), primary_key=True)


def server_default(f: Field, dialect: DialectName) -> Any:
    """A database-side default, so rows added by other tools and new NOT NULL columns get one too."""
    if f.auto:
        return sa.text(SQLITE_NOW) if dialect == "sqlite" else sa.text("CURRENT_TIMESTAMP")
    if not f.has_default or f.default == "now" or f.type is FieldType.JSON:
        return None
    value = f.default
    if isinstance(value, bool):
        return sa.true() if value else sa.false()
    if isinstance(value, (int, float, Decimal)):
        return sa.text(str(value))
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def build_metadata(schema: Schema, dialect: DialectName, contributors: Iterable[TableContributor] = ()) -> TableSet:
    """Tables for every entity of ``schema``, then whatever each contributor adds."""
    ts = TableSet(metadata=sa.MetaData(naming_convention=NAMING_CONVENTION), dialect=dialect)
    ts.spatial = spatial_fields(schema.entities.values())
    if dialect == "sqlite":
        refuse_spatial(ts.spatial, dialect)  # no database needed to know SQLite cannot hold them
    for entity in schema.entities.values():
        ts.tables[entity.name] = _entity_table(ts, schema, entity)
    for m2m in schema.many_to_many:
        _join_table(ts, schema, m2m)
    for contribute in contributors:
        contribute(ts, schema)
    # Last, once every table is known: the role the app's connections act as gets their rows.
    from tenantry.db.app_role import grant_app_role  # it builds on this module

    ts.post_steps.append(grant_app_role)
    return ts


def id_type(entity: Entity) -> sa.types.TypeEngine[Any]:
    """The type of ``entity``'s id column, for the columns that hold it elsewhere."""
    return id_column(entity).type


def _join_table(ts: TableSet, schema: Schema, m2m: ManyToMany) -> sa.Table:
    """A many-to-many's join table: one row per linked pair, removed with either row (TypeORM's junction).

    The primary key leads with the owner's column (listing an owner's links); the index on the
    target's column serves the way back.
    """
    columns: list[Any] = []
    for column, name in ((m2m.owner_column, m2m.owner), (m2m.target_column, m2m.target)):
        target = schema.entities[name]
        fk_name = db_name("fk", m2m.table, column)
        ts.constraints[fk_name] = ConstraintInfo(name, (column,), "foreign_key")
        columns.append(
            sa.Column(
                column,
                id_type(target),
                sa.ForeignKey(f"{target.table}.id", ondelete="CASCADE", name=conv(fk_name)),
                primary_key=True,
            )
        )
    table = sa.Table(m2m.table, ts.metadata, *columns)
    sa.Index(db_name("ix", m2m.table, m2m.target_column), table.c[m2m.target_column])
    return table


def has_foreign_keys(entity: Entity) -> bool:
    """Whether the entity's references are foreign keys in the database.

    The audit log keeps its references for joins but gets no foreign keys: its history must
    outlive the users and organizations it mentions (see tenantry.audit).
    """
    return entity.system != "audit_logs"


def _entity_table(ts: TableSet, schema: Schema, entity: Entity) -> sa.Table:
    columns: list[Any] = [id_column(entity)]
    indexed: set[str] = set()
    for f in entity.fields:
        args: list[Any] = [f.name, column_type(f)]
        if f.references and has_foreign_keys(entity):
            target = schema.entities[f.references]
            ondelete = {"restrict": "RESTRICT", "cascade": "CASCADE", "set null": "SET NULL"}[f.on_delete]
            fk_name = db_name("fk", entity.table, f.name)
            args.append(sa.ForeignKey(f"{target.table}.id", ondelete=ondelete, name=conv(fk_name)))
            ts.constraints[fk_name] = ConstraintInfo(entity.name, (f.name,), "foreign_key")
        columns.append(sa.Column(*args, nullable=f.nullable, server_default=server_default(f, ts.dialect)))
        if f.type is FieldType.ENUM:
            ts.constraints[f"ck_{entity.table}_{f.name}"] = ConstraintInfo(entity.name, (f.name,), "check")
    if entity.soft_delete:
        columns.append(sa.Column("deleted_at", UTCTimestamp(), nullable=True))
    table = sa.Table(entity.table, ts.metadata, *columns)

    live_only = table.c.deleted_at.is_(None) if entity.soft_delete else None
    for f in entity.fields:
        if f.unique:
            _unique(ts, entity, table, (f.name,), live_only)
    for ix in entity.indexes:
        if ix.unique:
            _unique(ts, entity, table, ix.fields, live_only, ix.name)
        else:
            cols = [table.c[c].desc() if c in ix.descending else table.c[c] for c in ix.fields]
            name = ix.name or db_name("ix", entity.table, *ix.fields)
            sa.Index(name, *cols)
            indexed.add(ix.fields[0])
    # Lists are filtered by tenant and sorted by creation time by default: index exactly that.
    created = entity.created_at_field
    if entity.tenant_field and created and entity.tenant_field not in indexed:
        sa.Index(
            db_name("ix", entity.table, entity.tenant_field, created), table.c[entity.tenant_field], table.c[created]
        )
        indexed.add(entity.tenant_field)
    for f in entity.fields:
        # A unique constraint on the field alone indexes it already (not one per organization).
        unique_alone = f.unique and not entity.soft_delete and entity.unique_columns((f.name,)) == (f.name,)
        if (f.references or f.index) and f.name not in indexed and not unique_alone:
            sa.Index(db_name("ix", entity.table, f.name), table.c[f.name])
            indexed.add(f.name)
    return table


def _unique(
    ts: TableSet,
    entity: Entity,
    table: sa.Table,
    cols: tuple[str, ...],
    live_only: Any,
    name: str | None = None,
) -> None:
    # Per organization on a tenant entity (``Entity.unique_columns``); a conflict names the fields
    # the schema declared, which are all the client wrote.
    scoped = entity.unique_columns(cols)
    cname = name or db_name("uq", entity.table, *scoped)
    ts.constraints[cname] = ConstraintInfo(entity.name, cols, "unique")
    if live_only is None:
        table.append_constraint(sa.UniqueConstraint(*scoped, name=conv(cname)))
    else:
        # Soft-deleted rows must not block a new row with the same value: a partial unique index.
        sa.Index(
            cname,
            *(table.c[c] for c in scoped),
            unique=True,
            postgresql_where=live_only,
            sqlite_where=live_only,
        )
