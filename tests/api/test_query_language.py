"""The nestjsx/crud query language (apso.md §2.4, §2.5, §5) against known data sets, on both databases.

``ITEMS`` is a six-row data set with one column per type; every expectation below is the exact set
(or order) of rows the contract says a request selects.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ._helpers import get_json, names, ordered, post, seed_org, seed_project, seed_user

ITEMS_SCHEMA = """
items:
  - name: string (required)
  - code: string (nullable)
  - qty: integer (nullable)
  - big: bigint (nullable)
  - price: decimal(10, 2) (nullable)
  - ratio: float (nullable)
  - active: boolean (nullable)
  - day: date (nullable)
  - at: timestamp (nullable)
  - created_at: timestamp (auto)
"""

ITEMS: list[dict[str, Any]] = [
    {
        "name": "Alpha",
        "code": "AB-1",
        "qty": 1,
        "big": 9007199254740993,
        "price": "10.50",
        "ratio": 0.5,
        "active": True,
        "day": "2026-01-01",
        "at": "2026-01-01T00:00:00.000Z",
    },
    {
        "name": "beta",
        "code": "ab-2",
        "qty": 2,
        "big": 9007199254740992,
        "price": "20.00",
        "ratio": 1.5,
        "active": False,
        "day": "2026-02-01",
        "at": "2026-02-01T12:00:00.000Z",
    },
    {
        "name": "Gamma",
        "code": "50%",
        "qty": 3,
        "big": -5,
        "price": "500.00",
        "ratio": 2.5,
        "active": True,
        "day": "2026-03-01",
        "at": "2026-03-01T00:00:00.500Z",
    },
    {
        "name": "delta",
        "code": "500",
        "qty": 4,
        "big": 0,
        "price": "0.99",
        "ratio": -1.0,
        "active": False,
        "day": "2026-04-01",
        "at": "2026-04-01T00:00:00.000Z",
    },
    {
        "name": "École",
        "code": "x_y",
        "qty": 5,
        "big": 9223372036854775807,
        "price": "99999999.99",
        "ratio": 100.25,
        "active": True,
        "day": "2025-12-31",
        "at": "2025-12-31T23:59:59.999Z",
    },
    {"name": "epsilon"},
]
ALL = {str(i["name"]) for i in ITEMS}


async def seed_items(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    return [await post(client, "items", item) for item in ITEMS]


def f(*conditions: str) -> list[tuple[str, str]]:
    return [("filter", c) for c in conditions]


# -- every operator ------------------------------------------------------------------------------

OPERATOR_CASES: list[tuple[str, set[str]]] = [
    # $eq / $ne (NULL never equals or differs: SQL semantics, as nestjsx on TypeORM)
    ("name||$eq||Alpha", {"Alpha"}),
    ("qty||$eq||3", {"Gamma"}),
    ("qty||$ne||1", {"beta", "Gamma", "delta", "École"}),
    ("code||$ne||500", {"Alpha", "beta", "Gamma", "École"}),
    # ordering comparisons
    ("qty||$gt||3", {"delta", "École"}),
    ("qty||$lt||3", {"Alpha", "beta"}),
    ("qty||$gte||3", {"Gamma", "delta", "École"}),
    ("qty||$lte||2", {"Alpha", "beta"}),
    # LIKE family: case-sensitive
    ("name||$starts||Al", {"Alpha"}),
    ("name||$starts||al", set()),
    ("name||$ends||ta", {"beta", "delta"}),
    ("name||$ends||TA", set()),
    ("code||$cont||b", {"beta"}),
    ("code||$cont||B", {"Alpha"}),
    ("name||$excl||a", {"École", "epsilon"}),
    ("code||$excl||-", {"Gamma", "delta", "École"}),
    # lists
    ("name||$in||Alpha,beta,nobody", {"Alpha", "beta"}),
    ("qty||$in||2", {"beta"}),
    ("qty||$notin||1,2", {"Gamma", "delta", "École"}),
    ("name||$notin||Alpha", ALL - {"Alpha"}),
    # null tests
    ("code||$isnull", {"epsilon"}),
    ("qty||$notnull", ALL - {"epsilon"}),
    ("code||$isnull||ignored", {"epsilon"}),
    # ranges (inclusive)
    ("qty||$between||2,4", {"beta", "Gamma", "delta"}),
    ("qty||$between||4,2", set()),
    # case-insensitive family
    ("name||$eqL||alpha", {"Alpha"}),
    ("name||$eqL||école", {"École"}),
    ("name||$neL||alpha", ALL - {"Alpha"}),
    ("name||$startsL||al", {"Alpha"}),
    ("name||$startsL||éc", {"École"}),
    ("name||$endsL||ta", {"beta", "delta"}),
    ("name||$contL||É", {"École"}),
    ("name||$contL||é", {"École"}),
    ("name||$contL||MM", {"Gamma"}),
    ("code||$contL||ab", {"Alpha", "beta"}),
    ("name||$exclL||a", {"École", "epsilon"}),
    ("name||$exclL||É", ALL - {"École"}),
    ("name||$inL||alpha,beta", {"Alpha", "beta"}),
    ("name||$inL||école", {"École"}),
    ("name||$notinL||alpha,beta,école", {"Gamma", "delta", "epsilon"}),
    # deprecated unprefixed spellings behave exactly like the $ ones
    ("name||eq||Alpha", {"Alpha"}),
    ("qty||ne||1", {"beta", "Gamma", "delta", "École"}),
    ("qty||gt||3", {"delta", "École"}),
    ("qty||lt||3", {"Alpha", "beta"}),
    ("qty||gte||3", {"Gamma", "delta", "École"}),
    ("qty||lte||2", {"Alpha", "beta"}),
    ("name||starts||Al", {"Alpha"}),
    ("name||ends||ta", {"beta", "delta"}),
    ("code||cont||b", {"beta"}),
    ("name||excl||a", {"École", "epsilon"}),
    ("qty||in||1,5", {"Alpha", "École"}),
    ("qty||notin||1,2", {"Gamma", "delta", "École"}),
    ("code||isnull", {"epsilon"}),
    ("code||notnull", ALL - {"epsilon"}),
    ("qty||between||2,4", {"beta", "Gamma", "delta"}),
]


async def test_every_operator(make_client) -> None:
    async with make_client(ITEMS_SCHEMA) as client:
        await seed_items(client)
        failures = []
        for condition, expected in OPERATOR_CASES:
            got = await names(client, "items", f(condition))
            if got != expected:
                failures.append(f"{condition}: expected {sorted(expected)}, got {sorted(got)}")
        assert not failures, "\n".join(failures)


async def test_operators_in_or_param_and_search(make_client) -> None:
    """The same conditions through ``or`` (a single ``or`` is a plain condition) and through ``s``."""
    async with make_client(ITEMS_SCHEMA) as client:
        await seed_items(client)
        for condition, expected in OPERATOR_CASES:
            assert await names(client, "items", [("or", condition)]) == expected, condition
        search_cases: list[tuple[dict[str, Any], set[str]]] = [
            ({"qty": {"$ne": 1}}, {"beta", "Gamma", "delta", "École"}),
            ({"name": {"$starts": "Al"}}, {"Alpha"}),
            ({"name": {"$contL": "É"}}, {"École"}),
            ({"qty": {"$in": [1, 5]}}, {"Alpha", "École"}),
            ({"qty": {"$notin": [1, 2]}}, {"Gamma", "delta", "École"}),
            ({"qty": {"$between": [2, 4]}}, {"beta", "Gamma", "delta"}),
            ({"code": {"$isnull": True}}, {"epsilon"}),
            ({"code": {"$notnull": True}}, ALL - {"epsilon"}),
            ({"name": {"$inL": ["alpha", "beta"]}}, {"Alpha", "beta"}),
        ]
        for search, expected in search_cases:
            assert await names(client, "items", {"s": json.dumps(search)}) == expected, search


async def test_like_wildcards_match_literally(make_client) -> None:
    async with make_client(ITEMS_SCHEMA) as client:
        await seed_items(client)
        assert await names(client, "items", f("code||$cont||50%")) == {"Gamma"}
        assert await names(client, "items", f("code||$starts||50%")) == {"Gamma"}
        assert await names(client, "items", f("code||$ends||%")) == {"Gamma"}
        assert await names(client, "items", f("code||$cont||%")) == {"Gamma"}
        assert await names(client, "items", f("code||$cont||_")) == {"École"}
        assert await names(client, "items", f("code||$cont||x_y")) == {"École"}
        assert await names(client, "items", f("code||$cont||x%y")) == set()
        assert await names(client, "items", f("code||$startsL||AB_")) == set()
        assert await names(client, "items", f("code||$contL||50%")) == {"Gamma"}
        assert await names(client, "items", f("code||$excl||%")) == {"Alpha", "beta", "delta", "École"}
        assert await names(client, "items", f("code||$cont||\\")) == set()


async def test_typed_comparisons(make_client) -> None:
    async with make_client(ITEMS_SCHEMA) as client:
        await seed_items(client)
        cases: list[tuple[str, set[str]]] = [
            # timestamps: ISO-8601 with Z, with an offset, or naive (taken as UTC)
            ("at||$gt||2026-01-15T00:00:00.000Z", {"beta", "Gamma", "delta"}),
            ("at||$eq||2026-01-01T00:00:00.000Z", {"Alpha"}),
            ("at||$eq||2026-01-01T01:00:00+01:00", {"Alpha"}),
            ("at||$eq||2026-02-01T12:00:00", {"beta"}),
            ("at||$lt||2026-01-01T00:00:00Z", {"École"}),
            ("at||$gte||2026-03-01T00:00:00.500Z", {"Gamma", "delta"}),
            ("at||$between||2026-01-01T00:00:00Z,2026-03-01T00:00:00Z", {"Alpha", "beta"}),
            # decimals
            ("price||$gt||20", {"Gamma", "École"}),
            ("price||$gte||20", {"beta", "Gamma", "École"}),
            ("price||$eq||10.5", {"Alpha"}),
            ("price||$eq||10.50", {"Alpha"}),
            ("price||$lt||1", {"delta"}),
            ("price||$between||10,20", {"Alpha", "beta"}),
            ("price||$in||0.99,500", {"Gamma", "delta"}),
            # floats
            ("ratio||$lt||1", {"Alpha", "delta"}),
            ("ratio||$eq||100.25", {"École"}),
            # booleans
            ("active||$eq||true", {"Alpha", "Gamma", "École"}),
            ("active||$eq||false", {"beta", "delta"}),
            ("active||$ne||true", {"beta", "delta"}),
            ("active||$isnull", {"epsilon"}),
            ("active||$in||true,false", ALL - {"epsilon"}),
            # dates
            ("day||$gte||2026-02-01", {"beta", "Gamma", "delta"}),
            ("day||$eq||2025-12-31", {"École"}),
            ("day||$between||2026-01-01,2026-02-01", {"Alpha", "beta"}),
            # bigints beyond 2**53 compare exactly
            ("big||$eq||9007199254740993", {"Alpha"}),
            ("big||$eq||9007199254740992", {"beta"}),
            ("big||$gt||9007199254740992", {"Alpha", "École"}),
            ("big||$eq||9223372036854775807", {"École"}),
            ("big||$lt||0", {"Gamma"}),
        ]
        failures = []
        for condition, expected in cases:
            got = await names(client, "items", f(condition))
            if got != expected:
                failures.append(f"{condition}: expected {sorted(expected)}, got {sorted(got)}")
        assert not failures, "\n".join(failures)


async def test_filter_created_at_timestamps(make_client) -> None:
    async with make_client(ITEMS_SCHEMA) as client:
        rows = await seed_items(client)
        first, last = rows[0]["created_at"], rows[-1]["created_at"]
        assert await names(client, "items", f("created_at||$gt||2000-01-01T00:00:00.000Z")) == ALL
        assert await names(client, "items", f("created_at||$lt||2000-01-01T00:00:00.000Z")) == set()
        assert await names(client, "items", f(f"created_at||$gte||{first}")) == ALL
        assert await names(client, "items", f(f"created_at||$lte||{last}")) == ALL
        assert await names(client, "items", f(f"created_at||$gt||{last}")) == set()
        later = {str(r["name"]) for r in rows if r["created_at"] == last}
        assert await names(client, "items", f(f"created_at||$eq||{last}")) == later


# -- filter syntax and combination rules ---------------------------------------------------------


async def test_filter_index_syntax(make_client) -> None:
    async with make_client(ITEMS_SCHEMA) as client:
        await seed_items(client)
        params = [("filter[0]", "qty||$gte||2"), ("filter[1]", "qty||$lte||3")]
        assert await names(client, "items", params) == {"beta", "Gamma"}
        params = [("filter[]", "qty||$gte||2"), ("filter", "qty||$lte||3")]
        assert await names(client, "items", params) == {"beta", "Gamma"}
        assert await names(client, "items", [("or[0]", "qty||$eq||1"), ("or[1]", "qty||$eq||2")]) == {"Alpha", "beta"}
        # Repeated filters are ANDed.
        assert await names(client, "items", f("active||$eq||true", "qty||$gt||1")) == {"Gamma", "École"}
        # A value may itself contain the delimiter.
        assert await names(client, "items", f("name||$eq||a||b")) == set()


async def test_filter_or_combination_rules(make_client) -> None:
    """apso.md §5: only ors: 1 plain, many OR'ed; 1 filter + 1 or: OR; otherwise (AND filters) OR (AND ors)."""
    async with make_client(ITEMS_SCHEMA) as client:
        await seed_items(client)

        async def q(filters: list[str], ors: list[str]) -> set[str]:
            return await names(client, "items", [*(("filter", x) for x in filters), *(("or", x) for x in ors)])

        # only ors
        assert await q([], ["name||$eq||Alpha"]) == {"Alpha"}
        assert await q([], ["name||$eq||Alpha", "name||$eq||beta"]) == {"Alpha", "beta"}
        assert await q([], ["qty||$eq||1", "qty||$eq||2", "qty||$eq||3"]) == {"Alpha", "beta", "Gamma"}
        # only filters
        assert await q(["qty||$gte||2", "qty||$lte||3"], []) == {"beta", "Gamma"}
        # one filter + one or => filter OR or
        assert await q(["name||$eq||Alpha"], ["name||$eq||beta"]) == {"Alpha", "beta"}
        assert await q(["qty||$gt||4"], ["qty||$lt||2"]) == {"Alpha", "École"}
        # many filters + one or => (AND filters) OR or
        assert await q(["qty||$gte||2", "qty||$lte||3"], ["name||$eq||École"]) == {"beta", "Gamma", "École"}
        # one filter + many ors => filter OR (AND ors)
        assert await q(["qty||$eq||5"], ["name||$eq||Alpha", "qty||$eq||1"]) == {"École", "Alpha"}
        assert await q(["qty||$eq||5"], ["name||$eq||Alpha", "qty||$eq||2"]) == {"École"}
        # many of both => (AND filters) OR (AND ors)
        assert await q(["qty||$gte||2", "qty||$lte||3"], ["name||$eq||Alpha", "qty||$eq||5"]) == {"beta", "Gamma"}
        assert await q(["qty||$gte||2", "qty||$lte||3"], ["active||$eq||true", "qty||$gt||3"]) == {
            "beta",
            "Gamma",
            "École",
        }


