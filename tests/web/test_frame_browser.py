"""The app frame in Chromium, on both databases: every page visited at 360 px wide (no sideways
scrolling) and audited by axe-core (the npm package, ``tests/compat``) in the light and the dark
theme (no serious or critical violation); the sidebar, its drawer on phones and the user menu;
and keyboard-only journeys (Tab and Enter) that sign in, create, edit and delete a project.

The app is the example schema with the ``settings: display:`` block of the README (its own name,
colour, icons and groups), plus tasks and milestones under projects (a parent with two kinds of
children, so two add dialogs on one page) and milestones linked to tasks (many-to-many). Besides
every page a person opens, the audit covers a project with its add-child dialog open, the command
palette open, the account deletion's confirmation page and the development server's schema-error
page. Screenshots go to ``artifacts/screenshots/<database>/frame/``;
``TENANTRY_UPDATE_DOCS_SCREENSHOTS=1`` also refreshes the README's copies in ``docs/screenshots/``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tenantry.auth import AuthSettings
from tenantry.schema import Schema, load_schema_text
from tenantry.server.schema_error import schema_error_app
from tests.browser_harness import DESKTOP, PASSWORD, Journey, capture, expect, log_in, screenshots
from tests.browser_harness import browser as browser  # the Chromium fixture
from tests.conftest import ROOT, SEED_SCHEMA_PATH, PrepareDatabase, require_service
from tests.live_server import create_superuser, live_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

AXE = ROOT / "tests" / "compat" / "node_modules" / "axe-core" / "axe.min.js"
NARROW = {"width": 360, "height": 740}
NO_VERIFICATION = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)
WORK = """
tasks:
  - title: string (required)
  - project_id: uuid (references projects, required)
  - org_id: uuid (references organizations, required)
  - created_at: timestamp (auto)

milestones:
  fields:
    - name: string (required)
    - due: date (nullable)
    - project_id: uuid (references projects, required)
    - org_id: uuid (references organizations, required)
  many_to_many:
    tasks: tasks
"""
DISPLAY = """
settings:
  display:
    name: Orbit
    color: "#0f766e"
    menu:
      - projects: folder
