"""The web app in a real browser: Playwright for Python driving Debian's Chromium against a real
server on a real port, on SQLite and on PostgreSQL.

One journey covers the seed's flows: sign-up with an organization, verification through the dev
outbox, sign-in, a project created, edited and deleted, another organization that cannot see it,
a viewer without create/delete controls whose forged POST is refused, an invitation accepted by
signing up through its link, a password reset, and another session revoked. Screenshots of each
page at desktop and phone widths are saved under ``artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tenantry.app import app_tables, create_app
from tenantry.config import Settings
from tenantry.db.migrations import sync_schema
from tenantry.emulators.server import bind_socket, format_base_url, run_in_thread
from tests.conftest import ROOT, require_service, seed_schema

CHROMIUM = os.environ.get("TENANTRY_TEST_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "Password-One-111"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# No background traffic: the browser talks to the server under test and nothing else.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]

try:
    from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
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


class Journey:
    """The server's address, the outbox, and screenshots for one database."""

    def __init__(self, base: str, shots: Path) -> None:
        self.base = base
        self.shots = shots
        shots.mkdir(parents=True, exist_ok=True)

    def context(self, browser: Browser, **options: Any) -> BrowserContext:
        ctx = browser.new_context(base_url=self.base, viewport=DESKTOP, **options)
        ctx.set_default_timeout(15_000)
        return ctx

    def shoot(self, page: Page, name: str) -> None:
        """The page at desktop and phone widths."""
        page.screenshot(path=self.shots / f"{name}-desktop.png", full_page=True)
        page.set_viewport_size(PHONE)
        page.screenshot(path=self.shots / f"{name}-phone.png", full_page=True)
        page.set_viewport_size(DESKTOP)

    def mail_link(self, page: Page, to: str, template: str) -> str:
        """The link of the newest ``template`` e-mail to ``to``, as the dev outbox shows it."""
        messages = page.request.get(f"/dev/mail.json?to={to}").json()
        found = [m for m in messages if m["template"] == template]
        assert found, (to, template, messages)
        url: str = found[0]["url"]
        return url


def sign_up(page: Page, org: str, name: str, email: str) -> None:
    page.goto("/signup")
    page.get_by_label("Organization name").fill(org)
    page.get_by_label("Your name").fill(name)
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/verify-email\?email="))


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_web_journey(database_url: str, browser: Browser) -> None:
    sock = bind_socket()
    base = format_base_url("127.0.0.1", sock.getsockname()[1])
    schema = seed_schema()
    settings = Settings(DATABASE_URL=database_url, TENANTRY_BASE_URL=base, TENANTRY_OPEN_API=False)
    # Plain call: Playwright's sync API runs an event loop in this thread already.
    sync_schema(database_url, app_tables(schema, settings.dialect))
    app = create_app(schema, settings)
    backend = "postgresql" if database_url.startswith("postgres") else "sqlite"
    j = Journey(base, ROOT / "artifacts" / "screenshots" / backend)
    with run_in_thread(app, sock=sock):
        _journey(browser, j)


