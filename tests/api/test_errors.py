"""Client mistakes get 4xx answers with stable codes (nestjsx's messages where it has one); nothing is a 500.

The last part throws random input at the API with Hypothesis. Hypothesis drives synchronous test
functions, while the app, its lifespan and its database pool live in an event loop; so the fuzz
tests are plain ``def`` tests that run the app inside an ``anyio`` blocking portal (an event loop
in a helper thread, entered once per test) and send every generated request through
``portal.call``. One app and one database serve all examples of a test, the examples are
derandomized (the same on every run) and the example database is off, so runs are reproducible.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ._helpers import assert_error, field_codes, get_json, names, post, seed_org, seed_project, seed_user

OPERATOR_MESSAGE = (
    "Invalid comparison operator. "
    "eq,ne,gt,lt,gte,lte,starts,ends,cont,excl,in,notin,isnull,notnull,between,"
    "$eq,$ne,$gt,$lt,$gte,$lte,$starts,$ends,$cont,$excl,$in,$notin,$isnull,$notnull,$between,"
    "$eqL,$neL,$startsL,$endsL,$contL,$exclL,$inL,$notinL expected"
)

NUMERIC_SCHEMA = """
counters:
  id: serial
  fields:
    - label: string (required)
    - n: integer (nullable)
    - big: bigint (nullable)
    - amount: decimal(6, 2) (nullable)
    - on: boolean (nullable)
    - doc: json (nullable)
    - at: timestamp (nullable)
tags:
  id: text
  fields:
    - label: string (required, unique)
