"""Admins read their organization's log through the CRUD API and export it as CSV or JSON lines."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from tests.audit.helpers import Person, audit_rows, join, person
from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN

SETTINGS = {"auth": NO_VERIFICATION, "base_url": BASE, "TENANTRY_OPEN_API": False}
EXPORT = "/api/audit_logs/export"


async def two_organizations(client: Any) -> tuple[Person, Person]:
    ada = await person(client, "ada@example.com", org="acme")
    bob = await person(client, "bob@example.com", org="beta")
    for who, names in ((ada, ["A1", "A2"]), (bob, ["B1"])):
        for name in names:
            r = await client.post("/api/projects", json={"name": name}, headers=who.headers)
            assert r.status_code == 201
    return ada, bob


def jsonl(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines()]


async def test_admins_read_their_organizations_log_and_nobody_else_does(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada, bob = await two_organizations(client)
        listed = await client.get("/api/audit_logs", headers=ada.headers)
        assert listed.status_code == 200
        rows = listed.json()
        assert {r["org_id"] for r in rows} == {ada.org_id}
        assert [(r["action"], r["resource_type"]) for r in rows] == [
            ("create", "organizations"),
            ("create", "projects"),
            ("create", "projects"),
        ]
        only_projects = await client.get(
            "/api/audit_logs",
            params={"filter": "resource_type||$eq||projects", "sort": "created_at,DESC", "join": "user"},
            headers=ada.headers,
        )
        projects = only_projects.json()
        assert [r["new_values"]["name"] for r in projects] == ["A2", "A1"]
        assert projects[0]["user"]["email"] == "ada@example.com"  # the reference is kept for joins
        assert {r["org_id"] for r in (await client.get("/api/audit_logs", headers=bob.headers)).json()} == {bob.org_id}

        for role in ("member", "viewer"):
            someone = await person(client, f"{role}@example.com")
            await join(client, someone, ada.org_id or "", role)
            refused = await client.get("/api/audit_logs", headers=someone.headers)
            assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN_ACTION")
            assert (await client.get(EXPORT, headers=someone.headers)).status_code == 403
        assert (await client.get("/api/audit_logs", headers=ORIGIN)).status_code == 401
        assert (await client.get(EXPORT, headers=ORIGIN)).status_code == 401


async def test_an_admin_elsewhere_cannot_read_a_log_by_naming_its_organization(make_client) -> None:
    # The tenant scope widens reads to every organization of the user when the query names them
    # (?org_id=…), and the tenancy policy checks the admin role in the active organization only: the
    # audit log's own scope pins reads to the active organization.
    async with make_client(**SETTINGS) as client:
        ada, bob = await two_organizations(client)
        await join(client, ada, bob.org_id or "", "viewer", activate=False)  # still active in acme, as admin
        for params in ({"org_id": bob.org_id}, {"filter": f"org_id||$in||{ada.org_id},{bob.org_id}"}):
            r = await client.get("/api/audit_logs", params=params, headers=ada.headers)
            assert r.status_code == 200
            assert {row["org_id"] for row in r.json()} <= {ada.org_id}
        # Through a relation too: only the active organization's rows, and none for a non-admin.
        joined = await client.get("/api/users", params={"join": "audit_logs"}, headers=ada.headers)
        assert {row["org_id"] for u in joined.json() for row in u["audit_logs"]} == {ada.org_id}
        filtered = await client.get(
            "/api/organizations", params={"filter": "audit_logs.resource_type||$eq||projects"}, headers=ada.headers
        )
        assert [o["id"] for o in filtered.json()] == [ada.org_id]  # bob's organization has such rows too
        # A member filtering by the log learns nothing from it: refused, or (the audit scope) no rows.
        carol = await person(client, "carol@example.com")
        await join(client, carol, ada.org_id or "", "member")
        as_member = await client.get(
            "/api/organizations", params={"filter": "audit_logs.resource_type||$eq||projects"}, headers=carol.headers
        )
        assert as_member.status_code == 403 or (as_member.status_code, as_member.json()) == (200, [])
        everything = await client.get("/api/organizations", headers=carol.headers)
        assert [o["id"] for o in everything.json()] == [ada.org_id]
        joined = await client.get("/api/organizations", params={"join": "audit_logs"}, headers=carol.headers)
        assert "audit_logs" not in joined.json()[0]  # a relation the role may not read is left out


async def test_an_admin_elsewhere_exports_only_the_active_organizations_log(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada, bob = await two_organizations(client)
        await join(client, ada, bob.org_id or "", "viewer", activate=False)
        for params in ({"org_id": bob.org_id}, {"filter": f"org_id||$in||{ada.org_id},{bob.org_id}"}):
            r = await client.get(EXPORT, params={"format": "jsonl", **params}, headers=ada.headers)
            assert r.status_code == 200
            assert {row["org_id"] for row in jsonl(r.text)} <= {ada.org_id}
        everything = jsonl((await client.get(EXPORT, params={"format": "jsonl"}, headers=ada.headers)).text)
        assert {row["org_id"] for row in everything} == {ada.org_id}


async def test_export_csv_and_jsonl_with_the_query_language(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada, _ = await two_organizations(client)
        listed = (await client.get("/api/audit_logs", headers=ada.headers)).json()

        as_csv = await client.get(EXPORT, params={"format": "csv"}, headers=ada.headers)
        assert as_csv.status_code == 200
        assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
        disposition = as_csv.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="audit_logs-') and disposition.endswith('.csv"')
        table = list(csv.reader(io.StringIO(as_csv.text)))
        header = table[0]
        assert header == ["id", *(f for f in header[1:])] and "old_values" in header and "user_agent" in header
        assert [row[header.index("id")] for row in table[1:]] == [r["id"] for r in listed]
        first = dict(zip(header, table[1], strict=True))
        assert orjson.loads(first["new_values"]) == listed[0]["new_values"] and first["old_values"] == ""

        as_jsonl = await client.get(EXPORT, params={"format": "jsonl"}, headers=ada.headers)
        assert as_jsonl.headers["content-type"].startswith("application/x-ndjson")
        assert as_jsonl.headers["content-disposition"].endswith('.jsonl"')
        assert jsonl(as_jsonl.text) == listed

        filtered = await client.get(
            EXPORT,
            params={
                "format": "jsonl",
                "filter": "resource_type||$eq||projects",
                "sort": "created_at,DESC",
                "fields": "action,new_values",
            },
            headers=ada.headers,
        )
        rows = jsonl(filtered.text)
        assert [list(r) for r in rows] == [["id", "action", "new_values"]] * 2
        assert [r["new_values"]["name"] for r in rows] == ["A2", "A1"]
        limited = await client.get(EXPORT, params={"format": "jsonl", "limit": "1"}, headers=ada.headers)
        assert [r["id"] for r in jsonl(limited.text)] == [listed[0]["id"]]
        searched = await client.get(EXPORT, params={"format": "csv", "s": '{"action": "nothing"}'}, headers=ada.headers)
        assert searched.text.splitlines()[1:] == []  # the header alone


async def test_export_refuses_what_it_cannot_stream(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada = await person(client, "ada@example.com", org="acme")
        for params, code in (
            ({"format": "xml"}, "INVALID_FORMAT"),
            ({"offset": "5"}, "INVALID_QUERY"),
            ({"page": "2"}, "INVALID_QUERY"),
            ({"sort": "new_values,ASC"}, "INVALID_SORT"),
            ({"sort": "user.email,ASC"}, "INVALID_SORT"),
            ({"filter": "nope||$eq||1"}, None),
        ):
            r = await client.get(EXPORT, params=params, headers=ada.headers)
            assert r.status_code == 400, (params, r.text)
            if code is not None:
                assert r.json()["code"] == code


async def test_export_pages_through_every_row_in_order_including_ties_and_nulls(make_client) -> None:
    # Two rows a page: the export must stitch many pages, across rows created in the same
    # millisecond (bulk) and across NULLs in the sort column (the developer has no user id).
    async with make_client(base_url=BASE, auth=NO_VERIFICATION, TENANTRY_MAX_LIMIT=2) as client:
        ada = await person(client, "ada@example.com", org="acme")
        assert (
            await client.post(
                "/api/projects/bulk", json={"bulk": [{"name": f"P{i}"} for i in range(5)]}, headers=ada.headers
            )
        ).status_code == 201
        dev_org = (await client.post("/api/organizations", json={"name": "Dev", "slug": "dev"})).json()
        await client.post(
            "/api/projects/bulk",
            json={"bulk": [{"name": f"D{i}", "org_id": dev_org["id"], "created_by": ada.id} for i in range(3)]},
        )
        stored = await audit_rows(client)
        assert len(stored) == 11 and any(r["user_id"] is None for r in stored)

        async def export(sort: str | None) -> list[str]:
            params = {"format": "jsonl", **({"sort": sort} if sort else {})}
            r = await client.get(EXPORT, params=params)  # as the developer: every organization
            assert r.status_code == 200, r.text
            return [row["id"] for row in jsonl(r.text)]

        by_time = sorted(stored, key=lambda r: (r["created_at"], r["id"]))
        assert await export(None) == [r["id"] for r in by_time]
        newest_first = sorted(sorted(stored, key=lambda r: r["id"]), key=lambda r: r["created_at"], reverse=True)
        assert await export("created_at,DESC") == [r["id"] for r in newest_first]
        nulls_last = sorted(stored, key=lambda r: (r["user_id"] is None, r["user_id"] or "", r["id"]))
        assert await export("user_id,ASC") == [r["id"] for r in nulls_last]
        nulls_first = sorted(stored, key=lambda r: (r["user_id"] is not None, _desc(r["user_id"] or ""), r["id"]))
        assert await export("user_id,DESC") == [r["id"] for r in nulls_first]
        assert len(set(await export("action,ASC"))) == 11


def _desc(text: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in text)


async def test_csv_cells_that_spreadsheets_would_run_are_defused(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada = await person(client, "ada@example.com", org="acme")
        evil = '=HYPERLINK("http://evil.example","x")'
        r = await client.post("/api/projects", json={"name": "P"}, headers={**ada.headers, "user-agent": evil})
        assert r.status_code == 201
        as_csv = await client.get(EXPORT, params={"filter": "resource_type||$eq||projects"}, headers=ada.headers)
        table = list(csv.reader(io.StringIO(as_csv.text)))
        assert dict(zip(table[0], table[1], strict=True))["user_agent"] == "'" + evil
        as_jsonl = await client.get(
            EXPORT, params={"format": "jsonl", "filter": "resource_type||$eq||projects"}, headers=ada.headers
        )
        assert jsonl(as_jsonl.text)[0]["user_agent"] == evil
