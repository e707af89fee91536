"""The command palette's search (``GET /palette/search?q=``): records of every entity the viewer may
read, matched on their title field, and the pages and actions the viewer may use.

Records are read through the pipeline with the viewer's context, so the role policy and the
tenant scope decide what is found, exactly as they decide what the lists show. ``static/palette.js``
opens the palette with Ctrl/Cmd-K and renders these results.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tenantry.errors import ApiError
from tenantry.schema import Action, Entity, FieldType
from tenantry.web.core import Viewer, Web, page
from tenantry.web.crud import Crud
from tenantry.web.records import plural, singular, title_of

PER_ENTITY = 5
MAX_QUERY = 100
TEXTUAL = (FieldType.STRING, FieldType.TEXT)


@dataclass
class Hit:
    """One line of the palette: what it is (``kind``), its words and where Enter takes the viewer."""

    kind: str
    label: str
    href: str


def searchable(entity: Entity) -> str | None:
    """The field the palette matches an entity's rows on: its title field, when it holds text
    (the audit log is searched on its own page, by its filters)."""
    title = entity.display.title_field if entity.display else None
    f = entity.field(title) if title else None
    if f is None or f.type not in TEXTUAL or entity.system == "audit_logs":
        return None
    return f.name


class Palette:
    """Search for the palette of one app."""

    def __init__(self, web: Web, crud: Crud) -> None:
        self.web = web
        self.crud = crud

    def places(self, viewer: Viewer) -> list[Hit]:
        """Pages and actions this viewer may use (what a role may not do is not offered)."""
        hits = [Hit("Page", "Dashboard", "/dashboard")]
        for e in self.crud.readable(viewer):
            hits.append(Hit("Page", plural(e), f"/app/{e.route}"))
        for e in self.web.entities:
            if e.system is None and self.crud.can(viewer, e, Action.CREATE):
                hits.append(Hit("Action", f"New {singular(e).lower()}", f"/app/{e.route}/new"))
        tenancy = self.web.runtime.tenancy
        if tenancy is not None and viewer.active is not None:
            hits += [
                Hit("Page", "Organization settings", "/settings/organization"),
                Hit("Page", "Members", "/settings/members"),
            ]
            if viewer.role and tenancy.organizations.allows(viewer.role, {"invitation": ["create"]}):
                hits.append(Hit("Action", "Invite a teammate", "/settings/members#invite-email"))
        hits += [
            Hit("Page", "Account settings", "/settings/account"),
            Hit("Page", "Your data", "/settings/data"),
            Hit("Action", "Download my data", "/settings/data/my-data.zip"),
        ]
        return hits

    async def records(self, viewer: Viewer, q: str) -> list[Hit]:
        """Rows whose title contains ``q`` (any case), a few per entity the viewer may read."""
        hits: list[Hit] = []
        for e in self.crud.readable(viewer):
            name = searchable(e)
            if name is None:
                continue
            params = [("s", orjson.dumps({name: {"$contL": q}}).decode()), ("limit", str(PER_ENTITY))]
            try:
                rows = (
                    await self.web.runtime.pipeline.list_rows(viewer.ctx, e, self.crud.parser.parse_list(e, params))
                ).data
            except ApiError:
                continue
            hits += [Hit(singular(e), title_of(e, r), f"/app/{e.route}/{r['id']}") for r in rows]
        return hits

    async def search(self, request: Request, viewer: Viewer) -> Response:
        q = request.query_params.get("q", "").strip()[:MAX_QUERY]
        words = q.lower()
        hits = [h for h in self.places(viewer) if words in h.label.lower()]
        if q:
            hits = await self.records(viewer, q) + hits
        return JSONResponse({"query": q, "results": [asdict(h) for h in hits]}, headers={"cache-control": "no-store"})

    def routes(self) -> list[BaseRoute]:
        return [Route("/palette/search", page(self.web, signed_in=True)(self.search), methods=["GET"])]
