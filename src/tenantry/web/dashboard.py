"""``/dashboard``: the active organization's main entity (the seed's projects) as cards with a
"New" dialog; creating and switching organizations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.auth.cookies import CookieChanges
from tenantry.auth.errors import AuthError
from tenantry.auth.service import Current
from tenantry.schema import Action, Entity, FieldType
from tenantry.tenancy import service as organizations
from tenantry.tenancy.service import OrganizationService
from tenantry.web.core import Refused, Viewer, Web, attempt, flash, page, redirect, refused_status, safe_next
from tenantry.web.crud import Crud
from tenantry.web.onboarding import checklist, members_total, stats
from tenantry.web.records import title_fields, title_of

if TYPE_CHECKING:
    from tenantry.web.services import Services

CARDS = 60


def dashboard_entity(web: Web) -> Entity | None:
    """The schema's ``dashboard`` option, else its first organization-owned entity of its own."""
    named = web.schema.options.get("dashboard")
    if isinstance(named, str) and web.schema.entity(named) is not None:
        return web.schema.entity(named)
    return next((e for e in web.entities if e.tenant_field and e.system is None), None)


def card_fields(entity: Entity, description: str | None, badge: str | None) -> str:
    """The columns a dashboard card shows, as a ``fields`` list: the id, the title (``title_of``'s
    candidates), the description, the badge and the creation time."""
    names = ("id", *title_fields(entity), description, badge, entity.created_at_field)
    return ",".join(dict.fromkeys(n for n in names if n and n in entity.columns))


def organizations_of(runtime: Services) -> OrganizationService:
    """The app's organization service (the organization forms exist only with organizations)."""
    if runtime.tenancy is None:
        raise Refused(404, "This app has no organizations.")
    return runtime.tenancy.organizations


def session_again(current: Current) -> CookieChanges:
    """The caller's session cookie issued again (its value unchanged), as Better Auth does when
    the session's active organization changes."""
    return CookieChanges.new_session(current.session["token"], current.dont_remember)


def dashboard_routes(web: Web, crud: Crud) -> list[BaseRoute]:
    runtime = web.runtime
    entity = dashboard_entity(web)

    async def dashboard(request: Request, viewer: Viewer) -> Response:
        if runtime.tenancy is not None and viewer.active is None:
            return web.render(request, "no_organization.html", viewer)
        rows: list[dict[str, object]] = []
        widgets = []
        can_create = False
        known: dict[str, int] = {}
        description = next((f.name for f in entity.fields if f.name == "description"), None) if entity else None
        badge = next((f.name for f in entity.fields if f.type is FieldType.ENUM), None) if entity else None
        if entity is not None and crud.can(viewer, entity, Action.READ):
            # With its total (``page``): the entity's count among the stats below needs no query of its own.
            # Only the columns a card shows are read and shaped (a third of the rows' cost on this page).
            shown = card_fields(entity, description, badge)
            query = crud.parser.parse_list(entity, [("limit", str(CARDS)), ("page", "1"), ("fields", shown)])
            listed = await runtime.pipeline.list_rows(viewer.ctx, entity, query)
            rows, known[entity.name] = listed.data, listed.total
            can_create = crud.can(viewer, entity, Action.CREATE)
            if can_create:
                widgets = await crud.widgets(viewer, entity, {}, {}, creating=True)
        members = await members_total(web, viewer)
        steps = await checklist(web, viewer, entity, bool(rows), members)
        return web.render(
            request,
            "dashboard.html",
            viewer,
            entity=entity,
            rows=rows,
            # Each card's title, found here: a call from the template costs more than the title itself.
            titled=[(row, title_of(entity, row)) for row in rows] if entity is not None else [],
            widgets=widgets,
            can_create=can_create,
            description=description,
            created=entity.created_at_field if entity else None,
            badge=badge,
            steps=steps if not all(step.done for step in steps) else [],
            stats=await stats(web, crud, viewer, members, known),
        )

    async def create_organization(request: Request, viewer: Viewer) -> Response:
        form = await web.form(request)
        name = form.get("name", "").strip()
        if not name:
            return web.render(request, "no_organization.html", viewer, status=400, error="Enter a name.")
        service = organizations_of(runtime)
        current = viewer.current
        try:
            await web.guard(request, organizations.CREATE, current=current)
            await attempt(service.create_organization(current, name=name))
        except AuthError as exc:
            response = web.render(
                request, "no_organization.html", viewer, status=refused_status(exc), error=exc.message
            )
            return web.refusal(response, exc)
        # The new organization is the session's active one now (the session's row says so).
        return flash(redirect("/dashboard"), f"{name} created.")

    async def switch_organization(request: Request, viewer: Viewer) -> Response:
        form = await web.form(request)
        service = organizations_of(runtime)
        current = viewer.current
        try:
            await web.guard(request, organizations.SET_ACTIVE, current=current)
            org, changed = await service.set_active(current, form.get("organization_id", ""))
        except AuthError as exc:
            return web.refusal(flash(redirect("/dashboard"), exc.message, "error"), exc)
        name = org.get("name") if org is not None else None
        back = request.headers.get("referer", "")
        path = "/" + back.split("://", 1)[-1].split("/", 1)[-1] if "://" in back else "/dashboard"
        # Rows of the previous organization are gone from view: a detail page would 404, so go to its list.
        target = safe_next("/".join(path.split("/")[:3]) if path.startswith("/app/") else path)
        response = redirect(target)
        if changed:
            # Better Auth re-issues the session cookie whenever the active organization is set.
            web.set_cookies(response, session_again(current))
        return flash(response, f"Switched to {name}." if name else "Organization switched.")

    return [
        Route("/dashboard", page(web, signed_in=True)(dashboard), methods=["GET"]),
        Route("/organizations/new", page(web, signed_in=True)(create_organization), methods=["POST"]),
        Route("/organizations/switch", page(web, signed_in=True)(switch_organization), methods=["POST"]),
    ]