"""


# -- query string ----------------------------------------------------------------------------------


async def test_invalid_operator_uses_nestjsx_message(make_client) -> None:
    async with make_client() as client:
        for params in (
            {"filter": "name||$like||x"},
            {"filter": "name||like||x"},
            {"filter": "name||$EQ||x"},
            {"filter": "name||$eql||x"},
            {"or": "name||$foo||x"},
            {"s": json.dumps({"name": {"$like": "x"}})},
            {"s": json.dumps({"name": {"eq": "x"}})},
        ):
            r = await client.get("/api/projects", params=params)
            assert_error(r, 400, "INVALID_OPERATOR", OPERATOR_MESSAGE)


async def test_malformed_filter(make_client) -> None:
    async with make_client() as client:
        r = await client.get("/api/projects", params={"filter": "views"})
        assert_error(r, 400, "INVALID_FILTER", "Invalid filter value")
        for raw in ("name||", "||$eq||x", "name||$eq||", "name||$eq", " ||$eq||x"):
            assert_error(await client.get("/api/projects", params={"filter": raw}), 400)
            assert_error(await client.get("/api/projects", params={"or": raw}), 400)
        # list operators need values, $between exactly two
        for raw in ("name||$in||a,,b", "name||$in||,", "name||$between||a", "name||$between||a,b,c"):
            assert_error(await client.get("/api/projects", params={"filter": raw}), 400, "INVALID_FILTER_VALUE")


async def test_invalid_sort(make_client) -> None:
    async with make_client() as client:
        r = await client.get("/api/projects", params={"sort": "x,SIDEWAYS"})
        assert_error(r, 400, "INVALID_SORT", "Invalid sort order. ASC,DESC expected")
        for raw in ("name", "name,", "name,asc", "name,Desc", "name,ASC,DESC"):
            r = await client.get("/api/projects", params={"sort": raw})
            assert_error(r, 400, "INVALID_SORT", "Invalid sort order. ASC,DESC expected")
        assert_error(await client.get("/api/projects", params={"sort": "nope,ASC"}), 400, "INVALID_FIELD")
        assert_error(await client.get("/api/projects", params={"sort": ",ASC"}), 400, "INVALID_FIELD")
        assert_error(await client.get("/api/projects", params={"sort": "organization.nope,ASC"}), 400, "INVALID_FIELD")
        # JSON documents have no order (a to-many relation sorts by its first value: see test_many_to_many)
        assert_error(
            await client.get("/api/projects", params={"sort": "organization.nope.name,ASC"}), 400, "INVALID_FIELD"
        )
        assert_error(await client.get("/api/audit_logs", params={"sort": "new_values,ASC"}), 400, "INVALID_SORT")


async def test_many_sort_keys_are_not_an_error(make_client) -> None:
    async with make_client() as client:
        org = await seed_org(client)
        user = await seed_user(client, org)
        await seed_project(client, org, user)
        params = [("sort", "name,ASC"), ("sort", "status,DESC")] * 1500
        rows = await get_json(client, "/api/projects", params)
        assert len(rows) == 1


async def test_invalid_search(make_client) -> None:
    async with make_client() as client:
        for raw in ("notjson", "{", "{'name': 'x'}", "", '{"name": NaN}', '{"n": 1e400}'):
            r = await client.get("/api/projects", params={"s": raw})
            assert_error(r, 400, "INVALID_SEARCH", "Invalid search param. JSON expected")
        for tree in (
            [1],
            "name",
            5,
            None,
            {"$or": {}},
            {"$and": [1]},
            {"$or": "x"},
            {"name": [1]},
            {"name": {}},
            {"name": {"$or": []}},
            {"name": {"$in": "x"}},
            {"name": {"$in": []}},
            {"name": {"$between": ["a"]}},
            {"name": {"$eq": None}},
            {"name": {"$eq": {"a": 1}}},
            {"nope": 1},
            {"organization.nope": 1},
            {"created_at": {"$gt": "yesterday"}},
        ):
            r = await client.get("/api/projects", params={"s": json.dumps(tree)})
            assert_error(r, 400)


async def test_unknown_filter_field(make_client) -> None:
    async with make_client() as client:
        r = await client.get("/api/projects", params={"filter": "nope||$eq||1"})
        assert_error(r, 400, "INVALID_FIELD", "Invalid field 'nope'")
        for raw in (
            "nope.name||$eq||1",
            "organization.nope||$eq||1",
            "name.x||$eq||1",
            "organization.users.nope||$isnull",
            "organization.users.projects.organization.users.id||$isnull",  # five relations deep
        ):
            assert_error(await client.get("/api/projects", params={"filter": raw}), 400, "INVALID_FIELD")
            assert_error(await client.get("/api/projects", params={"or": raw}), 400, "INVALID_FIELD")


async def test_wrongly_typed_filter_values(make_client) -> None:
    async with make_client(NUMERIC_SCHEMA) as client:
        await post(client, "counters", {"label": "a", "n": 1})
        for raw in (
            "id||$eq||abc",
            "id||$eq||1.5",
            "id||$in||1,abc",
            "id||$eq||2147483648",
            "n||$eq||abc",
            "n||$gt||1.5",
            "n||$eq||2147483648",
            "n||$eq||-2147483649",
            "n||$between||1,x",
            "n||$eq||²",
            "big||$eq||9223372036854775808",
            "amount||$eq||abc",
            "amount||$gt||NaN",
            "amount||$gt||Infinity",
            "on||$eq||maybe",
            "at||$gt||yesterday",
            "at||$gt||2026-02-30T00:00:00Z",
            "at||$gt||0001-01-01T00:00:00+01:00",
        ):
            r = await client.get("/api/counters", params={"filter": raw})
            assert_error(r, 400, "INVALID_FILTER_VALUE")
        # operators that do not apply to a type
        for raw in ("n||$cont||1", "id||$startsL||1", "on||$gt||true", "doc||$eq||1", "at||$endsL||Z"):
            r = await client.get("/api/counters", params={"filter": raw})
            assert_error(r, 400, "INVALID_OPERATOR")
        # plain equality parameters are typed too
        assert_error(await client.get("/api/counters", params={"n": "abc"}), 400, "INVALID_FILTER_VALUE")


async def test_wrongly_typed_uuid_filters(make_client) -> None:
    async with make_client() as client:
        r = await client.get("/api/projects", params={"filter": "id||$eq||abc"})
        assert_error(r, 400, "INVALID_FILTER_VALUE", "Invalid value 'abc' for 'id': expected a UUID")
        r = await client.get("/api/projects", params={"org_id": "not-a-uuid"})
        assert_error(r, 400, "INVALID_FILTER_VALUE")
        r = await client.get("/api/projects", params={"filter": "organization.id||$in||abc"})
        assert_error(r, 400, "INVALID_FILTER_VALUE")


async def test_invalid_paging(make_client) -> None:
    async with make_client() as client:
        for params in (
            {"limit": "abc"},
            {"limit": "-1"},
            {"limit": "1.5"},
            {"limit": "²"},
            {"per_page": "x"},
            {"offset": "-5"},
            {"offset": "²"},
            {"page": "0"},
            {"page": "-1"},
            {"page": "²"},
            {"page": "1e3"},
            {"limit": ""},
        ):
            r = await client.get("/api/projects", params=params)
            assert_error(r, 400)
            assert r.json()["code"].startswith("INVALID_")


async def test_nul_in_query_is_400(make_client) -> None:
    async with make_client() as client:
        for params in (
            {"filter": "name||$eq||a\x00b"},
            {"filter": "na\x00me||$eq||x"},
            {"sort": "name\x00,ASC"},
            {"fields": "name\x00"},
            {"s": '{"name": "a\x00"}'},
            {"s": '{"name": "a\\u0000"}'},
            {"s": '{"name": {"$in": ["a\\u0000"]}}'},
            {"s": '{"name": {"$contL": "a\\u0000"}}'},
            {"s": '{"name": {"$starts": "a\\u0000"}}'},
            {"s": '{"a\\u0000": 1}'},
            {"name": "a\x00"},
        ):
            r = await client.get("/api/projects", params=params)
            assert_error(r, 400)


# -- paths ---------------------------------------------------------------------------------------


async def test_malformed_ids_are_400(make_client) -> None:
    async with make_client() as client:
        for bad in ("abc", "1", "123e4567-e89b-12d3-a456-42661417400", "%20", "²"):
            for method in ("GET", "PUT", "PATCH", "DELETE"):
                r = await client.request(
                    method, f"/api/projects/{bad}", json={"name": "x"} if method in ("PUT", "PATCH") else None
                )
                body = assert_error(r, 400, "INVALID_ID")
                assert body["message"].endswith("is not a valid Project id (a UUID)")
        # ``bulk`` is no UUID, but it is a path of its own: the methods it does not serve are 405.
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            r = await client.request(method, "/api/projects/bulk", json={"name": "x"} if method != "GET" else None)
            assert_error(r, 405, "METHOD_NOT_ALLOWED")
            assert r.headers["allow"] == "POST"


async def test_malformed_serial_and_text_ids(make_client) -> None:
    async with make_client(NUMERIC_SCHEMA) as client:
        row = await post(client, "counters", {"label": "a"})
        assert row["id"] == 1
        for bad in ("abc", "-1", "1.5", "²", "99999999999", "2147483648", "1e3"):
            for method in ("GET", "PATCH", "DELETE"):
                r = await client.request(
                    method, f"/api/counters/{quote(bad)}", json={"label": "x"} if method == "PATCH" else None
                )
                assert_error(r, 400, "INVALID_ID")
        assert_error(await client.get("/api/counters/2147483647"), 404, "NOT_FOUND", "Counter not found")
        for bad in ("a" * 65, "a%00b"):
            for method in ("GET", "PATCH", "DELETE"):
                r = await client.request(method, f"/api/tags/{bad}", json={"label": "x"} if method == "PATCH" else None)
                assert_error(r, 400, "INVALID_ID")
        assert_error(await client.get("/api/tags/no-such-tag"), 404, "NOT_FOUND", "Tag not found")


# -- bodies --------------------------------------------------------------------------------------


async def test_invalid_json_body(make_client) -> None:
    async with make_client() as client:
        org = await seed_org(client)
        headers = {"content-type": "application/json"}
        for raw in (b"{", b"{'name': 'x'}", b'{"name": "x",}', b"NaN", b'{"name": "\xff"}', b'{"a": 1e400}'):
            r = await client.post("/api/organizations", content=raw, headers=headers)
            assert_error(r, 400, "INVALID_JSON")
            r = await client.patch(f"/api/organizations/{org['id']}", content=raw, headers=headers)
            assert_error(r, 400, "INVALID_JSON")
            r = await client.post("/api/organizations/bulk", content=raw, headers=headers)
            assert_error(r, 400, "INVALID_JSON")
        for raw in (b"", b"   "):
            assert_error(await client.post("/api/organizations", content=raw, headers=headers), 400, "INVALID_JSON")


async def test_non_json_content_type_is_415(make_client) -> None:
    async with make_client() as client:
        org = await seed_org(client)
        body = json.dumps({"name": "x", "slug": "x"}).encode()
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
            headers = {"content-type": ctype} if ctype else {}
            for method, url in (
                ("POST", "/api/organizations"),
                ("POST", "/api/organizations/bulk"),
                ("PATCH", f"/api/organizations/{org['id']}"),
                ("PUT", f"/api/organizations/{org['id']}"),
            ):
                r = await client.request(method, url, content=body, headers=headers)
                assert_error(r, 415, "UNSUPPORTED_MEDIA_TYPE")
        # JSON with parameters or a +json suffix is JSON
        r = await client.post(
            "/api/organizations", content=body, headers={"content-type": "application/json; charset=utf-8"}
        )
        assert r.status_code == 201, r.text
        assert len(await get_json(client, "/api/organizations")) == 2


async def test_body_too_large_is_413(make_client) -> None:
    async with make_client(None, TENANTRY_MAX_BODY_BYTES=2048) as client:
        big = json.dumps({"name": "x" * 3000, "slug": "big"}).encode()
        headers = {"content-type": "application/json"}
        assert_error(await client.post("/api/organizations", content=big, headers=headers), 413, "PAYLOAD_TOO_LARGE")

        async def chunks():
            for i in range(0, len(big), 500):
                yield big[i : i + 500]

        # Without Content-Length (chunked): counted while reading.
        r = await client.post("/api/organizations", content=chunks(), headers=headers)
        assert_error(r, 413, "PAYLOAD_TOO_LARGE")
        assert await get_json(client, "/api/organizations") == []
        ok = json.dumps({"name": "x" * 200, "slug": "ok", "billing_email": "y" * 200}).encode()
        assert (await client.post("/api/organizations", content=ok, headers=headers)).status_code == 201


async def test_body_must_be_an_object(make_client) -> None:
    async with make_client() as client:
        org = await seed_org(client)
        headers = {"content-type": "application/json"}
        for payload in ([], [{"name": "x", "slug": "x"}], 5, "x", None, True, 1.5):
            raw = json.dumps(payload).encode()
            r = await client.post("/api/organizations", content=raw, headers=headers)
            body = assert_error(r, 400, "VALIDATION_FAILED")
            assert field_codes(body) == {"": "BODY_NOT_OBJECT"}
            r = await client.patch(f"/api/organizations/{org['id']}", content=raw, headers=headers)
            assert_error(r, 400, "VALIDATION_FAILED")
        assert len(await get_json(client, "/api/organizations")) == 1


async def test_nul_characters_in_bodies(make_client) -> None:
    async with make_client() as client:
        org = await seed_org(client)
        for payload, field in (
            ({"name": "a\x00b", "slug": "nul"}, "name"),
            ({"name": "ok", "slug": "\x00"}, "slug"),
        ):
            body = assert_error(await client.post("/api/organizations", json=payload), 400, "VALIDATION_FAILED")
            assert list(field_codes(body)) == [field]
        r = await client.patch(f"/api/organizations/{org['id']}", json={"billing_email": "\x00"})
        assert_error(r, 400, "VALIDATION_FAILED")
        r = await client.post("/api/organizations/bulk", json={"bulk": [{"name": "x\x00", "slug": "y"}]})
        body = assert_error(r, 400, "VALIDATION_FAILED")
        assert list(field_codes(body)) == ["bulk.0.name"]
        assert [o["id"] for o in await get_json(client, "/api/organizations")] == [org["id"]]


async def test_nul_characters_anywhere_in_json_documents(make_client) -> None:
    # PostgreSQL's jsonb cannot hold U+0000 in keys or strings: refused up front on both databases.
    async with make_client(NUMERIC_SCHEMA) as client:
        for doc in ({"k": "v\x00"}, {"k\x00": 1}, ["\x00"], "\x00", {"deep": [{"x": ["\x00"]}]}):
            r = await client.post("/api/counters", json={"label": "c", "doc": doc})
            body = assert_error(r, 400, "VALIDATION_FAILED")
            assert list(field_codes(body)) == ["doc"]
        assert await get_json(client, "/api/counters") == []


async def test_numbers_out_of_range(make_client) -> None:
    async with make_client(NUMERIC_SCHEMA) as client:
        for payload, field in (
            ({"n": 2**31}, "n"),
            ({"n": -(2**31) - 1}, "n"),
            ({"n": 10**30}, "n"),
            ({"big": 2**63}, "big"),
            ({"big": -(2**63) - 1}, "big"),
            ({"big": 2**64}, "big"),
            ({"amount": 12345.6}, "amount"),
            ({"amount": "1.234"}, "amount"),
            ({"amount": 1e10}, "amount"),
        ):
            r = await client.post("/api/counters", json={"label": "x", **payload})
            body = assert_error(r, 400, "VALIDATION_FAILED")
            assert list(field_codes(body)) == [field], payload
        row = await post(client, "counters", {"label": "x", "n": 2**31 - 1, "big": 2**63 - 1, "amount": "9999.99"})
        assert (row["n"], row["big"], row["amount"]) == (2147483647, "9223372036854775807", "9999.99")
        r = await client.patch(f"/api/counters/{row['id']}", json={"n": 2**31})
        assert_error(r, 400, "VALIDATION_FAILED")


async def test_unique_violation_is_409(make_client) -> None:
    async with make_client() as client:
        acme = await seed_org(client)
        r = await client.post("/api/organizations", json={"name": "Other", "slug": "acme"})
        body = assert_error(r, 409, "UNIQUE_VIOLATION")
        assert body["fields"] == ["slug"]
        assert "slug" in body["message"]
        other = await seed_org(client, "Other", "other")
        r = await client.patch(f"/api/organizations/{other['id']}", json={"slug": "acme"})
        body = assert_error(r, 409, "UNIQUE_VIOLATION")
        assert body["fields"] == ["slug"]
        assert (await get_json(client, f"/api/organizations/{other['id']}"))["slug"] == "other"
        # a unique foreign key (one subscription per organization)
        sub = {"org_id": acme["id"], "stripe_subscription_id": "sub_1", "plan_id": "pro", "status": "active"}
        await post(client, "subscriptions", sub)
        r = await client.post("/api/subscriptions", json={**sub, "stripe_subscription_id": "sub_2"})
        body = assert_error(r, 409, "UNIQUE_VIOLATION")
        assert body["fields"] == ["org_id"]


async def test_unique_text_ids(make_client) -> None:
    async with make_client(NUMERIC_SCHEMA) as client:
        await post(client, "tags", {"id": "t1", "label": "one"})
        assert_error(await client.post("/api/tags", json={"id": "t1", "label": "two"}), 409, "UNIQUE_VIOLATION")
        body = assert_error(await client.post("/api/tags", json={"id": "t2", "label": "one"}), 409, "UNIQUE_VIOLATION")
        assert body["fields"] == ["label"]
        assert_error(await client.post("/api/tags", json={"id": "bad id", "label": "x"}), 400, "VALIDATION_FAILED")


async def test_missing_reference_is_400_naming_the_field(make_client) -> None:
    async with make_client() as client:
        org = await seed_org(client)
        user = await seed_user(client, org)
        ghost = str(uuid.uuid4())
        r = await client.post("/api/projects", json={"name": "P", "org_id": ghost, "created_by": user["id"]})
        body = assert_error(r, 400)
        assert field_codes(body) == {"org_id": "REFERENCE_NOT_FOUND"}
        r = await client.post("/api/projects", json={"name": "P", "org_id": ghost, "created_by": ghost})
        body = assert_error(r, 400)
        assert field_codes(body) == {"org_id": "REFERENCE_NOT_FOUND", "created_by": "REFERENCE_NOT_FOUND"}
        project = await seed_project(client, org, user)
        r = await client.patch(f"/api/projects/{project['id']}", json={"created_by": ghost})
        body = assert_error(r, 400)
        assert field_codes(body) == {"created_by": "REFERENCE_NOT_FOUND"}
        assert await get_json(client, f"/api/projects/{project['id']}") == project


async def test_delete_blocked_by_references_is_409(make_client) -> None:
    async with make_client() as client:
        org = await seed_org(client)
        user = await seed_user(client, org)
        project = await seed_project(client, org, user)
        r = await client.delete(f"/api/organizations/{org['id']}")
        body = assert_error(r, 409, "REFERENCED_BY")
        assert set(body["referencedBy"]) == {"users", "projects"}
        r = await client.delete(f"/api/users/{user['id']}")
        body = assert_error(r, 409, "REFERENCED_BY")
        assert (await get_json(client, f"/api/organizations/{org['id']}"))["id"] == org["id"]
        # once the referencing rows are gone, the delete goes through
        assert (await client.delete(f"/api/projects/{project['id']}")).status_code == 200
        assert (await client.delete(f"/api/users/{user['id']}")).status_code == 200
        assert (await client.delete(f"/api/organizations/{org['id']}")).status_code == 200


async def test_missing_required_fields_one_entry_each(make_client) -> None:
    async with make_client() as client:
        r = await client.post("/api/projects", json={})
        body = assert_error(r, 400, "VALIDATION_FAILED")
        assert field_codes(body) == {"name": "REQUIRED", "org_id": "REQUIRED", "created_by": "REQUIRED"}
        assert sorted(body["message"]) == ["created_by: is required", "name: is required", "org_id: is required"]
        r = await client.post("/api/organizations", json={"name": "x"})
        body = assert_error(r, 400, "VALIDATION_FAILED")
        assert body["errors"] == [{"field": "slug", "message": "is required", "code": "REQUIRED"}]
        # null or empty for a required field, unknown fields, bad enum values
        r = await client.post("/api/organizations", json={"name": None, "slug": "", "color": "red"})
        body = assert_error(r, 400, "VALIDATION_FAILED")
        assert field_codes(body) == {"name": "NOT_NULLABLE", "slug": "REQUIRED", "color": "UNKNOWN_FIELD"}
        org = await seed_org(client)
        r = await client.post("/api/users", json={"email": "a@b.c", "org_id": org["id"], "role": "owner"})
        body = assert_error(r, 400, "VALIDATION_FAILED")
        assert field_codes(body) == {"role": "INVALID_CHOICE"}
        r = await client.patch(f"/api/organizations/{org['id']}", json={"name": None})
        body = assert_error(r, 400, "VALIDATION_FAILED")
        assert field_codes(body) == {"name": "NOT_NULLABLE"}


# -- fuzzing ---------------------------------------------------------------------------------------

FUZZ_SCHEMA = """
teams:
  - name: string(40) (required, unique)
  - created_at: timestamp (auto)
  - updated_at: timestamp (auto)
