"""Every CRUD mutation writes exactly one audit row, with its values, in the transaction of the change."""

from __future__ import annotations

import pytest

from tenantry.auth import Authentication
from tenantry.db import Connection
from tenantry.errors import ApiError
from tenantry.pipeline import WriteEvent
from tests.audit.helpers import audit_rows, outbox, person
from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN, runtime, sql

SETTINGS = {"auth": NO_VERIFICATION, "base_url": BASE, "TENANTRY_OPEN_API": False}


async def test_create_update_delete_and_bulk_each_write_one_row(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada = await person(client, "ada@example.com", org="acme")
        [org_row] = [r for r in await audit_rows(client) if r["resource_type"] == "organizations"]
        assert (org_row["action"], org_row["resource_id"], org_row["org_id"]) == ("create", ada.org_id, ada.org_id)
        assert org_row["user_id"] == ada.id and org_row["new_values"]["slug"] == "acme"
        assert org_row["old_values"] is None
        before = len(await audit_rows(client))

        created = await client.post("/api/projects", json={"name": "Apollo"}, headers=ada.headers)
        assert created.status_code == 201, created.text
        project = created.json()
        url = f"/api/projects/{project['id']}"
        updated = (await client.patch(url, json={"name": "Artemis"}, headers=ada.headers)).json()
        assert (await client.delete(url, headers=ada.headers)).status_code == 200
        bulk = await client.post(
            "/api/projects/bulk",
            json={"bulk": [{"name": "One"}, {"name": "Two"}, {"name": "Three"}]},
            headers=ada.headers,
        )
        assert bulk.status_code == 201

        rows = (await audit_rows(client))[before:]
        assert [(r["action"], r["resource_id"]) for r in rows] == [
            ("create", project["id"]),
            ("update", project["id"]),
            ("delete", project["id"]),
            *(("create", p["id"]) for p in bulk.json()),
        ]
        for row in rows:
            assert row["resource_type"] == "projects"
            assert (row["user_id"], row["org_id"]) == (ada.id, ada.org_id)
            assert row["ip_address"] == "127.0.0.1" and row["user_agent"].startswith("python-httpx/")
            assert row["created_at"] is not None
        create, update, delete = rows[:3]
        assert create["old_values"] is None and create["new_values"] == project
        # An update keeps only what changed, before and after.
        assert set(update["old_values"]) == {"name", "updated_at"} == set(update["new_values"])
        assert update["old_values"]["name"] == "Apollo" and update["new_values"]["name"] == "Artemis"
        assert update["new_values"]["updated_at"] == updated["updated_at"]
        assert delete["old_values"] == updated and delete["new_values"] is None
        assert [r["new_values"]["name"] for r in rows[3:]] == ["One", "Two", "Three"]


async def test_a_failed_write_leaves_no_audit_row_and_no_event(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada = await person(client, "ada@example.com", org="acme")
        rows, events = len(await audit_rows(client)), len(await outbox(client))
        # The first organization is inserted, audited and recorded as an event; the second breaks the
        # unique slug, and the whole transaction goes, audit row and event included.
        dup = await client.post(
            "/api/organizations/bulk",
            json={"bulk": [{"name": "B", "slug": "beta"}, {"name": "B2", "slug": "beta"}]},
            headers=ada.headers,
        )
        assert (dup.status_code, dup.json()["code"]) == (409, "UNIQUE_VIOLATION")
        taken = await client.post("/api/organizations", json={"name": "A", "slug": "acme"}, headers=ada.headers)
        assert taken.status_code == 409
        assert len(await audit_rows(client)) == rows and len(await outbox(client)) == events


async def test_the_audit_row_and_the_event_share_the_transaction_of_the_change(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada = await person(client, "ada@example.com", org="acme")
        pipeline = runtime(client).pipeline
        seen: list[str] = []

        class FailsLast:
            """Runs after the audit writer and the outbox writer, then fails the write."""

            async def on_write(self, conn: Connection, event: WriteEvent) -> None:
                stored = await conn.fetch("SELECT action FROM audit_logs WHERE resource_type = 'projects'")
                seen.extend(str(r[0]) for r in stored)  # written, not yet committed
                raise ApiError(409, "LATE_FAILURE", "refused after the audit row was written")

        pipeline.listeners.append(FailsLast())
        rows, events = len(await audit_rows(client)), len(await outbox(client))
        r = await client.post("/api/projects", json={"name": "P"}, headers=ada.headers)
        assert (r.status_code, r.json()["code"]) == (409, "LATE_FAILURE")
        assert seen == ["create"]
        assert len(await audit_rows(client)) == rows and len(await outbox(client)) == events
        assert (await client.get("/api/projects", headers=ada.headers)).json() == []


async def test_deleting_users_and_organizations_keeps_their_history(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada = await person(client, "ada@example.com", org="acme")
        org_url = f"/api/organizations/{ada.org_id}"
        assert (await client.patch(org_url, json={"billing_email": "b@acme.test"}, headers=ada.headers)).is_success
        # No foreign key from the log: the organization goes, its history stays (with its delete).
        assert (await client.delete(org_url, headers=ada.headers)).status_code == 200
        rows = await audit_rows(client)
        about_org = [r for r in rows if r["org_id"] == ada.org_id]
        assert [r["action"] for r in about_org if r["resource_type"] == "organizations"] == [
            "create",
            "update",
            "delete",
        ]
        rt = runtime(client)
        await sql(client, "DELETE FROM users WHERE id = ?", rt.get(Authentication).ctx.store.user_id_in(ada.id))
        assert await sql(client, "SELECT id FROM users") == []
        assert len(await audit_rows(client)) == len(rows)
        assert all(r["user_id"] == ada.id for r in rows if r["action"] in ("create", "update", "delete"))


@pytest.mark.parametrize("method", ["post", "patch", "put", "delete"])
async def test_the_api_offers_no_way_to_change_the_log(make_client, method: str) -> None:
    async with make_client(**SETTINGS) as client:
        ada = await person(client, "ada@example.com", org="acme")
        rows = await audit_rows(client)  # the sign-up, the organization
        row = rows[-1]
        body = {"action": "create", "resource_type": "x", "org_id": ada.org_id}
        path = "/api/audit_logs" if method == "post" else f"/api/audit_logs/{row['id']}"
        kwargs = {} if method == "delete" else {"json": body}
        r = await client.request(method.upper(), path, headers=ada.headers, **kwargs)
        assert (r.status_code, r.json()["code"]) == (403, "AUDIT_LOG_READ_ONLY")
        anonymous = await client.request(method.upper(), path, headers=ORIGIN, **kwargs)
        assert anonymous.status_code == 401
        assert await audit_rows(client) == rows


async def test_not_even_the_development_principal_changes_the_log(make_client) -> None:
    async with make_client() as client:  # the open development API: every caller is the developer
        org = (await client.post("/api/organizations", json={"name": "A", "slug": "a"})).json()
        [row] = await audit_rows(client)
        assert (row["action"], row["resource_id"], row["user_id"]) == ("create", org["id"], None)
        body = {"action": "create", "resource_type": "projects", "resource_id": org["id"]}
        for r in (
            await client.post("/api/audit_logs", json=body),
            await client.post("/api/audit_logs/bulk", json={"bulk": [body]}),
            await client.patch(f"/api/audit_logs/{row['id']}", json={"ip_address": "10.0.0.1"}),
            await client.delete(f"/api/audit_logs/{row['id']}"),
        ):
            assert (r.status_code, r.json()["code"]) == (403, "AUDIT_LOG_READ_ONLY")
        # Reading is the policy's business: the developer reads everything.
        assert [r["id"] for r in (await client.get("/api/audit_logs")).json()] == [row["id"]]
