"""The app frame over HTTP (in-process), on SQLite and PostgreSQL: the sidebar's menu from the
schema's ``display`` (and its defaults), the app's name in pages and e-mails, the favicon and the
logo, the 404 page, the system tables ("New subscription" is not offered; the audit log lives in
Settings, naming people)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tenantry.mail import list_outbox
from tests.auth.helpers import runtime
from tests.conftest import SEED_SCHEMA_PATH, ClientFactory
from tests.web.test_pages import FORM, log_in, sign_up

SEED = SEED_SCHEMA_PATH.read_text()
TASKS = """
tasks:
  fields:
    - title: string (required)
    - org_id: uuid (references organizations, required)
  display: {icon: check-square, group: Work}
notes:
  fields:
    - body: text (required)
    - org_id: uuid (references organizations, required)
  display: {menu: false}
"""


def sidebar(html: str) -> str:
    """The sidebar's main menu, as rendered."""
    found = re.search(r'<nav class="side-nav" aria-label="Main">(.*?)</nav>', html, re.S)
    assert found, html
    return found.group(1)


def links(html: str) -> list[str]:
    return re.findall(r'<a href="([^"]+)"', html)


async def signed_in(client: httpx.AsyncClient, email: str = "ada@example.com") -> None:
    await sign_up(client, email)
    await log_in(client, email)


async def test_the_default_menu_leaves_system_tables_to_settings(make_client: ClientFactory) -> None:
    async with make_client() as client:
        await signed_in(client)
        page = (await client.get("/dashboard")).text
        assert links(sidebar(page)) == ["/dashboard", "/app/projects"]
        # The app's name, readable: not the schema's slug; the organization switcher; Settings.
        assert "<title>Dashboard · My SaaS API</title>" in page
        assert "my-saas-api" not in page
        assert 'id="org-switcher"' in page and 'href="/settings"' in page
        assert 'class="avatar" aria-hidden="true">A</span>' in page  # "Ada"
        # A folded sidebar is drawn folded (the cookie app.js sets).
        client.cookies.set("tenantry.sidebar", "collapsed")
        assert '<html lang="en" class="sidebar-collapsed">' in (await client.get("/dashboard")).text


async def test_groups_icons_and_the_schema_s_own_menu(make_client: ClientFactory) -> None:
    branded = SEED + TASKS + 'settings:\n  display:\n    name: Acme Work\n    color: "#db2777"\n'
    async with make_client(branded) as client:
        await signed_in(client)
        page = (await client.get("/app/tasks")).text
        nav = sidebar(page)
        # Ungrouped first (schema order), then the "Work" group; notes are left out (menu: false).
        assert links(nav) == ["/dashboard", "/app/projects", "/app/tasks"]
        assert '<p class="side-heading label" id="nav-group-2">Work</p>' in nav
        assert 'aria-current="page"' in nav.split('href="/app/tasks"')[1].split(">")[0]
        assert "--brand: #db2777; --brand-fg: #ffffff;" in page
        assert "<title>Tasks · Acme Work</title>" in page
        # Left out of the menu, still a page of the app.
        assert (await client.get("/app/notes")).status_code == 200

    ordered = SEED + TASKS + "settings:\n  display:\n    menu:\n      - Planning: [{tasks: flag}, projects]\n"
    async with make_client(ordered) as client:
        await signed_in(client)
        nav = sidebar((await client.get("/dashboard")).text)
        assert links(nav) == ["/dashboard", "/app/tasks", "/app/projects"]
        assert ">Planning</p>" in nav and "<svg" in nav


