"""Signing in with an e-mailed link in a real browser (Playwright + Chromium, a real port), on
SQLite and PostgreSQL: the link is found on the development outbox page and clicked there."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tests.browser_harness import browser as browser  # the Chromium fixture
from tests.browser_harness import expect, new_context, open_user_menu, sign_up
from tests.conftest import PrepareDatabase
from tests.live_server import live_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


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


def test_sign_in_with_a_link(prepare_database: PrepareDatabase, browser: Browser) -> None:
    with live_server(prepare_database) as base:
        new_visitor(browser, base)
        back_to_the_page(browser, base)


def new_visitor(browser: Browser, base: str) -> None:
    """No account yet: the link creates one, verified, and lands on the dashboard; it works once."""
    context = new_context(browser, base)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Send a sign-in link to").fill("nia@example.com")
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    expect(page.get_by_text("nia@example.com")).to_be_visible()

    url = open_link_from_outbox(page, "nia@example.com")
    expect(page).to_have_url(f"{base}/dashboard")
    open_user_menu(page)
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
    context = new_context(browser, base)
    page = context.new_page()
    sign_up(page, "Acme", "Ada", "ada@example.com")

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
