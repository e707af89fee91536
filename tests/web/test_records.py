"""Record pages people read, over HTTP on SQLite and PostgreSQL: titles instead of ids, references
shown by their title and linked (a list's reference column in one query per referenced entity),
a parent's children with "add" in place, breadcrumbs, Cancel, relative times; and the command
palette's search, which finds only what the viewer's organization and role may read."""

from __future__ import annotations

import datetime as dt
import re
import time

import httpx

from tests.auth.helpers import BASE, NO_VERIFICATION, runtime, sql, ts
from tests.billing.helpers import SECRET, billing_schema, deliver, event, stripe, subscription_object
from tests.conftest import ClientFactory
from tests.tenancy.helpers import create_org, join, new_user
from tests.web.test_pages import FORM, log_in, sign_up

SCHEMA = """
organizations:
  - name: string (required)
  - slug: string (unique, required)
  - created_at: timestamp (auto)

users:
  - email: string (unique, required)
  - name: string

projects:
  - name: string (required)
  - org_id: uuid (references organizations, required)
  - created_at: timestamp (auto)

tasks:
  - title: string (required)
  - done: boolean (default: false)
  - project_id: uuid (references projects, required)
  - org_id: uuid (references organizations, required)
  - created_at: timestamp (auto)
"""


async def _create(client: httpx.AsyncClient, route: str, body: dict[str, str]) -> str:
    r = await client.post(f"/app/{route}/new", data=body, headers=FORM)
    assert r.status_code == 303, r.text
    return str(r.headers["location"].rsplit("/", 1)[1])


async def _statements(client: httpx.AsyncClient, path: str) -> int | None:
    """How many statements ``GET path`` sends to PostgreSQL (None on SQLite, which cannot tell)."""
    db = runtime(client).db
    listen = getattr(db, "listen_statements", None)
    if listen is None:
        return None
    seen: list[str] = []
    await listen(seen.append)
    assert (await client.get(path)).status_code == 200
    (await client.get("/palette/search?q=")).raise_for_status()  # asyncpg reports soon after: let it
    return len([s for s in seen if "tasks" in s or "projects" in s])


async def test_record_pages_read_like_a_product(make_client: ClientFactory) -> None:
    async with make_client(SCHEMA) as client:
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com")
        apollo = await _create(client, "projects", {"name": "Apollo"})
        gemini = await _create(client, "projects", {"name": "Gemini"})
        launch = await _create(client, "tasks", {"title": "Launch", "project_id": apollo})

        # The detail page leads with the title; the organization is named and linked, not "Org".
        detail = (await client.get(f"/app/tasks/{launch}")).text
        assert "<h1>Launch</h1>" in detail
        assert "<dt>Organization</dt>" in detail and "<dt>Org</dt>" not in detail
        assert re.search(r'<dd><a href="/app/organizations/[0-9a-f-]+">Acme</a></dd>', detail)
        assert f'<a href="/app/projects/{apollo}">Apollo</a>' in detail
        assert re.search(r'<time datetime="[0-9T:.-]+Z" title="[0-9: -]+ UTC" data-relative>just now</time>', detail)
        crumbs = re.search(r'<nav class="breadcrumbs" aria-label="Breadcrumb">(.*?)</nav>', detail, re.S)
        assert crumbs and 'href="/app/tasks">Tasks</a>' in crumbs.group(1) and '"page">Launch<' in crumbs.group(1)

        # The list has a Project column: the project's title, linked.
        listing = (await client.get("/app/tasks")).text
        assert re.search(r'<th scope="col"[^>]*>\s*<a [^>]*>Project</a>', listing)
        assert f'<a href="/app/projects/{apollo}">Apollo</a>' in listing

        # A project lists its tasks, with "add" in place: a form with the project chosen.
        page = (await client.get(f"/app/projects/{apollo}")).text
        assert f'<a href="/app/tasks/{launch}">Launch</a>' in page
        assert f'href="/app/tasks/new?project_id={apollo}&amp;next=/app/projects/{apollo}"' in page
        dialog = page[page.index('<dialog id="add-tasks-project_id"') :]
        assert re.search(rf'<option value="{apollo}" selected>Apollo</option>', dialog)
        assert "Launch" not in (await client.get(f"/app/projects/{gemini}")).text
        # The form page, with the parent preset; edit pages have Cancel.
        new = (await client.get(f"/app/tasks/new?project_id={apollo}&next=/app/projects/{apollo}")).text
        assert re.search(rf'<option value="{apollo}" selected>Apollo</option>', new)
        assert f'<a class="btn" href="/app/projects/{apollo}">Cancel</a>' in new
        edit = (await client.get(f"/app/tasks/{launch}/edit")).text
        assert f'<a class="btn" href="/app/tasks/{launch}">Cancel</a>' in edit

        # No query per row: ten more tasks on other projects cost the list no more statements.
        before = await _statements(client, "/app/tasks")
        for n in range(10):
            await _create(client, "tasks", {"title": f"Step {n}", "project_id": gemini if n % 2 else apollo})
        after = await _statements(client, "/app/tasks")
        assert before == after and (before is None or before >= 2), (before, after)

        # The add dialog's form has ids of its own (a parent may have several), kept when it comes
        # back with an error; a prefix that is not an id's is ignored.
        dialog_ids = re.findall(r'id="(add-tasks-project_id-[^"]+)"', page)
        assert "add-tasks-project_id-entity-form" in dialog_ids and "add-tasks-project_id-f-title" in dialog_ids
        assert 'id="f-title"' not in page
        body = {"title": "", "project_id": apollo, "dialog": "1", "form_id": "add-tasks-project_id-"}
        refused = await client.post("/app/tasks/new", data=body, headers=FORM)
        assert refused.status_code == 400
        assert 'id="add-tasks-project_id-entity-form"' in refused.text
        assert 'hx-select="#add-tasks-project_id-entity-form"' in refused.text
        assert 'aria-describedby="add-tasks-project_id-e-title"' in refused.text
        body["form_id"] = '"><script>'
        refused = await client.post("/app/tasks/new", data=body, headers=FORM)
        assert refused.status_code == 400 and 'id="entity-form"' in refused.text and "<script>" not in refused.text

        # Empty states say what to do next.
        empty = (await client.get("/app/tasks?q=nothing-like-this")).text
        assert "No tasks match" in empty and "Clear search and filters" in empty


