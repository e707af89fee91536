"""The admin pages in Chromium (Playwright) on both databases: a superuser made by the command
line finds a user, impersonates them (the banner with the time left on every page), stops, and
bans them. Screenshots go to ``artifacts/screenshots/<database>/admin-*``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx

from tenantry.auth import AuthSettings
from tests.browser_harness import PASSWORD, Journey, expect, log_in, screenshots
from tests.browser_harness import browser as browser  # the Chromium fixture
from tests.conftest import PrepareDatabase
from tests.live_server import create_superuser, live_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def test_admin_pages_in_the_browser(database_url: str, prepare_database: PrepareDatabase, browser: Browser) -> None:
    with live_server(
        prepare_database,
        AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False),
        before_start=lambda url: create_superuser(url, "root@example.com", PASSWORD, name="Root"),
    ) as base:
        j = Journey(base, screenshots(database_url))
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
        log_in(page, "root@example.com")
        expect(page).to_have_url(re.compile(r"/dashboard$"))

        page.get_by_role("link", name="Admin").click()
        page.get_by_label("Search users").fill("eve")
        page.locator("main").get_by_role("button", name="Search").click()
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
