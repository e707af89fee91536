"""Organization, membership, role and invitation changes of the organization plugin reach the log and the outbox."""

from __future__ import annotations

from typing import Any

import httpx

from tenantry.auth import Authentication
from tests.audit.helpers import Person, audit_rows, eventually, outbox, person
from tests.auth.helpers import BASE, NO_VERIFICATION, runtime, sql

SETTINGS = {"auth": NO_VERIFICATION, "base_url": BASE, "TENANTRY_OPEN_API": False}
ORG = "/api/auth/organization"


async def call(client: httpx.AsyncClient, who: Person, path: str, body: dict[str, Any]) -> Any:
    r = await client.post(f"{ORG}/{path}", json=body, headers=who.headers)
    assert r.status_code == 200, (path, r.text)
    return r.json()


async def verified(client: httpx.AsyncClient, who: Person) -> None:
    key = runtime(client).get(Authentication).ctx.store.user_id_in(who.id)
    await sql(client, "UPDATE users SET email_verified = ? WHERE id = ?", True, key)


async def test_the_organization_lifecycle_is_audited(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada = await person(client, "ada@example.com")
        bob = await person(client, "bob@example.com")
        cat = await person(client, "cat@example.com")
        await verified(client, bob)
        org = await call(client, ada, "create", {"name": "Acme", "slug": "acme"})
        org_id = org["id"]
        await call(client, ada, "update", {"data": {"name": "Acme Inc"}, "organizationId": org_id})
        invited = await call(client, ada, "invite-member", {"email": bob.email, "role": "member"})
        accepted = await call(client, bob, "accept-invitation", {"invitationId": invited["id"]})
        member_id = accepted["member"]["id"]
        await call(client, ada, "update-member-role", {"memberId": member_id, "role": "viewer"})
        second = await call(client, ada, "invite-member", {"email": cat.email, "role": "member"})
        await call(client, ada, "cancel-invitation", {"invitationId": second["id"]})
        await call(client, ada, "remove-member", {"memberIdOrEmail": bob.email})

        rows = [r for r in await audit_rows(client) if r["action"] not in ("sign_up",)]
        assert [(r["action"], r["resource_type"]) for r in rows] == [
            ("organization_create", "organization"),
            ("member_add", "member"),
            ("organization_update", "organization"),
            ("invitation_create", "invitation"),
            ("invitation_accept", "invitation"),
            ("member_add", "member"),
            ("role_change", "member"),
            ("invitation_create", "invitation"),
            ("invitation_cancel", "invitation"),
            ("member_remove", "member"),
        ]
        assert all(r["org_id"] == org_id for r in rows)
        actors = [r["user_id"] for r in rows]
        assert actors == [ada.id, ada.id, ada.id, ada.id, bob.id, bob.id, ada.id, ada.id, ada.id, ada.id]
        role_change = rows[6]
        assert role_change["resource_id"] == member_id
        assert (role_change["old_values"]["role"], role_change["new_values"]["role"]) == ("member", "viewer")
        assert rows[2]["old_values"]["name"] == "Acme" and rows[2]["new_values"]["name"] == "Acme Inc"

        # The same changes are domain events, for realtime and webhooks.
        topics = [e["topic"] for e in await outbox(client) if e["org_id"] == org_id]
        assert topics == [
            "organizations.created",
            "members.created",
            "organizations.updated",
            "invitations.created",
            "invitations.updated",
            "members.created",
            "members.updated",
            "invitations.created",
            "invitations.updated",
            "members.deleted",
        ]
        await eventually(lambda: _all_delivered(client))


async def _all_delivered(client: httpx.AsyncClient) -> bool:
    return all(e["delivered"] for e in await outbox(client))


async def test_leaving_is_recorded_as_such(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada = await person(client, "ada@example.com")
        bob = await person(client, "bob@example.com")
        await verified(client, bob)
        org = await call(client, ada, "create", {"name": "Acme", "slug": "acme"})
        invited = await call(client, ada, "invite-member", {"email": bob.email, "role": "member"})
        await call(client, bob, "accept-invitation", {"invitationId": invited["id"]})
        await call(client, bob, "leave", {"organizationId": org["id"]})
        [left] = [r for r in await audit_rows(client) if r["action"] == "member_leave"]
        assert (left["user_id"], left["org_id"], left["old_values"]["userId"]) == (bob.id, org["id"], bob.id)
