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


# Every PostGIS column is in this spatial reference system: Apso declares none, and 4326 (WGS 84
# longitude/latitude) is what GeoJSON means by its coordinates.
SRID = 4326

# The PostGIS subtype of each of Apso's type names (``geometry``/``geography`` hold any).
SPATIAL_SUBTYPES = {
    "geometry": "Geometry",
    "geography": "Geometry",
    "point": "Point",
    "linestring": "LineString",
    "polygon": "Polygon",
    "multipoint": "MultiPoint",
    "multilinestring": "MultiLineString",
    "multipolygon": "MultiPolygon",
    "geometrycollection": "GeometryCollection",
}


class Spatial(sa.types.UserDefinedType[Any]):
    """A PostGIS column (``geometry(Point,4326)`` …); only ever built for PostgreSQL with PostGIS.

    GeoJSON text on both sides, as TypeORM's PostgreSQL driver does: values are written through
    ``ST_GeomFromGeoJSON`` (with the SRID set) and read back as ``ST_AsGeoJSON(col)::json``.
    """

    cache_ok = True

    def __init__(self, kind: str = "geometry") -> None:
        self.kind = kind

    @property
    def base(self) -> str:
        """``geography`` for Apso's geography type, ``geometry`` for every other one."""
        return "geography" if self.kind == "geography" else "geometry"

    def get_col_spec(self, **kw: Any) -> str:
        return f"{self.base}({SPATIAL_SUBTYPES[self.kind]},{SRID})"

    def bind_expression(self, bindvalue: Any) -> Any:
        # The cast picks ST_GeomFromGeoJSON(text) among its overloads (text, json, jsonb).
        geom = sa.func.ST_SetSRID(sa.func.ST_GeomFromGeoJSON(sa.cast(bindvalue, sa.Text)), SRID)
        return geom if self.base == "geometry" else sa.func.geography(geom)

    def column_expression(self, colexpr: Any) -> Any:
        return sa.cast(sa.func.ST_AsGeoJSON(colexpr), postgresql.JSON)


class ReflectedSpatial(Spatial):
    """A PostGIS column as SQLAlchemy reflects it (``geometry(Point,4326)`` gives ``"Point", "4326"``).

    Registered for reflection so Alembic's comparison knows PostGIS's types instead of warning
    about them; the subtype and SRID are compared from the catalog (``tenantry.db.migrations``).
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()


for _name in ("geometry", "geography"):
    postgresql.base.ischema_names.setdefault(_name, ReflectedSpatial)
