"""The web pages over HTTP (in-process client), on SQLite and PostgreSQL: forms run the same
services as the API; what a role may not do is neither offered nor accepted."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from tenantry.mail import list_outbox
from tests.auth.helpers import PASSWORD, runtime
from tests.conftest import ClientFactory

BASE = "http://testserver"
FORM = {"origin": BASE}


async def last_link(client: httpx.AsyncClient, to: str, template: str) -> str:
    rt = runtime(client)
    mails = [m for m in await list_outbox(rt.db, rt.tables, to=to) if m.template == template]
    assert mails, f"no {template} mail to {to}"
    return mails[0].url


async def sign_up(client: httpx.AsyncClient, email: str, org: str = "Acme") -> None:
    body = {"organization": org, "name": "Ada", "email": email, "password": PASSWORD}
    r = await client.post("/signup", data=body, headers=FORM)
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/verify-email?email=")
    url = await last_link(client, email, "verify_email")
    r = await client.get(url.removeprefix(BASE))
    assert r.status_code == 302 and r.headers["location"] == "/login?verified=1"


async def log_in(client: httpx.AsyncClient, email: str, target: str = "/dashboard") -> None:
    body = {"email": email, "password": PASSWORD, "from": target, "remember": "1"}
    r = await client.post("/login", data=body, headers=FORM)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == target


async def test_protected_pages_send_to_login_and_back(make_client: ClientFactory) -> None:
    async with make_client() as client:
        r = await client.get("/app/projects?sort=name,ASC")
        assert r.status_code == 303
        assert r.headers["location"] == "/login?from=%2Fapp%2Fprojects%3Fsort%3Dname%2CASC"
        login = await client.get(r.headers["location"])
        assert 'name="from" value="/app/projects?sort=name,ASC"' in login.text
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com", "/app/projects?sort=name,ASC")
        page = await client.get("/app/projects?sort=name,ASC")
        assert page.status_code == 200 and "<h1>Projects</h1>" in page.text


async def test_signup_rules_and_unverified_sign_in(make_client: ClientFactory) -> None:
    async with make_client() as client:
        short = {"organization": "Acme", "name": "Ada", "email": "ada@example.com", "password": "short"}
        r = await client.post("/signup", data=short, headers=FORM)
        assert r.status_code == 400
        assert 'id="e-password"' in r.text and "at least 8 characters" in r.text
        body = {**short, "password": PASSWORD}
        assert (await client.post("/signup", data=body, headers=FORM)).status_code == 303
        r = await client.post("/login", data={"email": "ada@example.com", "password": PASSWORD}, headers=FORM)
        assert r.status_code == 403
        assert "not verified yet" in r.text and "/verify-email?email=ada%40example.com" in r.text
        # A form from another site is refused before anything happens.
        r = await client.post("/signup", data=body, headers={"origin": "https://evil.example"})
        assert r.status_code == 403


async def test_crud_pages_within_the_organization(make_client: ClientFactory) -> None:
    async with make_client() as client:
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com")
        dash = await client.get("/dashboard")
        assert dash.status_code == 200 and "New project" in dash.text and "Acme" in dash.text
        # A server-side field error appears next to its field.
        r = await client.post("/app/projects/new", data={"name": "", "status": "active"}, headers=FORM)
        assert r.status_code == 400, r.text
        assert re.search(r'id="e-name" role="alert"', r.text), r.text
        r = await client.post(
            "/app/projects/new",
            data={"name": "Apollo", "description": "To the moon", "status": "active", "next": "/dashboard"},
            headers=FORM,
        )
        assert r.status_code == 303 and r.headers["location"] == "/dashboard"
        dash = await client.get("/dashboard")
        assert "Apollo" in dash.text and "To the moon" in dash.text
        listing = await client.get("/app/projects?q=apo&f_status=active&sort=name,DESC")
        assert listing.status_code == 200 and "Apollo" in listing.text
        assert "No projects match" in (await client.get("/app/projects?q=zzz")).text
        project_id = re.search(r'href="/app/projects/([0-9a-f-]{36})"', listing.text).group(1)  # type: ignore[union-attr]
        r = await client.post(
            f"/app/projects/{project_id}/edit", data={"name": "Artemis", "status": "archived"}, headers=FORM
        )
        assert r.status_code == 303
        detail = await client.get(f"/app/projects/{project_id}")
        assert "Artemis" in detail.text and "archived" in detail.text and "Delete project?" in detail.text
        r = await client.post(f"/app/projects/{project_id}/delete", data={}, headers=FORM)
        assert r.status_code == 303 and urlsplit(r.headers["location"]).path == "/app/projects"
        assert (await client.get(f"/app/projects/{project_id}")).status_code == 404