"""


@cache
def frame_schema() -> Schema:
    """The example schema with tasks and milestones, branded as the README shows it."""
    return load_schema_text(SEED_SCHEMA_PATH.read_text() + WORK + DISPLAY, "schema.yaml")


@cache
def axe_source() -> str:
    if not AXE.exists():
        require_service("axe-core", f"{AXE} is missing (npm ci in tests/compat)")
    return AXE.read_text()


def post(base: str, path: str, body: dict[str, Any], cookies: httpx.Cookies | None = None) -> httpx.Response:
    r = httpx.post(f"{base}{path}", json=body, headers={"origin": base}, cookies=cookies)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r


def people(base: str) -> dict[str, Any]:
    """Ada (admin of Acme) with two projects, Mia (a member), an audit trail; through the API."""
    ada = post(
        base,
        "/api/auth/sign-up/email",
        {"email": "ada@example.com", "password": PASSWORD, "name": "Ada Admin", "organizationName": "Acme"},
    ).cookies
    mia = post(
        base,
        "/api/auth/sign-up/email",
        {"email": "mia@example.com", "password": PASSWORD, "name": "Mia Member", "organizationName": "Mia's"},
    ).cookies
    # Accepting an invitation needs a verified address: Mia opens the link the dev outbox holds.
    for who, cookies in (("mia@example.com", mia), ("ada@example.com", ada)):
        post(base, "/api/auth/send-verification-email", {"email": who}, cookies)
        httpx.get(next(m["url"] for m in httpx.get(f"{base}/dev/mail.json?to={who}").json()))
    invitation = post(base, "/api/auth/organization/invite-member", {"email": "mia@example.com", "role": "member"}, ada)
    post(base, "/api/auth/organization/accept-invitation", {"invitationId": invitation.json()["id"]}, mia)
    for name in ("Apollo", "Gemini"):
        r = httpx.post(
            f"{base}/api/projects",
            json={"name": name, "description": "A long description " * 5},
            headers={"origin": base},
            cookies=ada,
        )
        assert r.status_code == 201, r.text
        # Each project with a task and a milestone linked to it: record pages with children and links.
        project = r.json()["id"]
        r = httpx.post(
            f"{base}/api/tasks",
            json={"title": f"Plan {name}", "project_id": project},
            headers={"origin": base},
            cookies=ada,
        )
        assert r.status_code == 201, r.text
        body = {"name": f"{name} launch", "project_id": project, "tasks": [{"id": r.json()["id"]}]}
        r = httpx.post(f"{base}/api/milestones", json=body, headers={"origin": base}, cookies=ada)
        assert r.status_code == 201, r.text
    return {"ada": ada}


def overflow(page: Page) -> int:
    """How many pixels the page is wider than the screen (0: no sideways scrolling)."""
    sizes: list[int] = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    return sizes[0] - sizes[1]


def too_wide(page: Page) -> list[str]:
    """The innermost elements that reach past the right edge of the screen, for the failure message."""
    found: list[str] = page.evaluate(
        "(() => { const w = document.documentElement.clientWidth; const out = [];"
        " for (const e of document.querySelectorAll('body *')) {"
        "  const r = e.getBoundingClientRect(); if (r.right <= w + 1 || r.width === 0) continue;"
        "  if ([...e.children].some(c => c.getBoundingClientRect().right > w + 1)) continue;"
        "  out.push(e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ').join('.') : '')"
        "   + ' right=' + Math.round(r.right)); }"
        " return out.slice(0, 5); })()"
    )
    return found


def audit(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated by the browser's debugging protocol, which the page's policy does not govern
        # (the policy refuses inline scripts, as it should).
        page.evaluate(axe_source())
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => ({id: v.id, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
    )
    return [f"{v['id']}: {v['help']} at {v['nodes']}" for v in found]


def check_page(page: Page, url: str, problems: list[str], then: Callable[[Page], None] | None = None) -> None:
    """Load ``url`` (and do ``then``: open a dialog); check it at 360 px and audit it in both themes
    at desktop width."""
    page.set_viewport_size(NARROW)  # type: ignore[arg-type]
    response = page.goto(url)
    assert response is not None and response.status in (200, 404, 503), (url, response and response.status)
    if then is not None:
        then(page)
        url = f"{url} ({then.__doc__})"
    if (extra := overflow(page)) > 0:
        problems.append(f"{url}: {extra}px wider than a 360px screen: {too_wide(page)}")
    page.set_viewport_size(DESKTOP)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
        problems.extend(f"{url} ({scheme}): {v}" for v in audit(page))
    page.emulate_media(color_scheme="light")


def rows_of(page: Page, route: str) -> list[str]:
    """Links to the rows the list page of ``route`` shows."""
    hrefs: list[str] = page.eval_on_selector_all(
        f"main a[href^='/app/{route}/']", "links => links.map(a => a.getAttribute('href'))"
    )
    return [h for h in hrefs if re.fullmatch(rf"/app/{route}/[^/]+", h) and not h.endswith("/new")]


def app_pages(page: Page) -> list[str]:
    """Every page a signed-in admin of an organization can open: the dashboard, each entity's list,
    first row, its edit form and the new form, every settings tab, and a 404."""
    urls = ["/dashboard", "/no-such-page"]
    page.goto("/settings/account")
    urls += page.eval_on_selector_all(".settings-nav a", "links => links.map(a => a.getAttribute('href'))")
    for entity in frame_schema().entities.values():
        route = entity.route
        page.goto(f"/app/{route}")
        urls.append(f"/app/{route}")
        if page.locator(f"a[href='/app/{route}/new']").count():
            urls.append(f"/app/{route}/new")
        for row in rows_of(page, route)[:1]:
            urls.append(row)
            page.goto(row)
            if page.locator(f"a[href='{row}/edit']").count():
                urls.append(f"{row}/edit")
    return urls


@pytest.mark.slow(60)
def test_every_page_fits_a_phone_and_passes_axe(
    database_url: str, prepare_database: PrepareDatabase, browser: Browser
) -> None:
    with live_server(
        prepare_database,
        NO_VERIFICATION,
        schema=frame_schema(),
        before_start=lambda url: create_superuser(url, "root@example.com", PASSWORD, name="Root"),
    ) as base:
        people(base)
        j = Journey(base, screenshots(database_url, "frame"))
        problems: list[str] = []
        visitor = j.context(browser).new_page()
        for url in ("/", "/login", "/signup", "/forgot-password", "/verify-email?email=eve%40example.com", "/nope"):
            check_page(visitor, url, problems)

        ada = signed_in(j, browser, "ada@example.com")
        urls = app_pages(ada)
        assert "/settings/members" in urls and "/settings/audit" in urls and "/app/projects/new" in urls, urls
        assert "/settings/data" in urls and "/app/tasks" in urls and "/app/milestones" in urls, urls
        for url in urls:
            check_page(ada, url, problems)
        # What opens over a page: a project's add-child dialog (two on the page), the palette.
        ada.goto("/app/projects")
        project = rows_of(ada, "projects")[0]
        check_page(ada, project, problems, then=add_task)
        check_page(ada, "/dashboard", problems, then=open_palette)
        # The account deletion's confirmation (the e-mailed link's page), and the development
        # server's page for a broken schema, served as it is with its own policy.
        check_page(ada, "/settings/data/delete-account/confirm?token=not-sent", problems)
        serve_schema_error(ada, f"{base}/schema-error")
        check_page(ada, "/schema-error", problems)

        root = signed_in(j, browser, "root@example.com", lands_on=r"/(dashboard|organizations/new|welcome)?")
        root.goto("/admin")
        user_links = rows_of_admin(root)
        for url in ("/dashboard", "/admin", "/admin/organizations", *user_links[:1]):
            check_page(root, url, problems)
        assert problems == [], "\n".join(problems)


def add_task(page: Page) -> None:
    """the add-task dialog open"""
    page.get_by_role("button", name="Add task").click()
    expect(page.get_by_role("dialog", name="New task")).to_be_visible()
    # Each of the page's add dialogs has ids of its own: one field of each name per form.
    ids: list[str] = page.eval_on_selector_all("[id]", "els => els.map(e => e.id)")
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    expect(page.get_by_role("dialog", name="New task").get_by_label("Title")).to_be_visible()


def open_palette(page: Page) -> None:
    """the palette open"""
    page.keyboard.press("Control+K")
    palette = page.get_by_role("dialog", name="Command palette")
    expect(palette).to_be_visible()
    page.keyboard.type("Apo")
    expect(palette.get_by_role("option").first).to_be_visible()


def serve_schema_error(page: Page, url: str) -> None:
    """Answer ``url`` in this browser with the development server's schema-error page, headers
    (its content security policy) included."""
    app = schema_error_app(["schema.yaml:7: unknown icon 'foldr' for 'projects' in the menu"])

    async def fetch() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dev") as client:
            return await client.get("/", headers={"accept": "text/html"})

    with ThreadPoolExecutor(1) as pool:  # away from the browser driver's own event loop
        answer = pool.submit(asyncio.run, fetch()).result()
    assert answer.status_code == 503 and "content-security-policy" in answer.headers
    page.route(url, lambda route: route.fulfill(status=503, headers=dict(answer.headers), body=answer.text))


def rows_of_admin(page: Page) -> list[str]:
    hrefs: list[str] = page.eval_on_selector_all(
        "main a[href^='/admin/users/']", "links => links.map(a => a.getAttribute('href'))"
    )
    return hrefs


def signed_in(j: Journey, browser: Browser, email: str, lands_on: str = r"/dashboard$") -> Page:
    page = j.context(browser).new_page()
    page.goto("/login")
    log_in(page, email)
    expect(page).to_have_url(re.compile(lands_on))
    return page


# -- the frame itself -----------------------------------------------------------------------------


def shoot(j: Journey, page: Page, name: str, docs: bool) -> None:
    """A screenshot of what the window shows, kept for the README when asked to."""
    path = j.shots / f"{name}.png"
    capture(page, path=path, animations="disabled")
    if docs:
        shutil.copyfile(path, ROOT / "docs" / "screenshots" / f"{name}.png")


@pytest.mark.slow(20)
def test_sidebar_drawer_and_user_menu(database_url: str, prepare_database: PrepareDatabase, browser: Browser) -> None:
    docs = bool(os.environ.get("TENANTRY_UPDATE_DOCS_SCREENSHOTS")) and database_url.startswith("sqlite")
    with live_server(prepare_database, NO_VERIFICATION, schema=frame_schema()) as base:
        people(base)
        j = Journey(base, screenshots(database_url, "frame"))
        context = j.context(browser)
        page = context.new_page()
        favicons: list[int] = []
        page.on("response", lambda r: favicons.append(r.status) if "favicon" in r.url else None)
        page.goto("/login")
        expect(page).to_have_title(re.compile(r"Orbit$"))
        shoot(j, page, "login-methods", docs)
        log_in(page, "ada@example.com")
        expect(page).to_have_url(re.compile(r"/dashboard$"))

        # The sidebar: the app's name, the organization, the schema's menu; no system tables.
        sidebar = page.get_by_role("complementary", name="Sidebar")
        expect(sidebar.get_by_role("link", name="Orbit")).to_be_visible()
        expect(sidebar.get_by_label("Organization")).to_have_value(re.compile(".+"))
        main_nav = sidebar.get_by_role("navigation", name="Main")
        expect(main_nav.get_by_role("link")).to_have_text(["Dashboard", "Projects"])
        for system in ("Organizations", "Users", "Subscriptions", "Audit logs"):
            expect(sidebar.get_by_role("link", name=system, exact=True)).to_have_count(0)
        main_nav.get_by_role("link", name="Projects").click()
        expect(main_nav.get_by_role("link", name="Projects")).to_have_attribute("aria-current", "page")
        assert favicons and all(s == 200 for s in favicons), favicons
        icon = page.request.get("/favicon.ico")
        assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml")

        # The user menu: initials, name and e-mail, sign out.
        page.goto("/dashboard")
        menu = page.locator(".user-menu > summary", has_text="Ada Admin")  # a disclosure, not a button role
        expect(menu.locator(".avatar")).to_have_text("AA")
        menu.click()
        expect(page.get_by_text("ada@example.com", exact=True)).to_be_visible()
        shoot(j, page, "frame-desktop-light", docs)
        page.keyboard.press("Escape")
        expect(page.get_by_role("button", name="Sign out")).to_be_hidden()

        # Folded to icons on a wide screen, and still folded on the next page (a cookie).
        toggle = page.get_by_role("button", name="Menu", exact=True)
        expect(toggle).to_have_attribute("aria-expanded", "true")
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "false")
        page.goto("/app/projects")
        expect(page.locator("html.sidebar-collapsed")).to_have_count(1)
        expect(main_nav.get_by_role("link", name="Projects")).to_be_visible()  # its name kept for screen readers
        assert audit(page) == []
        # Folded, the organization is a button with its initials: it unfolds the sidebar onto the switcher.
        org_button = sidebar.get_by_role("button", name=re.compile(r"^Switch organization \(now Acme\)"))
        expect(org_button).to_contain_text("A")
        expect(sidebar.get_by_label("Organization")).to_be_hidden()
        org_button.click()
        expect(page.locator("html.sidebar-collapsed")).to_have_count(0)
        expect(sidebar.get_by_label("Organization")).to_be_focused()
        expect(org_button).to_be_hidden()
        page.reload()  # unfolded for good (the cookie)
        expect(page.locator("html.sidebar-collapsed")).to_have_count(0)

        # One organization switcher (the sidebar's) on the dashboard; the sidebar's Search opens the palette.
        page.goto("/dashboard")
        expect(page.locator("select[name=organization_id]")).to_have_count(1)
        search = sidebar.get_by_role("button", name="Search")
        expect(search).to_have_attribute("aria-keyshortcuts", "Control+K Meta+K")
        expect(search).to_contain_text("Ctrl K")
        search.click()
        expect(page.get_by_role("dialog", name="Command palette")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.get_by_role("dialog", name="Command palette")).to_be_hidden()

        page.emulate_media(color_scheme="dark")
        page.goto("/app/projects")
        shoot(j, page, "frame-desktop-dark", docs)
        page.emulate_media(color_scheme="light")

        # A phone: the sidebar is a drawer behind the menu button; Escape closes it.
        page.set_viewport_size(NARROW)  # type: ignore[arg-type]
        page.goto("/dashboard")
        expect(sidebar).to_be_hidden()
        toggle = page.get_by_role("button", name="Menu", exact=True)
        expect(toggle).to_have_attribute("aria-expanded", "false")
        toggle.click()
        expect(sidebar).to_be_visible()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(sidebar.get_by_role("button", name="Close menu")).to_be_focused()
        shoot(j, page, "frame-phone-drawer-light", docs)
        assert audit(page) == []
        assert page.evaluate("document.querySelector('main').inert")  # the page behind takes no focus
        page.keyboard.press("Escape")
        expect(sidebar).to_be_hidden()
        expect(toggle).to_be_focused()
        toggle.click()
        sidebar.get_by_role("link", name="Projects").click()
        expect(page).to_have_url(re.compile(r"/app/projects$"))
        expect(sidebar).to_be_hidden()
        page.emulate_media(color_scheme="dark")
        shoot(j, page, "frame-phone-dark", docs)

        # Members on a phone: the role picker and "Remove" are on the screen.
        page.goto("/settings/members")
        assert overflow(page) <= 0, too_wide(page)
        mia = page.get_by_role("row").filter(has_text="mia@example.com")
        for control in (mia.get_by_label("Role of mia@example.com"), mia.get_by_role("button", name="Remove")):
            expect(control).to_be_visible()
            box = control.bounding_box()  # not pushed off the right edge (nor clipped by the table's frame)
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= NARROW["width"] - 8, box
        assert overflow(page) <= 0, too_wide(page)
        # The audit log on a phone: who did what, all within the screen.
        page.goto("/settings/audit")
        first = page.locator("table.audit tbody tr").first
        expect(first).to_contain_text("Ada Admin (ada@example.com)")
        box = page.locator("table.audit").bounding_box()
        assert box is not None and box["x"] + box["width"] <= NARROW["width"], box
        shoot(j, page, "audit-phone-dark", False)

        # The README's tour of the merged product, desktop and phone, light and dark.
        page.set_viewport_size(DESKTOP)
        page.emulate_media(color_scheme="light")
        page.goto("/app/projects")
        project = rows_of(page, "projects")[0]
        page.goto(project)
        expect(page.get_by_role("heading", name="Milestones")).to_be_visible()
        shoot(j, page, "record-children-light", docs)
        page.emulate_media(color_scheme="dark")
        page.goto("/app/tasks")
        shoot(j, page, "list-dark", docs)
        page.keyboard.press("Control+K")
        page.keyboard.type("Apollo")
        expect(page.get_by_role("dialog", name="Command palette").get_by_role("option").first).to_be_visible()
        shoot(j, page, "palette-dark", docs)
        page.keyboard.press("Escape")
        page.emulate_media(color_scheme="light")
        page.goto("/settings/data")
        shoot(j, page, "settings-data-light", docs)
        page.set_viewport_size(NARROW)  # type: ignore[arg-type]
        page.goto(project)
        page.get_by_role("heading", name="Tasks").scroll_into_view_if_needed()
        shoot(j, page, "record-children-phone-light", docs)
        # A new organization's dashboard: the first steps, none done yet (creating it makes it the active one).
        created = page.request.post(
            "/api/auth/organization/create", data={"name": "Zenith", "slug": "zenith"}, headers={"origin": base}
        )
        assert created.status == 200, created.text()
        page.goto("/dashboard")
        expect(page.get_by_role("heading", name="First steps")).to_be_visible()
        page.emulate_media(color_scheme="dark")
        shoot(j, page, "dashboard-checklist-phone-dark", docs)
        page.set_viewport_size(DESKTOP)
        page.emulate_media(color_scheme="light")
        shoot(j, page, "dashboard-checklist-light", docs)
        context.close()


# -- keyboard only ----------------------------------------------------------------------------


def tab_to(page: Page, name: str, limit: int = 60) -> None:
    """Press Tab until the focused element's text or label is ``name`` (fails after ``limit``)."""
    seen: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused: str = page.evaluate(
            "(() => { const e = document.activeElement; if (!e) return '';"
            " const label = e.labels && e.labels[0] ? e.labels[0].textContent : '';"
            " return (e.getAttribute('aria-label') || label || e.textContent || e.value || '').trim(); })()"
        )
        if " ".join(focused.split()).removesuffix(" *") == name:
            return
        seen.append(focused)
    raise AssertionError(f"Tab never reached {name!r}, only {seen}")


