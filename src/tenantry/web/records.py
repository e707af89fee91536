"""What record pages show beside a row's own values: the titles of the rows it refers to (one query
per referenced entity for a whole list, never one per row), the rows that refer to it (a project's
tasks), and the trail of links above it. Every read goes through the pipeline with the viewer's
context, so a reference the viewer may not see is shown as missing, never leaked."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from tenantry.errors import ApiError
from tenantry.pipeline import Pipeline
from tenantry.querystring import QueryParser
from tenantry.schema import Action, Entity, Field, Schema
from tenantry.web.core import Viewer

CHILDREN_SHOWN = 10

Title = Callable[[Entity, dict[str, Any]], str]
Can = Callable[[Viewer, Entity, Action], bool]


@dataclass
class Link:
    """A row of another entity as a page shows it: its address and its title."""

    href: str
    text: str


@dataclass
class Children:
    """The rows of ``entity`` whose ``field`` points at the page's row: the first few, their count,
    where to see them all, and the address of a new one with the parent filled in."""

    entity: Entity
    field: Field
    rows: list[dict[str, Any]]
    total: int
    all_href: str
    new_href: str | None
    qualified: bool = False  # named by its field too: the child refers to the parent more than once
    widgets: list[Any] = dataclasses.field(default_factory=list)  # the new child's form, the parent filled in
    here: str = ""  # the parent's page, where the new child's form returns to


def title_fields(entity: Entity) -> tuple[str, ...]:
    """The fields ``title_of`` looks in, in its order: the title field, else a name, title or e-mail."""
    name = entity.display.title_field if entity.display else None
    return tuple(key for key in (name, "name", "title", "email") if key)


def title_of(entity: Entity, row: dict[str, Any]) -> str:
    """The words a row is known by: its title field, else a name, title or e-mail, else its id."""
    for key in title_fields(entity):
        if row.get(key) not in (None, ""):
            return str(row[key])
    return str(row.get("id", ""))


def plural(entity: Entity) -> str:
    return entity.display.plural if entity.display else entity.name


def singular(entity: Entity) -> str:
    return entity.display.singular if entity.display else entity.name


class Records:
    """Reference titles and children for the pages of one app."""

    def __init__(self, schema: Schema, pipeline: Pipeline, parser: QueryParser) -> None:
        self.schema = schema
        self.pipeline = pipeline
        self.parser = parser

    async def _rows_by_id(self, viewer: Viewer, target: Entity, ids: set[str]) -> dict[str, dict[str, Any]]:
        """The rows of ``target`` with these ids that the viewer may read, in one query."""
        if not ids:
            return {}
        search = orjson.dumps({"id": {"$in": sorted(ids)}}).decode()
        try:
            query = self.parser.parse_list(target, [("s", search), ("limit", str(len(ids)))])
            rows = (await self.pipeline.list_rows(viewer.ctx, target, query)).data
        except ApiError:
            return {}  # a role that may not read the target sees the bare value
        return {str(r["id"]): r for r in rows}

    async def links(
        self, viewer: Viewer, entity: Entity, rows: list[dict[str, Any]], fields: list[Field]
    ) -> dict[str, dict[str, Link]]:
        """For each reference field of ``fields``: ``{value: Link}`` for the values ``rows`` hold."""
        out: dict[str, dict[str, Link]] = {}
        for f in fields:
            target = self.schema.entity(f.references) if f.references else None
            if target is None:
                continue
            ids = {str(r[f.name]) for r in rows if r.get(f.name) is not None}
            found = await self._rows_by_id(viewer, target, ids)
            out[f.name] = {
                key: Link(f"/app/{target.route}/{row['id']}", title_of(target, row)) for key, row in found.items()
            }
        return out

    def child_fields(self, entity: Entity) -> list[tuple[Entity, Field]]:
        """Entities with a reference to ``entity`` (not through their organization column: an
        organization's page is not a list of everything it owns)."""
        out = []
        for other in self.schema.entities.values():
            for f in other.fields:
                if f.references == entity.name and f.name != other.tenant_field:
                    out.append((other, f))
        return out

    async def children(self, viewer: Viewer, entity: Entity, row: dict[str, Any], can: Can) -> list[Children]:
        """The rows pointing at ``row``, per entity and field the viewer may read."""
        out = []
        pairs = self.child_fields(entity)
        for child, f in pairs:
            if not can(viewer, child, Action.READ):
                continue
            search = orjson.dumps({f.name: {"$eq": row["id"]}}).decode()
            params = [("s", search), ("limit", str(CHILDREN_SHOWN)), ("page", "1")]
            if child.created_at_field:
                params.append(("sort", f"{child.created_at_field},DESC"))
            try:
                page = await self.pipeline.list_rows(viewer.ctx, child, self.parser.parse_list(child, params))
            except ApiError:
                continue
            here = f"/app/{entity.route}/{row['id']}"
            new_href = None
            # Added in place only where a person chooses the parent: not through the owner column,
            # which the server fills with whoever creates the row.
            if f.name != child.owner_field and not f.auto and can(viewer, child, Action.CREATE):
                new_href = f"/app/{child.route}/new?{f.name}={row['id']}&next={here}"
            out.append(
                Children(
                    child,
                    f,
                    page.data,
                    page.total,
                    f"/app/{child.route}?f_{f.name}={row['id']}",
                    new_href,
                    sum(1 for other, _ in pairs if other is child) > 1,
                    here=here,
                )
            )
        return out
