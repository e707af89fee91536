"""Project hooks: your code, run before and after actions on your entities.

Each function is ``async`` and decorated with ``@hook(entity, when)``, where ``when`` is one of
before_create, after_create, before_update, after_update, before_delete, after_delete, and
``entity`` is an entity name from schema.yaml (or "*" for every entity).

- ``before_*`` hooks run inside the same database transaction as the change, after the request was
  validated. They may change ``event.data`` (the values about to be written) or refuse the action
  with ``raise Deny("message")``; then nothing is written and the client gets a 400 with that message.
- ``after_*`` hooks run after the change is committed (``event.new`` / ``event.old`` hold the row as
  the API returns it). Use them for side effects; an error there is logged and never undoes the change.

Tenantry reloads this file in ``tenantry dev`` when you save it.
"""

from tenantry.hooks import Deny, HookEvent, hook
from tenantry.realtime import notify_user


@hook("organizations", "before_create")
async def normalize_slug(event: HookEvent) -> None:
    """Store slugs lower-case and trimmed, so "Acme" and "acme " cannot both exist."""
    slug = event.data.get("slug")
    if isinstance(slug, str):
        event.data["slug"] = slug.strip().lower()
        if not event.data["slug"]:
            raise Deny("slug must not be blank")


@hook("projects", "after_create")
async def notify_creator(event: HookEvent) -> None:
    """Tell a project's creator it was created (stored, and pushed to their sockets)."""
    project = event.new or {}
    if project.get("created_by"):
        await notify_user(
            project["created_by"],
            type="project_created",
            title="Project created",
            message=f"{project['name']} was created successfully",
            data={"project_id": project["id"]},
            org_id=project.get("org_id"),
        )
