"""Pages of the api-key plugin: an "API keys" section on the account page.

It lists the user's keys (name, first characters, organization, scopes, expiry, last use), creates
one (name, organization, expiry, and either every right the user's role gives or only the chosen
entity/action pairs) and shows the new key once, and revokes keys. Each form calls the service
the ``/api/auth/api-key/*`` endpoints call (``ApiKeys``), after the API's guard, so rules, limits
and audit rows are the API's; htmx swaps the section alone, and without scripts the pages still
work as plain forms.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.auth.errors import AuthError
from tenantry.auth.plugins.api_key.scopes import check_scopes
from tenantry.auth.plugins.api_key.service import CREATE, DELETE, NewKey
from tenantry.schema import Action
from tenantry.web.core import Refused, Viewer, Web, attempt, flash, page, redirect

if TYPE_CHECKING:
    from tenantry.auth.plugins.api_key import ApiKeyPlugin

SECTION = "/settings/account/api-keys"
ACTIONS = tuple(a.value for a in Action)
EXPIRY_DAYS = (("", "Never"), ("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"))


def routes(web: Web, plugin: ApiKeyPlugin) -> list[BaseRoute]:
    """The api-key plugin's pages."""
    runtime = web.runtime

    keys = plugin.keys
    cast(list[str], web.env.globals["account_sections"]).append(SECTION)
    entities = [(e.name, e.display.plural if e.display else e.name) for e in runtime.schema.entities.values()]

    async def organizations(viewer: Viewer) -> list[dict[str, Any]]:
        tenancy = runtime.tenancy
        if tenancy is None:
            return []
        return await tenancy.organizations.store.organizations_of(None, viewer.current.user.id)

    async def render_section(
        request: Request,
        viewer: Viewer,
        *,
        error: str | None = None,
        created: dict[str, Any] | None = None,
        status: int = 200,
        template: str = "_api_key_section.html",
    ) -> Response:
        listed = await keys.of_user(viewer.current.user.id, sort="createdAt")
        orgs = await organizations(viewer)
        names = {str(o["id"]): o["name"] for o in orgs}
        shown = [dict(k.json(), organizationName=names.get(str(k.organization_id))) for k in listed]
        return web.render(
            request,
            template,
            viewer,
            status=status,
            keys=shown,
            organizations=orgs,
            active_org=str(viewer.ctx.principal.org_id or ""),
            scope_entities=entities,
            actions=ACTIONS,
            expiry_days=EXPIRY_DAYS,
            now=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            error=error,
            created=created,
            has_organizations=runtime.tenancy is not None,
        )

    async def section(request: Request, viewer: Viewer) -> Response:
        return await render_section(request, viewer)

    async def create(request: Request, viewer: Viewer) -> Response:
        form = await web.form(request)
        data = await request.form()
        name = form.get("name", "").strip() or None
        days = form.get("expires", "")
        if days and (not days.isdigit() or int(days) < 1):
            raise Refused(400, "Choose an expiry from the list.")
        scoped: dict[str, list[str]] | None = None
        if form.get("access") == "scoped":
            scoped = {}
            for value in data.getlist("scope"):
                entity, _, action = str(value).partition(":")
                scoped.setdefault(entity, []).append(action)
        htmx = bool(request.headers.get("hx-request"))
        current = viewer.current
        try:
            await web.guard(request, CREATE, current=current)
            new = NewKey(
                name=name,
                expires_in=int(days) * 24 * 60 * 60 if days else None,
                scopes=check_scopes(scoped, keys.entities) if scoped is not None else None,
                # The organization the key acts in (none: a personal key), as the form chose it.
                organization_id=(form.get("organization") or None) if runtime.tenancy is not None else None,
            )
            key, raw = await attempt(keys.create(current.user.id, new, web.client(request)))
        except AuthError as exc:
            error = _explain(exc.code, exc.message)
            if htmx:
                return web.refusal(await render_section(request, viewer, error=error, status=422), exc)
            return web.refusal(flash(redirect("/settings/account"), error, "error"), exc)
        # The key is shown in this answer only: it is never stored, and never put in a cookie.
        template = "_api_key_section.html" if htmx else "api_key_created.html"
        return await render_section(request, viewer, created=dict(key.json(), key=raw), template=template)

    async def revoke(request: Request, viewer: Viewer) -> Response:
        form = await web.form(request)
        refusal: AuthError | None = None
        try:
            await web.guard(request, DELETE, current=viewer.current)
            await keys.revoke(viewer.current, form.get("id", ""), web.client(request))
        except AuthError as exc:
            refusal = exc
        error = None if refusal is None else _explain(refusal.code, refusal.message)
        if request.headers.get("hx-request"):
            response = await render_section(request, viewer, error=error, status=200 if refusal is None else 422)
        elif error is not None:
            response = flash(redirect("/settings/account"), error, "error")
        else:
            response = flash(redirect("/settings/account"), "API key revoked.")
        return web.refusal(response, refusal) if refusal is not None else response

    return [
        Route(SECTION, page(web, signed_in=True)(section), methods=["GET"]),
        Route(SECTION + "/create", page(web, signed_in=True)(create), methods=["POST"]),
        Route(SECTION + "/revoke", page(web, signed_in=True)(revoke), methods=["POST"]),
    ]


def _explain(code: str | None, message: str) -> str:
    if code == "KEY_NOT_FOUND":
        return "That key no longer exists."
    if code == "INVALID_NAME_LENGTH":
        return "Give the key a name of at most 32 characters."
    if code == "USER_NOT_MEMBER_OF_ORGANIZATION":
        return "You are not a member of that organization."
    if code == "INVALID_PERMISSIONS":
        return "Choose permissions from the list."
    return message or "That did not work."
