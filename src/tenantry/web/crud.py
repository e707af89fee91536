"""Generated pages for every entity: list (sort, filter, search, pages), detail, create, edit, delete.

Everything goes through the pipeline with the viewer's context, so the role policy, the tenant
scope and validation are the API's own; the pages only leave out what the role may not do.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.db.query import Join
from tenantry.errors import ApiError
from tenantry.querystring import QueryParser
from tenantry.schema import Action, Entity, Field, FieldType, Relation
from tenantry.web.core import Refused, Viewer, Web, flash, page, redirect, safe_next
from tenantry.web.filters import conditions as filter_conditions
from tenantry.web.filters import controls as filter_controls
from tenantry.web.forms import (
    Widget,
    editable_fields,
    field_errors,
    label_of,
    link_ids,
    links_widget,
    parse_form,
    widget,
)
from tenantry.web.frame import filled_by_system
from tenantry.web.records import Records, plural, title_of

PAGE_SIZE = 20
FORM_PREFIX = re.compile(r"[a-z0-9_-]{1,80}")
REFERENCE_CHOICES = 200
LIST_COLUMNS = 6


def form_prefix(posted: str | None) -> str:
    """The id prefix a form posted back (its ids kept when it returns with errors), if well formed."""
    return posted if posted and FORM_PREFIX.fullmatch(posted) else ""


class Crud:
    """Entity pages of one app, and the helpers the dashboard shares."""

    def __init__(self, web: Web) -> None:
        self.web = web
        self.runtime = web.runtime
        self.pipeline = web.runtime.pipeline
        self.by_route = web.schema.by_route()
        self.parser = QueryParser(web.schema, web.runtime.settings.max_limit)
        self.records = Records(web.schema, self.pipeline, self.parser)

    # -- permissions --------------------------------------------------------------------------

    def can(self, viewer: Viewer, entity: Entity, action: Action, row: dict[str, Any] | None = None) -> bool:
        """Whether to offer ``action``: the policy's answer, and for owner-only grants, the row's owner."""
        try:
            grant = self.pipeline.policy.authorize(viewer.ctx, entity, action)
        except ApiError:
            return False
        if grant.own_only and row is not None and entity.owner_field:
            return str(row.get(entity.owner_field)) == str(viewer.ctx.principal.user_id)
        return True

    def readable(self, viewer: Viewer) -> list[Entity]:
        return [e for e in self.web.entities if self.can(viewer, e, Action.READ)]

    def entity(self, request: Request) -> Entity:
        entity = self.by_route.get(request.path_params["entity"].lower())
        if entity is None:
            raise Refused(404, "There is no such page.")
        return entity

    # -- shaping ------------------------------------------------------------------------------

    title_of = staticmethod(title_of)

    @staticmethod
    def columns(entity: Entity) -> list[Field]:
        shown = [
            f for f in entity.fields if f.type not in (FieldType.TEXT, FieldType.JSON) and f.name != entity.tenant_field
        ]
        title = entity.display.title_field if entity.display else None
        shown.sort(key=lambda f: f.name != title)
        return shown[:LIST_COLUMNS]

    async def choices(self, viewer: Viewer, f: Field) -> list[tuple[str, str]]:
        """Rows of a referenced entity the viewer can see (its own organization's), as select options."""
        target = self.web.schema.entity(f.references or "")
        if target is None:
            return []
        return await self.choices_of(viewer, target)

    async def choices_of(self, viewer: Viewer, target: Entity) -> list[tuple[str, str]]:
        """Rows of ``target`` the viewer can see, as options: ``(id, title)``."""
        try:
            query = self.parser.parse_list(target, [("limit", str(REFERENCE_CHOICES))])
            rows = (await self.pipeline.list_rows(viewer.ctx, target, query)).data
        except ApiError:
            return []
        return [(str(r["id"]), self.title_of(target, r)) for r in rows]

    def linked(self, viewer: Viewer, entity: Entity) -> list[tuple[Relation, Entity]]:
        """The entity's many-to-many relations whose rows the viewer may read, with their targets."""
        out = []
        for rel in entity.relations:
            target = self.web.schema.entities.get(rel.target)
            if rel.link is not None and target is not None and self.can(viewer, target, Action.READ):
                out.append((rel, target))
        return out

    async def row_with_links(self, viewer: Viewer, entity: Entity, row_id: Any) -> dict[str, Any]:
        """One row, with the rows its many-to-many relations link it to (those the viewer may read)."""
        joins: tuple[Join, ...] = ()
        if linked := self.linked(viewer, entity):
            joins = self.parser.parse_read(entity, [("join", rel.name) for rel, _ in linked])[1]
        return await self.pipeline.get_row(viewer.ctx, entity, row_id, joins=joins)

    async def widgets(
        self, viewer: Viewer, entity: Entity, values: dict[str, Any], errors: dict[str, str], *, creating: bool
    ) -> list[Widget]:
        out = []
        for f in editable_fields(entity, creating=creating):
            options = await self.choices(viewer, f) if f.references else None
            w = widget(f, values.get(f.name, f.default if creating and f.has_default else None), options)
            w.error = errors.get(f.name)
            out.append(w)
        for rel, target in self.linked(viewer, entity):
            w = links_widget(rel.name, link_ids(values.get(rel.name)), await self.choices_of(viewer, target))
            w.error = errors.get(rel.name)
            out.append(w)
        return out

    # -- list ---------------------------------------------------------------------------------

    def list_params(self, entity: Entity, request: Request) -> tuple[list[tuple[str, str]], dict[str, Any]]:
        """The query language's parameters for the list page's controls, and the controls' state."""
        qp = request.query_params
        state: dict[str, Any] = {"q": qp.get("q", ""), "filters": {}, "sort": qp.get("sort", ""), "page": 1}
        params: list[tuple[str, str]] = [("limit", str(PAGE_SIZE))]
        page_raw = qp.get("page", "1")
        state["page"] = int(page_raw) if page_raw.isdigit() and int(page_raw) > 0 else 1
        params.append(("page", str(state["page"])))
        field_name, _, direction = state["sort"].partition(",")
        if entity.field(field_name) is not None or field_name == "id":
            params.append(("sort", f"{field_name},{'DESC' if direction.upper() == 'DESC' else 'ASC'}"))
        search, state["filters"] = filter_conditions(entity, qp)
        if state["q"]:
            textual = [f.name for f in entity.fields if f.type in (FieldType.STRING, FieldType.TEXT)]
            if textual:
                search.append({"$or": [{name: {"$contL": state["q"]}} for name in textual]})
        if search:
            params.append(("s", orjson.dumps({"$and": search}).decode()))
        return params, state

    async def list_page(self, request: Request, viewer: Viewer) -> Response:
        entity = self.entity(request)
        if entity.system == "audit_logs":
            return redirect("/settings/audit")  # the audit log has one page, with names and filters
        params, state = self.list_params(entity, request)
        query = self.parser.parse_list(entity, params)
        result = await self.pipeline.list_rows(viewer.ctx, entity, query)
        columns = self.columns(entity)

        def link(**changes: Any) -> str:
            current = {k: v for k, v in request.query_params.items() if v}
            current.update({k: str(v) for k, v in changes.items()})
            return f"/app/{entity.route}?{urlencode({k: v for k, v in current.items() if v})}"

        return self.web.render(
            request,
            "crud_list.html",
            viewer,
            entity=entity,
            rows=result.data,
            total=result.total,
            page_count=result.page_count,
            state=state,
            columns=columns,
            links=await self.records.links(viewer, entity, result.data, columns),
            filters=await filter_controls(entity, state["filters"], label_of, partial(self.choices, viewer)),
            link=link,
            title_of=self.title_of,
            label_of=label_of,
            can_create=self.can(viewer, entity, Action.CREATE) and not filled_by_system(entity),
        )

    # -- one row ------------------------------------------------------------------------------

    async def detail_page(self, request: Request, viewer: Viewer) -> Response:
        entity = self.entity(request)
        row = await self.row_with_links(viewer, entity, request.path_params["id"])
        children = await self.records.children(viewer, entity, row, self.can)
        for c in children:
            if c.new_href is not None:
                # "Add" opens the child's form in place, the reference to this row already chosen.
                c.widgets = await self.widgets(viewer, c.entity, {c.field.name: row["id"]}, {}, creating=True)
        return self.web.render(
            request,
            "crud_detail.html",
            viewer,
            entity=entity,
            row=row,
            fields=entity.fields,
            title=self.title_of(entity, row),
            label_of=label_of,
            links=await self.records.links(viewer, entity, [row], list(entity.fields)),
            linked=[(rel, target, row.get(rel.name) or []) for rel, target in self.linked(viewer, entity)],
            children=children,
            title_of=self.title_of,
            can_update=self.can(viewer, entity, Action.UPDATE, row),
            can_delete=self.can(viewer, entity, Action.DELETE, row),
        )

    async def form_page(self, request: Request, viewer: Viewer) -> Response:
        entity = self.entity(request)
        row_id = request.path_params.get("id")
        creating = row_id is None
        row = None if creating else await self.row_with_links(viewer, entity, row_id)
        action = Action.CREATE if creating else Action.UPDATE
        if creating and filled_by_system(entity):
            raise Refused(403, f"{entity.display.plural if entity.display else entity.name} are created by the app.")
        if not self.can(viewer, entity, action, row):
            raise Refused(403, f"Your role may not {action.value} this.")
        next_url = safe_next(request.query_params.get("next"), "")
        if request.method == "GET":
            # A new row may come with values filled in (a child added from its parent's page).
            preset = {k: v for k, v in request.query_params.items() if creating and entity.field(k) is not None}
            return await self.render_form(request, viewer, entity, row, row or preset, {}, next_url=next_url)
        form = await self.web.form(request)
        next_url = safe_next(form.get("next"), "")
        body = parse_form(editable_fields(entity, creating=creating), form, creating=creating)
        # Many-to-many: the rows chosen in a multiple select, as the API takes them. Editing, the
        # set replaces the links (none chosen: none kept); creating, an empty choice links nothing.
        chosen = await request.form()  # parsed once by Starlette: the same form, with repeated names
        picked: dict[str, list[str]] = {}
        for rel, _ in self.linked(viewer, entity):
            picked[rel.name] = [v for v in chosen.getlist(rel.name) if isinstance(v, str) and v]
            if picked[rel.name] or not creating:
                body[rel.name] = [{"id": v} for v in picked[rel.name]]
        try:
            if creating:
                saved = await self.pipeline.create_row(viewer.ctx, entity, body)
            else:
                saved = await self.pipeline.update_row(viewer.ctx, entity, row_id, body)
        except ApiError as exc:
            # 402: the plan refuses it (a limit reached, read-only); the form says so, with a way to upgrade.
            if exc.status not in (400, 402, 409, 422):
                raise
            errors = field_errors(exc)
            general = None if errors else (exc.message if isinstance(exc.message, str) else "; ".join(exc.message))
            values = {**(row or {}), **form, **picked}
            return await self.render_form(
                request,
                viewer,
                entity,
                row,
                values,
                errors,
                general=general,
                status=exc.status,
                next_url=next_url,
                in_dialog=bool(form.get("dialog")),
                upgrade=exc.status == 402,
                prefix=form_prefix(form.get("form_id")),
            )
        singular = entity.display.singular if entity.display else entity.name
        target = next_url or f"/app/{entity.route}/{saved['id']}"
        done = f"{singular} {'created' if creating else 'saved'}."
        if request.headers.get("hx-request"):
            # Sent by htmx (the form in a dialog): it navigates on this header instead of following a redirect.
            return flash(Response(status_code=200, headers={"hx-redirect": target}), done)
        return flash(redirect(target), done)

    async def render_form(
        self,
        request: Request,
        viewer: Viewer,
        entity: Entity,
        row: dict[str, Any] | None,
        values: dict[str, Any],
        errors: dict[str, str],
        *,
        general: str | None = None,
        status: int = 200,
        next_url: str = "",
        in_dialog: bool = False,
        upgrade: bool = False,
        prefix: str = "",
    ) -> Response:
        creating = row is None
        cancel = next_url or f"/app/{entity.route}" + ("" if row is None else f"/{row['id']}")
        return self.web.render(
            request,
            "crud_form.html",
            viewer,
            status=status,
            entity=entity,
            row=row,
            widgets=await self.widgets(viewer, entity, values, errors, creating=creating),
            error=general,
            title=None if row is None else self.title_of(entity, row),
            action=f"/app/{entity.route}/new" if row is None else f"/app/{entity.route}/{row['id']}/edit",
            next_url=next_url,
            cancel_url=cancel,
            in_dialog=in_dialog,
            upgrade=upgrade,
            prefix=prefix,
            plural=plural(entity),
        )

    async def delete(self, request: Request, viewer: Viewer) -> Response:
        entity = self.entity(request)
        form = await self.web.form(request)
        await self.pipeline.delete_row(viewer.ctx, entity, request.path_params["id"])
        singular = entity.display.singular if entity.display else entity.name
        return flash(redirect(safe_next(form.get("next"), f"/app/{entity.route}")), f"{singular} deleted.")

    def routes(self) -> list[BaseRoute]:
        web = self.web
        return [
            Route("/app/{entity}", page(web, signed_in=True)(self.list_page), methods=["GET"]),
            Route("/app/{entity}/new", page(web, signed_in=True)(self.form_page), methods=["GET", "POST"]),
            Route("/app/{entity}/{id}", page(web, signed_in=True)(self.detail_page), methods=["GET"]),
            Route("/app/{entity}/{id}/edit", page(web, signed_in=True)(self.form_page), methods=["GET", "POST"]),
            Route("/app/{entity}/{id}/delete", page(web, signed_in=True)(self.delete), methods=["POST"]),
        ]