def _journey(browser: Browser, j: Journey) -> None:
    admin_ctx = j.context(browser)
    page = admin_ctx.new_page()

    # A protected page sends a visitor to sign in, remembering where they were going.
    page.goto("/app/projects")
    expect(page).to_have_url(re.compile(r"/login\?from=%2Fapp%2Fprojects$"))
    j.shoot(page, "login")

    # Sign-up with an organization; the 8-character rule is shown and enforced.
    page.goto("/signup")
    expect(page.get_by_text("At least 8 characters.")).to_be_visible()
    j.shoot(page, "signup")
    sign_up(page, "Acme", "Ada Admin", "ada@example.com")
    j.shoot(page, "verify-email")

    # Signing in before verifying explains why not, and how to fix it.
    page.goto("/login")
    log_in(page, "ada@example.com")
    expect(page.get_by_text("not verified yet")).to_be_visible()

    # Verify through the dev outbox.
    page.goto("/dev/mail")
    j.shoot(page, "dev-mail")
    page.goto(j.mail_link(page, "ada@example.com", "verify_email"))
    expect(page).to_have_url(re.compile(r"/login\?verified=1$"))
    expect(page.get_by_text("Your e-mail address is verified")).to_be_visible()
    log_in(page, "ada@example.com")
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("heading", name="Acme")).to_be_visible()

    # Create a project through the New Project dialog, then edit and delete it.
    page.get_by_role("button", name="New project").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Name")).to_be_focused()
    j.shoot(page, "new-project-dialog")
    # Refused by the server: the errors appear in the dialog, which stays open (htmx).
    dialog.get_by_label("Description").fill("Land on the moon")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog.locator("#e-name")).to_have_text("Name is required")
    expect(dialog.get_by_label("Name")).to_be_focused()
    expect(dialog.get_by_label("Description")).to_have_value("Land on the moon")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_visible()
    j.shoot(page, "new-project-dialog-error")
    dialog.get_by_label("Name").fill("Apollo")
    dialog.get_by_label("Description").fill("Land on the moon")
    dialog.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status").get_by_text("Project created.")).to_be_visible()
    expect(page.get_by_role("link", name="Apollo")).to_be_visible()
    page.get_by_role("link", name="Apollo").click()
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Name").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#e-name")).to_have_text("Name is required")  # the server's error, next to the field
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name")).to_be_focused()  # keyboard users start at the problem
    j.shoot(page, "project-edit-error")
    page.get_by_label("Name").fill("Artemis")
    page.get_by_label("Status").select_option("archived")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Artemis")).to_be_visible()
    j.shoot(page, "project-detail")
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status").get_by_text("Project deleted.")).to_be_visible()
    expect(page.get_by_text("No projects yet")).to_be_visible()

    # A project that stays, for the checks of other users.
    page.goto("/app/projects/new")
    j.shoot(page, "project-new")
    page.get_by_label("Name").fill("Secret plan")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Secret plan")).to_be_visible()
    secret_url = page.url.removeprefix(j.base)
    page.goto("/app/projects?sort=name,ASC")
    j.shoot(page, "projects-list")
    # Search as you type (htmx): the results and the address follow the box without a submit.
    page.get_by_label("Search").fill("zzz")
    expect(page.get_by_text("No projects match")).to_be_visible()
    expect(page).to_have_url(re.compile(r"q=zzz"))
    page.get_by_label("Search").fill("secr")
    expect(page.get_by_role("link", name="Secret plan")).to_be_visible()
    page.get_by_text("Filters", exact=True).click()
    page.get_by_label("Status").select_option("archived")
    expect(page.get_by_text("No projects match")).to_be_visible()

    # Invite a viewer.
    page.goto("/settings/members")
    page.get_by_label("E-mail").fill("vic@example.com")
    page.get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status").get_by_text("Invitation sent to vic@example.com.")).to_be_visible()
    j.shoot(page, "settings-members")
    page.goto("/settings/organization")
    expect(page.get_by_label("Billing email")).to_be_visible()
    j.shoot(page, "settings-organization")
    page.goto("/settings/audit")
    expect(page.get_by_role("link", name="Export CSV")).to_be_visible()
    j.shoot(page, "settings-audit")
    page.goto("/dashboard")
    j.shoot(page, "dashboard")
    # Every entity's generated list page, and the first row's detail page where there is one.
    for route in ("organizations", "users", "projects", "subscriptions", "audit_logs"):
        response = page.goto(f"/app/{route}")
        assert response is not None and response.status == 200, route
        j.shoot(page, f"list-{route}")
        rows = page.locator("#results tbody a")
        if rows.count():
            rows.first.click()
            expect(page.locator("dl.detail")).to_be_visible()
            j.shoot(page, f"detail-{route}")
    invitation = j.mail_link(page, "vic@example.com", "invitation")

    # The invitee signs up through the link and lands in the organization, as a viewer.
    vic_ctx = j.context(browser, color_scheme="dark")
    vic = vic_ctx.new_page()
    vic.goto(invitation)
    expect(vic.get_by_role("heading", name="Join Acme")).to_be_visible()
    j.shoot(vic, "invitation")
    vic.get_by_role("link", name="Create an account").click()
    expect(vic.get_by_label("E-mail")).to_have_value("vic@example.com")
    vic.get_by_label("Your name").fill("Vic Viewer")
    vic.get_by_label("Password").fill(PASSWORD)
    vic.get_by_role("button", name="Create account").click()
    expect(vic).to_have_url(re.compile(r"/dashboard$"))
    expect(vic.get_by_role("link", name="Secret plan")).to_be_visible()
    expect(vic.get_by_role("button", name="New project")).to_have_count(0)
    j.shoot(vic, "dashboard-viewer-dark")
    vic.goto(secret_url)
    expect(vic.get_by_role("heading", name="Secret plan")).to_be_visible()
    expect(vic.get_by_role("button", name="Delete")).to_have_count(0)
    expect(vic.get_by_role("link", name="Edit")).to_have_count(0)
    # A forged POST (same origin, the viewer's cookie) is refused by the server.
    forged = vic.request.post(f"{secret_url}/delete", headers={"origin": j.base}, form={})
    assert forged.status == 403, forged.text()
    forged = vic.request.post("/app/projects/new", headers={"origin": j.base}, form={"name": "Nope"})
    assert forged.status == 403, forged.text()
    vic.goto(secret_url)
    expect(vic.get_by_role("heading", name="Secret plan")).to_be_visible()
    vic_ctx.close()

    # A user of a second organization sees nothing of Acme's, by UI and by URL.
    bob_ctx = j.context(browser)
    bob = bob_ctx.new_page()
    sign_up(bob, "Globex", "Bob", "bob@example.com")
    bob.goto(j.mail_link(bob, "bob@example.com", "verify_email"))
    log_in(bob, "bob@example.com")
    expect(bob).to_have_url(re.compile(r"/dashboard$"))
    expect(bob.get_by_role("heading", name="Globex")).to_be_visible()
    expect(bob.get_by_text("Secret plan")).to_have_count(0)
    bob.goto("/app/projects")
    expect(bob.get_by_text("Secret plan")).to_have_count(0)
    response = bob.goto(secret_url)
    assert response is not None and response.status == 404
    expect(bob.get_by_role("heading", name="Not found")).to_be_visible()
    j.shoot(bob, "not-found")
    bob.get_by_role("button", name="Sign out").click()
    expect(bob).to_have_url(re.compile(r"/login$"))
    expect(bob.get_by_role("status").get_by_text("You are signed out.")).to_be_visible()
    bob_ctx.close()

    # Password reset through the e-mailed link.
    reset_ctx = j.context(browser)
    anon = reset_ctx.new_page()
    anon.goto("/login")
    anon.get_by_role("link", name="Forgot password?").click()
    j.shoot(anon, "forgot-password")
    anon.get_by_label("E-mail").fill("bob@example.com")
    anon.get_by_role("button", name="Send reset link").click()
    expect(anon.get_by_role("heading", name="Check your inbox")).to_be_visible()
    anon.goto(j.mail_link(anon, "bob@example.com", "reset_password"))
    expect(anon).to_have_url(re.compile(r"/reset-password\?token="))
    j.shoot(anon, "reset-password")
    anon.get_by_label("New password").fill("Brand-New-Pass-9")
    anon.get_by_role("button", name="Set password").click()
    expect(anon).to_have_url(re.compile(r"/login$"))
    log_in(anon, "bob@example.com", "Brand-New-Pass-9")
    expect(anon).to_have_url(re.compile(r"/dashboard$"))

    # Revoke another session: the other browser is signed out on its next request.
    other_ctx = j.context(browser)
    other = other_ctx.new_page()
    other.goto("/login")
    log_in(other, "bob@example.com", "Brand-New-Pass-9")
    expect(other).to_have_url(re.compile(r"/dashboard$"))
    anon.goto("/settings/account")
    expect(anon.get_by_role("button", name="Revoke")).to_have_count(1)
    j.shoot(anon, "settings-account")
    anon.get_by_role("button", name="Revoke").click()
    expect(anon.get_by_role("status").get_by_text("Session revoked.")).to_be_visible()
    expect(anon.get_by_role("button", name="Revoke")).to_have_count(0)
    other.goto("/dashboard")
    expect(other).to_have_url(re.compile(r"/login\?from=%2Fdashboard$"))
    anon.goto("/dashboard")
    expect(anon).to_have_url(re.compile(r"/dashboard$"))
    for ctx in (other_ctx, reset_ctx, admin_ctx):
        ctx.close()


