"""``Idempotency-Key`` on the CRUD API, on both databases: a retry replays the first answer and writes
nothing again; another request with the key is a 422, a retry while the first runs a 409; keys are
the caller's own, freed by an error answer, swept after 24 hours."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tenantry.db.actor import acting_as, user_actor
from tenantry.hooks import HookEvent, Hooks
from tenantry.idempotency import KEYS_TABLE, LEASE_SECONDS, Idempotency
from tests.audit.helpers import Person, audit_rows, outbox, person
from tests.auth.helpers import BASE, NO_VERIFICATION, runtime, sql
from tests.clock import FakeClock

SETTINGS: dict[str, Any] = {"auth": NO_VERIFICATION, "base_url": BASE, "TENANTRY_OPEN_API": False}


def keyed(who: Person, key: str) -> dict[str, str]:
    return {**who.headers, "idempotency-key": key}


async def count(client: httpx.AsyncClient, table: str) -> int:
    return int((await sql(client, f"SELECT COUNT(*) FROM {table}"))[0][0])


async def writes_of(client: httpx.AsyncClient, resource_id: str) -> tuple[list[str], list[str]]:
    """The audit actions and the outbox topics recorded for one row."""
    audit = [r["action"] for r in await audit_rows(client) if r["resource_id"] == resource_id]
    events = [e["topic"] for e in await outbox(client) if str(e["row_id"]) == resource_id]
    return audit, events


def assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert (r.status_code, r.json()["code"]) == (status, code), r.text


async def test_a_retried_create_replays_its_answer_and_writes_once(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada = await person(client, "ada@example.com", org="acme")
        bob = await person(client, "bob@example.com", org="bobco")
        first = await client.post(
            "/api/projects", json={"name": "Apollo", "description": "A1"}, headers=keyed(ada, "k-1")
        )
        assert first.status_code == 201, first.text
        assert "idempotent-replayed" not in first.headers
        project = first.json()
        # The same request again (its keys in another order): the same answer, nothing written.
        again = await client.post(
            "/api/projects", json={"description": "A1", "name": "Apollo"}, headers=keyed(ada, "k-1")
        )
        assert (again.status_code, again.content) == (201, first.content)
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["content-type"] == "application/json"
        assert await count(client, "projects") == 1
        assert await writes_of(client, project["id"]) == (["create"], ["projects.created"])

        # The key with another body, another path or another method: refused, nothing written.
        other = await client.post("/api/projects", json={"name": "Artemis"}, headers=keyed(ada, "k-1"))
        assert_error(other, 422, "IDEMPOTENCY_KEY_REUSED")
        bulk = await client.post("/api/projects/bulk", json={"bulk": [{"name": "Apollo"}]}, headers=keyed(ada, "k-1"))
        assert_error(bulk, 422, "IDEMPOTENCY_KEY_REUSED")
        patch = await client.patch(f"/api/projects/{project['id']}", json={"name": "X"}, headers=keyed(ada, "k-1"))
        assert_error(patch, 422, "IDEMPOTENCY_KEY_REUSED")
        assert await count(client, "projects") == 1

        # Keys are the caller's: Bob's "k-1" is his own; an anonymous caller's is nobody's.
        bobs = await client.post(
            "/api/projects", json={"name": "Apollo", "description": "A1"}, headers=keyed(bob, "k-1")
        )
        assert bobs.status_code == 201 and "idempotent-replayed" not in bobs.headers
        assert bobs.json()["id"] != project["id"] and bobs.json()["org_id"] == bob.org_id
        anonymous = await client.post("/api/projects", json={"name": "Apollo"}, headers={"idempotency-key": "k-1"})
        assert_error(anonymous, 401, "UNAUTHORIZED")
        assert await count(client, "projects") == 2
        assert await count(client, KEYS_TABLE) == 2

        # Without the header nothing changes: two requests, two rows.
        for _ in range(2):
            assert (await client.post("/api/projects", json={"name": "Free"}, headers=ada.headers)).status_code == 201
        assert await count(client, "projects") == 4 and await count(client, KEYS_TABLE) == 2

        # A key that cannot be one: 400, nothing written, nothing kept.
        for bad in (b"k" * 256, "caf\u00e9".encode("latin-1"), b"tab\tkey"):
            r = await client.post(
                "/api/projects", json={"name": "Bad"}, headers={**ada.headers, "idempotency-key": bad}
            )
            assert_error(r, 400, "IDEMPOTENCY_KEY_INVALID")
        assert await count(client, "projects") == 4
        longest = await client.post("/api/projects", json={"name": "Long"}, headers=keyed(ada, "k" * 255))
        assert longest.status_code == 201

        # An error answer writes nothing and keeps nothing: the key then serves a corrected request.
        invalid = await client.post("/api/projects", json={"name": ""}, headers=keyed(ada, "k-2"))
        assert invalid.status_code == 400 and invalid.json()["code"] == "VALIDATION_FAILED"
        fixed = await client.post("/api/projects", json={"name": "Fixed"}, headers=keyed(ada, "k-2"))
        assert fixed.status_code == 201 and "idempotent-replayed" not in fixed.headers

        if runtime(client).db.dialect_name == "postgresql":
            # Row-level security: a connection acting for Bob reaches Bob's keys only.
            with acting_as(user_actor(bob.id)):
                rows = await runtime(client).db.fetch(f"SELECT user_id FROM {KEYS_TABLE}")
            assert [r[0] for r in rows] == [bob.id]


async def test_bulk_create_update_and_delete_replay(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada = await person(client, "ada@example.com", org="acme")
        body = {"bulk": [{"name": "One"}, {"name": "Two"}]}
        first = await client.post("/api/projects/bulk", json=body, headers=keyed(ada, "bulk"))
        assert first.status_code == 201, first.text
        again = await client.post("/api/projects/bulk", json=body, headers=keyed(ada, "bulk"))
        assert (again.status_code, again.json()) == (201, first.json())
        assert await count(client, "projects") == 2
        one, two = (p["id"] for p in first.json())

        for method, key in (("PATCH", "patch"), ("PUT", "put")):
            url = f"/api/projects/{one}"
            changed = await client.request(method, url, json={"name": f"By {method}"}, headers=keyed(ada, key))
            assert changed.status_code == 200 and changed.json()["name"] == f"By {method}", changed.text
            # Another client changes the row meanwhile; the retry still answers what its write did.
            await client.patch(url, json={"description": method}, headers=ada.headers)
            replay = await client.request(method, url, json={"name": f"By {method}"}, headers=keyed(ada, key))
            assert (replay.status_code, replay.json()) == (200, changed.json())
            assert replay.headers["idempotent-replayed"] == "true"
        audit, events = await writes_of(client, one)
        assert audit == ["create", "update", "update", "update", "update"]
        assert events == ["projects.created", *["projects.updated"] * 4]

        gone = await client.delete(f"/api/projects/{two}", headers=keyed(ada, "delete"))
        assert (gone.status_code, gone.content) == (200, b"")
        replay = await client.delete(f"/api/projects/{two}", headers=keyed(ada, "delete"))
        assert (replay.status_code, replay.content, replay.headers["idempotent-replayed"]) == (200, b"", "true")
        # Without the key, the second delete finds nothing.
        assert (await client.delete(f"/api/projects/{two}", headers=ada.headers)).status_code == 404
        assert await writes_of(client, two) == (["create", "delete"], ["projects.created", "projects.deleted"])


async def test_a_retry_while_the_first_runs_is_409_and_a_dead_holder_is_taken_over(make_client) -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    calls = 0

    async def slow(event: HookEvent) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:  # only the first request waits, inside its transaction
            entered.set()
            await release.wait()

    hooks = Hooks()
    hooks.add("projects", "before_create", slow)
    clock = FakeClock()
    async with make_client(hooks=hooks, clock=clock, **SETTINGS) as client:
        ada = await person(client, "ada@example.com", org="acme")
        body = {"name": "Apollo"}
        first = asyncio.create_task(client.post("/api/projects", json=body, headers=keyed(ada, "busy")))
        await asyncio.wait_for(entered.wait(), 10)
        busy = await client.post("/api/projects", json=body, headers=keyed(ada, "busy"))
        assert_error(busy, 409, "IDEMPOTENCY_KEY_IN_USE")
        assert 1 <= int(busy.headers["retry-after"]) <= LEASE_SECONDS
        postgres = runtime(client).db.dialect_name == "postgresql"
        if postgres:
            # The first outlives its lease: a retry takes the key over and writes; the first, when it
            # reaches its commit, finds the key no longer its own and rolls its write back.
            clock.advance(LEASE_SECONDS + 1)
            taken = await client.post("/api/projects", json=body, headers=keyed(ada, "busy"))
            assert taken.status_code == 201, taken.text
        release.set()
        done = await first
        if postgres:
            assert_error(done, 409, "IDEMPOTENCY_KEY_IN_USE")
            winner = taken
        else:
            assert done.status_code == 201, done.text
            winner = done
        replay = await client.post("/api/projects", json=body, headers=keyed(ada, "busy"))
        assert (replay.status_code, replay.content) == (201, winner.content)
        assert await count(client, "projects") == 1
        assert await writes_of(client, winner.json()["id"]) == (["create"], ["projects.created"])


async def test_keys_are_swept_after_24_hours(make_client) -> None:
    clock = FakeClock()
    async with make_client(clock=clock, **SETTINGS) as client:
        ada = await person(client, "ada@example.com", org="acme")
        sweeper = runtime(client).get(Idempotency).sweeper
        first = await client.post("/api/projects", json={"name": "Apollo"}, headers=keyed(ada, "day"))
        clock.advance(23 * 3600)
        assert await sweeper.work(until_stopped=False) == 0
        again = await client.post("/api/projects", json={"name": "Apollo"}, headers=keyed(ada, "day"))
        assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
        clock.advance(3600 + 1)
        assert await sweeper.work(until_stopped=False) == 1
        assert await count(client, KEYS_TABLE) == 0
        # A new key again: another body is welcome, and it writes.
        fresh = await client.post("/api/projects", json={"name": "Artemis"}, headers=keyed(ada, "day"))
        assert fresh.status_code == 201 and "idempotent-replayed" not in fresh.headers
        assert await count(client, "projects") == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_openapi_document_names_the_header_on_every_write(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        spec = (await client.get("/api/openapi.json")).json()
        writes = [
            ("/api/projects", "post"),
            ("/api/projects/bulk", "post"),
            ("/api/projects/{id}", "put"),
            ("/api/projects/{id}", "patch"),
            ("/api/projects/{id}", "delete"),
        ]
        for path, method in writes:
            operation = spec["paths"][path][method]
            [param] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
            assert param["in"] == "header" and param["schema"]["maxLength"] == 255
            assert "IDEMPOTENCY_KEY_REUSED" in operation["responses"]["422"]["description"]
        read = spec["paths"]["/api/projects/{id}"]["get"]
        assert all(p["name"] != "Idempotency-Key" for p in read["parameters"])