members:
  - email: string (required)
  - team_id: uuid (references teams, required)
  - age: integer (nullable)
  - score: decimal(6, 2) (nullable)
  - big: bigint (nullable)
  - ratio: float (nullable)
  - active: boolean (nullable)
  - born: date (nullable)
  - seen_at: timestamp (nullable)
  - prefs: json (nullable)
  - role: enum(admin, member) (default: member)
  - created_at: timestamp (auto)
counters:
  id: serial
  fields:
    - label: string (required)
tags:
  id: text
  fields:
    - label: string (required)
"""
ROUTES = ("members", "teams", "counters", "tags")
MEMBER_FIELDS = ("email", "team_id", "age", "score", "big", "ratio", "active", "born", "seen_at", "prefs", "role")
FIELD_NAMES = (*MEMBER_FIELDS, "id", "name", "label", "created_at", "updated_at", "team.name", "members.age", "nope")
OPERATORS = (
    "$eq",
    "$ne",
    "$gt",
    "$lt",
    "$gte",
    "$lte",
    "$starts",
    "$ends",
    "$cont",
    "$excl",
    "$in",
    "$notin",
    "$isnull",
    "$notnull",
    "$between",
    "$eqL",
    "$neL",
    "$startsL",
    "$endsL",
    "$contL",
    "$exclL",
    "$inL",
    "$notinL",
    "eq",
    "between",
)
FUZZ_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Any text a client can put in a URL or a JSON string (lone surrogates cannot be encoded at all).
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=24)
scalar_values = st.one_of(
    text,
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["true", "false", "null", "2026-01-01", "2026-01-01T00:00:00Z", str(uuid.UUID(int=1)), "%", "_"]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
search_trees = st.recursive(
    st.dictionaries(st.sampled_from(FIELD_NAMES) | text, json_values, max_size=3),
    lambda children: st.dictionaries(
        st.sampled_from(["$and", "$or", *FIELD_NAMES]),
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from([*OPERATORS, "$or", "$and", "$foo"]), json_values, max_size=3)
        | json_values,
        max_size=3,
    ),
    max_leaves=8,
)
conditions = st.builds(
    lambda f, op, v: f"{f}||{op}||{v}",
    st.sampled_from(FIELD_NAMES) | text,
    st.sampled_from(OPERATORS) | text,
    scalar_values | st.lists(scalar_values, max_size=4).map(",".join),
)
query_items = st.one_of(
    st.tuples(st.sampled_from(["filter", "or", "filter[0]", "or[]"]), conditions | text),
    st.tuples(st.just("s"), search_trees.map(json.dumps) | text),
    st.tuples(
        st.just("sort"),
        st.builds(
            lambda f, d: f"{f},{d}", st.sampled_from(FIELD_NAMES) | text, st.sampled_from(["ASC", "DESC"]) | text
        ),
    ),
    st.tuples(
        st.sampled_from(["fields", "select", "join"]), st.lists(st.sampled_from(FIELD_NAMES) | text).map(",".join)
    ),
    st.tuples(st.sampled_from(["limit", "per_page", "offset", "page"]), st.integers(-5, 10**13).map(str) | text),
    st.tuples(st.sampled_from([*MEMBER_FIELDS, "cache", "include_deleted"]) | text, scalar_values),
)


class PortalClient:
    """Calls an ``httpx.AsyncClient`` living in a portal's event loop from synchronous code."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient) -> None:
        self.portal = portal
        self.client = client

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.portal.call(functools.partial(self.client.request, method, url, **kwargs))

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.portal.call(fn, *args)


