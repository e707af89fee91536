"""Apso's ``scopeOptions.bypassRoles``: a platform role that works across every organization.

On both databases: a superuser (platform role ``admin``, the admin plugin's) lists, reads, changes,
deletes and creates rows of every organization of an entity that lists ``admin``, each write
audited in the row's organization; an organization admin whose platform role is ``user`` still
meets the tenant boundary (404), as does the superuser on an entity without bypass roles, or for
an operation ``enforceOn`` leaves out. Taking the role away counts from the next request.
Row-level security agrees on PostgreSQL (tests/tenancy/test_row_level_security.py).
"""

from __future__ import annotations

from typing import Any

import httpx

from tenantry.auth import Authentication
from tenantry.auth.plugins.admin.superusers import make_superuser
from tenantry.schema import load_schema_text
from tests.api._helpers import assert_error
from tests.api_key.helpers import create_key, with_key
from tests.audit.helpers import audit_rows
from tests.auth.helpers import BASE, NO_VERIFICATION, runtime, sql
from tests.tenancy.helpers import User, create_org, new_user, user_key

APSORC = """\
{
  "version": 2,
  "entities": [
    { "name": "Organization", "fields": [
        { "name": "name", "type": "text" }, { "name": "slug", "type": "text", "unique": true } ] },
    { "name": "Project", "scopeBy": "organizationId", "scopeOptions": { "bypassRoles": ["admin"] },
      "fields": [ { "name": "name", "type": "text" } ] },
    { "name": "Task", "scopeBy": "project.organizationId", "scopeOptions": { "bypassRoles": ["admin"] },
      "fields": [ { "name": "title", "type": "text" } ] },
    { "name": "Note", "scopeBy": "organizationId", "fields": [ { "name": "body", "type": "text" } ] },
    { "name": "Memo", "scopeBy": "organizationId",
      "scopeOptions": { "enforceOn": ["find", "get"], "bypassRoles": ["support"] },
      "fields": [ { "name": "body", "type": "text" } ] }
  ],
  "relationships": [
    { "from": "Organization", "to": "Project", "type": "OneToMany" },
    { "from": "Organization", "to": "Note", "type": "OneToMany" },
    { "from": "Organization", "to": "Memo", "type": "OneToMany" },
    { "from": "Project", "to": "Task", "type": "OneToMany" }
  ]
}
"""
SCHEMA = load_schema_text(APSORC, "app.apsorc")


async def set_platform_role(client: httpx.AsyncClient, user: User, role: str | None) -> None:
    """Store a platform role as the admin plugin does (``user.role``; several joined by commas)."""
    users = runtime(client).get(Authentication).ctx.tables.users.name
    await sql(client, f"UPDATE {users} SET role = ? WHERE id = ?", role, user_key(client, user.id))


