"""PostGIS columns of an `.apsorc` (Apso's `point`, `polygon`, `geography` …) on PostgreSQL.

Stored as `geometry(<Type>,4326)` / `geography(Geometry,4326)` once the server's PostGIS extension
is created (before the tables), and served as TypeORM's PostgreSQL driver serves them: GeoJSON in,
GeoJSON out. Only `$isnull`/`$notnull` filter them; they do not sort. On SQLite (and on a
PostgreSQL server without PostGIS) the schema is refused, naming the field's file and line.
"""

from __future__ import annotations

import pytest

from tenantry.schema import SchemaError, load_schema_text
from tests.api._helpers import assert_error
from tests.auth.helpers import BASE, NO_VERIFICATION, runtime, sql
from tests.tenancy.helpers import create_org, new_user

PLACES = """\
{
  "version": 2,
  "entities": [
    { "name": "Place", "fields": [
        { "name": "name", "type": "text" },
        { "name": "location", "type": "point" },
        { "name": "route", "type": "linestring", "nullable": true },
        { "name": "area", "type": "polygon", "nullable": true },
        { "name": "spot", "type": "geography", "nullable": true },
        { "name": "shape", "type": "geometry", "nullable": true },
        { "name": "parts", "type": "multipolygon", "nullable": true }
    ] }
  ]
}
"""

