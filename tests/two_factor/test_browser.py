"""Two-factor in a real browser (Playwright + Debian's Chromium, a real server on a real port), on
SQLite and PostgreSQL: turn it on from the account page by scanning nothing but reading the shown
key (the code computed with pyotp, as an authenticator app would), then sign in with a code.

Screenshots are saved under ``artifacts/screenshots/<database>/two-factor-*`` (git-ignored).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantry.app import app_tables, create_app
from tenantry.config import Settings
from tenantry.db.migrations import sync_schema
from tenantry.emulators.server import bind_socket, format_base_url, run_in_thread
from tests.conftest import ROOT, require_service, seed_schema
from tests.two_factor.helpers import code

CHROMIUM = os.environ.get("TENANTRY_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "Password-One-111"
EMAIL = "grace@example.com"

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the dev extras pin it
    sync_playwright = None  # type: ignore[assignment]


@pytest.fixture
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        require_service("Playwright", "install the dev extras (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists():
        require_service("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def log_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("E-mail", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_enrol_and_sign_in_with_totp(database_url: str, browser: Browser) -> None:
    sock = bind_socket()
    base = format_base_url("127.0.0.1", sock.getsockname()[1])
    schema = seed_schema()
    settings = Settings(DATABASE_URL=database_url, TENANTRY_BASE_URL=base, TENANTRY_OPEN_API=False)
    sync_schema(database_url, app_tables(schema, settings.dialect))
    app = create_app(schema, settings)
    backend = "postgresql" if database_url.startswith("postgres") else "sqlite"
    shots = ROOT / "artifacts" / "screenshots" / backend
    shots.mkdir(parents=True, exist_ok=True)
    with run_in_thread(app, sock=sock):
        context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 800})
        context.set_default_timeout(15_000)
        page = context.new_page()

        # Sign up with an organization and verify the address through the dev outbox.
        page.goto("/signup")
        page.get_by_label("Organization name").fill("Analytical Engines")
        page.get_by_label("Your name").fill("Grace")
        page.get_by_label("E-mail", exact=True).fill(EMAIL)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(page).to_have_url(re.compile(r"/verify-email\?email="))
        messages = page.request.get(f"/dev/mail.json?to={EMAIL}").json()
        page.goto(next(m["url"] for m in messages if m["template"] == "verify_email"))
        log_in(page)
        expect(page).to_have_url(re.compile(r"/dashboard$"))

        # Turn two-factor on from the account page: QR code, key, backup codes, first code.
        page.goto("/settings/account")
        section = page.locator("#two-factor")
        expect(section).to_contain_text("Set up two-factor")
        section.get_by_label("Password", exact=True).fill(PASSWORD)
        section.get_by_role("button", name="Set up two-factor").click()
        expect(page.locator("[data-qr] svg")).to_be_visible()
        expect(page.locator("[data-backup-codes] li")).to_have_count(10)
        secret = page.locator("[data-totp-secret]").inner_text().strip()
        assert re.fullmatch(r"[A-Z2-7]{32}", secret)
        page.screenshot(path=shots / "two-factor-enrol-desktop.png", full_page=True)
        page.get_by_label("Code from the app").fill(code(secret))
        page.get_by_role("button", name="Turn on").click()
        expect(page).to_have_url(re.compile(r"/settings/account$"))
        expect(page.locator("#two-factor")).to_contain_text("On")
        expect(page.locator("#two-factor")).to_contain_text("10 backup codes left")

        # Sign out and back in: the password, then the authenticator's code (the next step's:
        # the one that turned two-factor on is used up), trusting this browser.
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/login"))
        log_in(page)
        expect(page).to_have_url(re.compile(r"/two-factor\?from="))
        expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
        page.screenshot(path=shots / "two-factor-sign-in-desktop.png", full_page=True)
        page.get_by_label("Code").fill("000000" if code(secret, 1) != "000000" else "111111")
        page.get_by_role("button", name="Verify").click()
        expect(page.get_by_role("alert")).to_contain_text("not right")
        page.get_by_label("Code").fill(code(secret, 1))
        page.get_by_label("Trust this device for 30 days").check()
        page.get_by_role("button", name="Verify").click()
        expect(page).to_have_url(re.compile(r"/dashboard$"))

        # The trusted browser skips the second step next time.
        page.get_by_role("button", name="Sign out").click()
        log_in(page)
        expect(page).to_have_url(re.compile(r"/dashboard$"))
        context.close()
