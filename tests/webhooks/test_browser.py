"""``/settings/webhooks`` in Chromium (Playwright) against a live server, on both databases: an admin
adds an endpoint pointing at the development inbox, a change reaches it signed, and the page shows the
delivery and sends it again."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from tests.browser_harness import browser as browser  # the Chromium fixture
from tests.browser_harness import expect, new_context, sign_up
from tests.conftest import PrepareDatabase
from tests.live_server import live_server
from tests.webhooks.helpers import AUTH, LOCAL

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


def inbox(page: Page, count: int) -> None:
    """Open the development inbox once it holds ``count`` messages (it does not refresh itself)."""
    deadline = time.monotonic() + 10
    while len(page.request.get("/dev/webhooks.json").json()) < count:
        assert time.monotonic() < deadline, f"the inbox never got {count} message(s)"
        time.sleep(0.05)
    page.goto("/dev/webhooks")
    expect(page.locator("section")).to_have_count(count)


def test_add_an_endpoint_see_a_delivery_and_resend_it(prepare_database: PrepareDatabase, browser: Browser) -> None:
    with live_server(prepare_database, AUTH, parts={"webhooks": LOCAL}) as base:
        page = new_context(browser, base).new_page()
        sign_up(page, "Acme", "Ada", "ada@example.com", lands_on=r"/dashboard")
        page.goto("/settings/webhooks")
        expect(page.locator("main")).to_contain_text("No endpoints yet.")
        page.get_by_label("URL").fill(f"{base}/dev/webhooks/inbox")
        page.get_by_label("Description").fill("Dev inbox")
        page.get_by_label("projects.created").check()
        page.get_by_role("button", name="Add endpoint").click()
        expect(page.locator("#new-secret")).to_contain_text(f"Endpoint {base}/dev/webhooks/inbox added.")
        expect(page.locator("[data-secret]")).to_have_text(re.compile(r"^whsec_"))

        created = page.request.post("/api/projects", data={"name": "Apollo"}, headers={"origin": base})
        assert created.status == 201, created.text()

        # The inbox got it, and the endpoint's secret verified its signature.
        inbox(page, 1)
        message = page.locator("section").first
        expect(message).to_contain_text("projects.created")
        expect(message).to_contain_text("signature verified")
        expect(message).to_contain_text('"Apollo"')
        message_id = message.locator("code").inner_text()
        assert message_id.startswith("msg_")

        # The page lists the delivery; Resend sends the same message again.
        page.goto("/settings/webhooks")
        row = page.locator(f"tr[data-attempt='{message_id}']")
        expect(row).to_contain_text("succeeded")
        expect(row).to_contain_text("204")
        page.get_by_role("button", name=f"Resend {message_id}").first.click()
        expect(page.get_by_role("status").filter(has_text="Message sent again.")).to_be_visible()
        inbox(page, 2)
        expect(page.locator("section code")).to_have_text([message_id, message_id])
        expect(page.locator("section", has_text="signature verified")).to_have_count(2)
