"""Two-factor in a real browser (Playwright + Debian's Chromium, a real server on a real port), on
SQLite and PostgreSQL: turn it on from the account page by scanning nothing but reading the shown
key (the code computed with pyotp, as an authenticator app would), then sign in with a code.

Screenshots are saved under ``artifacts/screenshots/<database>/two-factor-*`` (git-ignored).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tests.browser_harness import DESKTOP, PASSWORD, Journey, capture, expect, log_in, screenshots, sign_out, sign_up
from tests.browser_harness import browser as browser  # the Chromium fixture
from tests.conftest import PrepareDatabase
from tests.live_server import live_server
from tests.two_factor.helpers import code

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

EMAIL = "grace@example.com"


def log_in_as_grace(page: Page) -> None:
    page.goto("/login")
    log_in(page, EMAIL)


def test_enrol_and_sign_in_with_totp(database_url: str, prepare_database: PrepareDatabase, browser: Browser) -> None:
    with live_server(prepare_database) as base:
        j = Journey(base, screenshots(database_url))
        context = j.context(browser)
        page = context.new_page()

        # Sign up with an organization and verify the address through the dev outbox.
        sign_up(page, "Analytical Engines", "Grace", EMAIL)
        page.goto(j.mail_link(page, EMAIL, "verify_email"))
        log_in_as_grace(page)
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
        # The whole enrolment in one window: QR code, key, backup codes and the code's field.
        page.set_viewport_size({"width": DESKTOP["width"], "height": 1040})
        j.save(page, "two-factor-enrol-desktop.png")
        page.set_viewport_size(DESKTOP)
        page.get_by_label("Code from the app").fill(code(secret))
        page.get_by_role("button", name="Turn on").click()
        expect(page).to_have_url(re.compile(r"/settings/account$"))
        expect(page.locator("#two-factor")).to_contain_text("On")
        expect(page.locator("#two-factor")).to_contain_text("10 backup codes left")

        # Sign out and back in: the password, then the authenticator's code (the next step's:
        # the one that turned two-factor on is used up), trusting this browser.
        sign_out(page)
        expect(page).to_have_url(re.compile(r"/login"))
        log_in_as_grace(page)
        expect(page).to_have_url(re.compile(r"/two-factor\?from="))
        expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
        capture(page, path=j.shots / "two-factor-sign-in-desktop.png", full_page=True)
        page.get_by_label("Code").fill("000000" if code(secret, 1) != "000000" else "111111")
        page.get_by_role("button", name="Verify").click()
        expect(page.get_by_role("alert")).to_contain_text("not right")
        page.get_by_label("Code").fill(code(secret, 1))
        page.get_by_label("Trust this device for 30 days").check()
        page.get_by_role("button", name="Verify").click()
        expect(page).to_have_url(re.compile(r"/dashboard$"))

        # The trusted browser skips the second step next time.
        sign_out(page)
        log_in_as_grace(page)
        expect(page).to_have_url(re.compile(r"/dashboard$"))
        context.close()
