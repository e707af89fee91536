"""Passkeys in a real browser: Chromium with a virtual authenticator (the DevTools Protocol's
WebAuthn domain: CTAP2, built in, resident keys, user verification) against a server on a real
port, on SQLite and PostgreSQL.

Ada signs up, adds a passkey on her account page, signs out, and signs in again from the sign-in
page with the passkey alone (no e-mail address typed). Then she removes it, and the same
authenticator no longer gets her in. The app is served as ``http://localhost:<port>``: WebAuthn
needs a secure context and a domain as relying party ID, and ``localhost`` is both (an IP address
is neither a valid RP ID nor, for every browser, trustworthy).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from tenantry.auth import AuthSettings
from tests.browser_harness import browser as browser  # the Chromium fixture
from tests.browser_harness import expect, new_context, sign_out, sign_up
from tests.conftest import PrepareDatabase
from tests.live_server import live_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, CDPSession, Page


def virtual_authenticator(page: Page) -> tuple[CDPSession, str]:
    """A platform authenticator that holds discoverable credentials and verifies the user at once."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, str(added["authenticatorId"])


def credentials(cdp: CDPSession, authenticator: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    return found


def test_add_a_passkey_then_sign_in_with_it(prepare_database: PrepareDatabase, browser: Browser) -> None:
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)
    with live_server(prepare_database, auth, host="localhost") as base:
        context = new_context(browser, base)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        cdp, authenticator = virtual_authenticator(page)

        # Sign up (signed in at once: this app does not ask for e-mail verification).
        sign_up(page, "Acme", "Ada Admin", "ada@example.com", lands_on=r"/dashboard$")

        # Add a passkey on the account page; the section lists it by its name.
        page.goto("/settings/account")
        section = page.locator("section#passkeys")
        expect(section.get_by_text("You have no passkeys yet.")).to_be_visible()
        # The section's script arrives after the section (htmx runs it once swapped in): a click
        # before it runs would submit the form as plain HTML.
        # (Polled from here: the pages' policy forbids the in-page evaluation wait_for_function polls with.)
        deadline = time.monotonic() + 15
        while not page.evaluate("window.tenantryPasskeys === true") and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        section.get_by_label("Name").fill("Test laptop")
        section.get_by_role("button", name="Add a passkey").click()
        expect(page.locator("section#passkeys tr[data-passkey]")).to_have_count(1)
        expect(page.locator("section#passkeys")).to_contain_text("Test laptop")
        [held] = credentials(cdp, authenticator)
        assert held["isResidentCredential"] is True and held["rpId"] == "localhost"

        # Signed out, the passkey alone signs Ada in and takes her where she was going.
        sign_out(page)
        expect(page).not_to_have_url(re.compile(r"/settings"))
        page.goto("/login?from=%2Fsettings%2Faccount")
        page.get_by_role("button", name="Sign in with a passkey").click()
        expect(page).to_have_url(re.compile(r"/settings/account$"))
        expect(page.locator("header")).to_contain_text("Ada Admin")
        expect(page.locator("section#passkeys")).to_contain_text("Test laptop")
        [used] = credentials(cdp, authenticator)
        assert used["signCount"] >= 1

        # Removed from the account, the passkey no longer signs anyone in.
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Remove Test laptop").click()
        expect(page.locator("section#passkeys").get_by_text("You have no passkeys yet.")).to_be_visible()
        sign_out(page)
        page.goto("/login")
        page.get_by_role("button", name="Sign in with a passkey").click()
        expect(page.get_by_text("This site does not know that passkey.")).to_be_visible()
        expect(page).to_have_url(re.compile(r"/login$"))
        assert errors == []
        context.close()
