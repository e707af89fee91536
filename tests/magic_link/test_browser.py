"""Signing in with an e-mailed link in a real browser (Playwright + Chromium, a real port), on
SQLite and PostgreSQL: the link is found on the development outbox page and clicked there."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantry.app import app_tables, create_app
from tenantry.config import Settings
from tenantry.db.migrations import sync_schema
from tenantry.emulators.server import bind_socket, format_base_url, run_in_thread
from tests.conftest import require_service, seed_schema
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the dev extras pin it
    sync_playwright = None  # type: ignore[assignment]


@pytest.fixture
def browser() -> Iterator[Browser]:
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


def open_link_from_outbox(page: Page, to: str) -> str:
    """Open the newest sign-in mail to ``to`` on /dev/mail and click its link; return the link."""
    page.goto("/dev/mail")
    page.get_by_role("row").filter(has_text=to).filter(has_text="magic_link").first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Your sign-in link")
    link = page.locator("dd a[href*='/api/auth/magic-link/verify']")
    url = link.get_attribute("href")
    assert url is not None
    link.click()
    return url


def test_sign_in_with_a_link(database_url: str, browser: Browser) -> None:
    sock = bind_socket()
    base = format_base_url("127.0.0.1", sock.getsockname()[1])
    schema = seed_schema()
    settings = Settings(DATABASE_URL=database_url, TENANTRY_BASE_URL=base, TENANTRY_OPEN_API=False)
    # Plain call: Playwright's sync API runs an event loop in this thread already.
    sync_schema(database_url, app_tables(schema, settings.dialect))
    app = create_app(schema, settings)
    with run_in_thread(app, sock=sock):
        new_visitor(browser, base)
        back_to_the_page(browser, base)


def new_visitor(browser: Browser, base: str) -> None:
    """No account yet: the link creates one, verified, and lands on the dashboard; it works once."""
    context = browser.new_context(base_url=base)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Send a sign-in link to").fill("nia@example.com")
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    expect(page.get_by_text("nia@example.com")).to_be_visible()

    url = open_link_from_outbox(page, "nia@example.com")
    expect(page).to_have_url(f"{base}/dashboard")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_text("is not verified yet")).to_have_count(0)  # the link proved the address

    other = browser.new_context(base_url=base)
    again = other.new_page()
    again.goto(url)
    expect(again).to_have_url(re.compile(r"/login\?error=INVALID_TOKEN$"))
    expect(again.get_by_text("This link is invalid or was already used")).to_be_visible()
    other.close()
    context.close()


def back_to_the_page(browser: Browser, base: str) -> None:
    """A member who was sent to sign in from a page gets back to it through the link."""
    context = browser.new_context(base_url=base)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/signup")
    page.get_by_label("Organization name").fill("Acme")
    page.get_by_label("Your name").fill("Ada")
    page.get_by_label("E-mail").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/verify-email\?email="))

    page.goto("/app/projects")
    expect(page).to_have_url(re.compile(r"/login\?from=%2Fapp%2Fprojects$"))
    page.get_by_label("Send a sign-in link to").fill("ada@example.com")
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    open_link_from_outbox(page, "ada@example.com")
    expect(page).to_have_url(f"{base}/app/projects")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Projects")
    expect(page.get_by_title("ada@example.com")).to_have_text("Ada")  # the header names the signed-in user
    context.close()
