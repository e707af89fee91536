"""``/dashboard``: the active organization's main entity (the seed's projects) as cards with a
"New" dialog; creating and switching organizations."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.schema import Action, Entity
from tenantry.web.bridge import apply_cookies, call_auth
from tenantry.web.core import Viewer, Web, flash, page, redirect, safe_next
from tenantry.web.crud import Crud

CARDS = 60


def dashboard_entity(web: Web) -> Entity | None:
    """The schema's ``dashboard`` option, else its first organization-owned entity of its own."""
    named = web.schema.options.get("dashboard")
    if isinstance(named, str) and web.schema.entity(named) is not None:
        return web.schema.entity(named)
    return next((e for e in web.entities if e.tenant_field and e.system is None), None)


def dashboard_routes(web: Web, crud: Crud) -> list[BaseRoute]:
    runtime = web.runtime
    entity = dashboard_entity(web)

    async def dashboard(request: Request, viewer: Viewer) -> Response:
        if runtime.tenancy is not None and viewer.active is None:
            return web.render(request, "no_organization.html", viewer)
        rows: list[dict[str, object]] = []
        widgets = []
        can_create = False
        if entity is not None and crud.can(viewer, entity, Action.READ):
            query = crud.parser.parse_list(entity, [("limit", str(CARDS))])
            rows = (await runtime.pipeline.list_rows(viewer.ctx, entity, query)).data
            can_create = crud.can(viewer, entity, Action.CREATE)
            if can_create:
                widgets = await crud.widgets(viewer, entity, {}, {}, creating=True)
        description = next((f.name for f in entity.fields if f.name == "description"), None) if entity else None
        return web.render(
            request,
            "dashboard.html",
            viewer,
            entity=entity,
            rows=rows,
            widgets=widgets,
            can_create=can_create,
            description=description,
            created=entity.created_at_field if entity else None,
            title_of=crud.title_of,
        )

    async def create_organization(request: Request, viewer: Viewer) -> Response:
        form = await web.form(request)
        name = form.get("name", "").strip()
        if not name:
            return web.render(request, "no_organization.html", viewer, status=400, error="Enter a name.")
        outcome = await call_auth(runtime, request, "POST", "/organization/create", {"name": name})
        if not outcome.ok:
            return web.render(request, "no_organization.html", viewer, status=400, error=outcome.message)
        return flash(apply_cookies(runtime, outcome, redirect("/dashboard")), f"{name} created.")

    async def switch_organization(request: Request, viewer: Viewer) -> Response:
        form = await web.form(request)
        body = {"organizationId": form.get("organization_id", "")}
        outcome = await call_auth(runtime, request, "POST", "/organization/set-active", body)
        if not outcome.ok:
            return flash(redirect("/dashboard"), outcome.message, "error")
        name = outcome.body.get("name") if isinstance(outcome.body, dict) else None
        back = request.headers.get("referer", "")
        path = "/" + back.split("://", 1)[-1].split("/", 1)[-1] if "://" in back else "/dashboard"
        # Rows of the previous organization are gone from view: a detail page would 404, so go to its list.
        target = safe_next("/".join(path.split("/")[:3]) if path.startswith("/app/") else path)
        response = apply_cookies(runtime, outcome, redirect(target))
        return flash(response, f"Switched to {name}." if name else "Organization switched.")

    return [
        Route("/dashboard", page(web, signed_in=True)(dashboard), methods=["GET"]),
        Route("/organizations/new", page(web, signed_in=True)(create_organization), methods=["POST"]),
        Route("/organizations/switch", page(web, signed_in=True)(switch_organization), methods=["POST"]),
    ]