async def test_favicon_and_logo(make_client: ClientFactory, tmp_path: Path) -> None:
    async with make_client() as client:
        icon = await client.get("/favicon.ico")
        assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
        assert ">M</text>" in icon.text and 'fill="#4f46e5"' in icon.text  # "My SaaS API", the default colour
        assert (await client.get("/favicon.svg")).text == icon.text
        assert 'rel="icon" href="/favicon.svg"' in (await client.get("/login")).text
        home = (await client.get("/")).text
        assert "<title>My SaaS API</title>" in home and 'rel="icon"' in home
        assert (await client.get("/brand/logo.svg")).status_code == 404

    logo = tmp_path / "logo.svg"
    logo.write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><circle r="4" cx="4" cy="4"/></svg>')
    async with make_client(SEED + f"settings:\n  display:\n    logo: {logo}\n") as client:
        served = await client.get("/brand/logo.svg")
        assert served.status_code == 200 and served.text == logo.read_text()
        assert served.headers["content-type"].startswith("image/svg+xml")
        assert "default-src 'none'" in served.headers["content-security-policy"]
        assert (await client.get("/favicon.ico")).text == logo.read_text()
        assert '<img class="brand-logo" src="/brand/logo.svg" alt="">' in (await client.get("/login")).text


async def test_unknown_paths_get_a_page_for_browsers_and_json_for_the_api(make_client: ClientFactory) -> None:
    html = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    async with make_client() as client:
        r = await client.get("/no/such/page", headers=html)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
        assert "<h1>Not found</h1>" in r.text and "My SaaS API" in r.text
        assert "content-security-policy" in r.headers
        api = await client.get("/api/no/such/thing", headers=html)
        assert api.status_code == 404 and api.json()["code"] == "ROUTE_NOT_FOUND"
        plain = await client.get("/no/such/page", headers={"accept": "application/json"})
        assert plain.status_code == 404 and plain.json()["code"] == "ROUTE_NOT_FOUND"
        posted = await client.post("/no/such/page", headers={**html, **FORM})
        assert posted.status_code == 404
        wrong = await client.delete("/dashboard", headers=html)
        assert wrong.status_code == 405 and wrong.headers["allow"] == "GET, HEAD"
        # Signed in, the 404 page keeps the app's frame.
        await signed_in(client)
        framed = await client.get("/no/such/page", headers=html)
        assert framed.status_code == 404 and 'aria-label="Sidebar"' in framed.text


async def test_system_tables_offer_no_new_and_the_audit_log_names_people(make_client: ClientFactory) -> None:
    async with make_client() as client:
        await signed_in(client)
        subscriptions = await client.get("/app/subscriptions")
        assert subscriptions.status_code == 200
        assert "New subscription" not in subscriptions.text and "/app/subscriptions/new" not in subscriptions.text
        assert (await client.get("/app/subscriptions/new")).status_code == 403
        # One audit log, in Settings.
        r = await client.get("/app/audit_logs")
        assert r.status_code == 303 and r.headers["location"] == "/settings/audit"
        made = await client.post("/app/projects/new", data={"name": "Apollo", "status": "active"}, headers=FORM)
        assert made.status_code == 303
        page = (await client.get("/settings/audit")).text
        assert "Ada (ada@example.com)" in page  # who did it, by name, not a shortened id
        picker = re.search(r'<select id="a-user" name="user_id">(.*?)</select>', page, re.S)
        assert picker and "Anyone" in picker.group(1) and "Ada (ada@example.com)" in picker.group(1)
        user_id = re.search(r'<option value="([^"]+)" >Ada \(ada@example.com\)', picker.group(1))
        assert user_id, picker.group(1)
        mine = await client.get(f"/settings/audit?user_id={user_id.group(1)}")
        assert "Ada (ada@example.com)" in mine.text


async def test_mails_say_the_app_s_name(make_client: ClientFactory) -> None:
    async with make_client(SEED + "settings:\n  display:\n    name: Orbit\n") as client:
        r = await client.post(
            "/signup",
            data={"organization": "Acme", "name": "Ada", "email": "ada@example.com", "password": "Password-One-111"},
            headers=FORM,
        )
        assert r.status_code == 303
        rt = runtime(client)
        [mail] = [m for m in await list_outbox(rt.db, rt.tables, to="ada@example.com") if m.template == "verify_email"]
        assert mail.subject == "Verify your email for Orbit"
        assert mail.sender.startswith("Orbit <") and "Tenantry" not in mail.text + mail.html
