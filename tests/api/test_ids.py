"""Primary keys as a schema declares them: serial, bigserial, text, and time-ordered UUIDs.

On both databases: the database numbers serial rows and no client chooses their ids; a serial id
never opens another organization's row (404, as for a UUID); path ids of the wrong shape are a
400 ``INVALID_ID``; the OpenAPI document and the typed clients say what the API returns.
"""

from __future__ import annotations

import uuid

from tenantry.clients.typescript import render_module
from tenantry.schema import load_schema_text
from tests.api._helpers import assert_error
from tests.auth.helpers import BASE, NO_VERIFICATION
from tests.conftest import SEED_SCHEMA_PATH
from tests.tenancy.helpers import create_org, new_user
from tests.web.test_pages import FORM, log_in, sign_up

ENTITIES = """
tickets:
  id: serial
  fields:
    - title: string (required)
    - org_id: uuid (references organizations, required)
    - created_by: uuid (references users)
events:
  id: bigserial
  fields:
    - name: string (required)
    - ticket_id: integer (references tickets, on delete: cascade)
    - org_id: uuid (references organizations, required)
labels:
  id: text
  fields:
    - name: string (required)
    - org_id: uuid (references organizations, required)
"""
SCHEMA = SEED_SCHEMA_PATH.read_text() + ENTITIES


