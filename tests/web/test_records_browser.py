"""Record pages, the command palette and "your data" in Chromium, at desktop and phone (360 px)
widths, on SQLite and PostgreSQL: a project's page lists its tasks and adds one in place, a task
reads by its title with breadcrumbs and a linked project, the palette is driven by the keyboard
alone, exports download as zips whose contents are checked, a member is refused the
organization's export, and leaving, deleting an organization and deleting an account work."""

from __future__ import annotations

import io
import re
import zipfile
from typing import TYPE_CHECKING

import orjson
import pytest

from tests.browser_harness import PASSWORD, Journey, browser, capture, expect, log_in, screenshots, sign_up
from tests.conftest import PrepareDatabase, schema_from_text
from tests.live_server import live_server
from tests.web.test_records import SCHEMA

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

__all__ = ["browser"]

PHONE_360 = {"width": 360, "height": 780}


def _enter(page: Page, j: Journey, org: str, name: str, email: str) -> None:
    """Sign up with an organization, verify through the dev outbox and sign in."""
    sign_up(page, org, name, email)
    page.goto(j.mail_link(page, email, "verify_email"))
    log_in(page, email)
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, (page.url, width, viewport)


def _shot(j: Journey, page: Page, name: str) -> None:
    """The page at its current width (``Journey.shoot`` would put a phone back to desktop width)."""
    capture(page, path=j.shots / f"{name}.png", full_page=True)


