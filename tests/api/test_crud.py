"""CRUD over the generated REST API (apso.md §2.3-2.5), on SQLite and PostgreSQL.

Covers create (server ids, client ids, defaults, timestamps), read, PUT/PATCH merge semantics,
immutable fields, delete, bulk create (all or nothing), routing rules and project hooks.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tenantry.hooks import Deny, HookEvent, Hooks

from ._helpers import (
    TIMESTAMP,
    assert_error,
    field_codes,
    get_json,
    is_uuid,
    post,
    seed_org,
    seed_project,
    seed_user,
)

# A schema of our own for immutability: a non-auto immutable field and an auto immutable one.
IMMUTABLE_SCHEMA = """
accounts:
  - handle: string (required, immutable)
  - display_name: string
  - created_at: timestamp (auto, immutable)
  - updated_at: timestamp (auto)
"""


async def _count(client: Any, route: str) -> int:
    return len(await get_json(client, f"/api/{route}"))


# -- create and read -----------------------------------------------------------------------------


async def test_create_returns_row_with_server_values(make_client) -> None:
    async with make_client() as client:
        r = await client.post("/api/organizations", json={"name": "Acme Corp", "slug": "acme"})
        assert r.status_code == 201, r.text
        assert r.headers["content-type"].startswith("application/json")
        org = r.json()
        assert list(org) == ["id", "name", "slug", "billing_email", "stripe_customer_id", "created_at", "updated_at"]
        assert is_uuid(org["id"])
        assert org["name"] == "Acme Corp" and org["slug"] == "acme"
        assert org["billing_email"] is None and org["stripe_customer_id"] is None
        assert TIMESTAMP.match(org["created_at"]), org["created_at"]
        assert TIMESTAMP.match(org["updated_at"]), org["updated_at"]
        assert org["created_at"] == org["updated_at"]
        # What POST answered is what GET answers.
        assert await get_json(client, f"/api/organizations/{org['id']}") == org


async def test_create_applies_defaults(make_client) -> None:
    async with make_client() as client:
        org = await seed_org(client)
        user = await seed_user(client, org)
        assert user["role"] == "member"
        project = await seed_project(client, org, user)
        assert project["status"] == "active"
        assert project["description"] is None
        # An explicit value wins over the default.
        admin = await seed_user(client, org, "root@example.com", role="admin")
        assert admin["role"] == "admin"
        archived = await seed_project(client, org, user, "Old", status="archived")
        assert archived["status"] == "archived"


async def test_client_supplied_id_is_accepted(make_client) -> None:
    async with make_client() as client:
        wanted = str(uuid.uuid4())
        org = await seed_org(client, id=wanted)
        assert org["id"] == wanted
        assert (await get_json(client, f"/api/organizations/{wanted}"))["slug"] == "acme"
        # Upper-case input is the same UUID; it comes back canonical.
        other = str(uuid.uuid4())
        org2 = await seed_org(client, "Beta", "beta", id=other.upper())
        assert org2["id"] == other
        # The same id twice is a conflict, not a second row or a 500.
        r = await client.post("/api/organizations", json={"id": wanted, "name": "Dup", "slug": "dup"})
        assert_error(r, 409, "UNIQUE_VIOLATION")
        # Something that is not a UUID is refused.
        r = await client.post("/api/organizations", json={"id": "not-a-uuid", "name": "X", "slug": "x"})
        body = assert_error(r, 400, "VALIDATION_FAILED")
        assert "id" in field_codes(body)


async def test_get_missing_row_is_nestjs_404(make_client) -> None:
    async with make_client() as client:
        r = await client.get(f"/api/projects/{uuid.uuid4()}")
        assert r.status_code == 404
        assert r.json() == {
            "statusCode": 404,
            "message": "Project not found",
            "error": "Not Found",
            "code": "NOT_FOUND",
        }
        r = await client.get(f"/api/organizations/{uuid.uuid4()}")
        assert r.json()["message"] == "Organization not found"


# -- update ------------------------------------------------------------------------------------


async def test_put_and_patch_both_merge(make_client) -> None:
    async with make_client() as client:
        org = await seed_org(client)
        user = await seed_user(client, org)
        project = await seed_project(client, org, user, description="first")
        pid = project["id"]

        r = await client.patch(f"/api/projects/{pid}", json={"name": "Renamed"})
        assert r.status_code == 200, r.text
        patched = r.json()
        assert patched["name"] == "Renamed"
        assert patched["description"] == "first" and patched["status"] == "active"
        assert patched["org_id"] == org["id"] and patched["created_by"] == user["id"]

        # PUT is not a replace: fields left out keep their values (as nestjsx/Apso).
        r = await client.put(f"/api/projects/{pid}", json={"status": "archived"})
        assert r.status_code == 200, r.text
        put = r.json()
        assert put["status"] == "archived"
        assert put["name"] == "Renamed" and put["description"] == "first"

        # Explicit null clears a nullable field.
        r = await client.patch(f"/api/projects/{pid}", json={"description": None})
        assert r.status_code == 200 and r.json()["description"] is None
        assert await get_json(client, f"/api/projects/{pid}") == r.json()


async def test_update_never_inserts(make_client) -> None:
    async with make_client() as client:
        org = await seed_org(client)
        missing = str(uuid.uuid4())
        for method in ("PUT", "PATCH"):
            r = await client.request(method, f"/api/organizations/{missing}", json={"name": "Ghost", "slug": "ghost"})
            assert r.status_code == 404, r.text
            assert r.json() == {
                "statusCode": 404,
                "message": "Organization not found",
                "error": "Not Found",
                "code": "NOT_FOUND",
            }
        rows = await get_json(client, "/api/organizations")
        assert [o["id"] for o in rows] == [org["id"]]


async def test_update_moves_updated_at_only(make_client) -> None:
    async with make_client() as client:
        org = await seed_org(client)
        await asyncio.sleep(0.01)  # timestamps have millisecond precision
        r = await client.patch(f"/api/organizations/{org['id']}", json={"billing_email": "billing@acme.test"})
        assert r.status_code == 200, r.text
        updated = r.json()
        assert updated["created_at"] == org["created_at"]
        assert updated["updated_at"] != org["updated_at"]
        assert updated["updated_at"] > org["updated_at"]
        assert TIMESTAMP.match(updated["updated_at"])
        # Sending the server-managed timestamps back (a read-modify-write client) is harmless.
        await asyncio.sleep(0.01)
        r = await client.put(f"/api/organizations/{org['id']}", json={**updated, "name": "Acme 2"})
        assert r.status_code == 200, r.text
        again = r.json()
        assert again["name"] == "Acme 2"
        assert again["created_at"] == org["created_at"]
        assert again["updated_at"] > updated["updated_at"]


async def test_update_ignores_id_in_body(make_client) -> None:
    async with make_client() as client:
        org = await seed_org(client)
        other = str(uuid.uuid4())
        r = await client.patch(f"/api/organizations/{org['id']}", json={"id": other, "name": "Same row"})
        assert r.status_code == 200, r.text
        assert r.json()["id"] == org["id"]
        assert_error(await client.get(f"/api/organizations/{other}"), 404)


async def test_immutable_field_may_be_resent_but_not_changed(make_client) -> None:
    async with make_client(IMMUTABLE_SCHEMA) as client:
        acct = await post(client, "accounts", {"handle": "ada", "display_name": "Ada"})
        url = f"/api/accounts/{acct['id']}"
        for method in ("PATCH", "PUT"):
            # The unchanged value may be sent back with other changes.
            r = await client.request(method, url, json={"handle": "ada", "display_name": f"Ada {method}"})
            assert r.status_code == 200, r.text
            assert r.json()["handle"] == "ada"
            # A different value is refused, and nothing else in the body is applied.
            r = await client.request(method, url, json={"handle": "bob", "display_name": "Bob"})
            body = assert_error(r, 400, "VALIDATION_FAILED")
            assert field_codes(body) == {"handle": "IMMUTABLE_FIELD"}
        row = await get_json(client, url)
        assert row["handle"] == "ada" and row["display_name"] == "Ada PUT"


async def test_auto_immutable_timestamp_cannot_be_changed(make_client) -> None:
    async with make_client(IMMUTABLE_SCHEMA) as client:
        acct = await post(client, "accounts", {"handle": "ada"})
        url = f"/api/accounts/{acct['id']}"
        r = await client.patch(url, json={"created_at": acct["created_at"], "display_name": "Ada"})
        assert r.status_code == 200, r.text
        r = await client.patch(url, json={"created_at": "2001-01-01T00:00:00.000Z"})
        body = assert_error(r, 400, "VALIDATION_FAILED")
        assert field_codes(body) == {"created_at": "IMMUTABLE_FIELD"}
        assert (await get_json(client, url))["created_at"] == acct["created_at"]


# -- delete ------------------------------------------------------------------------------------


async def test_delete_then_404(make_client) -> None:
    async with make_client() as client:
        org = await seed_org(client)
        url = f"/api/organizations/{org['id']}"
        r = await client.delete(url)
        assert r.status_code == 200
        assert r.content == b""
        assert_error(await client.get(url), 404, "NOT_FOUND", "Organization not found")
        assert_error(await client.delete(url), 404, "NOT_FOUND", "Organization not found")
        assert_error(await client.patch(url, json={"name": "back"}), 404, "NOT_FOUND")
        assert await get_json(client, "/api/organizations") == []


# -- bulk --------------------------------------------------------------------------------------


async def test_bulk_create(make_client) -> None:
    async with make_client() as client:
        r = await client.post(
            "/api/organizations/bulk",
            json={"bulk": [{"name": f"Org {i}", "slug": f"org-{i}"} for i in range(3)]},
        )
        assert r.status_code == 201, r.text
        rows = r.json()
        assert isinstance(rows, list) and len(rows) == 3
        assert [o["slug"] for o in rows] == ["org-0", "org-1", "org-2"]
        assert all(is_uuid(o["id"]) and TIMESTAMP.match(o["created_at"]) for o in rows)
        assert len({o["id"] for o in rows}) == 3
        listed = await get_json(client, "/api/organizations")
        assert {o["id"] for o in listed} == {o["id"] for o in rows}


async def test_bulk_is_all_or_nothing_on_validation(make_client) -> None:
    async with make_client() as client:
        r = await client.post(
            "/api/organizations/bulk",
            json={"bulk": [{"name": "A", "slug": "a"}, {"slug": "b"}, {"name": "C", "slug": "c", "nope": 1}]},
        )
        body = assert_error(r, 400, "VALIDATION_FAILED")
        assert field_codes(body) == {"bulk.1.name": "REQUIRED", "bulk.2.nope": "UNKNOWN_FIELD"}
        assert "bulk.1.name: is required" in body["message"]
        assert await _count(client, "organizations") == 0


async def test_bulk_is_all_or_nothing_on_conflict(make_client) -> None:
    async with make_client() as client:
        await seed_org(client, "Taken", "taken")
        r = await client.post(
            "/api/organizations/bulk",
            json={"bulk": [{"name": "A", "slug": "a"}, {"name": "B", "slug": "taken"}]},
        )
        body = assert_error(r, 409, "UNIQUE_VIOLATION")
        assert body["fields"] == ["slug"]
        assert await _count(client, "organizations") == 1
        # A duplicate inside the batch itself is the same conflict.
        r = await client.post(
            "/api/organizations/bulk",
            json={"bulk": [{"name": "A", "slug": "same"}, {"name": "B", "slug": "same"}]},
        )
        assert_error(r, 409, "UNIQUE_VIOLATION")
        assert await _count(client, "organizations") == 1


async def test_bulk_is_all_or_nothing_on_missing_reference(make_client) -> None:
    async with make_client() as client:
        org = await seed_org(client)
        user = await seed_user(client, org)
        good = {"name": "ok", "org_id": org["id"], "created_by": user["id"]}
        bad = {"name": "bad", "org_id": str(uuid.uuid4()), "created_by": user["id"]}
        r = await client.post("/api/projects/bulk", json={"bulk": [good, bad]})
        body = assert_error(r, 400)
        assert "org_id" in field_codes(body)
        assert await _count(client, "projects") == 0


async def test_bulk_rejects_empty_and_malformed(make_client) -> None:
    async with make_client() as client:
        for payload in ({"bulk": []}, {}, {"bulk": {"name": "x"}}, {"bulk": "x"}, [{"name": "x", "slug": "x"}], 3):
            r = await client.post("/api/organizations/bulk", json=payload)
            assert_error(r, 400)
        r = await client.post("/api/organizations/bulk", json={"bulk": [5]})
        body = assert_error(r, 400, "VALIDATION_FAILED")
        assert list(field_codes(body)) == ["bulk.0"]
        assert await _count(client, "organizations") == 0


# -- routing -----------------------------------------------------------------------------------


async def test_routes_are_case_insensitive(make_client) -> None:
    async with make_client() as client:
        r = await client.post("/api/Organizations", json={"name": "Acme", "slug": "acme"})
        assert r.status_code == 201, r.text
        org = r.json()
        assert [o["id"] for o in await get_json(client, "/api/Organizations")] == [org["id"]]
        assert (await get_json(client, f"/api/ORGANIZATIONS/{org['id']}"))["slug"] == "acme"
        r = await client.patch(f"/api/oRgAnIzAtIoNs/{org['id']}", json={"name": "Acme 2"})
        assert r.status_code == 200 and r.json()["name"] == "Acme 2"
        r = await client.post("/api/PROJECTS/bulk", json={"bulk": []})
        assert_error(r, 400)


async def test_unknown_resource_is_route_not_found(make_client) -> None:
    async with make_client() as client:
        for method, url in (
            ("GET", "/api/widgets"),
            ("POST", "/api/widgets"),
            ("GET", f"/api/widgets/{uuid.uuid4()}"),
            ("DELETE", f"/api/widgets/{uuid.uuid4()}"),
            ("POST", "/api/widgets/bulk"),
        ):
            r = await client.request(method, url, json={} if method == "POST" else None)
            body = assert_error(r, 404, "ROUTE_NOT_FOUND")
            assert body["message"] == f"Cannot {method} {url}"


async def test_wrong_method_is_405_with_allow(make_client) -> None:
    async with make_client() as client:
        org = await seed_org(client)
        for method in ("DELETE", "PUT", "PATCH"):
            r = await client.request(method, "/api/organizations")
            assert_error(r, 405, "METHOD_NOT_ALLOWED")
            assert r.headers["allow"] == "GET, POST"
        r = await client.post(f"/api/organizations/{org['id']}", json={"name": "x"})
        assert_error(r, 405, "METHOD_NOT_ALLOWED")
        assert r.headers["allow"] == "GET, PUT, PATCH, DELETE"
        # Nothing changed.
        assert (await get_json(client, f"/api/organizations/{org['id']}"))["name"] == org["name"]


# -- hooks -------------------------------------------------------------------------------------


async def test_before_create_hook_changes_data(make_client) -> None:
    hooks = Hooks()

    async def default_billing(event: HookEvent) -> None:
        event.data.setdefault("billing_email", None)
        if event.data["billing_email"] is None:
            event.data["billing_email"] = f"billing@{event.data['slug']}.test"

    hooks.add("organizations", "before_create", default_billing)
    async with make_client(hooks=hooks) as client:
        org = await seed_org(client)
        assert org["billing_email"] == "billing@acme.test"
        assert (await get_json(client, f"/api/organizations/{org['id']}"))["billing_email"] == "billing@acme.test"
        given = await seed_org(client, "Beta", "beta", billing_email="pay@beta.test")
        assert given["billing_email"] == "pay@beta.test"
        # Bulk creates run the hook for every row.
        r = await client.post("/api/organizations/bulk", json={"bulk": [{"name": "C", "slug": "c"}]})
        assert r.status_code == 201 and r.json()[0]["billing_email"] == "billing@c.test"


async def test_before_create_deny_writes_nothing(make_client) -> None:
    hooks = Hooks()

    async def no_reserved_slugs(event: HookEvent) -> None:
        if event.data["slug"] == "admin":
            raise Deny("The slug 'admin' is reserved")

    hooks.add("organizations", "before_create", no_reserved_slugs)
    async with make_client(hooks=hooks) as client:
        r = await client.post("/api/organizations", json={"name": "Admin", "slug": "admin"})
        body = assert_error(r, 400, "REJECTED_BY_HOOK", "The slug 'admin' is reserved")
        assert set(body) == {"statusCode", "message", "error", "code"}
        # In a bulk, one denied row means no row at all.
        r = await client.post(
            "/api/organizations/bulk",
            json={"bulk": [{"name": "Fine", "slug": "fine"}, {"name": "Admin", "slug": "admin"}]},
        )
        assert_error(r, 400, "REJECTED_BY_HOOK")
        assert await _count(client, "organizations") == 0
        await seed_org(client, "Fine", "fine")
        assert await _count(client, "organizations") == 1


async def test_deny_with_custom_status(make_client) -> None:
    hooks = Hooks()

    async def frozen(event: HookEvent) -> None:
        raise Deny("Projects are frozen", status=403, code="FROZEN")

    hooks.add("projects", "before_update", frozen)
    hooks.add("projects", "before_delete", frozen)
    async with make_client(hooks=hooks) as client:
        org = await seed_org(client)
        user = await seed_user(client, org)
        project = await seed_project(client, org, user)
        url = f"/api/projects/{project['id']}"
        assert_error(await client.patch(url, json={"name": "New"}), 403, "FROZEN", "Projects are frozen")
        assert_error(await client.delete(url), 403, "FROZEN")
        assert await get_json(client, url) == project


async def test_failing_after_create_hook_keeps_201(make_client) -> None:
    hooks = Hooks()
    seen: list[dict[str, Any]] = []

    async def broken(event: HookEvent) -> None:
        assert event.new is not None
        seen.append(event.new)
        raise RuntimeError("the webhook endpoint is down")

    hooks.add("organizations", "after_create", broken)
    async with make_client(hooks=hooks) as client:
        r = await client.post("/api/organizations", json={"name": "Acme", "slug": "acme"})
        assert r.status_code == 201, r.text
        org = r.json()
        assert seen == [org]
        assert await get_json(client, f"/api/organizations/{org['id']}") == org


async def test_before_update_hook_changes_data(make_client) -> None:
    hooks = Hooks()

    async def upper(event: HookEvent) -> None:
        assert event.old is not None
        if "name" in event.data:
            event.data["name"] = event.data["name"].upper()

    hooks.add("*", "before_update", upper)
    async with make_client(hooks=hooks) as client:
        org = await seed_org(client)
        r = await client.patch(f"/api/organizations/{org['id']}", json={"name": "shout"})
        assert r.status_code == 200 and r.json()["name"] == "SHOUT"
        assert (await get_json(client, f"/api/organizations/{org['id']}"))["name"] == "SHOUT"