@pytest.mark.slow(15)
def test_keyboard_only_sign_in_create_edit_delete(
    database_url: str, prepare_database: PrepareDatabase, browser: Browser
) -> None:
    with live_server(prepare_database, NO_VERIFICATION, schema=frame_schema()) as base:
        people(base)
        context: BrowserContext = Journey(base, screenshots(database_url, "frame")).context(browser)
        page = context.new_page()
        page.goto("/login")
        tab_to(page, "E-mail")
        page.keyboard.type("ada@example.com")
        tab_to(page, "Password")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/dashboard$"))

        # Create: the menu's Projects, then New project, a name, Enter (the form sends itself).
        tab_to(page, "Projects")
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/app/projects$"))
        tab_to(page, "New project")
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/app/projects/new$"))
        tab_to(page, "Name")
        page.keyboard.type("Mercury")
        page.keyboard.press("Enter")
        expect(page.get_by_role("status").get_by_text("Project created.")).to_be_visible()
        expect(page.get_by_role("heading", name="Mercury")).to_be_visible()

        # Edit it: Edit, a new name, Enter.
        tab_to(page, "Edit")
        page.keyboard.press("Enter")
        expect(page.get_by_label("Name")).to_be_visible()
        tab_to(page, "Name")
        page.keyboard.press("Control+A")
        page.keyboard.type("Vostok")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Vostok")).to_be_visible()

        # Delete it: Delete, then the dialog's Delete.
        tab_to(page, "Delete")
        page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        tab_to(page, "Delete")
        page.keyboard.press("Enter")
        expect(page.get_by_role("status").get_by_text("Project deleted.")).to_be_visible()
        expect(page.get_by_role("link", name="Vostok")).to_have_count(0)

        # On a phone: the menu button opens the drawer, whose links Tab reaches next.
        page.set_viewport_size(NARROW)  # type: ignore[arg-type]
        page.goto("/dashboard")
        tab_to(page, "Menu")
        page.keyboard.press("Enter")
        expect(page.get_by_role("button", name="Close menu")).to_be_focused()
        tab_to(page, "Projects", limit=8)
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/app/projects$"))
        context.close()
