"""Helpers of the webhook tests: an app with webhooks, signed-in admins and members, API calls."""

from __future__ import annotations

from typing import Any

import httpx

from tenantry.auth import AuthSettings
from tenantry.webhooks import DELIVERY_SUBSCRIBER, FANOUT_SUBSCRIBER, Webhooks, WebhookSettings
from tests.auth.helpers import runtime
from tests.tenancy.helpers import User

AUTH = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_RATE_LIMIT="off")
# Receivers in these tests listen on 127.0.0.1: private addresses are allowed unless a test says not.
LOCAL = WebhookSettings(TENANTRY_WEBHOOKS_ALLOW_PRIVATE=True, TENANTRY_WEBHOOKS_TIMEOUT=5)
STRICT = WebhookSettings(TENANTRY_WEBHOOKS_ALLOW_PRIVATE=False)
API = "/api/webhooks"


def webhooks(client: httpx.AsyncClient) -> Webhooks:
    return runtime(client).get(Webhooks)


def wake(client: httpx.AsyncClient) -> None:
    """Wake the fan-out and delivery workers (after the test moved the clock)."""
    outbox = runtime(client).outbox
    for name in (FANOUT_SUBSCRIBER, DELIVERY_SUBSCRIBER):
        outbox.worker(name).wake()


async def create_endpoint(client: httpx.AsyncClient, admin: User, url: str, **fields: Any) -> dict[str, Any]:
    r = await client.post(f"{API}/endpoints", json={"url": url, **fields}, headers=admin.headers)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def create_project(client: httpx.AsyncClient, user: User, name: str) -> dict[str, Any]:
    r = await client.post("/api/projects", json={"name": name, "created_by": user.id}, headers=user.headers)
    assert r.status_code == 201, r.text
    project: dict[str, Any] = r.json()
    return project
