"""The account page's API key section in Chromium (Playwright) against a live server, on both
databases: the section loads by htmx, a scoped key is created and shown once, it works on the
CRUD API within its scopes, and revoking it (after the confirmation) stops it at once."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx

from tenantry.auth import AuthSettings
from tests.browser_harness import browser as browser  # the Chromium fixture
from tests.browser_harness import expect, new_context, sign_up
from tests.conftest import PrepareDatabase
from tests.live_server import live_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog


def test_create_use_and_revoke_in_the_browser(prepare_database: PrepareDatabase, browser: Browser) -> None:
    with live_server(prepare_database, AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)) as base:
        page = new_context(browser, base).new_page()
        sign_up(page, "Acme", "Ada", "ada@example.com", lands_on=r"/dashboard")
        page.goto(f"{base}/settings/account")
        section = page.locator("#api-keys")
        expect(section).to_contain_text("You have no API keys yet.")
        section.locator("summary", has_text="Create a key").click()
        page.fill("#api-key-name", "Reporting")
        page.select_option("#api-key-expires", "30")
        page.check("input[name=access][value=scoped]")
        page.check("input[value='projects:read']")
        section.get_by_role("button", name="Create key").click()
        shown = page.locator("[data-api-key-value]")
        expect(shown).to_be_visible()
        key = shown.inner_text().strip()
        assert re.fullmatch(r"[A-Za-z]{64}", key)
        row = page.locator("tr[data-api-key]")
        expect(row).to_contain_text("Reporting")
        expect(row).to_contain_text("projects: read")
        expect(row).to_contain_text(key[:6] + "…")

        with httpx.Client(base_url=base) as api:
            assert api.get("/api/projects", headers={"x-api-key": key}).status_code == 200
            refused = api.post("/api/projects", json={"name": "no"}, headers={"x-api-key": key})
            assert (refused.status_code, refused.json()["code"]) == (403, "API_KEY_SCOPE_DENIED")

        # The key is not on the page once it is reloaded.
        page.reload()
        expect(page.locator("tr[data-api-key]")).to_contain_text("Reporting")
        assert key not in page.content()

        def accept(dialog: Dialog) -> None:
            dialog.accept()

        page.once("dialog", accept)
        page.get_by_role("button", name="Revoke Reporting").click()
        expect(page.locator("#api-keys")).to_contain_text("You have no API keys yet.")
        with httpx.Client(base_url=base) as api:
            gone = api.get("/api/projects", headers={"x-api-key": key})
            assert (gone.status_code, gone.json()["code"]) == (401, "INVALID_API_KEY")
