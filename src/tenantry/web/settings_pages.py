"""Settings: the organization, its members and invitations, the account (profile, password,
sessions) and, for admins, the audit log. Organization and account actions run the
``/api/auth`` endpoints' handlers; the organization's own fields and the audit log go through
the pipeline, like the generated pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.errors import ApiError
from tenantry.schema import Action, Entity, Field
from tenantry.web.auth_pages import explain, field_errors
from tenantry.web.billing_page import billing_enabled, billing_routes
from tenantry.web.bridge import apply_cookies, call_auth
from tenantry.web.core import Refused, Viewer, Web, flash, page, redirect
from tenantry.web.crud import Crud
from tenantry.web.forms import editable_fields, parse_form
from tenantry.web.forms import field_errors as api_field_errors

AUDIT_PAGE = 25
# Organization columns the billing capability keeps (Stripe ids): shown nowhere on the settings form.
MANAGED_PREFIXES = ("stripe_",)


def org_fields(entity: Entity) -> list[Field]:
    return [f for f in editable_fields(entity, creating=False) if not f.name.startswith(MANAGED_PREFIXES)]


def settings_routes(web: Web, crud: Crud) -> list[BaseRoute]:
    runtime = web.runtime
    tenancy = runtime.tenancy
    ctx = runtime.auth.ctx
    audit_entity = web.schema.system_entity("audit_logs")

    def service_allows(viewer: Viewer, resource: str, action: str) -> bool:
        return (
            tenancy is not None
            and bool(viewer.role)
            and tenancy.organizations.allows(viewer.role or "", {resource: [action]})
        )

    def tabs(viewer: Viewer) -> list[tuple[str, str]]:
        out = []
        if tenancy is not None and viewer.active is not None:
            out += [("/settings/organization", "Organization"), ("/settings/members", "Members")]
        out.append(("/settings/account", "Account"))
        if audit_entity is not None and crud.can(viewer, audit_entity, Action.READ):
            out.append(("/settings/audit", "Audit log"))
        if billing_enabled(web) and viewer.active is not None:
            out.append(("/settings/billing", "Billing"))
        return out

    def render(request: Request, viewer: Viewer, template: str, status: int = 200, **context: Any) -> Response:
        return web.render(request, template, viewer, status=status, tabs=tabs(viewer), **context)

    async def index(request: Request, viewer: Viewer) -> Response:
        return redirect(tabs(viewer)[0][0])

    # -- organization -------------------------------------------------------------------------

    async def organization(request: Request, viewer: Viewer) -> Response:
        if tenancy is None or viewer.active is None:
            raise Refused(404, "You have no active organization.")
        entity = tenancy.tables.organization_entity
        org_id = viewer.active["id"]
        row = await runtime.pipeline.get_row(viewer.ctx, entity, org_id)
        can_edit = crud.can(viewer, entity, Action.UPDATE, row)
        errors: dict[str, str] = {}
        general = None
        values: dict[str, Any] = row
        status = 200
        if request.method == "POST":
            if not can_edit:
                raise Refused(403, "Only admins can change the organization.")
            form = await web.form(request)
            body = parse_form(org_fields(entity), form, creating=False)
            try:
                await runtime.pipeline.update_row(viewer.ctx, entity, org_id, body)
                return flash(redirect("/settings/organization"), "Organization saved.")
            except ApiError as exc:
                if exc.status not in (400, 409, 422):
                    raise
                errors = api_field_errors(exc)
                general = None if errors else str(exc)
                values = {**row, **form}
                status = exc.status
        shown = {f.name for f in org_fields(entity)}
        widgets = [w for w in await crud.widgets(viewer, entity, values, errors, creating=False) if w.name in shown]
        return render(
            request, viewer, "settings_org.html", status, widgets=widgets, can_edit=can_edit, error=general, row=row
        )

    # -- members and invitations --------------------------------------------------------------

    async def members(request: Request, viewer: Viewer, error: str | None = None, status: int = 200) -> Response:
        if tenancy is None or viewer.active is None:
            raise Refused(404, "You have no active organization.")
        listed = await call_auth(runtime, request, "GET", "/organization/list-members", query={"limit": "200"})
        can_invite = service_allows(viewer, "invitation", "create")
        invitations: list[dict[str, Any]] = []
        if can_invite:
            pending = await call_auth(runtime, request, "GET", "/organization/list-invitations", query={})
            invitations = [i for i in (pending.body or []) if i.get("status") == "pending"]
        return render(
            request,
            viewer,
            "settings_members.html",
            status,
            members=(listed.body or {}).get("members", []),
            invitations=invitations,
            roles=web.schema.roles,
            can_invite=can_invite,
            can_update=service_allows(viewer, "member", "update"),
            can_remove=service_allows(viewer, "member", "delete"),
            error=error,
        )

    async def member_action(request: Request, viewer: Viewer) -> Response:
        form = await web.form(request)
        action = request.path_params["action"]
        target = request.path_params.get("id", "")
        body: dict[str, Any]
        if action == "invite":
            path, body = "/organization/invite-member", {"email": form.get("email", ""), "role": form.get("role", "")}
            done = f"Invitation sent to {form.get('email', '')}."
        elif action == "role":
            path, body = "/organization/update-member-role", {"memberId": target, "role": form.get("role", "")}
            done = "Role changed."
        elif action == "remove":
            path, body = "/organization/remove-member", {"memberIdOrEmail": target}
            done = "Member removed."
        elif action == "cancel":
            path, body = "/organization/cancel-invitation", {"invitationId": target}
            done = "Invitation cancelled."
        elif action == "resend":
            body = {"email": form.get("email", ""), "role": form.get("role", ""), "resend": True}
            path, done = "/organization/invite-member", f"Invitation sent again to {form.get('email', '')}."
        else:
            raise Refused(404, "There is no such page.")
        outcome = await call_auth(runtime, request, "POST", path, body)
        if not outcome.ok:
            status = outcome.error.status if outcome.error else 400
            return await members(request, viewer, error=explain(outcome), status=status)
        return flash(redirect("/settings/members"), done)

    # -- account ------------------------------------------------------------------------------

    async def account(
        request: Request, viewer: Viewer, errors: dict[str, str] | None = None, status: int = 200, **extra: Any
    ) -> Response:
        sessions = await ctx.store.sessions_of(viewer.current.user.id)
        current_id = viewer.current.session["id"]
        shown = [
            {
                "id": s["id"],
                "current": s["id"] == current_id,
                "user_agent": s.get("user_agent") or "Unknown device",
                "ip": s.get("ip_address") or "",
                "created_at": s["created_at"],
                "expires_at": s["expires_at"],
            }
            for s in sessions
        ]
        return render(request, viewer, "settings_account.html", status, sessions=shown, errors=errors or {}, **extra)

    async def account_action(request: Request, viewer: Viewer) -> Response:
        form = await web.form(request)
        action = request.path_params["action"]
        if action == "profile":
            outcome = await call_auth(runtime, request, "POST", "/update-user", {"name": form.get("name", "").strip()})
            if not outcome.ok:
                return await account(request, viewer, {"name": explain(outcome)}, 400)
            return flash(apply_cookies(runtime, outcome, redirect("/settings/account")), "Profile saved.")
        if action == "password":
            body = {
                "currentPassword": form.get("current_password", ""),
                "newPassword": form.get("new_password", ""),
                "revokeOtherSessions": "revoke_others" in form,
            }
            outcome = await call_auth(runtime, request, "POST", "/change-password", body)
            if not outcome.ok:
                errors, general = field_errors(outcome, {"newPassword": "new_password"})
                if outcome.code == "INVALID_PASSWORD":
                    errors, general = {"current_password": "The current password is not right."}, None
                elif outcome.code and outcome.code.startswith("PASSWORD_TOO"):
                    errors = {"new_password": explain(outcome)}
                return await account(request, viewer, errors, 400, password_error=general)
            return flash(apply_cookies(runtime, outcome, redirect("/settings/account")), "Password changed.")
        if action == "revoke":
            # The form names a session by id; its token (a secret) never reaches the page.
            target = next(
                (s for s in await ctx.store.sessions_of(viewer.current.user.id) if s["id"] == form.get("session_id")),
                None,
            )
            if target is None:
                return flash(redirect("/settings/account"), "That session has already ended.", "error")
            outcome = await call_auth(runtime, request, "POST", "/revoke-session", {"token": target["token"]})
            response = flash(redirect("/settings/account"), "Session revoked.")
            return apply_cookies(runtime, outcome, response)
        if action == "revoke-others":
            await call_auth(runtime, request, "POST", "/revoke-other-sessions", {})
            return flash(redirect("/settings/account"), "Signed out everywhere else.")
        raise Refused(404, "There is no such page.")

    # -- audit log ----------------------------------------------------------------------------

    async def audit(request: Request, viewer: Viewer) -> Response:
        if audit_entity is None:
            raise Refused(404, "This app keeps no audit log.")
        qp = request.query_params
        filters = {k: qp.get(k, "") for k in ("action", "resource_type", "user_id")}
        page_raw = qp.get("page", "1")
        page_no = int(page_raw) if page_raw.isdigit() and int(page_raw) > 0 else 1
        params = [("limit", str(AUDIT_PAGE)), ("page", str(page_no))]
        if audit_entity.created_at_field:
            params.append(("sort", f"{audit_entity.created_at_field},DESC"))
        search = [{k: {"$eq": v}} for k, v in filters.items() if v and audit_entity.field(k) is not None]
        if search:
            params.append(("s", orjson.dumps({"$and": search}).decode()))
        query = crud.parser.parse_list(audit_entity, params)
        result = await runtime.pipeline.list_rows(viewer.ctx, audit_entity, query)
        action_field = audit_entity.field("action")
        actions = list(action_field.enum_values) if action_field is not None else []

        def link(page_number: int) -> str:
            current = {k: v for k, v in filters.items() if v}
            return "/settings/audit?" + urlencode({**current, "page": page_number})

        export = urlencode({k: v for k, v in filters.items() if v})
        return render(
            request,
            viewer,
            "settings_audit.html",
            rows=result.data,
            total=result.total,
            page=page_no,
            page_count=result.page_count,
            filters=filters,
            actions=actions,
            link=link,
            export_query=("&" + export) if export else "",
        )

    signed = page(web, signed_in=True)
    return [
        Route("/settings", signed(index), methods=["GET"]),
        Route("/settings/organization", signed(organization), methods=["GET", "POST"]),
        Route("/settings/members", signed(members), methods=["GET"]),
        Route("/settings/members/{action}", signed(member_action), methods=["POST"]),
        Route("/settings/members/{id}/{action}", signed(member_action), methods=["POST"]),
        Route("/settings/account", signed(account), methods=["GET"]),
        Route("/settings/account/{action}", signed(account_action), methods=["POST"]),
        Route("/settings/audit", signed(audit), methods=["GET"]),
        *billing_routes(web, render),
    ]
