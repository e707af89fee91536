"""The account page's API key section (in-process, SQLite and PostgreSQL): list, create with
scopes (the key shown once), revoke; the created key works on the CRUD API within its scopes."""

from __future__ import annotations

import re

import httpx

from tests.conftest import ClientFactory
from tests.web.test_pages import BASE, FORM, log_in, sign_up

SECTION = "/settings/account/api-keys"
HTMX = {**FORM, "hx-request": "true"}


def shown_key(html: str) -> str:
    found = re.search(r"data-api-key-value[^>]*>([^<]+)</code>", html)
    assert found, html
    return found.group(1)


async def signed_in(client: httpx.AsyncClient) -> None:
    await sign_up(client, "ada@example.com")
    await log_in(client, "ada@example.com")


async def test_list_create_show_once_and_revoke(make_client: ClientFactory) -> None:
    async with make_client(base_url=BASE) as client:
        await signed_in(client)
        account = await client.get("/settings/account")
        assert f'hx-get="{SECTION}"' in account.text
        empty = await client.get(SECTION)
        assert empty.status_code == 200 and "You have no API keys yet." in empty.text
        assert 'value="projects:read"' in empty.text and "Acme" in empty.text

        form = {"name": "Reporting", "organization": "", "expires": "30", "access": "scoped"}
        orgs = re.findall(r'<option value="([^"]+)" selected>Acme</option>', empty.text)
        assert len(orgs) == 1
        form["organization"] = orgs[0]
        body = {**form, "scope": ["projects:read", "subscriptions:read"]}
        created = await client.post(f"{SECTION}/create", data=body, headers=HTMX)
        assert created.status_code == 200, created.text
        key = shown_key(created.text)
        assert len(key) == 64 and "will not be shown again" in created.text
        assert "projects: read; subscriptions: read" in created.text

        # The key works on the CRUD API within its scopes, in Acme.
        client.cookies.clear()
        assert (await client.get("/api/projects", headers={"x-api-key": key})).status_code == 200
        r = await client.post("/api/projects", json={"name": "no"}, headers={"x-api-key": key})
        assert (r.status_code, r.json()["code"]) == (403, "API_KEY_SCOPE_DENIED")
        await log_in(client, "ada@example.com")

        # Listed by name and first characters, never in full again; last use shown.
        listed = await client.get(SECTION)
        assert "Reporting" in listed.text and key[:6] + "…" in listed.text and key not in listed.text
        row = re.search(r'<tr data-api-key="([^"]+)">(.*?)</tr>', listed.text, re.S)
        assert row and "Reporting" in row.group(2)
        assert "Never" not in row.group(2)  # it expires in 30 days and was just used
        key_id = row

        # Without htmx the form answers with a page showing the key.
        page = await client.post(f"{SECTION}/create", data={"name": "Full", "access": "full"}, headers=FORM)
        assert page.status_code == 200 and "<h1>API key created</h1>" in page.text
        assert "Everything your role allows" in page.text
        shown_key(page.text)

        revoked = await client.post(f"{SECTION}/revoke", data={"id": key_id.group(1)}, headers=HTMX)
        assert revoked.status_code == 200 and "Reporting" not in revoked.text
        client.cookies.clear()
        r = await client.get("/api/projects", headers={"x-api-key": key})
        assert (r.status_code, r.json()["code"]) == (401, "INVALID_API_KEY")


async def test_refusals(make_client: ClientFactory) -> None:
    async with make_client(base_url=BASE) as client:
        await signed_in(client)
        r = await client.post(f"{SECTION}/create", data={"name": "x"}, headers={"origin": "https://evil.example"})
        assert r.status_code == 403
        assert "You have no API keys yet." in (await client.get(SECTION)).text
        r = await client.post(f"{SECTION}/create", data={"name": "n" * 40, "access": "full"}, headers=HTMX)
        assert r.status_code == 422 and "at most 32 characters" in r.text
        r = await client.post(f"{SECTION}/revoke", data={"id": "missing"}, headers=HTMX)
        assert r.status_code == 422 and "no longer exists" in r.text
        client.cookies.clear()
        r = await client.get(SECTION)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
