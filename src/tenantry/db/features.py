"""Database features a schema needs beyond plain tables, checked before any DDL is run.

PostGIS columns (Apso's ``geometry``, ``point`` …) need PostgreSQL with the ``postgis``
extension. On PostgreSQL the extension is created (if the server has it) before a migration or a
sync touches the tables. A schema that declares one is refused with a schema error naming each
field's file and line: at once on SQLite, and on a PostgreSQL server whose
``pg_available_extensions`` lists no ``postgis``.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from tenantry.schema import Entity, Field
from tenantry.schema.errors import Problem, SchemaError


def spatial_fields(entities: Iterable[Entity]) -> list[tuple[Entity, Field]]:
    """Every PostGIS field of ``entities``, in schema order."""
    return [(e, f) for e in entities for f in e.fields if f.spatial is not None]


def refuse_spatial(fields: list[tuple[Entity, Field]], dialect: str, postgis_available: bool = False) -> None:
    """Raise ``SchemaError`` when ``fields`` is not empty and this database cannot hold them (SQLite,
    or PostgreSQL without PostGIS available), saying why."""
    if not fields or (dialect == "postgresql" and postgis_available):
        return
    problems = []
    for entity, f in fields:
        what = f"field '{f.name}' of '{entity.name}' is a PostGIS type ({f.spatial})"
        if dialect != "postgresql":
            why = "it needs PostgreSQL with the PostGIS extension, and this app's database is SQLite"
        else:
            why = (
                "this PostgreSQL server has no PostGIS extension (pg_available_extensions lists no 'postgis'); "
                "install PostGIS on the server or remove the field"
            )
        problems.append(Problem(f"{what}: {why}", f.location))
    raise SchemaError(problems)


def check_before_migrating(conn: sa.engine.Connection, fields: list[tuple[Entity, Field]]) -> None:
    """On the migration's connection, before any table: create PostGIS for ``fields``, or refuse them.

    ``CREATE EXTENSION`` needs a role allowed to create it (a superuser, or the database's owner
    once an administrator has made it trusted); a server without the extension gets the schema error.
    """
    if not fields:
        return
    available = False
    if conn.dialect.name == "postgresql":
        found = conn.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")).first()
        available = found is not None
    refuse_spatial(fields, conn.dialect.name, available)
    if conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first() is not None:
        return
    try:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    except sa.exc.DBAPIError as exc:
        # Typically a role that may not create it: say so, with the fields, instead of a bare SQL error.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        raise SchemaError(
            [
                Problem(
                    f"field '{f.name}' of '{entity.name}' is a PostGIS type ({f.spatial}): the PostGIS extension "
                    f"could not be created in this database ({reason}); have an administrator run "
                    "CREATE EXTENSION postgis in it, or remove the field",
                    f.location,
                )
                for entity, f in fields
            ]
        ) from exc