async def test_serial_ids_are_numbered_by_the_database_and_stay_within_their_organization(make_client) -> None:
    async with make_client(SCHEMA, auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        bob = await new_user(client, "bob@example.com")
        await create_org(client, ann, "Acme", slug="acme")
        await create_org(client, bob, "Bravo", slug="bravo")

        made = []
        for who, title in ((ann, "A1"), (bob, "B1"), (ann, "A2")):
            r = await client.post("/api/tickets", json={"title": title}, headers=who.headers)
            assert r.status_code == 201, r.text
            made.append(r.json())
        assert [t["id"] for t in made] == [1, 2, 3]  # integers on the wire, numbered across tenants
        # A client never chooses a serial id, not even one that is free.
        r = await client.post("/api/tickets", json={"id": 99, "title": "mine"}, headers=ann.headers)
        assert_error(r, 400, "VALIDATION_FAILED")
        # Bob's ticket is 2: guessing it from Ann's 1 and 3 opens nothing.
        assert_error(await client.get("/api/tickets/2", headers=ann.headers), 404, "NOT_FOUND")
        assert_error(await client.patch("/api/tickets/2", json={"title": "x"}, headers=ann.headers), 404)
        assert_error(await client.delete("/api/tickets/2", headers=ann.headers), 404)
        r = await client.get("/api/tickets", params={"filter": "id||$in||1,2,3", "sort": "id,ASC"}, headers=ann.headers)
        assert [t["title"] for t in r.json()] == ["A1", "A2"]
        r = await client.post("/api/events", json={"name": "e", "ticket_id": 2}, headers=ann.headers)
        assert_error(r, 400, "VALIDATION_FAILED")  # a reference to Bob's ticket is one to nothing
        bob_view = await client.get("/api/tickets/2", headers=bob.headers)
        assert bob_view.status_code == 200 and bob_view.json()["title"] == "B1"
        # The audit log keeps serial ids as text, and each organization sees only its own.
        logged = await client.get(
            "/api/audit_logs", params={"filter": "resource_type||$eq||tickets"}, headers=ann.headers
        )
        assert sorted(entry["resource_id"] for entry in logged.json()) == ["1", "3"]
        # Ids of the wrong shape are refused before any query.
        for bad in ("abc", "1.5", "-1", "99999999999", "²"):
            assert_error(await client.get(f"/api/tickets/{bad}", headers=ann.headers), 400, "INVALID_ID")
        bad_filter = await client.get("/api/tickets", params={"filter": "id||$eq||abc"}, headers=ann.headers)
        assert_error(bad_filter, 400, "INVALID_FILTER_VALUE")


async def test_bigserial_ids_are_strings_like_every_bigint(make_client) -> None:
    async with make_client(SCHEMA, auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        await create_org(client, ann, "Acme", slug="acme")
        ticket = (await client.post("/api/tickets", json={"title": "T"}, headers=ann.headers)).json()
        first = await client.post("/api/events", json={"name": "one", "ticket_id": ticket["id"]}, headers=ann.headers)
        second = await client.post("/api/events", json={"name": "two"}, headers=ann.headers)
        assert first.status_code == 201, first.text
        assert (first.json()["id"], second.json()["id"]) == ("1", "2")
        got = await client.get("/api/events/2", headers=ann.headers)
        assert got.json()["name"] == "two"
        # Beyond int4 is still an id of a bigserial entity (no row has it): 404, not 400.
        assert_error(await client.get("/api/events/9999999999", headers=ann.headers), 404, "NOT_FOUND")
        assert_error(await client.get("/api/events/99999999999999999999", headers=ann.headers), 400, "INVALID_ID")
        joined = await client.get("/api/tickets", params={"join": "events"}, headers=ann.headers)
        assert [e["id"] for e in joined.json()[0]["events"]] == ["1"]


async def test_text_ids_are_the_clients_and_uuids_follow_insertion_order(make_client) -> None:
    async with make_client(SCHEMA, auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        await create_org(client, ann, "Acme", slug="acme")
        chosen = await client.post("/api/labels", json={"id": "urgent", "name": "Urgent"}, headers=ann.headers)
        assert chosen.status_code == 201, chosen.text
        assert chosen.json()["id"] == "urgent"
        assert (await client.get("/api/labels/urgent", headers=ann.headers)).json()["name"] == "Urgent"
        generated = await client.post("/api/labels", json={"name": "Later"}, headers=ann.headers)
        assert generated.status_code == 201 and generated.json()["id"]
        again = await client.post("/api/labels", json={"id": "urgent", "name": "Again"}, headers=ann.headers)
        assert_error(again, 409, "UNIQUE_VIOLATION")

        # The short form's UUIDs are version 7: sorting by id is sorting by creation.
        names = [f"P{i}" for i in range(12)]
        for name in names:
            r = await client.post("/api/projects", json={"name": name}, headers=ann.headers)
            assert r.status_code == 201, r.text
            assert uuid.UUID(r.json()["id"]).version == 7
        listed = await client.get("/api/projects", params={"sort": "id,ASC", "fields": "name"}, headers=ann.headers)
        assert [p["name"] for p in listed.json()] == names


async def test_openapi_and_clients_describe_each_id_type(make_client) -> None:
    schema = load_schema_text(SCHEMA, "schema.yaml")
    ts = render_module(schema)
    assert "id: number;" in _types(ts, "Ticket") and "id: string;" in _types(ts, "Event")
    async with make_client(SCHEMA, auth=NO_VERIFICATION, base_url=BASE) as client:
        doc = (await client.get("/api/openapi.json")).json()
        props = {name: doc["components"]["schemas"][name]["properties"]["id"] for name in ("Ticket", "Event", "Label")}
        assert props["Ticket"]["type"] == "integer"
        assert props["Event"]["type"] == "string" and props["Event"]["pattern"] == "^[0-9]+$"
        assert props["Label"]["type"] == "string"
        assert "id" not in doc["components"]["schemas"]["TicketCreate"]["properties"]
        assert "id" in doc["components"]["schemas"]["LabelCreate"]["properties"]
        ticket_path = next(p for p in doc["paths"] if p.lower().startswith("/api/tickets/{"))
        item = doc["paths"][ticket_path]
        params = item.get("parameters", []) + item["get"].get("parameters", [])
        assert any(p["in"] == "path" and p["schema"]["type"] == "integer" for p in params), params


def _types(module: str, cls: str) -> str:
    """The ``<cls>Types`` interface of a generated TypeScript module."""
    start = module.index(f"export interface {cls}Types {{")
    return module[start : module.index("}\n", start)]


async def test_web_pages_follow_serial_ids(make_client) -> None:
    async with make_client(SCHEMA) as client:
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com")
        r = await client.post("/app/tickets/new", data={"title": "First"}, headers=FORM)
        assert r.status_code == 303, r.text
        listing = await client.get("/app/tickets")
        assert 'href="/app/tickets/1"' in listing.text
        detail = await client.get("/app/tickets/1")
        assert detail.status_code == 200 and "First" in detail.text
        r = await client.post("/app/tickets/1/edit", data={"title": "Renamed"}, headers=FORM)
        assert r.status_code == 303
        assert "Renamed" in (await client.get("/app/tickets/1")).text
        assert (await client.get("/app/tickets/2")).status_code == 404
        assert (await client.get("/app/tickets/abc")).status_code == 400  # the API's INVALID_ID, as a page