# -- s (search) ----------------------------------------------------------------------------------


async def test_search_grammar(make_client) -> None:
    async with make_client(ITEMS_SCHEMA) as client:
        await seed_items(client)

        async def s(tree: Any) -> set[str]:
            return await names(client, "items", {"s": json.dumps(tree)})

        # field equality, null
        assert await s({"name": "Alpha"}) == {"Alpha"}
        assert await s({"qty": 3}) == {"Gamma"}
        assert await s({"active": False}) == {"beta", "delta"}
        assert await s({"code": None}) == {"epsilon"}
        assert await s({}) == ALL
        # several operators on one field are ANDed
        assert await s({"qty": {"$gt": 1, "$lt": 4}}) == {"beta", "Gamma"}
        # field-level $or
        assert await s({"code": {"$or": {"$isnull": True, "$eq": "500"}}}) == {"epsilon", "delta"}
        assert await s({"qty": {"$or": {"$lt": 2, "$gt": 4}}}) == {"Alpha", "École"}
        # $and array == the same keys side by side
        both = {"Gamma", "École"}
        assert await s({"$and": [{"active": True}, {"qty": {"$ne": 1}}]}) == both
        assert await s({"active": True, "qty": {"$ne": 1}}) == both
        # $or array
        assert await s({"$or": [{"active": False}, {"code": {"$isnull": True}}]}) == {"beta", "delta", "epsilon"}
        assert await s({"$or": [{"name": "Alpha"}]}) == {"Alpha"}
        # nesting
        nested = {"$or": [{"$and": [{"active": True}, {"qty": {"$gte": 3}}]}, {"name": "beta"}]}
        assert await s(nested) == {"Gamma", "École", "beta"}
        deeper = {"$and": [{"$or": [{"qty": 1}, {"qty": 2}, {"qty": 3}]}, {"$or": [{"active": True}, {"qty": 2}]}]}
        assert await s(deeper) == {"Alpha", "beta", "Gamma"}
        # keys beside a top-level $or are ANDed with it
        assert await s({"active": True, "$or": [{"qty": 1}, {"qty": 5}]}) == {"Alpha", "École"}
        assert await s({"active": False, "$or": [{"qty": 1}, {"qty": 5}]}) == set()
        # typed values in s
        assert await s({"price": {"$gte": "20.00"}}) == {"beta", "Gamma", "École"}
        assert await s({"big": "9007199254740993"}) == {"Alpha"}
        assert await s({"at": {"$lt": "2026-01-01T00:00:00Z"}}) == {"École"}
        assert await s({"day": "2026-03-01"}) == {"Gamma"}