def run_with_client(make_client: Any, body: Callable[[PortalClient], None]) -> None:
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(make_client(FUZZ_SCHEMA)) as client:
        body(PortalClient(portal, client))


async def _seed_fuzz_data(client: httpx.AsyncClient) -> dict[str, Any]:
    team = await post(client, "teams", {"name": "Red"})
    member = await post(
        client,
        "members",
        {"email": "a@b.c", "team_id": team["id"], "age": 30, "score": "1.50", "prefs": {"a": [1]}},
    )
    counter = await post(client, "counters", {"label": "c"})
    tag = await post(client, "tags", {"id": "t1", "label": "t"})
    return {"teams": team, "members": member, "counters": counter, "tags": tag}


def test_fuzz_list_queries_never_500(make_client) -> None:
    def body(api: PortalClient) -> None:
        api.call(_seed_fuzz_data, api.client)

        @FUZZ_SETTINGS
        @given(route=st.sampled_from(ROUTES), params=st.lists(query_items, max_size=5))
        def check(route: str, params: list[tuple[str, str]]) -> None:
            r = api.request("GET", f"/api/{route}", params=params)
            assert r.status_code in (200, 400), (params, r.status_code, r.text)
            if r.status_code == 400:
                assert r.json()["code"].startswith("INVALID_"), r.text

        check()

    run_with_client(make_client, body)


