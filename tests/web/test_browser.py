"""The web app in a real browser: Playwright for Python driving Debian's Chromium against a real
server on a real port, on SQLite and on PostgreSQL.

One journey covers the seed's flows: sign-up with an organization, verification through the dev
outbox, sign-in, a project created, edited and deleted, another organization that cannot see it,
a viewer without create/delete controls whose forged POST is refused, an invitation accepted by
signing up through its link, a password reset, and another session revoked. Screenshots of each
page at desktop and phone widths are saved under ``artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.browser_harness import (  # re-exported: the other browser tests import them from here
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PASSWORD,
    PHONE,
    Journey,
    browser,
    expect,
    log_in,
    screenshots,
    sign_out,
    sign_up,
)
from tests.conftest import PrepareDatabase
from tests.live_server import live_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "DESKTOP", "PASSWORD", "PHONE", "Journey", "browser", "log_in", "sign_up"]


@pytest.mark.slow(35)
def test_web_journey(database_url: str, prepare_database: PrepareDatabase, browser: Browser) -> None:
    with live_server(prepare_database) as base:
        _journey(browser, Journey(base, screenshots(database_url)))


def _journey(browser: Browser, j: Journey) -> None:
    admin_ctx = j.context(browser)
    page = admin_ctx.new_page()

    # A protected page sends a visitor to sign in, remembering where they were going.
    page.goto("/app/projects")
    expect(page).to_have_url(re.compile(r"/login\?from=%2Fapp%2Fprojects$"))
    j.shoot(page, "login")

    # The API docs run under their content security policy: Swagger UI renders the spec, and the
    # browser reports no script, style or request that the policy refused.
    refused: list[str] = []

    def csp_report(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    page.on("console", csp_report)
    page.goto("/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("my-saas-api")
    # (A document this large is shown as a virtual list: only the tags in view are in the page.)
    expect(page.locator(".opblock-tag").first).to_be_visible()
    assert refused == [], refused
    page.remove_listener("console", csp_report)

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
    sign_out(bob)
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


def test_pages_work_without_javascript(database_url: str, prepare_database: PrepareDatabase, browser: Browser) -> None:
    with live_server(prepare_database) as base:
        j = Journey(base, screenshots(database_url, "no-js"))
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