async def test_palette_finds_only_what_the_viewer_may_read(make_client: ClientFactory) -> None:
    async with make_client(SCHEMA) as client:
        await sign_up(client, "eve@example.com", org="Elsewhere")
        await log_in(client, "eve@example.com")
        await _create(client, "projects", {"name": "Moonshot secret"})
        client.cookies.clear()
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com")
        mine = await _create(client, "projects", {"name": "Moonshot public"})
        task = await _create(client, "tasks", {"title": "Moon landing", "project_id": mine})

        r = await client.get("/palette/search?q=MOON")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        hits = r.json()["results"]
        labels = {(h["kind"], h["label"], h["href"]) for h in hits}
        assert ("Project", "Moonshot public", f"/app/projects/{mine}") in labels
        assert ("Task", "Moon landing", f"/app/tasks/{task}") in labels
        assert not any("secret" in h["label"] for h in hits)  # another organization's row
        # Pages and actions match too; without words, only they are listed.
        places = {h["label"] for h in (await client.get("/palette/search?q=")).json()["results"]}
        assert {"Dashboard", "Projects", "Tasks", "New task", "Members", "Invite a teammate", "Your data"} <= places
        assert [h["label"] for h in (await client.get("/palette/search?q=new+ta")).json()["results"]] == ["New task"]
        # Characters of the search language are only words here.
        assert (await client.get("/palette/search?q=%25_%22%7B")).json()["results"] == []
        # Signed out: no search, the sign-in page.
        client.cookies.clear()
        r = await client.get("/palette/search?q=moon")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_dashboard_counts_and_first_steps_ticked_from_data(make_client: ClientFactory) -> None:
    async with make_client() as client:
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com")
        dash = (await client.get("/dashboard")).text
        assert "First steps" in dash and "0 of 2 done" in dash
        assert '<a class="step" href="/settings/members#invite-email">Invite a teammate</a>' in dash
        assert '<a class="step" href="/app/projects/new">Create your first project</a>' in dash
        assert "No projects yet" in dash and 'href="/app/projects/new?next=/dashboard">New project</a>' in dash
        assert re.search(r'<p class="muted" style="margin:0">Projects</p><p class="stat">0</p>', dash)
        await _create(client, "projects", {"name": "Apollo", "status": "archived"})
        dash = (await client.get("/dashboard")).text
        assert "1 of 2 done" in dash and '<li class="done" data-step="2">' in dash
        assert '<span class="badge">archived</span>' in dash and "data-relative>just now</time>" in dash
        assert re.search(r'<p class="muted" style="margin:0">Projects</p><p class="stat">1</p>', dash)
        # A person's page lists the projects they created; none is added there (the creator is whoever adds it).
        project = re.search(r'href="(/app/projects/[0-9a-f-]{36})"', dash)
        assert project is not None
        creator = re.search(
            r'<dt>Created by</dt>\s*<dd><a href="(/app/users/[0-9a-f-]{36})">Ada</a>',
            (await client.get(project.group(1))).text,
        )
        assert creator is not None
        person = (await client.get(creator.group(1))).text
        assert f'<a href="{project.group(1)}">Apollo</a>' in person and "Add project" not in person
        r = await client.post(
            "/settings/members/invite", data={"email": "bo@example.com", "role": "member"}, headers=FORM
        )
        assert r.status_code == 303
        dash = (await client.get("/dashboard")).text
        assert "First steps" not in dash  # every step done: the checklist leaves


