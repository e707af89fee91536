"""Upgrading in a real browser: Playwright driving Chromium against the app and the Stripe emulator,
each on a real port, on SQLite and on PostgreSQL.

The free plan's limit blocks the next project in the New project dialog with an upgrade link;
``/settings/billing`` shows the usage; Upgrade opens the emulator's hosted Checkout page, whose Pay
delivers signed webhooks to the app before returning to the billing page, which then shows the paid
plan; and the project that was refused can now be created. Screenshots go to ``artifacts/``.
"""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tenantry.app import app_tables, create_app
from tenantry.config import Settings
from tenantry.emulators.server import bind_socket, format_base_url, run_in_thread
from tenantry.emulators.stripe import StripeEmulator
from tenantry.schema import load_schema_text
from tests.billing.helpers import PRICE_PRO, PRICE_PRO_YEARLY, SECRET, billing_schema, stripe
from tests.browser_harness import capture
from tests.conftest import ROOT, PrepareDatabase
from tests.web.test_browser import Journey, browser, log_in, sign_up  # noqa: F401 - the browser fixture

DOCS_SHOT = ROOT / "docs" / "screenshots" / "billing.png"
# The README\'s copy is refreshed on request only, so a test run leaves the checkout clean.
UPDATE_DOCS = os.environ.get("TENANTRY_UPDATE_DOCS_SCREENSHOTS") == "1"


def create_project(page: Page, name: str) -> None:
    page.get_by_role("button", name="New project").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_role("button", name="Create").click()


def test_upgrade_in_the_browser(
    prepare_database: PrepareDatabase,
    browser: Browser,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app_sock, stripe_sock = bind_socket(), bind_socket()
    base = format_base_url(*app_sock.getsockname()[:2])
    stripe_url = format_base_url(*stripe_sock.getsockname()[:2])
    emulator = StripeEmulator(
        webhook_url=f"{base}/api/billing/webhook",
        webhook_secret=SECRET,
        prices={PRICE_PRO: 1500},
        base_url=stripe_url,
    )
    emulator.add_price(PRICE_PRO_YEARLY, 15000, "year")
    billing = stripe(SECRET, secret_key="sk_test_browser", api_base=stripe_url)
    schema = load_schema_text(billing_schema(), "test.yaml")
    settings = Settings(TENANTRY_BASE_URL=base, TENANTRY_OPEN_API=False, billing=billing)
    database_url = prepare_database(app_tables(schema, settings, prepare_database.dialect))
    settings = settings.model_copy(update={"database_url": database_url})
    app = create_app(schema, settings)
    backend = "postgresql" if database_url.startswith("postgres") else "sqlite"
    j = Journey(base, ROOT / "artifacts" / "screenshots" / backend / "billing")
    with run_in_thread(emulator, sock=stripe_sock), run_in_thread(app, sock=app_sock):
        ctx = j.context(browser)
        page = ctx.new_page()
        sign_up(page, "Acme", "Ada Admin", "ada@example.com")
        page.goto(j.mail_link(page, "ada@example.com", "verify_email"))
        log_in(page, "ada@example.com")
        expect(page).to_have_url(re.compile(r"/dashboard$"))

        # The free plan allows two projects.
        for name in ("One", "Two"):
            create_project(page, name)
            expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
        page.goto("/settings/billing")
        expect(page.locator("#current-plan")).to_have_text("Free")
        # Plans show their price, as Stripe (here the emulator) has it.
        expect(page.locator("[data-plan-price=pro]")).to_contain_text("$15.00 / month or $150.00 / year")
        expect(page.locator("[data-plan-price=free]")).to_have_text("Free")
        expect(page.get_by_text("Projects: 2 of 2")).to_be_visible()
        expect(page.locator("#usage-projects")).to_have_attribute("value", "2")

        # The third is refused in the dialog, which stays open with the plan's message and an upgrade link.
        page.goto("/dashboard")
        create_project(page, "Three")
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_role("alert")).to_contain_text("Your plan allows 2 projects")
        j.shoot(page, "limit-reached-dialog")
        dialog.get_by_role("link", name="See plans and upgrade").click()
        expect(page).to_have_url(re.compile(r"/settings/billing$"))
        expect(page.get_by_role("navigation", name="Settings").get_by_role("link", name="Billing")).to_have_attribute(
            "aria-current", "page"
        )
        j.shoot(page, "billing-free")

        # Upgrade: the emulator's hosted checkout page, then Pay, then back with the paid plan.
        page.get_by_role("button", name="Upgrade to Pro").click()
        expect(page).to_have_url(re.compile("^" + re.escape(stripe_url) + r"/checkout/"))
        expect(page.get_by_text("14-day free trial")).to_be_visible()
        j.shoot(page, "stripe-checkout")
        page.get_by_role("button", name="Pay").click()
        expect(page).to_have_url(re.compile(r"/settings/billing\?checkout=success"))
        expect(page.locator("#current-plan")).to_have_text("Pro")
        expect(page.locator("#plan-status")).to_have_text("trialing")
        expect(page.get_by_text("Thank you: Acme is on the Pro plan.")).to_be_visible()
        expect(page.get_by_text("Your free trial of Pro ends on")).to_be_visible()
        expect(page.get_by_text("Projects: 2 of 50")).to_be_visible()
        expect(page.get_by_role("button", name="Manage billing")).to_be_visible()
        expect(page.get_by_role("button", name="Upgrade to Pro")).to_have_count(0)
        assert [d.status for d in emulator.deliveries] == [200, 200, 200], emulator.deliveries
        j.shoot(page, "billing-pro")
        if backend == "sqlite" and UPDATE_DOCS:
            DOCS_SHOT.parent.mkdir(parents=True, exist_ok=True)
            page.evaluate("window.scrollTo(0, 0)")
            capture(page, path=DOCS_SHOT)  # the window, frame included (an element's shot slides under the top bar)

        # The project refused before is created now.
        page.goto("/dashboard")
        create_project(page, "Three")
        expect(page.get_by_role("status").get_by_text("Project created.")).to_be_visible()
        expect(page.get_by_role("link", name="Three", exact=True)).to_be_visible()

        # Manage billing opens the portal for this organization's subscription.
        page.goto("/settings/billing")
        page.get_by_role("button", name="Manage billing").click()
        expect(page).to_have_url(re.compile("^" + re.escape(stripe_url) + r"/portal/"))
        ctx.close()