def test_pages_work_without_javascript(database_url: str, browser: Browser) -> None:
    sock = bind_socket()
    base = format_base_url("127.0.0.1", sock.getsockname()[1])
    schema = seed_schema()
    settings = Settings(DATABASE_URL=database_url, TENANTRY_BASE_URL=base, TENANTRY_OPEN_API=False)
    sync_schema(database_url, app_tables(schema, settings.dialect))
    backend = "postgresql" if database_url.startswith("postgres") else "sqlite"
    j = Journey(base, ROOT / "artifacts" / "screenshots" / backend / "no-js")
    with run_in_thread(create_app(schema, settings), sock=sock):
        ctx = j.context(browser, java_script_enabled=False)
        page = ctx.new_page()
        sign_up(page, "Initech", "Nina", "nina@example.com")
        page.goto(j.mail_link(page, "nina@example.com", "verify_email"))
        log_in(page, "nina@example.com")
        expect(page).to_have_url(re.compile(r"/dashboard$"))
        # "New project" is a link to the form page when no script opens the dialog.
        page.get_by_role("button", name="New project").click()
        expect(page).to_have_url(re.compile(r"/app/projects/new\?next=/dashboard$"))
        page.get_by_label("Name").fill("Plain HTML")
        page.get_by_role("button", name="Create").click()
        expect(page).to_have_url(re.compile(r"/dashboard$"))
        page.get_by_role("link", name="Plain HTML").click()
        j.shoot(page, "project-detail")
        page.get_by_role("button", name="Delete").click()
        expect(page).to_have_url(re.compile(r"/app/projects$"))
        expect(page.get_by_text("No projects yet")).to_be_visible()
        ctx.close()
