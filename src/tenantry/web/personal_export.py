"""What "download my data" holds: a person's account, memberships, credentials' metadata, the
records they created in every organization they belong to, and the audit entries of what they did.

Each organization's records are read through the pipeline as the person acting in that
organization with their role there, so the export holds exactly what they could still page
through after switching to it: an organization that refuses them (one requiring two-factor of a
person without it) gives nothing, and another person's rows are never read. Secrets never enter:
sessions lose their tokens, credentials are read through their plugin's ``personal_data`` hook
(which leaves out hashes and key material), and the profile is a fixed list of fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request

from tenantry.auth.errors import AuthError
from tenantry.auth.store import TWO_FACTOR_ATTRIBUTE
from tenantry.context import SYSTEM_CONTEXT, RequestContext
from tenantry.errors import ApiError
from tenantry.schema import Action, Entity
from tenantry.web.core import Viewer, Web
from tenantry.web.crud import Crud
from tenantry.web.export import Exporter, Part, listed, without_tokens


def _created(entity: Entity) -> bool:
    """An entity whose rows name who created them (system tables are exported apart)."""
    return entity.owner_field is not None and entity.system is None


async def _audit_entries(web: Web, exporter: Exporter, viewer: Viewer) -> AsyncIterator[dict[str, Any]]:
    """The audit log's rows with the person as the actor, in every organization (the log's values
    are redacted when written: no secret is in it)."""
    entity = web.schema.system_entity("audit_logs")
    tables = web.runtime.tables.extensions.get("audit")
    if entity is None or tables is None:
        return
    actor = tables.columns["user_id"]
    search = orjson.dumps({actor: {"$eq": str(viewer.current.user.id)}}).decode()
    # The log is read by admins of one organization only: the person's own entries span all of
    # theirs, so the server reads them, filtered to the person.
    async for row in exporter.rows(viewer, entity, search, SYSTEM_CONTEXT):
        yield row


async def _as_member(web: Web, request: Request, viewer: Viewer, org: dict[str, Any], role: str) -> Viewer | None:
    """The viewer acting in ``org`` with ``role``, or None when the organization refuses them
    (the same checks as a request made after switching to it)."""
    principal = viewer.ctx.principal
    # What the session knows of two-factor is about its active organization: another one is asked.
    attributes = {k: v for k, v in principal.attributes.items() if k != TWO_FACTOR_ATTRIBUTE}
    principal = dataclasses.replace(principal, org_id=str(org["id"]), role=role, attributes=attributes)
    try:
        principal = await web.runtime.auth.checked(request, principal)
    except (ApiError, AuthError):
        return None
    ctx: RequestContext = dataclasses.replace(viewer.ctx, principal=principal)
    return dataclasses.replace(viewer, ctx=ctx, active=org)


async def personal_parts(
    web: Web, crud: Crud, exporter: Exporter, request: Request, viewer: Viewer, sessions: list[dict[str, Any]]
) -> list[Part]:
    """The files of the person's export after ``profile.json``. Everything that may refuse is
    decided here, before the first byte; the records themselves are read as the zip is written."""
    user_id = viewer.current.user.id
    tenancy = web.runtime.tenancy
    memberships: list[dict[str, Any]] = []
    members: list[tuple[dict[str, Any], Viewer]] = []
    for org in viewer.organizations:
        member = await tenancy.organizations.store.member(None, org["id"], user_id) if tenancy is not None else None
        if member is None:
            continue
        memberships.append({**org, "role": member["role"], "joined_at": member["created_at"]})
        as_member = await _as_member(web, request, viewer, org, member["role"])
        if as_member is not None:
            members.append((org, as_member))

    parts = [
        Part("organizations.jsonl", listed(memberships)),
        Part("sessions.jsonl", listed(without_tokens(sessions))),
    ]
    for personal_data in web.runtime.auth.ctx.hooks.personal_data:
        name, rows = await personal_data(user_id)
        parts.append(Part(name, listed(rows)))

    for entity in web.entities:
        # Records outside organizations (or an app without them), read as the request's principal.
        if _created(entity) and (tenancy is None or not entity.tenant_field) and crud.can(viewer, entity, Action.READ):
            parts.append(Part(f"{entity.route}.jsonl", exporter.owned(viewer, entity, viewer.ctx)))
    for org, as_member in members:
        folder = f"organizations/{org.get('slug') or org['id']}"
        for entity in web.entities:
            if _created(entity) and entity.tenant_field and crud.can(as_member, entity, Action.READ):
                parts.append(Part(f"{folder}/{entity.route}.jsonl", exporter.owned(as_member, entity, as_member.ctx)))

    parts.append(Part("audit_log.jsonl", _audit_entries(web, exporter, viewer)))
    return parts
