"""The magic-link pages in-process, on SQLite and PostgreSQL: the sign-in page's form, the
"check your inbox" page, and the e-mailed link landing on the page the visitor came for."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from tenantry.auth import AuthSettings
from tenantry.mail import list_outbox
from tests.auth.helpers import runtime
from tests.conftest import ClientFactory

BASE = "http://testserver"
FORM = {"origin": BASE}


async def magic_links(client: httpx.AsyncClient, to: str) -> list[str]:
    rt = runtime(client)
    return [m.url for m in await list_outbox(rt.db, rt.tables, to=to) if m.template == "magic_link" and m.url]


def local(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def test_login_page_offers_a_link(make_client: ClientFactory) -> None:
    async with make_client() as client:
        login = await client.get("/login?from=/app/projects")
        assert 'action="/login/magic-link"' in login.text and "Email me a link" in login.text
        assert login.text.count('name="from" value="/app/projects"') >= 2  # the link keeps the destination too
        alone = await client.get("/login/magic-link?email=ann@example.com")
        assert alone.status_code == 200 and 'value="ann@example.com"' in alone.text


async def test_link_signs_in_and_lands_on_the_page(make_client: ClientFactory) -> None:
    async with make_client() as client:
        body = {"email": "Ann@Example.com", "from": "/app/projects"}
        sent = await client.post("/login/magic-link", data=body, headers=FORM)
        assert sent.status_code == 200
        assert "Check your inbox" in sent.text and "ann@example.com" in sent.text and "5 minutes" in sent.text
        [url] = await magic_links(client, "ann@example.com")
        assert "callbackURL=%2Fapp%2Fprojects" in url
        landed = await client.get(local(url))
        assert (landed.status_code, landed.headers["location"]) == (302, f"{BASE}/app/projects")
        assert (await client.get("/dashboard")).status_code != 303  # signed in now: no trip to /login
        me = await client.get("/api/auth/get-session")
        assert me.json()["user"]["email"] == "ann@example.com" and me.json()["user"]["emailVerified"] is True

        # The same link again: back to the sign-in page, which says why.
        client.cookies.clear()
        again = await client.get(local(url))
        location = again.headers["location"]
        assert location == f"{BASE}/login?from=%2Fapp%2Fprojects&error=INVALID_TOKEN"
        page = await client.get(local(location))
        assert "This link is invalid or was already used" in page.text


async def test_default_destination_is_the_dashboard(make_client: ClientFactory) -> None:
    async with make_client() as client:
        await client.post("/login/magic-link", data={"email": "ann@example.com"}, headers=FORM)
        [url] = await magic_links(client, "ann@example.com")
        assert "callbackURL=%2Fdashboard" in url and "errorCallbackURL=%2Flogin" in url
        for foreign in ("//evil.example/", "https://evil.example/"):
            await client.post("/login/magic-link", data={"email": "bob@example.com", "from": foreign}, headers=FORM)
        assert all("callbackURL=%2Fdashboard" in u for u in await magic_links(client, "bob@example.com"))


async def test_form_errors_and_forgery(make_client: ClientFactory) -> None:
    async with make_client(auth=AuthSettings(TENANTRY_RATE_LIMIT="on")) as client:
        bad = await client.post("/login/magic-link", data={"email": "not-an-address"}, headers=FORM)
        assert bad.status_code == 400 and "Enter a valid e-mail address." in bad.text
        forged = await client.post(
            "/login/magic-link", data={"email": "ann@example.com"}, headers={"origin": "https://evil.example"}
        )
        assert forged.status_code == 403
        assert await magic_links(client, "ann@example.com") == []
        statuses = [
            (await client.post("/login/magic-link", data={"email": "ann@example.com"}, headers=FORM)).status_code
            for _ in range(5)
        ]
        assert statuses == [200] * 4 + [429]  # the invalid address above counted too: 60 s / 5
        limited = await client.post("/login/magic-link", data={"email": "ann@example.com"}, headers=FORM)
        assert "Wait a minute" in limited.text
