"""Pages of the api-key plugin: an "API keys" section on the account page.

It lists the user's keys (name, first characters, organization, scopes, expiry, last use), creates
one (name, organization, expiry, and either every right the user's role gives or only the chosen
entity/action pairs) and shows the new key once, and revokes keys. Each form runs the same
``/api/auth/api-key/*`` handler as the API (``call_auth``), so rules and audit rows are the API's;
htmx swaps the section alone, and without scripts the pages still work as plain forms.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.schema import Action
from tenantry.web.bridge import call_auth
from tenantry.web.core import Refused, Viewer, Web, flash, page, redirect

SECTION = "/settings/account/api-keys"
ACTIONS = tuple(a.value for a in Action)
EXPIRY_DAYS = (("", "Never"), ("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"))


def routes(web: Web) -> list[BaseRoute]:
    """The api-key plugin's pages."""
    runtime = web.runtime
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
        listed = await call_auth(runtime, request, "GET", "/api-key/list", query={"sortBy": "createdAt"})
        orgs = await organizations(viewer)
        names = {str(o["id"]): o["name"] for o in orgs}
        keys = [
            dict(k, organizationName=names.get(str(k["organizationId"])))
            for k in (listed.body or {}).get("apiKeys", [])
        ]
        return web.render(
            request,
            template,
            viewer,
            status=status,
            keys=keys,
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
        body: dict[str, Any] = {}
        if form.get("name", "").strip():
            body["name"] = form["name"].strip()
        if runtime.tenancy is not None:
            body["organizationId"] = form.get("organization") or None
        days = form.get("expires", "")
        if days:
            if not days.isdigit():
                raise Refused(400, "Choose an expiry from the list.")
            body["expiresIn"] = int(days) * 24 * 60 * 60
        if form.get("access") == "scoped":
            scopes: dict[str, list[str]] = {}
            for value in data.getlist("scope"):
                entity, _, action = str(value).partition(":")
                scopes.setdefault(entity, []).append(action)
            body["permissions"] = scopes
        outcome = await call_auth(runtime, request, "POST", "/api-key/create", body)
        htmx = bool(request.headers.get("hx-request"))
        if not outcome.ok:
            error = _explain(outcome.code, outcome.message)
            if htmx:
                return await render_section(request, viewer, error=error, status=422)
            return flash(redirect("/settings/account"), error, "error")
        # The key is shown in this answer only: it is never stored, and never put in a cookie.
        template = "_api_key_section.html" if htmx else "api_key_created.html"
        return await render_section(request, viewer, created=outcome.body, template=template)

    async def revoke(request: Request, viewer: Viewer) -> Response:
        form = await web.form(request)
        outcome = await call_auth(runtime, request, "POST", "/api-key/delete", {"keyId": form.get("id", "")})
        error = None if outcome.ok else _explain(outcome.code, outcome.message)
        if request.headers.get("hx-request"):
            return await render_section(request, viewer, error=error, status=200 if outcome.ok else 422)
        if error is not None:
            return flash(redirect("/settings/account"), error, "error")
        return flash(redirect("/settings/account"), "API key revoked.")

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