def test_fuzz_garbage_queries_are_400(make_client) -> None:
    """Parameters that are certainly invalid never get a 200."""
    not_an_operator = text.filter(lambda op: op.strip() not in OPERATORS and op.strip().lstrip("$") not in {
        "eq", "ne", "gt", "lt", "gte", "lte", "starts", "ends", "cont", "excl", "in", "notin", "isnull",
        "notnull", "between", "eqL", "neL", "startsL", "endsL", "contL", "exclL", "inL", "notinL"})  # fmt: skip
    not_json = text.filter(lambda s: not _is_json(s))
    not_an_order = text.filter(lambda s: s.strip() not in ("ASC", "DESC"))
    not_a_number = text.filter(lambda s: not (s.strip().isascii() and s.strip().isdigit()))
    garbage = st.one_of(
        st.tuples(st.sampled_from(["filter", "or"]), st.builds(lambda op: f"email||{op}||x", not_an_operator)),
        st.tuples(st.just("s"), not_json),
        st.tuples(st.just("sort"), st.builds(lambda d: f"email,{d}", not_an_order)),
        st.tuples(st.sampled_from(["limit", "offset", "page", "per_page"]), not_a_number),
        st.tuples(st.sampled_from(["filter", "or"]), st.builds(lambda f: f"{f}||$eq||x", text.filter(_not_a_field))),
        st.tuples(st.just("filter"), st.builds(lambda v: f"age||$eq||{v}", text.filter(_not_an_int))),
    )

    def body(api: PortalClient) -> None:
        @FUZZ_SETTINGS
        @given(item=garbage)
        def check(item: tuple[str, str]) -> None:
            r = api.request("GET", "/api/members", params=[item])
            assert r.status_code == 400, (item, r.status_code, r.text)

        check()

    run_with_client(make_client, body)