def _csp_watch(page: Page) -> list[str]:
    refused: list[str] = []

    def report(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    page.on("console", report)
    return refused


@pytest.mark.slow(25)
@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_record_pages_and_palette(
    database_url: str, prepare_database: PrepareDatabase, browser: Browser, viewport: str
) -> None:
    with live_server(prepare_database, schema=schema_from_text(SCHEMA)) as base:
        j = Journey(base, screenshots(database_url, "records"))
        ctx = j.context(browser)
        page = ctx.new_page()
        refused = _csp_watch(page)
        _enter(page, j, "Acme", "Ada", "ada@example.com")
        if viewport == "phone":
            page.set_viewport_size(PHONE_360)  # type: ignore[arg-type]

        # A project, then a task added in place from the project's page (the project preset).
        page.goto("/app/projects/new")
        page.get_by_label("Name").fill("Apollo")
        page.get_by_role("button", name="Create").click()
        expect(page.get_by_role("heading", name="Apollo", level=1)).to_be_visible()
        expect(page.get_by_text("No tasks yet.")).to_be_visible()
        _no_sideways_scroll(page)
        page.get_by_role("button", name="Add task").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_label("Project")).to_have_value(re.compile(r"^[0-9a-f-]{36}$"))
        expect(dialog.get_by_label("Project").locator("option:checked")).to_have_text("Apollo")
        dialog.get_by_label("Title").fill("Launch")
        dialog.get_by_role("button", name="Create").click()
        expect(page.get_by_role("status").get_by_text("Task created.")).to_be_visible()
        expect(page.get_by_role("heading", name="Apollo", level=1)).to_be_visible()
        page.locator(".children").get_by_role("link", name="Launch").click()
        page.wait_for_url(re.compile(r"/app/tasks/[0-9a-f-]{36}$"))  # the task's page, loaded
        _no_sideways_scroll(page)

        # The task reads by its title: breadcrumbs, the project by name and linked, a relative time.
        expect(page.get_by_role("heading", name="Launch", level=1)).to_be_visible()
        crumbs = page.get_by_role("navigation", name="Breadcrumb")
        expect(crumbs.get_by_role("link", name="Tasks")).to_have_attribute("href", "/app/tasks")
        expect(page.locator("dl.detail").get_by_role("link", name="Apollo")).to_be_visible()
        expect(page.locator("dl.detail").get_by_role("link", name="Acme")).to_be_visible()
        expect(page.locator("dl.detail dt", has_text="Org")).to_have_text(["Organization"])
        stamp = page.locator("dl.detail time").first
        expect(stamp).to_have_text("just now")
        expect(stamp).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))
        _shot(j, page, f"task-detail-{viewport}")
        # Edit has Cancel, back to the task unchanged.
        page.get_by_role("link", name="Edit").click()
        page.get_by_label("Title").fill("Changed my mind")
        page.get_by_role("link", name="Cancel").click()
        expect(page.get_by_role("heading", name="Launch", level=1)).to_be_visible()

        # The list has a Project column, the project's name linked.
        page.goto("/app/tasks")
        expect(page.get_by_role("columnheader", name="Project")).to_be_visible()
        expect(page.locator("#results").get_by_role("link", name="Apollo")).to_have_attribute(
            "href", re.compile(r"^/app/projects/[0-9a-f-]{36}$")
        )
        _shot(j, page, f"tasks-list-{viewport}")
        _no_sideways_scroll(page)

        # The palette, by keyboard alone: Ctrl-K, words, arrows, Enter; Escape closes it.
        page.goto("/dashboard")
        page.keyboard.press("Control+k")
        box = page.get_by_role("combobox", name="Find records, pages and actions")
        expect(box).to_be_focused()
        page.keyboard.type("laun")
        palette = page.locator("dialog.palette")
        expect(palette).to_have_attribute("data-ready", "laun")
        expect(palette.get_by_role("option").first).to_contain_text("Launch")
        expect(palette.get_by_role("option").first).to_have_attribute("aria-selected", "true")
        _shot(j, page, f"palette-{viewport}")
        page.keyboard.press("Escape")
        expect(palette).not_to_be_visible()
        page.get_by_role("button", name="Find anything").click()  # the dashboard's way in, for a pointer
        expect(box).to_be_focused()
        page.keyboard.press("Escape")
        expect(palette).not_to_be_visible()
        page.keyboard.press("Control+k")
        page.keyboard.type("task")
        expect(palette).to_have_attribute("data-ready", "task")
        options = palette.get_by_role("option")
        expect(options.locator(".label")).to_have_text(["Tasks", "New task"])
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowDown")  # round to the first
        page.keyboard.press("ArrowUp")  # and back to the last
        expect(options.nth(1)).to_have_attribute("aria-selected", "true")
        expect(options.nth(0)).to_have_attribute("aria-selected", "false")
        expect(box).to_have_attribute("aria-activedescendant", "palette-item-1")
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/app/tasks/new$"))
        expect(page.get_by_role("heading", name="New task")).to_be_visible()
        assert refused == [], refused
        assert page.evaluate("window.innerWidth") == (360 if viewport == "phone" else 1280)
        ctx.close()