async def test_search_overrides_filter_and_or(make_client) -> None:
    async with make_client(ITEMS_SCHEMA) as client:
        await seed_items(client)
        params = [("s", json.dumps({"name": "Alpha"})), ("filter", "name||$eq||beta"), ("or", "name||$eq||Gamma")]
        assert await names(client, "items", params) == {"Alpha"}
        # ... even a filter that would be invalid is not looked at.
        params = [("s", json.dumps({"qty": 2})), ("filter", "qty||$eq||2")]
        assert await names(client, "items", params) == {"beta"}


# -- fields / select -----------------------------------------------------------------------------


async def test_fields_and_select(make_client) -> None:
    async with make_client(ITEMS_SCHEMA) as client:
        rows = await seed_items(client)
        for param in ("fields", "select"):
            data = await get_json(client, "/api/items", {param: "name,qty"})
            assert len(data) == 6
            assert all(list(row) == ["id", "name", "qty"] for row in data)
        # id is always included, unknown names are ignored, duplicates collapse
        data = await get_json(client, "/api/items", {"fields": "qty,nope,qty"})
        assert all(list(row) == ["id", "qty"] for row in data)
        data = await get_json(client, "/api/items", {"fields": "nope"})
        assert all(list(row) == ["id"] for row in data)
        data = await get_json(client, "/api/items", [("fields", "name"), ("fields", "price")])
        assert all(list(row) == ["id", "name", "price"] for row in data)
        # typed output is the same with or without a projection
        one = await get_json(client, f"/api/items/{rows[0]['id']}", {"fields": "big,price,at"})
        assert one == {"id": rows[0]["id"], "big": "9007199254740993", "price": "10.50", "at": rows[0]["at"]}