def test_fuzz_bodies_never_500(make_client) -> None:
    member_bodies = st.dictionaries(st.sampled_from([*MEMBER_FIELDS, "id", "created_at"]) | text, json_values)

    def body(api: PortalClient) -> None:
        seeded = api.call(_seed_fuzz_data, api.client)
        member_url = f"/api/members/{seeded['members']['id']}"

        @FUZZ_SETTINGS
        @given(
            route=st.sampled_from(ROUTES),
            method=st.sampled_from(["POST", "PATCH", "PUT", "BULK"]),
            payload=json_values | member_bodies,
        )
        def check(route: str, method: str, payload: Any) -> None:
            url = {"POST": f"/api/{route}", "BULK": f"/api/{route}/bulk"}.get(method)
            if url is None:
                url = member_url if route == "members" else f"/api/{route}/{seeded[route]['id']}"
            sent = {"bulk": [payload]} if method == "BULK" else payload
            # json.dumps writes NaN/Infinity literals (not JSON): the API must refuse those too.
            content = json.dumps(sent).encode()
            headers = {"content-type": "application/json"}
            r = api.request("POST" if method == "BULK" else method, url, content=content, headers=headers)
            assert r.status_code < 500, (method, url, sent, r.text)
            assert r.status_code in (200, 201, 400, 409), (method, url, sent, r.status_code, r.text)
            if not isinstance(payload, dict):
                assert r.status_code == 400, (method, url, sent, r.text)
            elif route == "members" and set(payload) - {*MEMBER_FIELDS, "id", "created_at", "team"}:
                assert r.status_code == 400, (method, url, sent, r.text)  # unknown fields are refused

        check()

    run_with_client(make_client, body)


