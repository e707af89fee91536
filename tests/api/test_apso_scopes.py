"""Apso's nested `scopeBy` (`project.organizationId`): rows scoped through the parent they belong to.

On both databases, with serial ids everywhere (Apso's default): a task is seen, changed and
deleted only through a project of the caller's organization, is created only under one, and never
moves to another organization's project. On PostgreSQL row-level security holds the same line
for SQL the pipeline did not write.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tenantry.schema import load_schema_text
from tests.api._helpers import assert_error
from tests.auth.helpers import BASE, NO_VERIFICATION, runtime
from tests.tenancy.helpers import create_org, new_user

APSORC = """\
{
  "version": 2,
  "entities": [
    { "name": "Organization", "fields": [
        { "name": "name", "type": "text" }, { "name": "slug", "type": "text", "unique": true } ] },
    { "name": "Project", "scopeBy": "organizationId", "fields": [ { "name": "name", "type": "text" } ] },
    { "name": "Task", "scopeBy": "project.organizationId", "fields": [ { "name": "title", "type": "text" } ] },
    { "name": "Note", "scopeBy": "organizationId",
      "scopeOptions": { "injectOnCreate": false, "enforceOn": ["find", "get"] },
      "fields": [ { "name": "body", "type": "text" } ] }
  ],
  "relationships": [
    { "from": "Organization", "to": "Project", "type": "OneToMany" },
    { "from": "Organization", "to": "Note", "type": "OneToMany" },
    { "from": "Project", "to": "Task", "type": "OneToMany" }
  ]
}
"""
SCHEMA = load_schema_text(APSORC, "blog.apsorc")


def _raw_tasks(client: Any) -> None:
    """``GET /raw/tasks``: every task title, unscoped by the pipeline (only the database's policies apply)."""
    rt = runtime(client)

    async def endpoint(request: Request) -> JSONResponse:
        await rt.context(request)
        rows = await rt.db.fetch('SELECT title FROM task ORDER BY "id"')
        return JSONResponse([row[0] for row in rows])

    client.app.router.routes.insert(0, Route("/raw/tasks", endpoint))


async def test_nested_scope_follows_the_parent(make_client) -> None:
    assert SCHEMA.entities["Task"].tenant_via == "project"
    async with make_client(SCHEMA, auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        bob = await new_user(client, "bob@example.com")
        await create_org(client, ann, "Acme", slug="acme")
        await create_org(client, bob, "Bravo", slug="bravo")
        made = await client.post("/api/Projects", json={"name": "Apollo"}, headers=ann.headers)
        assert made.status_code == 201, made.text
        mine = made.json()
        theirs = (await client.post("/api/Projects", json={"name": "Bravo HQ"}, headers=bob.headers)).json()
        assert (mine["id"], theirs["id"]) == (1, 2)

        r = await client.post("/api/Tasks", json={"title": "ann's", "projectId": 1}, headers=ann.headers)
        assert r.status_code == 201, r.text
        r = await client.post("/api/Tasks", json={"title": "bob's", "projectId": 2}, headers=bob.headers)
        assert r.status_code == 201, r.text
        # Under another organization's project, or under none: refused, nothing written.
        sneaky = await client.post("/api/Tasks", json={"title": "x", "projectId": 2}, headers=ann.headers)
        assert_error(sneaky, 400, "VALIDATION_FAILED")
        assert sneaky.json()["errors"][0]["code"] == "REFERENCE_NOT_FOUND"
        assert_error(await client.post("/api/Tasks", json={"title": "x"}, headers=ann.headers), 400)

        listed = (await client.get("/api/Tasks", headers=ann.headers)).json()
        assert [t["title"] for t in listed["data"]] == ["ann's"]
        for params in ({"filter": "id||$eq||2"}, {"or": "title||$cont||bob"}, {"s": '{"projectId": 2}'}):
            assert (await client.get("/api/Tasks", params=params, headers=ann.headers)).json()["data"] == []
        assert_error(await client.get("/api/Tasks/2", headers=ann.headers), 404, "NOT_FOUND")
        assert_error(await client.patch("/api/Tasks/2", json={"title": "mine"}, headers=ann.headers), 404)
        assert_error(await client.delete("/api/Tasks/2", headers=ann.headers), 404)
        moved = await client.patch("/api/Tasks/1", json={"projectId": 2}, headers=ann.headers)
        assert_error(moved, 400, "VALIDATION_FAILED")
        joined = (await client.get("/api/Tasks/1", params={"join": "project"}, headers=ann.headers)).json()
        assert joined["project"]["name"] == "Apollo"
        assert (await client.get("/api/Tasks/2", headers=bob.headers)).json()["title"] == "bob's"
        # Through the parent the other way: a project's tasks, joined or filtered, stay scoped too.
        by_task = {"filter": "tasks.title||$eq||ann's", "join": "tasks"}
        found = (await client.get("/api/Projects", params=by_task, headers=ann.headers)).json()["data"]
        assert [(p["name"], [t["title"] for t in p["tasks"]]) for p in found] == [("Apollo", ["ann's"])]
        assert (await client.get("/api/Projects", params=by_task, headers=bob.headers)).json()["data"] == []

        if runtime(client).db.dialect_name == "postgresql":
            _raw_tasks(client)
            assert (await client.get("/raw/tasks", headers=ann.headers)).json() == ["ann's"]
            assert (await client.get("/raw/tasks", headers=bob.headers)).json() == ["bob's"]


async def test_scope_options_inject_on_create_and_enforce_on(make_client) -> None:
    async with make_client(SCHEMA, auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        bob = await new_user(client, "bob@example.com")
        acme = await create_org(client, ann, "Acme", slug="acme")
        bravo = await create_org(client, bob, "Bravo", slug="bravo")
        # injectOnCreate: false — the client names the organization, and only its active one will do.
        missing = assert_error(await client.post("/api/Notes", json={"body": "x"}, headers=ann.headers), 400)
        assert missing["errors"][0] == {"field": "organizationId", "message": "is required", "code": "REQUIRED"}
        other = await client.post("/api/Notes", json={"body": "x", "organizationId": bravo["id"]}, headers=ann.headers)
        assert_error(other, 403, "TENANT_MISMATCH")
        ok = await client.post("/api/Notes", json={"body": "hi", "organizationId": acme["id"]}, headers=ann.headers)
        assert ok.status_code == 201 and ok.json()["organizationId"] == int(acme["id"])
        # enforceOn lists only find and get; Tenantry scopes every operation all the same.
        note = ok.json()["id"]
        assert_error(await client.patch(f"/api/Notes/{note}", json={"body": "mine"}, headers=bob.headers), 404)
        assert_error(await client.delete(f"/api/Notes/{note}", headers=bob.headers), 404)
        assert (await client.get(f"/api/Notes/{note}", headers=ann.headers)).json()["body"] == "hi"