# -- sort ----------------------------------------------------------------------------------------


async def test_sort(make_client) -> None:
    async with make_client(ITEMS_SCHEMA) as client:
        await seed_items(client)
        # NULLs sort last ascending and first descending (PostgreSQL's order, on both databases)
        assert await ordered(client, "items", {"sort": "qty,ASC"}) == [
            "Alpha",
            "beta",
            "Gamma",
            "delta",
            "École",
            "epsilon",
        ]
        assert await ordered(client, "items", {"sort": "qty,DESC"}) == [
            "epsilon",
            "École",
            "delta",
            "Gamma",
            "beta",
            "Alpha",
        ]
        # several keys, in order
        assert await ordered(client, "items", [("sort", "active,DESC"), ("sort", "qty,ASC")]) == [
            "epsilon",
            "Alpha",
            "Gamma",
            "École",
            "beta",
            "delta",
        ]
        assert await ordered(client, "items", [("sort", "active,ASC"), ("sort", "qty,DESC")]) == [
            "delta",
            "beta",
            "École",
            "Gamma",
            "Alpha",
            "epsilon",
        ]
        # typed sorts: decimal numerically (not as text), timestamps in time order, bigint exactly
        assert (await ordered(client, "items", {"sort": "price,DESC"}))[:5] == [
            "epsilon",
            "École",
            "Gamma",
            "beta",
            "Alpha",
        ]
        assert (await ordered(client, "items", {"sort": "at,ASC"}))[:5] == ["École", "Alpha", "beta", "Gamma", "delta"]
        assert (await ordered(client, "items", {"sort": "big,DESC"}))[1:] == [
            "École",
            "Alpha",
            "beta",
            "delta",
            "Gamma",
        ]
        # sort combines with filters and paging
        page = await get_json(client, "/api/items", {"filter": "qty||$notnull", "sort": "qty,DESC", "limit": "2"})
        assert [r["name"] for r in page] == ["École", "delta"]