POINT = {"type": "Point", "coordinates": [2.3522, 48.8566]}
LINE = {"type": "LineString", "coordinates": [[0, 0], [1, 1], [2, 0.5]]}
SQUARE = [[[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]]
POLYGON = {"type": "Polygon", "coordinates": SQUARE}
MULTI = {"type": "MultiPolygon", "coordinates": [SQUARE, [[[5, 5], [5, 6], [6, 6], [5, 5]]]]}


SCOPED = """\
{
  "version": 2,
  "entities": [
    { "name": "Organization", "fields": [
        { "name": "name", "type": "text" }, { "name": "slug", "type": "text", "unique": true } ] },
    { "name": "Site", "scopeBy": "organizationId", "fields": [
        { "name": "name", "type": "text" }, { "name": "where", "type": "geography" } ] }
  ],
  "relationships": [ { "from": "Organization", "to": "Site", "type": "OneToMany" } ]
}
"""


async def _names(client, **params: str) -> list[str]:
    r = await client.get("/api/Places", params={"sort": "id,ASC", **params})
    assert r.status_code == 200, r.text
    return [p["name"] for p in r.json()["data"]]  # Apso services always paginate


# Each test runs on the database it is about (``database_url`` takes one of its own parameters).
ON_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@ON_POSTGRES
async def test_postgis_columns_round_trip_as_geojson(make_client) -> None:
    async with make_client(load_schema_text(PLACES, "places.apsorc")) as client:
        body = {"name": "paris", "location": POINT, "route": LINE, "area": POLYGON, "spot": POINT, "parts": MULTI}
        r = await client.post("/api/Places", json=body)
        assert r.status_code == 201, r.text
        created = r.json()
        for key in ("location", "route", "area", "spot", "parts"):
            assert created[key] == body[key], key
        assert created["shape"] is None
        got = (await client.get(f"/api/Places/{created['id']}")).json()
        assert {k: got[k] for k in body} == body

        r = await client.patch(f"/api/Places/{created['id']}", json={"shape": LINE, "spot": None})
        assert r.status_code == 200, r.text
        assert (r.json()["shape"], r.json()["spot"]) == (LINE, None)
        bulk = [{"name": "a", "location": POINT, "area": POLYGON}, {"name": "b", "location": {"type": "Point"}}]
        assert_error(await client.post("/api/Places/bulk", json={"bulk": bulk}), 400, "VALIDATION_FAILED")
        r = await client.post("/api/Places/bulk", json={"bulk": bulk[:1]})
        assert r.status_code == 201 and r.json()[0]["area"] == POLYGON, r.text
        r = await client.put(f"/api/Places/{r.json()[0]['id']}", json={"name": "a", "location": POINT, "parts": MULTI})
        assert r.status_code == 200 and (r.json()["parts"], r.json()["area"]) == (MULTI, POLYGON), r.text
        await client.delete(f"/api/Places/{r.json()['id']}")
        elsewhere = {"type": "Point", "coordinates": [-1, 2]}
        r = await client.post("/api/Places", json={"name": "nowhere", "location": elsewhere})
        assert r.status_code == 201 and r.json()["location"]["coordinates"] == [-1, 2], r.text

        kinds = await sql(
            client,
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'place'::regclass AND attnum > 0 AND NOT attisdropped "
            "AND format_type(atttypid, atttypmod) ~ '^geo' ORDER BY attname",
        )
        assert [tuple(k) for k in kinds] == [
            ("area", "geometry(Polygon,4326)"),
            ("location", "geometry(Point,4326)"),
            ("parts", "geometry(MultiPolygon,4326)"),
            ("route", "geometry(LineString,4326)"),
            ("shape", "geometry(Geometry,4326)"),
            ("spot", "geography(Geometry,4326)"),
        ]
        # Stored as geometries PostGIS computes with, in the declared reference system.
        (row,) = await sql(
            client, "SELECT ST_SRID(location), ST_Area(area), ST_X(location) FROM place WHERE name = 'paris'"
        )
        assert tuple(row) == (4326, 1.0, 2.3522)

        assert await _names(client, filter="spot||$notnull") == []
        assert await _names(client, filter="shape||$notnull") == ["paris"]
        assert await _names(client, filter="area||$isnull") == ["nowhere"]
        assert await _names(client, s='{"route": {"$isnull": true}}') == ["nowhere"]

        for params, code in (
            ({"filter": "location||$eq||1"}, "INVALID_OPERATOR"),
            ({"filter": "area||$cont||x"}, "INVALID_OPERATOR"),
            ({"s": '{"spot": {"$in": [1]}}'}, "INVALID_OPERATOR"),
            ({"sort": "location,ASC"}, "INVALID_SORT"),
        ):
            assert_error(await client.get("/api/Places", params=params), 400, code)

        doc = (await client.get("/api/openapi.json")).json()
        props = doc["components"]["schemas"]["Place"]["properties"]
        assert props["location"]["type"] == "object"
        assert props["location"]["properties"]["type"]["enum"] == ["Point"]
        assert props["area"]["type"] == ["object", "null"]


@ON_POSTGRES
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("location", {"type": "Polygon", "coordinates": SQUARE}),  # the wrong geometry type
        ("location", {"type": "Point", "coordinates": [1]}),
        ("location", {"type": "Point", "coordinates": [1, 2, 3]}),  # the columns are two-dimensional
        ("location", {"type": "Point", "coordinates": ["a", "b"]}),
        ("location", {"type": "Point"}),
        ("location", "POINT(1 2)"),
        ("location", [1, 2]),
        ("area", {"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [1, 0]]]}),  # ring not closed
        ("area", {"type": "Polygon", "coordinates": [[[0, 0], [0, 0]]]}),
        ("route", {"type": "LineString", "coordinates": [[0, 0]]}),
        ("spot", {"type": "Point", "coordinates": [200, 95]}),  # outside longitude/latitude
        ("shape", {"type": "Circle", "coordinates": [0, 0]}),
        ("shape", {"type": "GeometryCollection"}),
    ],
)
async def test_invalid_geojson_is_a_field_error(make_client, field: str, value: object) -> None:
    async with make_client(load_schema_text(PLACES, "places.apsorc")) as client:
        body = {"name": "bad", "location": POINT, field: value}
        r = await client.post("/api/Places", json=body)
        assert_error(r, 400, "VALIDATION_FAILED")
        assert field in r.text, r.text
        assert await _names(client) == []


@ON_SQLITE
async def test_postgis_types_are_refused_on_sqlite_with_the_field(make_client) -> None:
    with pytest.raises(SchemaError) as caught:
        async with make_client(load_schema_text(PLACES, "places.apsorc")):
            pass
    message = str(caught.value)
    assert message.startswith("places.apsorc:6: field 'location' of 'Place' is a PostGIS type (point): "), message
    assert "this app's database is SQLite" in message


@ON_POSTGRES
async def test_spatial_rows_stay_in_their_organization(make_client) -> None:
    async with make_client(load_schema_text(SCOPED, "sites.apsorc"), auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        bob = await new_user(client, "bob@example.com")
        await create_org(client, ann, "Acme", slug="acme")
        await create_org(client, bob, "Bravo", slug="bravo")
        mine = await client.post("/api/Sites", json={"name": "hq", "where": POINT}, headers=ann.headers)
        assert mine.status_code == 201 and mine.json()["where"] == POINT, mine.text
        theirs = await client.post("/api/Sites", json={"name": "depot", "where": LINE}, headers=bob.headers)
        assert theirs.status_code == 201, theirs.text
        other = theirs.json()["id"]
        assert_error(await client.get(f"/api/Sites/{other}", headers=ann.headers), 404, "NOT_FOUND")
        assert_error(await client.patch(f"/api/Sites/{other}", json={"where": POINT}, headers=ann.headers), 404)
        assert_error(await client.delete(f"/api/Sites/{other}", headers=ann.headers), 404)
        listed = await client.get("/api/Sites", params={"filter": "where||$notnull"}, headers=ann.headers)
        assert [s["name"] for s in listed.json()["data"]] == ["hq"]
        assert (await client.get(f"/api/Sites/{other}", headers=bob.headers)).json()["where"] == LINE
        assert runtime(client).db.dialect_name == "postgresql"


JOINED = """\
{
  "version": 2,
  "entities": [
    { "name": "Region", "fields": [
        { "name": "name", "type": "text" }, { "name": "zone", "type": "polygon", "nullable": true } ] },
    { "name": "Spot", "fields": [ { "name": "name", "type": "text" }, { "name": "at", "type": "geography" } ] }
  ],
  "relationships": [ { "from": "Region", "to": "Spot", "type": "OneToMany" } ]
}
"""


@ON_POSTGRES
async def test_joined_rows_carry_geojson(make_client) -> None:
    async with make_client(load_schema_text(JOINED, "regions.apsorc")) as client:
        region = await client.post("/api/Regions", json={"name": "r", "zone": POLYGON})
        assert region.status_code == 201, region.text
        spot = await client.post("/api/Spots", json={"name": "s", "at": POINT, "regionId": region.json()["id"]})
        assert spot.status_code == 201, spot.text
        (got,) = (await client.get("/api/Spots", params={"join": "region"})).json()["data"]
        assert (got["at"], got["region"]["zone"]) == (POINT, POLYGON)
        (got,) = (await client.get("/api/Regions", params={"join": "spots", "filter": "spots.at||$notnull"})).json()[
            "data"
        ]
        assert (got["zone"], got["spots"][0]["at"]) == (POLYGON, POINT)
        assert (await client.get("/api/Spots", params={"fields": "at"})).json()["data"] == [{"id": 1, "at": POINT}]
        joined = {"join": "region"}
        for params, code in (
            ({**joined, "filter": "region.zone||$eq||x"}, "INVALID_OPERATOR"),
            ({**joined, "sort": "region.zone,ASC"}, "INVALID_SORT"),
        ):
            assert_error(await client.get("/api/Spots", params=params), 400, code)
