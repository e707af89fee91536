"""What the browser tests share: Debian's Chromium driven by Playwright (the ``browser`` fixture),
browser contexts on a live server, screenshots, and the sign-up and sign-in forms.

Import the fixture into a test module (``from tests.browser_harness import browser as browser``)
and Playwright's ``expect`` from here too; serve the app with ``tests.live_server.live_server``.
Without Playwright or Chromium a test is skipped locally and fails under ``CI=true``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import ROOT, require_service

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

CHROMIUM = os.environ.get("TENANTRY_TEST_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "Password-One-111"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
# How long actions and assertions wait for the page.
WAIT_MS = 15_000
# No background traffic: the browser talks to the server under test and nothing else.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]

try:
    from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # pragma: no cover - the dev extras pin it; the fixture reports it (skip, or fail in CI)
    sync_playwright = None  # type: ignore[assignment]
    expect = None  # type: ignore[assignment]
else:
    # Assertions wait as long as the contexts' actions do (``new_context``), not Playwright's 5 s: a
    # machine busy with parallel workers may take longer to answer, and a met condition ends the
    # wait at once, so this only changes how long a failing check takes to fail.
    expect.set_options(timeout=WAIT_MS)

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "DESKTOP",
    "PASSWORD",
    "PHONE",
    "Journey",
    "browser",
    "expect",
    "log_in",
    "new_context",
    "open_user_menu",
    "screenshots",
    "sign_out",
    "sign_up",
]


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A headless Chromium for the test, closed after it."""
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


def new_context(browser: Browser, base: str, **options: Any) -> BrowserContext:
    """A fresh browser profile on ``base`` at desktop width; waits time out after 15 seconds."""
    ctx = browser.new_context(base_url=base, viewport=DESKTOP, **options)
    ctx.set_default_timeout(WAIT_MS)
    return ctx


def capture(page: Page, **options: Any) -> None:
    """``page.screenshot(**options)``, tried again once when Chromium could not capture a frame yet
    (it answers "Unable to capture screenshot" for a page painting its first frame under load). The
    pictures are artifacts: what a test checks is asserted apart from them."""
    try:
        page.screenshot(**options)
    except PlaywrightError as exc:
        if "Unable to capture screenshot" not in str(exc):
            raise
        page.wait_for_timeout(250)
        page.screenshot(**options)


def screenshots(database_url: str, *under: str) -> Path:
    """``artifacts/screenshots/<database>/...``: where a test on ``database_url`` saves its pictures."""
    backend = "postgresql" if database_url.startswith("postgres") else "sqlite"
    return ROOT.joinpath("artifacts", "screenshots", backend, *under)


# The README's pictures in docs/screenshots, by the journey shot each is taken with. With
# TENANTRY_UPDATE_DOCS_SCREENSHOTS=1, the SQLite run of a journey rewrites them: what the window
# shows (not the full page, which keeps them small and the frame's sticky header in place).
UPDATE_DOCS = os.environ.get("TENANTRY_UPDATE_DOCS_SCREENSHOTS") == "1"
DOCS_SCREENSHOTS = {
    "new-project-dialog-desktop.png": "new-project-dialog-desktop.png",
    "dashboard-viewer-dark-phone.png": "dashboard-viewer-dark-phone.png",
    "settings-members-desktop.png": "settings-members-desktop.png",
    "project-edit-error-phone.png": "project-edit-error-phone.png",
    "admin-impersonating-desktop.png": "admin-impersonating.png",
    "two-factor-enrol-desktop.png": "two-factor-enrol.png",
}


class Journey:
    """The server's address, the outbox, and screenshots for one database."""

    def __init__(self, base: str, shots: Path) -> None:
        self.base = base
        self.shots = shots
        shots.mkdir(parents=True, exist_ok=True)

    def context(self, browser: Browser, **options: Any) -> BrowserContext:
        return new_context(browser, self.base, **options)

    def shoot(self, page: Page, name: str) -> None:
        """The page at desktop and phone widths."""
        self.save(page, f"{name}-desktop.png")
        page.set_viewport_size(PHONE)
        self.save(page, f"{name}-phone.png")
        page.set_viewport_size(DESKTOP)

    def save(self, page: Page, file: str) -> None:
        """The whole page as ``file``; also the README's copy, when it is one and asked for."""
        capture(page, path=self.shots / file, full_page=True)
        docs = DOCS_SCREENSHOTS.get(file)
        if docs is not None and UPDATE_DOCS and "sqlite" in self.shots.parts:
            capture(page, path=ROOT / "docs" / "screenshots" / docs, animations="disabled")

    def mail_link(self, page: Page, to: str, template: str) -> str:
        """The link of the newest ``template`` e-mail to ``to``, as the dev outbox shows it."""
        messages = page.request.get(f"/dev/mail.json?to={to}").json()
        found = [m for m in messages if m["template"] == template]
        assert found, (to, template, messages)
        url: str = found[0]["url"]
        return url


def sign_up(page: Page, org: str, name: str, email: str, lands_on: str = r"/verify-email\?email=") -> None:
    """Create an account with an organization on the sign-up page; the next page matches ``lands_on``
    (by default the "check your inbox" page of an app that requires e-mail verification)."""
    page.goto("/signup")
    page.get_by_label("Organization name").fill(org)
    page.get_by_label("Your name").fill(name)
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(lands_on))


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Fill in and send the sign-in form on the current page."""
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def open_user_menu(page: Page) -> None:
    """Open the account menu of the top bar (the avatar), where "Sign out" is."""
    page.locator(".user-menu > summary").click()


def sign_out(page: Page) -> None:
    """Sign out through the account menu."""
    open_user_menu(page)
    page.get_by_role("button", name="Sign out").click()
