"""A 409 never confirms another organization's value.

On a tenant entity, ``unique`` (on a field or an index) holds within the organization; the
subscriptions that ``/api/billing`` reads are written by Stripe's webhooks only, whether or not
the schema declares its plans. On both databases, through the API as a member and an admin.
"""

from __future__ import annotations

from tenantry.schema import load_schema_text
from tests.auth.helpers import BASE, NO_VERIFICATION
from tests.conftest import SEED_SCHEMA_PATH
from tests.tenancy.helpers import create_org, join, new_user

TICKETS = """
tickets:
  fields:
    - title: string (required)
    - code: string (unique, required)
    - ref: string (nullable)
    - org_id: uuid (references organizations, required)
    - created_by: uuid (references users)
  indexes:
    - fields: [ref, title]
      unique: true
"""
# The example app's schema (no settings.billing, as the outside probe found it) plus an entity
# with a unique field and a unique index.
SCHEMA = SEED_SCHEMA_PATH.read_text() + TICKETS


async def test_a_member_cannot_write_subscriptions_without_declared_plans(make_client) -> None:
    assert load_schema_text(SEED_SCHEMA_PATH.read_text()).options.get("billing") is None
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        admin = await new_user(client, "ann@example.com")
        member = await new_user(client, "mia@example.com")
        org = await create_org(client, admin, "Acme", slug="acme")
        await join(client, admin, org, member, "member")
        body = {"stripe_subscription_id": "sub_x", "plan_id": "pro", "status": "active"}
        for who in (member, admin):
            r = await client.post("/api/subscriptions", json=body, headers=who.headers)
            assert (r.status_code, r.json()["code"]) == (403, "SUBSCRIPTION_READ_ONLY")
        billing = await client.get("/api/billing", headers=member.headers)
        assert billing.status_code == 200
        assert billing.json()["subscribedPlan"] is None and billing.json()["stripeSubscriptionId"] is None
        assert (await client.get("/api/subscriptions", headers=member.headers)).json() == []


async def test_unique_values_are_unique_within_each_organization(make_client) -> None:
    async with make_client(SCHEMA, auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        bob = await new_user(client, "bob@example.com")
        mia = await new_user(client, "mia@example.com")
        acme = await create_org(client, ann, "Acme", slug="acme")
        await create_org(client, bob, "Bravo", slug="bravo")
        await join(client, ann, acme, mia, "member")

        ticket = {"title": "Launch", "code": "T-1", "ref": "R-1"}
        r = await client.post("/api/tickets", json=ticket, headers=bob.headers)
        assert r.status_code == 201, r.text
        # Acme's member takes Bravo's code and Bravo's (ref, title): nothing says Bravo has them.
        r = await client.post("/api/tickets", json=ticket, headers=mia.headers)
        assert r.status_code == 201, r.text
        # Within Acme both rules hold, and the 409 names the fields the client wrote.
        again = await client.post("/api/tickets", json={**ticket, "ref": "R-2"}, headers=ann.headers)
        assert (again.status_code, again.json()["code"], again.json()["fields"]) == (409, "UNIQUE_VIOLATION", ["code"])
        again = await client.post("/api/tickets", json={**ticket, "code": "T-2"}, headers=ann.headers)
        assert again.status_code == 409 and again.json()["fields"] == ["ref", "title"]
        # An update runs into the same rule; nothing changes.
        other = await client.post("/api/tickets", json={**ticket, "code": "T-3", "ref": None}, headers=ann.headers)
        assert other.status_code == 201
        clash = await client.patch(f"/api/tickets/{other.json()['id']}", json={"code": "T-1"}, headers=ann.headers)
        assert clash.status_code == 409 and clash.json()["fields"] == ["code"]
        kept = await client.get(f"/api/tickets/{other.json()['id']}", headers=ann.headers)
        assert kept.json()["code"] == "T-3"
        # A bulk create with one clash writes none of its rows.
        bulk = {"bulk": [{"title": "New", "code": "T-9"}, {"title": "Dup", "code": "T-1"}]}
        assert (await client.post("/api/tickets/bulk", json=bulk, headers=ann.headers)).status_code == 409
        codes = {t["code"] for t in (await client.get("/api/tickets", headers=ann.headers)).json()}
        assert codes == {"T-1", "T-3"}