def test_fuzz_raw_bodies_and_ids_never_500(make_client) -> None:
    raw_bodies = st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode())

    def body(api: PortalClient) -> None:
        api.call(_seed_fuzz_data, api.client)

        @FUZZ_SETTINGS
        @given(
            route=st.sampled_from(ROUTES),
            method=st.sampled_from(["GET", "PATCH", "PUT", "DELETE", "POST"]),
            raw_id=text.filter(bool),
            payload=raw_bodies,
            ctype=st.sampled_from(["application/json", "text/plain", "application/ld+json"]),
        )
        def check(route: str, method: str, raw_id: str, payload: bytes, ctype: str) -> None:
            url = f"/api/{route}/{quote(raw_id, safe='')}"
            content = payload if method in ("PATCH", "PUT", "POST") else None
            r = api.request(method, url, content=content, headers={"content-type": ctype})
            assert r.status_code < 500, (method, url, payload, r.text)
            if route == "members" and raw_id.isascii() and raw_id.isalnum() and method in ("GET", "DELETE"):
                assert r.status_code == 400 and r.json()["code"] == "INVALID_ID", (url, r.text)

        check()

    run_with_client(make_client, body)


def _is_json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def _not_a_field(value: str) -> bool:
    name = value.strip()
    return name not in (*MEMBER_FIELDS, "id", "created_at") and not name.startswith("team.")


def _not_an_int(value: str) -> bool:
    try:
        int(value.strip())
    except ValueError:
        return True
    return False


async def test_fuzz_data_set_is_valid(make_client) -> None:
    """The fuzz data set itself is accepted (so 400s in the fuzz tests come from the fuzzed input)."""
    async with make_client(FUZZ_SCHEMA) as client:
        seeded = await _seed_fuzz_data(client)
        for route in ROUTES:
            assert await names(client, route, {}, key="id") == {seeded[route]["id"]}
