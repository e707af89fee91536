"""Pages come from the schema: a new entity gets list, detail and form pages with widgets chosen
by field type, and a reference offers only rows of the viewer's own organization."""

from __future__ import annotations

import re

from tests.conftest import ClientFactory
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
  - notes: text (nullable)
  - done: boolean (default: false)
  - priority: enum(low, normal, high) (default: normal)
  - estimate: integer (nullable)
  - due_at: timestamp (nullable)
  - project_id: uuid (references projects, required)
  - org_id: uuid (references organizations, required)
  - created_at: timestamp (auto)
"""


async def test_widgets_by_field_type_and_references_within_the_organization(make_client: ClientFactory) -> None:
    async with make_client(SCHEMA) as client:
        await sign_up(client, "eve@example.com", org="Elsewhere")
        await log_in(client, "eve@example.com")
        r = await client.post("/app/projects/new", data={"name": "Not yours"}, headers=FORM)
        assert r.status_code == 303
        client.cookies.clear()
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com")
        r = await client.post("/app/projects/new", data={"name": "Apollo"}, headers=FORM)
        project_id = r.headers["location"].rsplit("/", 1)[1]

        form = (await client.get("/app/tasks/new")).text
        assert re.search(r'<textarea id="f-notes" name="notes"', form)
        assert re.search(r'<input id="f-done" type="checkbox" name="done"', form)
        assert re.search(r'<select id="f-priority" name="priority"', form) and ">high</option>" in form
        assert re.search(r'<input type="number" step="any" value="" id="f-estimate"', form)
        assert re.search(r'<input type="datetime-local" value="" id="f-due_at"', form)
        assert re.search(r'<select id="f-project_id" name="project_id"', form)
        assert f'<option value="{project_id}"' in form and ">Apollo</option>" in form
        assert "Not yours" not in form  # the other organization's project is not offered
        assert 'name="org_id"' not in form and 'name="created_at"' not in form  # set by the server

        bad = {"title": "Launch", "project_id": project_id, "estimate": "lots", "priority": "normal"}
        r = await client.post("/app/tasks/new", data=bad, headers=FORM)
        assert r.status_code == 400 and 'id="e-estimate" role="alert"' in r.text, r.text
        good = {
            "title": "Launch",
            "notes": "Check the weather",
            "done": "1",
            "priority": "high",
            "estimate": "3",
            "due_at": "2026-12-01T09:30",
            "project_id": project_id,
        }
        r = await client.post("/app/tasks/new", data=good, headers=FORM)
        assert r.status_code == 303, r.text
        detail = (await client.get(r.headers["location"])).text
        assert "Check the weather" in detail and "high" in detail and "2026-12-01 09:30" in detail
        assert f'<a href="/app/projects/{project_id}">Apollo</a>' in detail  # a reference shows its title
        edit = (await client.get(r.headers["location"] + "/edit")).text
        assert 'value="2026-12-01T09:30"' in edit and re.search(r'name="done" value="1" checked', edit)
        listing = (await client.get("/app/tasks?f_done=true&f_priority=high")).text
        assert "Launch" in listing
        assert "No tasks match" in (await client.get("/app/tasks?f_done=false")).text
        # A reference filters by a choice of the organization's rows; timestamps by a range of days.
        listing = (await client.get(f"/app/tasks?f_project_id={project_id}&f_due_at_from=2026-12-01")).text
        assert "Launch" in listing and re.search(rf'<option value="{project_id}" selected>Apollo</option>', listing)
        assert 'type="date" name="f_due_at_to"' in listing and "Not yours" not in listing
        assert "Launch" in (await client.get("/app/tasks?f_due_at_from=2026-12-01&f_due_at_to=2026-12-01")).text
        assert "No tasks match" in (await client.get("/app/tasks?f_due_at_from=2026-12-02")).text
        assert "No tasks match" in (await client.get("/app/tasks?f_due_at_to=2026-11-30")).text
        # A malformed date is ignored rather than refused.
        assert "Launch" in (await client.get("/app/tasks?f_due_at_from=someday")).text
        # Numbers filter by a range.
        assert 'type="number" step="any" inputmode="decimal" name="f_estimate_min"' in listing
        assert "Launch" in (await client.get("/app/tasks?f_estimate_min=3&f_estimate_max=3")).text
        assert "No tasks match" in (await client.get("/app/tasks?f_estimate_min=4")).text
        assert "No tasks match" in (await client.get("/app/tasks?f_estimate_max=2")).text
        assert "Launch" in (await client.get("/app/tasks?f_estimate_min=lots&f_estimate_max=1e999")).text
        assert (await client.get("/app/tasks?f_estimate_min=99999999999")).status_code < 500
        nav = (await client.get("/dashboard")).text
        assert 'href="/app/tasks"' in nav
