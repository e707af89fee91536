"""Body keys that are not fields: a 400 in the YAML dialect, dropped where the schema says so.

`.apsorc` services drop them as nestjsx's whitelisting validation pipe does (tests/api/test_apso.py);
the YAML dialect refuses them unless an entity sets `unknown_fields: drop`. Never a partial write.
"""

from __future__ import annotations

from tests.api._helpers import assert_error

SCHEMA = """
notes:
  - title: string (required)
drafts:
  fields:
    - title: string (required)
  unknown_fields: drop
"""


async def test_unknown_keys_are_refused_by_default_and_dropped_on_request(make_client) -> None:
    async with make_client(SCHEMA) as client:
        body = assert_error(
            await client.post("/api/notes", json={"title": "a", "colour": "red"}), 400, "VALIDATION_FAILED"
        )
        assert body["errors"] == [
            {"field": "colour", "message": "is not a field of this resource", "code": "UNKNOWN_FIELD"}
        ]
        assert (await client.get("/api/notes")).json() == []  # nothing written
        r = await client.post("/api/drafts", json={"title": "a", "colour": "red"})
        assert r.status_code == 201 and set(r.json()) == {"id", "title"}
        r = await client.patch(f"/api/drafts/{r.json()['id']}", json={"title": 7, "colour": "blue"})
        assert_error(r, 400, "VALIDATION_FAILED")
        assert [d["title"] for d in (await client.get("/api/drafts")).json()] == ["a"]
