"""The admin pages in-process on both databases: superusers only; search, ban, revoke, impersonate
with the banner on every page, and stop."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tenantry.auth import Authentication
from tenantry.auth.plugins.admin.superusers import make_superuser
from tests.admin.helpers import SETTINGS
from tests.audit.helpers import person
from tests.auth.helpers import BASE, PASSWORD, runtime

pytestmark = pytest.mark.asyncio

FORM = {"origin": BASE}


async def browser_login(client: httpx.AsyncClient, email: str) -> None:
    r = await client.post("/login", data={"email": email, "password": PASSWORD, "from": "/dashboard"}, headers=FORM)
    assert r.status_code == 303, r.text


async def test_admin_pages_for_superusers_only(make_client: Any) -> None:
    async with make_client(auth=SETTINGS, base_url=BASE) as client:
        await person(client, "root@example.com", org="root-co")
        await make_superuser(runtime(client).get(Authentication).ctx, "root@example.com", None, None)
        eve = await person(client, "eve@example.com", org="eve-co")
        await person(client, "zed@example.com", org="zed-co")

        await browser_login(client, "eve@example.com")
        assert (await client.get("/admin")).status_code == 403
        assert (await client.get("/admin/organizations")).status_code == 403
        forged = await client.post(f"/admin/users/{eve.id}/ban", data={"reason": "x"}, headers=FORM)
        assert forged.status_code == 403
        assert 'href="/admin"' not in (await client.get("/dashboard")).text
        client.cookies.clear()

        await browser_login(client, "root@example.com")
        assert 'href="/admin"' in (await client.get("/dashboard")).text
        listing = await client.get("/admin", params={"q": "eve"})
        assert (
            listing.status_code == 200 and "eve@example.com" in listing.text and "zed@example.com" not in listing.text
        )
        orgs = await client.get("/admin/organizations", params={"q": "zed"})
        assert "zed-co" in orgs.text and "eve-co" not in orgs.text
        detail = await client.get(f"/admin/users/{eve.id}")
        assert detail.status_code == 200 and "Impersonate" in detail.text and "Ban user" in detail.text
        # A form from elsewhere is refused.
        cross = await client.post(f"/admin/users/{eve.id}/ban", data={}, headers={"origin": "https://evil.example"})
        assert cross.status_code == 403

        banned = await client.post(f"/admin/users/{eve.id}/ban", data={"reason": "spam", "length": ""}, headers=FORM)
        assert banned.status_code == 303
        assert (
            await client.get("/api/auth/get-session", headers={"authorization": f"Bearer {eve.token}"})
        ).json() is None
        assert "banned" in (await client.get(f"/admin/users/{eve.id}")).text
        await client.post(f"/admin/users/{eve.id}/unban", data={}, headers=FORM)
        # A session revoked from her page by its id; the page never shows session tokens.
        again = await client.post(
            "/api/auth/sign-in/email", json={"email": "eve@example.com", "password": PASSWORD}, headers=FORM
        )
        client.cookies.clear()
        await browser_login(client, "root@example.com")
        page_html = (await client.get(f"/admin/users/{eve.id}")).text
        assert again.json()["token"] not in page_html
        session_id = re.search(r'name="session_id" value="([^"]+)"', page_html)
        assert session_id is not None
        revoked = await client.post(
            f"/admin/users/{eve.id}/revoke-session", data={"session_id": session_id.group(1)}, headers=FORM
        )
        assert revoked.status_code == 303
        as_eve = {"authorization": f"Bearer {again.json()['token']}"}
        assert (await client.get("/api/auth/get-session", headers=as_eve)).json() is None
        gone = await client.post(f"/admin/users/{eve.id}/revoke-session", data={"session_id": "nope"}, headers=FORM)
        assert gone.status_code == 303

        started = await client.post(f"/admin/users/{eve.id}/impersonate", data={}, headers=FORM)
        assert started.status_code == 303 and started.headers["location"] == "/dashboard"
        dashboard = await client.get("/dashboard")
        banner = re.search(r"<div class=\"alert impersonation\".*?</div>", dashboard.text, re.S)
        assert banner is not None
        assert "signed in as <strong>Eve</strong> (impersonated by Root)" in banner.group(0)
        assert re.search(r"(59|60) minutes left", banner.group(0))
        assert 'href="/admin"' not in dashboard.text  # no admin pages while impersonating
        assert (await client.get("/admin")).status_code == 403
        assert "impersonated by Root" in (await client.get("/settings/account")).text

        stopped = await client.post("/admin/stop-impersonating", data={}, headers=FORM)
        assert stopped.status_code == 303 and stopped.headers["location"] == f"/admin/users/{eve.id}"
        back = await client.get(stopped.headers["location"])
        assert back.status_code == 200 and "impersonated by" not in back.text
        session = (await client.get("/api/auth/get-session")).json()
        assert session["user"]["email"] == "root@example.com"
