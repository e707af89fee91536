"""Revision files for `.apsorc` column kinds, on SQLite and PostgreSQL: serial and bigserial ids,
integer foreign keys, array columns and PostGIS columns are written, applied, and then compare
equal (no spurious second revision)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from tenantry.db.features import refuse_spatial, spatial_fields
from tenantry.db.migrations import alembic_config, make_revision, status, sync_schema, upgrade
from tenantry.schema import SchemaError, load_schema_text
from tests.db.conftest import db_url, project
from tests.db.test_migrations import columns, execute, tables_for

__all__ = ["db_url", "project"]  # fixtures, used by name

SCHEMA = """\
{
  "version": 2,
  "entities": [
    { "name": "Author", "fields": [
        { "name": "name", "type": "text" },
        { "name": "tags", "type": "text[]", "nullable": true },
        { "name": "scores", "type": "array", "elementType": "integer", "nullable": true },
        { "name": "ratios", "type": "float[]", "nullable": true },
        { "name": "flags", "type": "boolean[]", "nullable": true } ] },
    { "name": "Post", "primaryKeyType": "uuid", "fields": [ { "name": "title", "type": "text" } ] },
    { "name": "Slug", "primaryKeyType": "text", "fields": [ { "name": "title", "type": "text" } ] }
  ],
  "relationships": [ { "from": "Author", "to": "Post", "type": "OneToMany" } ]
}
"""

EXTENDED = """
events:
  id: bigserial
  fields:
    - name: string (required)
"""


def test_apsorc_ids_and_arrays_migrate_without_spurious_changes(db_url: str, project: Path) -> None:
    tables = tables_for(SCHEMA, db_url)
    path = make_revision(db_url, tables, project, "initial")
    assert path is not None
    text = path.read_text()
    assert "tenantry.db.types.array_type('text')" in text and "tenantry.db.types.array_type('integer')" in text
    upgrade(db_url, tables, project)
    assert make_revision(db_url, tables, project, "nothing") is None
    assert status(db_url, tables, project).up_to_date
    cols = columns(db_url, "post")
    assert "INT" in str(cols["authorId"]["type"]).upper()  # the foreign key takes Author's serial type
    author = columns(db_url, "author")
    if db_url.startswith("postgresql"):  # real arrays there, JSON text on SQLite
        kinds = {name: type(author[name]["type"].item_type).__name__ for name in ("tags", "scores", "flags")}
        assert kinds == {"tags": "TEXT", "scores": "INTEGER", "flags": "BOOLEAN"}


def test_bigserial_ids_migrate(db_url: str, project: Path) -> None:
    tables = tables_for(EXTENDED, db_url)
    assert make_revision(db_url, tables, project, "initial") is not None
    upgrade(db_url, tables, project)
    assert make_revision(db_url, tables, project, "nothing") is None
    kind = str(columns(db_url, "events")["id"]["type"]).upper()
    assert kind == ("BIGINT" if db_url.startswith("postgresql") else "INTEGER")


PLACES = """\
{
  "version": 2,
  "entities": [
    { "name": "Place", "fields": [
        { "name": "name", "type": "text" },
        { "name": "location", "type": "point" },
        { "name": "spot", "type": "geography", "nullable": true },
        { "name": "area", "type": "polygon", "nullable": true } ] }
  ]
}
"""


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_postgis_columns_migrate_and_sync_without_spurious_changes(db_url: str, project: Path) -> None:
    tables = tables_for(PLACES, db_url)
    path = make_revision(db_url, tables, project, "initial")  # a new database: PostGIS is created first
    assert path is not None
    text = path.read_text()
    assert "tenantry.db.types.Spatial('point')" in text and "tenantry.db.types.Spatial('geography')" in text
    upgrade(db_url, tables, project)
    assert make_revision(db_url, tables, project, "nothing") is None  # spatial_ref_sys and the types agree
    assert status(db_url, tables, project).up_to_date
    assert sync_schema(db_url, tables).applied == []

    changed = tables_for(PLACES.replace('"type": "polygon"', '"type": "multipolygon"'), db_url)
    unmigrated = status(db_url, changed, project).unmigrated
    assert len(unmigrated) == 1 and "area" in unmigrated[0], unmigrated


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_alembic_run_on_its_own_creates_postgis_first(db_url: str, project: Path) -> None:
    tables = tables_for(PLACES, db_url)
    make_revision(db_url, tables, project, "initial")
    # Writing the revision changed nothing (its transaction is rolled back): still no extension.
    assert execute(db_url, "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'") == [(0,)]
    command.upgrade(alembic_config(db_url, tables, project), "head")  # env.py without a shared connection
    assert execute(db_url, "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'") == [(1,)]
    assert columns(db_url, "place")["location"]["type"].__class__.__name__ == "ReflectedSpatial"


def test_postgis_is_refused_where_the_server_has_no_extension() -> None:
    schema = load_schema_text(PLACES, "places.apsorc")
    fields = spatial_fields(schema.entities.values())
    refuse_spatial(fields, "postgresql", postgis_available=True)  # nothing to refuse
    with pytest.raises(SchemaError) as caught:
        refuse_spatial(fields, "postgresql", postgis_available=False)
    lines = str(caught.value).splitlines()
    assert len(lines) == 3 and lines[0].startswith("places.apsorc:6: field 'location' of 'Place' is a PostGIS type")
    assert "pg_available_extensions lists no 'postgis'" in lines[0]


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_postgis_needs_a_role_that_may_create_it(db_url: str) -> None:
    role = "tenantry_test_no_postgis"
    execute(
        db_url,
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') "
        f"THEN CREATE ROLE {role} LOGIN; END IF; END $$",
    )
    url = sa.make_url(db_url).set(username=role, password=None).render_as_string(hide_password=False)
    with pytest.raises(SchemaError) as caught:
        sync_schema(url, tables_for(PLACES, url))
    first = str(caught.value).splitlines()[0]
    assert "the PostGIS extension could not be created in this database (permission denied" in first, first
    assert execute(db_url, "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'") == [(0,)]
