"""Live updates in a real browser: Playwright driving Chromium against a server on a real port, on
SQLite and on PostgreSQL, with the example app's hooks (a project's creator is notified).

Two members of one organization and a user of another: a project created by one member appears on
the other's dashboard and project list without a reload; the creator's other tab shows the "Project
created" toast and the bell's count rises; "Mark all read" resets it (and it stays reset after a
reload); the other organization's user sees neither the project nor a notification; one that arrives
before a page's socket connects is replayed; without JavaScript the bell still works. Screenshots of
the open bell go to ``artifacts/`` and the README's to ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tenantry.app import app_tables, create_app
from tenantry.config import Settings
from tenantry.emulators.server import bind_socket, format_base_url, run_in_thread
from tenantry.hooks import load_hooks_file
from tests.auth.helpers import NO_VERIFICATION
from tests.conftest import ROOT, PrepareDatabase, seed_schema
from tests.web.test_browser import PASSWORD, Journey, browser, log_in  # noqa: F401 - the browser fixture

DOCS_SHOT = ROOT / "docs" / "screenshots" / "notifications.png"
# The README\'s copy is refreshed on request only, so a test run leaves the checkout clean.
UPDATE_DOCS = os.environ.get("TENANTRY_UPDATE_DOCS_SCREENSHOTS") == "1"


def sign_up(ctx: BrowserContext, org: str, name: str, email: str) -> Page:
    """A new user with an organization, signed in on the dashboard (no verification required here)."""
    page = ctx.new_page()
    page.goto("/signup")
    page.get_by_label("Organization name").fill(org)
    page.get_by_label("Your name").fill(name)
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    return page


def api(page: Page, base: str, path: str, body: dict[str, Any]) -> Any:
    """POST JSON as the page's signed-in user (the browser context's cookie), from the app's origin."""
    r = page.request.post(path, data=body, headers={"origin": base})
    assert r.ok, (path, r.status, r.text())
    return r.json()


def live(page: Page) -> None:
    """Wait until the page's socket is connected (realtime.js marks the document)."""
    expect(page.locator("html[data-realtime=connected]")).to_have_count(1)


@pytest.mark.slow(15)
def test_live_lists_and_notification_bell(prepare_database: PrepareDatabase, browser: Browser) -> None:  # noqa: F811
    sock = bind_socket()
    base = format_base_url("127.0.0.1", sock.getsockname()[1])
    schema = seed_schema()
    settings = Settings(TENANTRY_BASE_URL=base, TENANTRY_OPEN_API=False, auth=NO_VERIFICATION)
    database_url = prepare_database(app_tables(schema, settings, prepare_database.dialect))
    settings = settings.model_copy(update={"database_url": database_url})
    hooks = load_hooks_file(ROOT / "examples" / "saas" / "hooks.py")
    app = create_app(schema, settings, hooks=hooks)
    backend = "postgresql" if database_url.startswith("postgres") else "sqlite"
    j = Journey(base, ROOT / "artifacts" / "screenshots" / backend / "live")
    with run_in_thread(app, sock=sock):
        _scenario(browser, j)