async def test_the_cards_times_are_relative_to_the_apps_clock(make_client: ClientFactory) -> None:
    ahead = dt.timedelta()

    def clock() -> dt.datetime:
        return dt.datetime.now(dt.UTC) + ahead

    async with make_client(clock=clock) as client:
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com")
        await _create(client, "projects", {"name": "Apollo", "description": "To the moon", "status": "archived"})
        dash = (await client.get("/dashboard")).text
        # A card reads only its columns (``card_fields``): each one it shows is there.
        card = '>Apollo</a></h3>\n<span class="badge">archived</span><p>To the moon</p><small class="muted">Created <'
        assert card in dash and "data-relative>just now</time>" in dash
        # Three hours later by the app's clock (the one the page reads once), not by the wall's.
        ahead = dt.timedelta(hours=3)
        dash = (await client.get("/dashboard")).text
        assert "data-relative>3 hours ago</time>" in dash and "just now" not in dash


async def test_a_waiting_invitation_ticks_the_first_step_until_it_expires(make_client: ClientFactory) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        admin = await new_user(client, "admin@example.com")
        await create_org(client, admin, "Acme", slug="acme")
        invited = await client.post(
            "/api/auth/organization/invite-member",
            json={"email": "bo@example.com", "role": "member"},
            headers=admin.headers,
        )
        assert invited.status_code == 200, invited.text
        dash = (await client.get("/dashboard", headers=admin.headers)).text
        assert '<li class="done" data-step="1">' in dash
        # Expired, it can no longer be accepted: nobody is on the way, the step is to do again.
        past = ts(client, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        await sql(client, "UPDATE org_invitations SET expires_at = ? WHERE id = ?", past, invited.json()["id"])
        dash = (await client.get("/dashboard", headers=admin.headers)).text
        assert '<a class="step" href="/settings/members#invite-email">Invite a teammate</a>' in dash


async def test_a_teammate_who_joined_ticks_the_first_step_and_is_counted(make_client: ClientFactory) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        admin = await new_user(client, "admin@example.com")
        org = await create_org(client, admin, "Acme", slug="acme")
        dash = (await client.get("/dashboard", headers=admin.headers)).text
        assert '<a class="step" href="/settings/members#invite-email">Invite a teammate</a>' in dash
        assert re.search(r'<p class="muted" style="margin:0">Members</p><p class="stat">1</p>', dash)
        # Joined through an invitation, which is no longer pending: the member count ticks the step.
        await join(client, admin, org, await new_user(client, "bo@example.com"), "member")
        dash = (await client.get("/dashboard", headers=admin.headers)).text
        assert '<li class="done" data-step="1">' in dash
        assert re.search(r'<p class="muted" style="margin:0">Members</p><p class="stat">2</p>', dash)


async def test_choosing_a_plan_is_a_step_ticked_by_the_subscription(make_client: ClientFactory) -> None:
    settings = {"auth": NO_VERIFICATION, "base_url": BASE, "billing": stripe(SECRET)}
    async with make_client(billing_schema(), **settings) as client:
        admin = await new_user(client, "admin@example.com")
        org = await create_org(client, admin, "Acme", slug="acme")
        dash = (await client.get("/dashboard", headers=admin.headers)).text
        assert '<a class="step" href="/settings/billing">Choose a plan</a>' in dash and "0 of 3 done" in dash
        now = int(time.time())
        paid = subscription_object(org["id"], status="active")
        assert (await deliver(client, event("customer.subscription.created", paid, now - 60))).status_code == 200
        dash = (await client.get("/dashboard", headers=admin.headers)).text
        assert '<li class="done" data-step="3">' in dash and "1 of 3 done" in dash
