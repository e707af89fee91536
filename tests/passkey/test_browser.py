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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tenantry.app import app_tables, create_app
from tenantry.auth import AuthSettings
from tenantry.config import Settings
from tenantry.db.migrations import sync_schema
from tenantry.emulators.server import bind_socket, run_in_thread
from tests.conftest import require_service, seed_schema
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PASSWORD

try:
    from playwright.sync_api import Browser, CDPSession, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the dev extras pin it
    sync_playwright = None  # type: ignore[assignment]


@pytest.fixture
def chromium() -> Iterator[Browser]:
    if sync_playwright is None:
        require_service("Playwright", "install the dev extras (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists():
        require_service("Chromium", f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does)")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


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


def test_add_a_passkey_then_sign_in_with_it(database_url: str, chromium: Browser) -> None:
    sock = bind_socket()
    base = f"http://localhost:{sock.getsockname()[1]}"
    schema = seed_schema()
    settings = Settings(DATABASE_URL=database_url, TENANTRY_BASE_URL=base, TENANTRY_OPEN_API=False)
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)
    sync_schema(database_url, app_tables(schema, settings.dialect, auth))
    app = create_app(schema, settings, auth_settings=auth)
    with run_in_thread(app, sock=sock):
        context = chromium.new_context(base_url=base, viewport=DESKTOP)
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        cdp, authenticator = virtual_authenticator(page)

        # Sign up (signed in at once: this app does not ask for e-mail verification).
        page.goto("/signup")
        page.get_by_label("Organization name").fill("Acme")
        page.get_by_label("Your name").fill("Ada Admin")
        page.get_by_label("E-mail").fill("ada@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(page).to_have_url(re.compile(r"/dashboard$"))

        # Add a passkey on the account page; the section lists it by its name.
        page.goto("/settings/account")
        section = page.locator("section#passkeys")
        expect(section.get_by_text("You have no passkeys yet.")).to_be_visible()
        section.get_by_label("Name").fill("Test laptop")
        section.get_by_role("button", name="Add a passkey").click()
        expect(page.locator("section#passkeys tr[data-passkey]")).to_have_count(1)
        expect(page.locator("section#passkeys")).to_contain_text("Test laptop")
        [held] = credentials(cdp, authenticator)
        assert held["isResidentCredential"] is True and held["rpId"] == "localhost"

        # Signed out, the passkey alone signs Ada in and takes her where she was going.
        page.get_by_role("button", name="Sign out").click()
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
        page.get_by_role("button", name="Sign out").click()
        page.goto("/login")
        page.get_by_role("button", name="Sign in with a passkey").click()
        expect(page.get_by_text("This site does not know that passkey.")).to_be_visible()
        expect(page).to_have_url(re.compile(r"/login$"))
        assert errors == []
        context.close()