@pytest.mark.slow(30)
@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_exports_leaving_and_deleting(
    database_url: str, prepare_database: PrepareDatabase, browser: Browser, viewport: str
) -> None:
    with live_server(prepare_database) as base:
        j = Journey(base, screenshots(database_url, "data"))
        admin_ctx = j.context(browser)
        ada = admin_ctx.new_page()
        _enter(ada, j, "Acme", "Ada", "ada@example.com")
        if viewport == "phone":
            ada.set_viewport_size(PHONE_360)  # type: ignore[arg-type]
        ada.goto("/app/projects/new")
        ada.get_by_label("Name").fill("Apollo")
        ada.get_by_role("button", name="Create").click()
        expect(ada.get_by_role("heading", name="Apollo", level=1)).to_be_visible()

        # Exports download as zips of JSON lines.
        ada.goto("/settings/data")
        _no_sideways_scroll(ada)
        _shot(j, ada, f"your-data-{viewport}")
        with ada.expect_download() as got:
            ada.get_by_role("link", name="Export this organization").click()
        archive = zipfile.ZipFile(io.BytesIO(got.value.path().read_bytes()))
        assert got.value.suggested_filename == "acme-export.zip"
        assert orjson.loads(archive.read("organization.json"))["name"] == "Acme"
        assert [orjson.loads(x)["name"] for x in archive.read("projects.jsonl").splitlines()] == ["Apollo"]
        with ada.expect_download() as got:
            ada.get_by_role("link", name="Download my data").click()
        mine = zipfile.ZipFile(io.BytesIO(got.value.path().read_bytes()))
        assert orjson.loads(mine.read("profile.json"))["email"] == "ada@example.com"

        # A member: their own data, not the organization's; then they leave.
        ada.goto("/settings/members")
        ada.get_by_label("E-mail").fill("max@example.com")
        ada.get_by_label("Role").select_option("member")
        ada.get_by_role("button", name="Send invitation").click()
        expect(ada.get_by_role("status").get_by_text("Invitation sent")).to_be_visible()
        member_ctx = j.context(browser)
        mx = member_ctx.new_page()
        if viewport == "phone":
            mx.set_viewport_size(PHONE_360)  # type: ignore[arg-type]
        mx.goto(j.mail_link(ada, "max@example.com", "invitation"))
        mx.get_by_role("link", name="Create an account").click()
        mx.get_by_label("Your name").fill("Max")
        mx.get_by_label("Password").fill(PASSWORD)
        mx.get_by_role("button", name="Create account").click()
        expect(mx).to_have_url(re.compile(r"/dashboard$"))
        mx.goto("/settings/data")
        expect(mx.get_by_text("Only admins can export the organization.")).to_be_visible()
        expect(mx.get_by_role("link", name="Export this organization")).to_have_count(0)
        assert mx.request.get("/settings/data/organization.zip").status == 403
        mx.get_by_role("button", name="Leave organization").click()
        mx.get_by_role("dialog").get_by_role("button", name="Leave").click()
        expect(mx.get_by_role("status").get_by_text("You left Acme.")).to_be_visible()
        expect(mx.get_by_role("heading", name="Create an organization")).to_be_visible()

        # Deleting the account: a link by e-mail, opened in the signed-in browser.
        mx.goto("/settings/data")
        mx.get_by_role("button", name="Delete my account").click()
        expect(mx.get_by_role("status").get_by_text("We sent a link to max@example.com")).to_be_visible()
        mx.goto(j.mail_link(mx, "max@example.com", "delete_account"))
        expect(mx.get_by_role("heading", name="Delete your account?")).to_be_visible()
        mx.get_by_role("button", name="Delete my account").click()
        expect(mx).to_have_url(re.compile(r"/goodbye$"))
        expect(mx.get_by_role("heading", name="Your account was deleted")).to_be_visible()
        mx.goto("/dashboard")
        expect(mx).to_have_url(re.compile(r"/login"))
        member_ctx.close()

        # Deleting the organization: its name typed exactly; its project goes first.
        ada.goto("/settings/data")
        ada.get_by_label("Type Acme to confirm").fill("acme")
        ada.get_by_role("button", name="Delete organization").click()
        expect(ada.get_by_text("Type Acme exactly to confirm.")).to_be_visible()
        expect(ada.get_by_label("Type Acme to confirm")).to_have_attribute("aria-invalid", "true")
        ada.goto("/app/projects")
        ada.get_by_role("link", name="Apollo").click()
        ada.get_by_role("button", name="Delete").click()
        ada.get_by_role("dialog").get_by_role("button", name="Delete").click()
        expect(ada.get_by_role("status").get_by_text("Project deleted.")).to_be_visible()
        ada.goto("/settings/data")
        ada.get_by_label("Type Acme to confirm").fill("Acme")
        ada.get_by_role("button", name="Delete organization").click()
        expect(ada.get_by_role("status").get_by_text("Acme was deleted.")).to_be_visible()
        expect(ada.get_by_role("heading", name="Create an organization")).to_be_visible()
        assert ada.evaluate("window.innerWidth") == (360 if viewport == "phone" else 1280)
        admin_ctx.close()
