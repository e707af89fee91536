"""Column types whose storage differs between PostgreSQL and SQLite.

These types only shape DDL (tables and Alembic migrations); rows are read and written through
``tenantry.db.codecs``, which knows the storage format chosen here for each dialect.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class GUID(TypeDecorator[Any]):
    """A UUID: native ``uuid`` on PostgreSQL, the 36-character text form on SQLite (readable, LIKE-able)."""

    impl = sa.String(36)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.UUID(as_uuid=True))
        return dialect.type_descriptor(sa.String(36))


class UTCTimestamp(TypeDecorator[Any]):
    """An instant: ``timestamptz`` on PostgreSQL; on SQLite, ISO-8601 UTC text with milliseconds.

    The SQLite text form (``2026-11-26T10:42:01.801Z``) has a fixed width, so text comparison and
    sorting agree with time order, and it is exactly what the API returns.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(sa.DateTime())


def json_type() -> TypeEngine[Any]:
    """``jsonb`` on PostgreSQL, JSON text elsewhere."""
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


# The SQLite expression producing the timestamp text format above, for server defaults.
SQLITE_NOW = "(strftime('%Y-%m-%dT%H:%M:%fZ','now'))"


_ARRAY_ELEMENTS: dict[str, TypeEngine[Any]] = {
    "text": sa.Text(),
    "integer": sa.Integer(),
    "float": sa.Double(),
    "boolean": sa.Boolean(),
}


def array_type(element: str) -> TypeEngine[Any]:
    """A real array on PostgreSQL (``text[]`` …), a JSON array elsewhere (SQLite has no arrays)."""
    return sa.JSON().with_variant(postgresql.ARRAY(_ARRAY_ELEMENTS[element]), "postgresql")


def array_element(pg_type: TypeEngine[Any]) -> str | None:
    """The element name ``array_type`` was given, from its PostgreSQL variant; None for another type."""
    if not isinstance(pg_type, postgresql.ARRAY):
        return None
    return next((name for name, t in _ARRAY_ELEMENTS.items() if type(t) is type(pg_type.item_type)), None)


class Spatial(sa.types.UserDefinedType[Any]):
    """A PostGIS column (``geometry(Point)`` …); only ever built for PostgreSQL with PostGIS."""

    cache_ok = True

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def get_col_spec(self, **kw: Any) -> str:
        if self.kind in ("geometry", "geography"):
            return self.kind
        names = {"linestring": "LineString", "multipoint": "MultiPoint", "multilinestring": "MultiLineString"}
        names |= {"multipolygon": "MultiPolygon", "geometrycollection": "GeometryCollection"}
        return f"geometry({names.get(self.kind, self.kind.capitalize())})"