async def test_sort_by_to_one_relation(make_client) -> None:
    async with make_client() as client:
        zeta = await seed_org(client, "Zeta", "zeta")
        acme = await seed_org(client, "Acme", "acme")
        user = await seed_user(client, acme)
        for org, project in ((zeta, "z1"), (acme, "a2"), (zeta, "z2"), (acme, "a1")):
            await seed_project(client, org, user, project)
        params = [("sort", "organization.name,ASC"), ("sort", "name,ASC")]
        assert await ordered(client, "projects", params) == ["a1", "a2", "z1", "z2"]
        params = [("sort", "organization.name,DESC"), ("sort", "name,DESC")]
        assert await ordered(client, "projects", params) == ["z2", "z1", "a2", "a1"]
        # The relation's other accepted name (the foreign key without _id) works too.
        params = [("sort", "org.slug,DESC"), ("sort", "name,ASC")]
        assert await ordered(client, "projects", params) == ["z1", "z2", "a1", "a2"]


# -- paging --------------------------------------------------------------------------------------


@pytest.fixture
def six_projects():
    async def seed(client: httpx.AsyncClient) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        org = await seed_org(client)
        user = await seed_user(client, org)
        return org, [await seed_project(client, org, user, f"p{i}") for i in range(1, 7)]

    return seed


