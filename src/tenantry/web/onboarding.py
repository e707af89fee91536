"""What the dashboard shows around an organization's records: how much it holds (one count per
entity, linked to its list) and, for a new organization's admins, the first steps, each ticked
from the organization's real data (a teammate invited or joined, a first record, a plan chosen)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tenantry.billing.plans import LIVE_STATUSES
from tenantry.errors import ApiError
from tenantry.schema import Entity
from tenantry.web.billing_page import billing_enabled
from tenantry.web.core import Viewer, Web
from tenantry.web.crud import Crud
from tenantry.web.records import plural, singular


@dataclass
class Step:
    """One step of the checklist: what to do, where, and whether the data shows it done."""

    text: str
    href: str
    done: bool


@dataclass
class Stat:
    """One count on the dashboard."""

    label: str
    count: int
    href: str


@dataclass(frozen=True)
class Members:
    """The viewer's active organization's members: how many, and whether an invitation waits (only
    read for a viewer who may invite; False for others)."""

    count: int
    invitation_waiting: bool


async def members_total(web: Web, viewer: Viewer) -> Members | None:
    """The viewer's active organization's ``Members`` (None: the app has no organizations, or the
    viewer has none active). Read once per page, in one statement: the counts and the checklist
    both show it."""
    tenancy = web.runtime.tenancy
    if tenancy is None or viewer.active is None:
        return None
    count, waiting = await tenancy.organizations.active_members(viewer.current, viewer.role)
    return Members(count, waiting)


async def stats(web: Web, crud: Crud, viewer: Viewer, members: Members | None, known: Mapping[str, int]) -> list[Stat]:
    """How many rows of each of the organization's own entities the viewer may read, and ``members``
    (``members_total``). ``known``: counts the page has already read, by entity name (not read again)."""
    out = []
    for e in crud.readable(viewer):
        if e.system is not None or not e.tenant_field:
            continue
        total = known.get(e.name)
        if total is None:
            # Only its total is shown: one row of its id alone comes back with it.
            query = crud.parser.parse_list(e, [("limit", "1"), ("page", "1"), ("fields", "id")])
            try:
                page = await web.runtime.pipeline.list_rows(viewer.ctx, e, query)
            except ApiError:
                continue
            total = page.total
        out.append(Stat(plural(e), total, f"/app/{e.route}"))
    if members is not None:
        out.append(Stat("Members", members.count, "/settings/members"))
    return out


async def checklist(
    web: Web, viewer: Viewer, entity: Entity | None, has_rows: bool, members: Members | None
) -> list[Step]:
    """The first steps of a new organization, for its admins (the top role); empty for others.
    ``members``: ``members_total``."""
    tenancy = web.runtime.tenancy
    roles = web.schema.roles
    if tenancy is None or members is None or not roles or viewer.role != roles[0]:
        return []
    # Done once someone joined, or while an invitation waits.
    teammate = members.count > 1 or members.invitation_waiting
    steps = [Step("Invite a teammate", "/settings/members#invite-email", teammate)]
    if entity is not None:
        steps.append(Step(f"Create your first {singular(entity).lower()}", f"/app/{entity.route}/new", has_rows))
    billing = web.runtime.billing
    if billing is not None and billing_enabled(web):
        try:
            status = (await billing.summary(viewer.ctx))["status"]
        except ApiError:
            status = None
        steps.append(Step("Choose a plan", "/settings/billing", status in LIVE_STATUSES))
    return steps
