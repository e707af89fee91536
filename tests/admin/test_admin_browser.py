"""The admin pages in Chromium (Playwright) on both databases: a superuser made by the command
line finds a user, impersonates them (the banner with the time left on every page), stops, and
bans them. Screenshots go to ``artifacts/screenshots/<database>/admin-*``."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import httpx
from typer.testing import CliRunner

from tenantry.app import app_tables, create_app
from tenantry.auth import AuthSettings
from tenantry.cli import app as cli
from tenantry.config import Settings
from tenantry.db.migrations import sync_schema
from tenantry.emulators.server import bind_socket, format_base_url, run_in_thread
from tests.conftest import ROOT, SEED_SCHEMA_PATH, seed_schema
from tests.web.test_browser import PASSWORD, Journey
from tests.web.test_browser import browser as browser  # the Chromium fixture

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def test_admin_pages_in_the_browser(database_url: str, browser: Browser) -> None:
    from playwright.sync_api import expect  # present whenever the browser fixture is

    sock = bind_socket()
    base = format_base_url("127.0.0.1", sock.getsockname()[1])
    schema = seed_schema()
    settings = Settings(DATABASE_URL=database_url, TENANTRY_BASE_URL=base, TENANTRY_OPEN_API=False)
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)
    sync_schema(database_url, app_tables(schema, settings.dialect, auth))
    # In a thread of its own: Playwright's sync API already runs an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        made = pool.submit(
            CliRunner().invoke,
            cli,
            [
                *("admin", "create-superuser", "--email", "root@example.com", "--name", "Root"),
                *("--password", PASSWORD, "--schema", str(SEED_SCHEMA_PATH)),
            ],
            env={"DATABASE_URL": database_url, "TENANTRY_AUTH_PLUGINS": "two-factor,magic-link,passkey,api-key,admin"},
        ).result()
    assert made.exit_code == 0, made.output
    backend = "postgresql" if database_url.startswith("postgres") else "sqlite"
    j = Journey(base, ROOT / "artifacts" / "screenshots" / backend)
    app = create_app(schema, settings, auth_settings=auth)
    with run_in_thread(app, sock=sock):
        signed_up = httpx.post(
            f"{base}/api/auth/sign-up/email",
            json={
                "email": "eve@example.com",
                "password": PASSWORD,
                "name": "Eve Example",
                "organizationName": "Eve Co",
            },
            headers={"origin": base},
        )
        assert signed_up.status_code == 200, signed_up.text
        context = j.context(browser)
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("E-mail").fill("root@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page).to_have_url(re.compile(r"/dashboard$"))

        page.get_by_role("link", name="Admin").click()
        page.get_by_label("Search users").fill("eve")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_text("1 user matching")).to_be_visible()
        j.shoot(page, "admin-users")
        page.get_by_role("link", name="Eve Example").click()
        expect(page.get_by_role("heading", name="Eve Example")).to_be_visible()
        j.shoot(page, "admin-user")

        page.get_by_role("button", name="Impersonate Eve Example").click()
        expect(page).to_have_url(re.compile(r"/dashboard$"))
        banner = page.locator("[data-impersonation]")
        expect(banner).to_contain_text("You are signed in as Eve Example (impersonated by Root)")
        expect(banner).to_contain_text(re.compile(r"(59|60) minutes left"))
        expect(page.get_by_role("link", name="Admin")).to_have_count(0)
        j.shoot(page, "admin-impersonating")
        page.get_by_role("link", name="Settings").click()
        expect(page.locator("[data-impersonation]")).to_be_visible()

        page.get_by_role("button", name="Stop impersonating").click()
        expect(page.get_by_role("heading", name="Eve Example")).to_be_visible()
        expect(page.locator("[data-impersonation]")).to_have_count(0)
        expect(page.get_by_role("status").get_by_text("Impersonation ended.")).to_be_visible()

        page.get_by_label("Reason").fill("spam")
        page.get_by_role("button", name="Ban user").click()
        expect(page.get_by_role("status").get_by_text("User banned")).to_be_visible()
        expect(page.get_by_role("button", name="Unban")).to_be_visible()
        page.get_by_role("navigation", name="Administration").get_by_role("link", name="Organizations").click()
        expect(page.get_by_role("cell", name="Eve Co")).to_be_visible()
        j.shoot(page, "admin-organizations")
        context.close()