async def test_pagination_envelope_matches_apso_examples(make_client, six_projects) -> None:
    async with make_client() as client:
        await six_projects(client)

        async def page(**params: str) -> Any:
            return await get_json(client, "/api/projects", {"sort": "name,ASC", **params})

        body = await page(limit="3", page="2")
        assert list(body) == ["data", "count", "total", "page", "pageCount"]
        assert {k: body[k] for k in ("count", "total", "page", "pageCount")} == {
            "count": 3,
            "total": 6,
            "page": 2,
            "pageCount": 2,
        }
        assert [r["name"] for r in body["data"]] == ["p4", "p5", "p6"]

        body = await page(limit="2", offset="2")
        assert {k: body[k] for k in ("count", "total", "page", "pageCount")} == {
            "count": 2,
            "total": 6,
            "page": 2,
            "pageCount": 3,
        }
        assert [r["name"] for r in body["data"]] == ["p3", "p4"]

        body = await page(limit="5", page="4")
        assert body == {"data": [], "count": 0, "total": 6, "page": 4, "pageCount": 2}

        bare = await page(limit="3")
        assert isinstance(bare, list)
        assert [r["name"] for r in bare] == ["p1", "p2", "p3"]

        # per_page is limit's alias; page wins over offset
        body = await page(per_page="4", page="2")
        assert (body["count"], body["page"], body["pageCount"]) == (2, 2, 2)
        body = await page(limit="2", page="3", offset="1")
        assert [r["name"] for r in body["data"]] == ["p5", "p6"]
        # offset alone (default page size) still answers with the envelope
        body = await page(offset="4")
        assert {k: body[k] for k in ("count", "total", "page", "pageCount")} == {
            "count": 2,
            "total": 6,
            "page": 1,
            "pageCount": 1,
        }
        # offset that is not a multiple of limit
        body = await page(limit="4", offset="3")
        assert (body["count"], body["page"], body["pageCount"]) == (3, 1, 2)
        # total counts the filtered rows
        body = await get_json(client, "/api/projects", {"filter": "name||$in||p1,p2,p3", "limit": "2", "page": "1"})
        assert (body["count"], body["total"], body["pageCount"]) == (2, 3, 2)
        # an empty result has one (empty) page
        body = await get_json(client, "/api/projects", {"filter": "name||$eq||none", "page": "1"})
        assert body == {"data": [], "count": 0, "total": 0, "page": 1, "pageCount": 1}
        # no paging parameter at all: a bare array of everything
        assert len(await get_json(client, "/api/projects")) == 6
        # limit=0 means no limit (nestjsx)
        assert len(await get_json(client, "/api/projects", {"limit": "0"})) == 6