async def _list(client: httpx.AsyncClient, who: User, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every row of a list the user may read (Apso's routes answer a page)."""
    r = await client.get(f"/api/{path}", params={"sort": "id,ASC", **params}, headers=who.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    rows: list[dict[str, Any]] = body["data"] if isinstance(body, dict) else body
    return rows


async def world(client: httpx.AsyncClient) -> dict[str, Any]:
    """Ann (Acme) and Bob (Bravo), organization admins with platform role ``user``; Root, a superuser
    with an organization of their own (HQ); a project, a task, a note and a memo in Acme and Bravo."""
    ann = await new_user(client, "ann@example.com")
    bob = await new_user(client, "bob@example.com")
    root = await new_user(client, "root@example.com")
    acme = await create_org(client, ann, "Acme", slug="acme")
    bravo = await create_org(client, bob, "Bravo", slug="bravo")
    hq = await create_org(client, root, "HQ", slug="hq")
    await make_superuser(runtime(client).get(Authentication).ctx, root.email, None, None)
    for who in (ann, bob):
        name = who.email[:3]
        made = await client.post("/api/Projects", json={"name": f"{name}'s"}, headers=who.headers)
        assert made.status_code == 201, made.text
        project = made.json()["id"]
        r = await client.post("/api/Tasks", json={"title": f"{name}'s", "projectId": project}, headers=who.headers)
        assert r.status_code == 201, r.text
        for path in ("Notes", "Memos"):
            assert (await client.post(f"/api/{path}", json={"body": name}, headers=who.headers)).status_code == 201
    return {"ann": ann, "bob": bob, "root": root, "acme": acme, "bravo": bravo, "hq": hq}


async def test_a_bypass_role_works_across_organizations(make_client) -> None:
    async with make_client(SCHEMA, auth=NO_VERIFICATION, base_url=BASE) as client:
        w = await world(client)
        ann, bob, root = w["ann"], w["bob"], w["root"]
        acme, bravo, hq = (int(w[k]["id"]) for k in ("acme", "bravo", "hq"))

        # The superuser lists and reads every organization's projects and tasks (through their project).
        listed = await _list(client, root, "Projects")
        assert [(p["name"], p["organizationId"]) for p in listed] == [("ann's", acme), ("bob's", bravo)]
        assert [t["title"] for t in await _list(client, root, "Tasks")] == [
            "ann's",
            "bob's",
        ]
        narrowed = await _list(client, root, "Projects", filter=f"organizationId||$eq||{bravo}")
        assert [p["name"] for p in narrowed] == ["bob's"]
        assert (await client.get("/api/Projects/2", headers=root.headers)).json()["name"] == "bob's"
        joined = (await client.get("/api/Tasks/2", params={"join": "project"}, headers=root.headers)).json()
        assert joined["project"]["name"] == "bob's"

        # An organization admin whose platform role is ``user`` still sees only their own.
        assert [p["name"] for p in await _list(client, ann, "Projects")] == ["ann's"]
        assert_error(await client.get("/api/Projects/2", headers=ann.headers), 404, "NOT_FOUND")
        assert_error(await client.patch("/api/Projects/2", json={"name": "x"}, headers=ann.headers), 404)
        assert_error(await client.delete("/api/Tasks/2", headers=ann.headers), 404)

        # Writes in another organization: changed and deleted, never moved, each audited in the
        # row's own organization with the superuser as its actor.
        changed = await client.patch("/api/Projects/2", json={"name": "renamed"}, headers=root.headers)
        assert changed.status_code == 200 and changed.json()["organizationId"] == bravo, changed.text
        assert (await client.get("/api/Projects/2", headers=bob.headers)).json()["name"] == "renamed"
        moved = await client.patch("/api/Projects/2", json={"organizationId": acme}, headers=root.headers)
        assert_error(moved, 403, "TENANT_MISMATCH")
        assert (await client.delete("/api/Tasks/1", headers=root.headers)).status_code == 200
        assert_error(await client.get("/api/Tasks/1", headers=ann.headers), 404)
        # Create: the organization the body names is kept, else the active one (HQ) is written.
        there = await client.post(
            "/api/Projects", json={"name": "for bob", "organizationId": bravo}, headers=root.headers
        )
        assert there.status_code == 201 and there.json()["organizationId"] == bravo, there.text
        here = await client.post("/api/Projects", json={"name": "mine"}, headers=root.headers)
        assert here.status_code == 201 and here.json()["organizationId"] == hq, here.text
        nowhere = await client.post("/api/Projects", json={"name": "x", "organizationId": 999}, headers=root.headers)
        assert assert_error(nowhere, 400, "VALIDATION_FAILED")["errors"][0]["code"] == "REFERENCE_NOT_FOUND"
        # A superuser of no organization at all: every row to read, but a create must name one.
        ops = await new_user(client, "ops@example.com")
        await make_superuser(runtime(client).get(Authentication).ctx, ops.email, None, None)
        assert len(await _list(client, ops, "Projects")) == 4
        assert_error(
            await client.post("/api/Projects", json={"name": "x"}, headers=ops.headers), 400, "TENANT_REQUIRED"
        )
        assert_error(await client.get("/api/Notes", headers=ops.headers), 403, "NO_ACTIVE_ORGANIZATION")
        assert [p["name"] for p in await _list(client, bob, "Projects")] == [
            "renamed",
            "for bob",
        ]
        audited = [
            (r["action"], r["resource_type"], r["resource_id"], r["user_id"], r["org_id"])
            for r in await audit_rows(client)
            if r["user_id"] == str(root.id) and r["resource_type"] in ("Project", "project", "Task", "task")
        ]
        kinds = {(a, rid, org) for a, _, rid, _, org in audited}
        assert {("update", "2", str(bravo)), ("create", "3", str(bravo)), ("create", "4", str(hq))} <= kinds, audited
        assert any(a == "delete" and rid == "1" for a, _, rid, _, _ in audited), audited

        # The superuser's API key acts in its own organization (HQ), whatever its owner's role.
        key = (await create_key(client, root, name="ci"))["key"]
        keyed = await client.get("/api/Projects", params={"sort": "id,ASC"}, headers=with_key(key))
        assert keyed.status_code == 200, keyed.text
        assert [p["name"] for p in keyed.json()["data"]] == ["mine"]
        assert_error(await client.get("/api/Projects/2", headers=with_key(key)), 404, "NOT_FOUND")

        # No bypass roles on Note: the superuser is scoped as everyone else (their HQ has none).
        assert await _list(client, root, "Notes") == []
        assert_error(await client.get("/api/Notes/1", headers=root.headers), 404, "NOT_FOUND")
        assert_error(await client.delete("/api/Notes/1", headers=root.headers), 404)
        # Memo lets ``support`` read across organizations (enforceOn: find, get), not ``admin``.
        assert_error(await client.get("/api/Memos/1", headers=root.headers), 404, "NOT_FOUND")
        await set_platform_role(client, bob, "user,support")
        assert [m["body"] for m in await _list(client, bob, "Memos")] == ["ann", "bob"]
        assert (await client.get("/api/Memos/1", headers=bob.headers)).json()["body"] == "ann"
        # …and only read: update and delete are not in its enforceOn, so they stay scoped.
        assert_error(await client.patch("/api/Memos/1", json={"body": "x"}, headers=bob.headers), 404)
        assert_error(await client.delete("/api/Memos/1", headers=bob.headers), 404)
        assert_error(await client.get("/api/Projects/1", headers=bob.headers), 404)

        # Impersonating Ann, the superuser is Ann: her organization only.
        started = await client.post("/api/auth/admin/impersonate-user", json={"userId": ann.id}, headers=root.headers)
        assert started.status_code == 200, started.text
        client.cookies.clear()
        as_ann = User(ann.id, ann.email, started.json()["session"]["token"])
        assert [p["organizationId"] for p in await _list(client, as_ann, "Projects")] == [acme]
        assert_error(await client.get("/api/Projects/2", headers=as_ann.headers), 404, "NOT_FOUND")

        # The role is read with the session on every request: taken away, it is gone at once.
        await set_platform_role(client, root, "user")
        assert [p["name"] for p in await _list(client, root, "Projects")] == ["mine"]
        assert_error(await client.get("/api/Projects/2", headers=root.headers), 404, "NOT_FOUND")
        await set_platform_role(client, root, "admin")
        assert (await client.get("/api/Projects/2", headers=root.headers)).status_code == 200
        # Banned by another superuser: their sessions end, so the next request is refused.
        await make_superuser(runtime(client).get(Authentication).ctx, ann.email, None, None)
        banned = await client.post("/api/auth/admin/ban-user", json={"userId": root.id}, headers=ann.headers)
        assert banned.status_code == 200, banned.text
        # (this test app leaves its API open to requests without a session, so ask the session itself)
        gone = await client.get("/api/auth/get-session", headers=root.headers)
        assert gone.status_code == 200 and gone.json() is None, gone.text
