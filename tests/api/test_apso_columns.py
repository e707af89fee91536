"""`.apsorc` array columns (`array` + `elementType`, `text[]`); PostGIS columns are in test_apso_postgis.

Arrays are real arrays on PostgreSQL and JSON arrays on SQLite, the same on the wire; `$cont`
asks for an element, `$in` for any of several.
"""

from __future__ import annotations

from tenantry.clients.model import describe
from tenantry.clients.python import render_models
from tenantry.clients.typescript import render_module
from tenantry.schema import load_schema_text
from tests.api._helpers import assert_error
from tests.auth.helpers import runtime, sql

ARTICLES = """\
{
  "version": 2,
  "entities": [
    { "name": "Article", "fields": [
        { "name": "title", "type": "text" },
        { "name": "tags", "type": "array", "elementType": "text", "nullable": true },
        { "name": "scores", "type": "integer[]", "nullable": true },
        { "name": "flags", "type": "array", "elementType": "boolean", "nullable": true }
    ] }
  ]
}
"""


async def _titles(client, **params: str) -> list[str]:
    r = await client.get("/api/Articles", params={"sort": "id,ASC", "limit": "50", **params})
    assert r.status_code == 200, r.text
    return [a["title"] for a in r.json()["data"]]


async def test_array_columns_store_filter_and_validate(make_client) -> None:
    schema = load_schema_text(ARTICLES, "app.apsorc")
    async with make_client(schema) as client:
        rows = [
            {"title": "one", "tags": ["red", "blue"], "scores": [1, 2], "flags": [True]},
            {"title": "two", "tags": ["green"], "scores": [3], "flags": [False, False]},
            {"title": "three", "tags": [], "scores": None},
            {"title": "four"},
        ]
        for body in rows:
            r = await client.post("/api/Articles", json=body)
            assert r.status_code == 201, r.text
        got = (await client.get("/api/Articles/1")).json()
        assert (got["tags"], got["scores"], got["flags"]) == (["red", "blue"], [1, 2], [True])
        assert (await client.get("/api/Articles/3")).json()["tags"] == []

        assert await _titles(client, filter="tags||$cont||blue") == ["one"]
        assert await _titles(client, filter="tags||$in||green,red") == ["one", "two"]
        assert await _titles(client, filter="scores||$cont||3") == ["two"]
        assert await _titles(client, filter="flags||$cont||false") == ["two"]
        assert await _titles(client, filter="tags||$isnull") == ["four"]
        assert await _titles(client, s='{"tags": {"$cont": "red"}}') == ["one"]
        assert await _titles(client, filter="tags||$cont||re") == []  # an element, not a substring

        for params, code in (
            ({"filter": "tags||$eq||red"}, "INVALID_OPERATOR"),
            ({"filter": "tags||$starts||r"}, "INVALID_OPERATOR"),
            ({"filter": "scores||$cont||x"}, "INVALID_FILTER_VALUE"),
            ({"sort": "tags,ASC"}, "INVALID_SORT"),
        ):
            assert_error(await client.get("/api/Articles", params=params), 400, code)
        assert_error(await client.post("/api/Articles", json={"title": "x", "scores": ["a"]}), 400, "VALIDATION_FAILED")
        assert_error(await client.post("/api/Articles", json={"title": "x", "tags": "red"}), 400, "VALIDATION_FAILED")
        r = await client.patch("/api/Articles/2", json={"tags": ["green", "red"]})
        assert r.status_code == 200 and r.json()["tags"] == ["green", "red"]
        assert await _titles(client, filter="tags||$cont||red") == ["one", "two"]

        if runtime(client).db.dialect_name == "postgresql":
            kinds = await sql(
                client,
                "SELECT column_name, udt_name FROM information_schema.columns "
                "WHERE table_name = 'article' AND data_type = 'ARRAY' ORDER BY column_name",
            )
            assert [tuple(k) for k in kinds] == [("flags", "_bool"), ("scores", "_int4"), ("tags", "_text")]

        doc = (await client.get("/api/openapi.json")).json()
        tags = doc["components"]["schemas"]["Article"]["properties"]["tags"]
        assert tags["type"] == ["array", "null"] and tags["items"] == {"type": "string"}


def test_typed_clients_type_array_columns() -> None:
    schema = load_schema_text(ARTICLES, "app.apsorc")
    ts = render_module(schema)
    assert "tags: string[] | null;" in ts and "scores: number[] | null;" in ts and "flags: boolean[] | null;" in ts
    py = render_models(schema, describe(schema))
    assert '"tags": list[str] | None' in py and '"scores": list[int] | None' in py