async def test_max_limit_caps_page_size(make_client, six_projects) -> None:
    async with make_client(None, TENANTRY_MAX_LIMIT=5) as client:
        await six_projects(client)
        assert len(await get_json(client, "/api/projects")) == 5
        assert len(await get_json(client, "/api/projects", {"limit": "100"})) == 5
        assert len(await get_json(client, "/api/projects", {"limit": "3"})) == 3
        body = await get_json(client, "/api/projects", {"limit": "100", "page": "2", "sort": "name,ASC"})
        assert (body["count"], body["total"], body["page"], body["pageCount"]) == (1, 6, 2, 2)
        assert [r["name"] for r in body["data"]] == ["p6"]


async def test_paginate_always_option(make_client) -> None:
    schema = """
notes:
  paginate: always
  limit: 2
  fields:
    - body: text (required)
"""
    async with make_client(schema) as client:
        for i in range(3):
            await post(client, "notes", {"body": f"n{i}"})
        body = await get_json(client, "/api/notes")
        assert (body["count"], body["total"], body["page"], body["pageCount"]) == (2, 3, 1, 2)
        body = await get_json(client, "/api/notes", {"limit": "3"})
        assert (body["count"], body["pageCount"]) == (3, 1)


# -- plain equality ------------------------------------------------------------------------------


async def test_plain_field_equality(make_client) -> None:
    async with make_client() as client:
        acme = await seed_org(client)
        beta = await seed_org(client, "Beta", "beta")
        user = await seed_user(client, acme)
        await seed_project(client, acme, user, "a1")
        await seed_project(client, acme, user, "a2", status="archived")
        await seed_project(client, beta, user, "b1")
        assert await names(client, "projects", {"org_id": acme["id"]}) == {"a1", "a2"}
        assert await names(client, "projects", {"org_id": beta["id"]}) == {"b1"}
        assert await names(client, "projects", {"org_id": acme["id"].upper()}) == {"a1", "a2"}
        # combined with other equalities and with filters (ANDed)
        assert await names(client, "projects", {"org_id": acme["id"], "status": "active"}) == {"a1"}
        assert await names(client, "projects", {"org_id": acme["id"], "filter": "name||$ne||a1"}) == {"a2"}
        # ANDed with an s search too
        params = {"org_id": acme["id"], "s": json.dumps({"$or": [{"name": "a2"}, {"name": "b1"}]})}
        assert await names(client, "projects", params) == {"a2"}
        # unknown parameters are ignored, like nestjsx
        assert await names(client, "projects", {"cache": "0", "foo": "bar"}) == {"a1", "a2", "b1"}


# -- joins ---------------------------------------------------------------------------------------