def _scenario(chromium: Browser, j: Journey) -> None:
    ada_ctx, ben_ctx, cy_ctx = j.context(chromium), j.context(chromium), j.context(chromium)
    ada = sign_up(ada_ctx, "Acme", "Ada", "ada@example.com")
    ben = sign_up(ben_ctx, "Ben's", "Ben", "ben@example.com")
    cy = sign_up(cy_ctx, "Globex", "Cy", "cy@example.com")

    # Ben verifies his address (accepting an invitation needs it), joins Acme as a member and makes it active.
    api(ben, j.base, "/api/auth/send-verification-email", {"email": "ben@example.com"})
    ben.goto(j.mail_link(ben, "ben@example.com", "verify_email"))
    api(ada, j.base, "/api/auth/send-verification-email", {"email": "ada@example.com"})  # no banner in shots
    ada.goto(j.mail_link(ada, "ada@example.com", "verify_email"))
    acme = ada.request.get("/api/auth/organization/get-full-organization").json()
    invitation = api(
        ada, j.base, "/api/auth/organization/invite-member", {"email": "ben@example.com", "role": "member"}
    )
    api(ben, j.base, "/api/auth/organization/accept-invitation", {"invitationId": invitation["id"]})
    api(ben, j.base, "/api/auth/organization/set-active", {"organizationId": acme["id"]})

    # Ada watches the dashboard and, in a second tab, the project list; Cy watches Globex's dashboard.
    # The page's content security policy (scripts from the app only) lets the socket upgrade to a WebSocket.
    websockets: list[str] = []
    refused: list[str] = []
    ada.on("websocket", lambda ws: websockets.append(ws.url))
    ada.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    ada.goto("/dashboard")
    ada_list = ada_ctx.new_page()
    ada_list.goto("/app/projects")
    cy.goto("/dashboard")
    for page in (ada, ada_list, cy):
        live(page)
        expect(page.locator("#bell .bell-count")).to_be_hidden()  # nothing unread yet

    for _ in range(100):
        if websockets:
            break
        ada.wait_for_timeout(50)
    assert any("/socket.io/" in url and "transport=websocket" in url for url in websockets), websockets
    assert refused == []

    # Ben creates a project through the API: Ada's dashboard and list show it without a reload.
    api(ben, j.base, "/api/projects", {"name": "Rocket"})
    expect(ada.get_by_role("link", name="Rocket")).to_be_visible()
    expect(ada_list.get_by_role("link", name="Rocket")).to_be_visible()
    expect(ada_list.get_by_text("No projects yet")).to_have_count(0)
    expect(ada_list.get_by_text("1 in total")).to_be_visible()
    # Ben's "Project created" is his, not Ada's.
    expect(ada.locator("#bell .bell-count")).to_be_hidden()

    # Ada creates one in the dashboard's dialog: her other tab shows the toast and a count of 1.
    ada.get_by_role("button", name="New project").click()
    dialog = ada.get_by_role("dialog")
    dialog.get_by_label("Name").fill("Satellite")
    dialog.get_by_role("button", name="Create").click()
    expect(ada_list.locator(".toast", has_text="Project created: Satellite was created successfully")).to_be_visible()
    expect(ada_list.locator("#bell .bell-count")).to_have_text("1")
    expect(ada_list.get_by_role("link", name="Satellite")).to_be_visible()
    ada.wait_for_url(re.compile(r"/dashboard$"))
    ada.reload()
    live(ada)
    expect(ada.locator("#bell .bell-count")).to_have_text("1")  # rendered by the server

    # The bell's panel lists it; screenshots at both widths.
    ada_list.locator("#bell summary").click()
    panel = ada_list.locator("#bell .bell-panel")
    expect(panel.get_by_text("Satellite was created successfully")).to_be_visible()
    j.shoot(ada_list, "bell-open")
    if UPDATE_DOCS:
        DOCS_SHOT.parent.mkdir(parents=True, exist_ok=True)
        ada_list.screenshot(path=DOCS_SHOT)

    # Mark all read resets the count, here and after a reload (stored, not only on the page).
    panel.get_by_role("button", name="Mark all read").click()
    expect(ada_list.locator("#bell .bell-count")).to_be_hidden()
    expect(ada_list.locator("#bell .bell-panel li.unread")).to_have_count(0)
    ada_list.reload()
    expect(ada_list.locator("#bell .bell-count")).to_be_hidden()
    ada.reload()
    expect(ada.locator("#bell .bell-count")).to_be_hidden()

    # Globex saw nothing of Acme: no projects, no toast, no notification.
    expect(cy.get_by_text("No projects yet")).to_be_visible()
    expect(cy.get_by_text("Rocket")).to_have_count(0)
    expect(cy.get_by_text("Satellite")).to_have_count(0)
    expect(cy.locator(".toast")).to_have_count(0)
    expect(cy.locator("#bell .bell-count")).to_be_hidden()

    # A notification that arrives between rendering a page and its socket connecting is replayed, not
    # lost: Cy's page is held before its Socket.IO script loads while his project is created.
    held: list[Route] = []
    cy.route("**/socket.io.min.js", lambda route: held.append(route))
    cy.goto("/dashboard", wait_until="commit")
    while not held:
        cy.wait_for_timeout(50)
    api(cy, j.base, "/api/projects", {"name": "Probe-X"})
    held[0].continue_()
    live(cy)
    expect(cy.locator(".toast", has_text="Project created: Probe-X was created successfully")).to_be_visible()
    expect(cy.locator("#bell .bell-count")).to_have_text("1")

    # Without JavaScript the bell shows the stored count, opens (a disclosure), and "Mark all read"
    # is a plain form that comes back to the page.
    api(ben, j.base, "/api/projects", {"name": "Probe"})  # Ben's second "Project created"
    plain_ctx = j.context(chromium, java_script_enabled=False)
    plain = plain_ctx.new_page()
    plain.goto("/login")
    log_in(plain, "ben@example.com")
    expect(plain).to_have_url(re.compile(r"/dashboard$"))
    expect(plain.locator("#bell .bell-count")).to_have_text("2")
    plain.locator("#bell summary").click()
    plain.locator("#bell").get_by_role("button", name="Mark all read").click()
    expect(plain).to_have_url(re.compile(r"/dashboard$"))
    expect(plain.get_by_text("All notifications marked read.")).to_be_visible()
    expect(plain.locator("#bell .bell-count")).to_be_hidden()
    plain_ctx.close()
    for ctx in (ada_ctx, ben_ctx, cy_ctx):
        ctx.close()
