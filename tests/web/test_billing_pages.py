"""``/settings/billing`` and the upgrade prompt over HTTP (in-process client), on SQLite and PostgreSQL:
who sees which controls, the banners that follow Stripe's webhooks, and a create refused by the
plan's limit answered by its form with a link to the billing page."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import unquote

import httpx
import pytest

from tests.auth.helpers import BASE, NO_VERIFICATION
from tests.billing.helpers import SECRET, billing_schema, deliver, event, stripe, subscription_object
from tests.conftest import ClientFactory
from tests.tenancy.helpers import User, create_org, join, new_user

PAGE = "/settings/billing"


def toast(r: httpx.Response) -> str:
    """The message the next page shows (the flash cookie)."""
    return unquote(r.cookies.get("tenantry.flash", ""))


@pytest.fixture
async def client(make_client: ClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    # Webhooks verify; no Stripe key, so Checkout is refused the way an unconfigured app refuses it.
    async with make_client(billing_schema(), auth=NO_VERIFICATION, base_url=BASE, billing=stripe(SECRET)) as c:
        yield c


async def admin_and_member(client: httpx.AsyncClient) -> tuple[User, User, dict[str, str]]:
    admin = await new_user(client, "admin@example.com")
    org = await create_org(client, admin, "Acme", slug="acme")
    member = await new_user(client, "member@example.com")
    await join(client, admin, org, member, "member")
    return admin, member, org


async def test_admins_get_the_controls_and_members_the_plan_read_only(client: httpx.AsyncClient) -> None:
    admin, member, _ = await admin_and_member(client)
    page = await client.get(PAGE, headers=admin.headers)
    assert page.status_code == 200, page.text
    assert 'href="/settings/billing" aria-current="page">Billing</a>' in page.text
    assert 'id="current-plan">Free<' in page.text
    assert "Projects: 0 of 2" in page.text and 'id="usage-projects"' in page.text
    assert 'action="/settings/billing/checkout"' in page.text and "Upgrade to Pro" in page.text

    shown = await client.get(PAGE, headers=member.headers)
    assert shown.status_code == 200
    assert 'id="current-plan">Free<' in shown.text and "Projects: 0 of 2" in shown.text
    assert "/settings/billing/checkout" not in shown.text and "Manage billing" not in shown.text
    assert "Only the organization's admins change its plan." in shown.text
    # A forged form is refused by the billing service: back to the page with its reason, and no customer.
    forged = await client.post(PAGE + "/checkout", data={"plan": "pro"}, headers=member.headers)
    assert forged.status_code == 303 and forged.headers["location"] == PAGE
    assert "admins" in toast(forged)
    # Without Stripe keys the admin's Upgrade says so instead of failing.
    refused = await client.post(PAGE + "/checkout", data={"plan": "pro"}, headers=admin.headers)
    assert refused.status_code == 303 and refused.headers["location"] == PAGE
    assert "STRIPE_SECRET_KEY" in toast(refused)
    # The portal needs a billing account first.
    portal = await client.post(PAGE + "/portal", data={}, headers=admin.headers)
    assert portal.status_code == 303 and "subscribe first" in toast(portal)


async def test_banners_follow_the_subscription(client: httpx.AsyncClient) -> None:
    admin, member, org = await admin_and_member(client)
    now = int(time.time())
    trial = subscription_object(org["id"], status="trialing", trial_end=now + 14 * 86_400)
    assert (await deliver(client, event("customer.subscription.created", trial, now - 60))).status_code == 200
    page = await client.get(PAGE, headers=admin.headers)
    assert 'id="current-plan">Pro<' in page.text and 'id="plan-status">trialing<' in page.text
    assert 'data-banner="trial"' in page.text and "Projects: 0 of 50" in page.text
    assert "Manage billing" in page.text and "Upgrade to Pro" not in page.text
    assert "Downgrade to Free" in page.text  # through the portal, where it is canceled

    late = subscription_object(org["id"], status="past_due")
    assert (await deliver(client, event("customer.subscription.updated", late, now - 30))).status_code == 200
    page = await client.get(PAGE, headers=admin.headers)
    assert 'data-banner="past-due"' in page.text and "Update the payment method" in page.text
    assert 'data-banner="trial"' not in page.text
    shown = await client.get(PAGE, headers=member.headers)
    assert 'data-banner="past-due"' in shown.text and "Ask an admin" in shown.text

    # Back from Checkout before the webhook arrived vs after.
    back = await client.get(PAGE + "?checkout=success", headers=admin.headers)
    assert "Thank you: Acme is on the Pro plan." in back.text
    canceled = await client.get(PAGE + "?checkout=canceled", headers=admin.headers)
    assert "Checkout canceled" in canceled.text


async def test_a_create_refused_by_the_limit_links_to_the_billing_page(client: httpx.AsyncClient) -> None:
    admin, _, _ = await admin_and_member(client)
    for name in ("One", "Two"):
        r = await client.post("/app/projects/new", data={"name": name, "status": "active"}, headers=admin.headers)
        assert r.status_code == 303, r.text
    form = {"name": "Three", "status": "active", "next": "/dashboard", "dialog": "1"}
    r = await client.post("/app/projects/new", data=form, headers=admin.headers)
    assert r.status_code == 402, r.text
    assert "Your plan allows 2 projects" in r.text and '<a href="/settings/billing">See plans and upgrade</a>' in r.text
    assert 'value="Three"' in r.text  # what was typed stays
    page = await client.get(PAGE, headers=admin.headers)
    assert "Projects: 2 of 2" in page.text and "The limit is reached: upgrade to create more." in page.text


async def test_no_billing_page_without_plans(make_client: ClientFactory) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        admin = await new_user(client, "admin@example.com")
        await create_org(client, admin, "Acme", slug="acme")
        account = await client.get("/settings/account", headers=admin.headers)
        assert account.status_code == 200 and "/settings/billing" not in account.text
        assert (await client.get(PAGE, headers=admin.headers)).status_code == 404