async def test_joins_both_directions(make_client) -> None:
    async with make_client() as client:
        acme = await seed_org(client)
        empty = await seed_org(client, "Empty", "empty")
        ada = await seed_user(client, acme)
        grace = await seed_user(client, acme, "grace@example.com")
        p1 = await seed_project(client, acme, ada, "p1")
        p2 = await seed_project(client, acme, grace, "p2")

        # to-one: an object
        projects = await get_json(client, "/api/projects", {"join": "organization", "sort": "name,ASC"})
        assert [p["organization"] for p in projects] == [acme, acme]
        assert {k: v for k, v in projects[0].items() if k != "organization"} == p1
        one = await get_json(client, f"/api/projects/{p2['id']}", {"join": "organization"})
        assert one == {**p2, "organization": acme}

        # to-many: an array ([] when there is none)
        orgs = await get_json(client, "/api/organizations", {"join": "projects", "sort": "name,ASC"})
        assert [o["id"] for o in orgs] == [acme["id"], empty["id"]]
        assert sorted(p["name"] for p in orgs[0]["projects"]) == ["p1", "p2"]
        assert orgs[0]["projects"][0] in (p1, p2)
        assert orgs[1]["projects"] == []

        # join=rel||f1,f2: only those fields (and the id)
        orgs = await get_json(client, "/api/organizations", {"join": "users||email,role", "sort": "name,ASC"})
        assert sorted(orgs[0]["users"], key=lambda u: u["email"]) == [
            {"id": ada["id"], "email": ada["email"], "role": "member"},
            {"id": grace["id"], "email": grace["email"], "role": "member"},
        ]
        projects = await get_json(client, "/api/projects", {"join": "organization||name", "fields": "name"})
        assert all(list(p) == ["id", "name", "organization"] for p in projects)
        assert all(p["organization"] == {"id": acme["id"], "name": "Acme Corp"} for p in projects)

        # nested: organization.users (the parent is joined too)
        projects = await get_json(client, "/api/projects", {"join": "organization.users", "sort": "name,ASC"})
        org = projects[0]["organization"]
        assert org["id"] == acme["id"]
        assert sorted(u["email"] for u in org["users"]) == [ada["email"], grace["email"]]
        params = [("join", "organization||slug"), ("join", "organization.users||email"), ("fields", "name")]
        projects = await get_json(client, "/api/projects", params)
        org = projects[0]["organization"]
        assert set(org) == {"id", "slug", "users"}
        assert all(set(u) == {"id", "email"} for u in org["users"])

        # several joins at once
        projects = await get_json(client, "/api/projects", [("join", "organization"), ("join", "user")])
        assert {p["user"]["email"] for p in projects} == {ada["email"], grace["email"]}

        # unknown joins are ignored
        for join in ("nope", "organization.nope", "nope.users", "organization||nope"):
            projects = await get_json(client, "/api/projects", {"join": join, "sort": "name,ASC"})
            if join == "organization||nope":
                assert projects[0]["organization"] == {"id": acme["id"]}
            else:
                assert projects == [p1, p2], join


async def test_filter_on_relation_fields(make_client) -> None:
    async with make_client() as client:
        acme = await seed_org(client)
        beta = await seed_org(client, "Beta", "beta")
        ada = await seed_user(client, acme)
        bob = await seed_user(client, beta, "bob@example.com")
        await seed_project(client, acme, ada, "a1")
        await seed_project(client, beta, bob, "b1")
        await seed_project(client, beta, bob, "b2", status="archived")
        # to-one
        assert await names(client, "projects", f("organization.slug||$eq||beta")) == {"b1", "b2"}
        assert await names(client, "projects", f("organization.name||$contL||acme")) == {"a1"}
        assert await names(client, "projects", f("user.email||$starts||bob")) == {"b1", "b2"}
        # to-many: rows having at least one related row that matches
        assert await names(client, "organizations", f("projects.status||$eq||archived")) == {"Beta"}
        assert await names(client, "organizations", f("projects.name||$in||a1,b1")) == {"Acme Corp", "Beta"}
        # combined with own fields, in or and s
        assert await names(client, "projects", f("organization.slug||$eq||beta", "status||$eq||active")) == {"b1"}
        assert await names(client, "projects", [("or", "organization.slug||$eq||acme"), ("or", "name||$eq||b2")]) == {
            "a1",
            "b2",
        }
        assert await names(client, "projects", {"s": json.dumps({"organization.slug": "acme"})}) == {"a1"}
        # with a join on the same relation, the filter still selects parents
        rows = await get_json(
            client, "/api/projects", {"filter": "organization.slug||$eq||acme", "join": "organization"}
        )
        assert [r["organization"]["slug"] for r in rows] == ["acme"]
