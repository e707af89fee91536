"""Settings: the organization, its members and invitations, the account (profile, password,
sessions) and, for admins, the audit log. Organization and account actions call the services the
``/api/auth`` endpoints call (``OrganizationService`` and the account services), after the API's
guard; the organization's own fields and the audit log go through the pipeline, like the
generated pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.auth.errors import AuthError
from tenantry.auth.services import email_password, sessions
from tenantry.auth.services import user as accounts
from tenantry.errors import ApiError
from tenantry.schema import Action, Entity, Field
from tenantry.tenancy import service as organizations
from tenantry.tenancy.service import MemberQuery
from tenantry.web.auth_pages import explain, field_errors
from tenantry.web.billing_page import billing_enabled, billing_routes
from tenantry.web.core import Refused, Viewer, Web, attempt, flash, page, redirect, refused_status
from tenantry.web.crud import Crud
from tenantry.web.data_page import data_routes
from tenantry.web.forms import editable_fields, parse_form
from tenantry.web.forms import field_errors as api_field_errors
from tenantry.web.webhooks_page import webhooks_enabled, webhooks_routes

AUDIT_PAGE = 25
MEMBERS_SHOWN = 200
# Organization columns the billing capability keeps (Stripe ids): shown nowhere on the settings form.
MANAGED_PREFIXES = ("stripe_",)


def org_fields(entity: Entity) -> list[Field]:
    return [f for f in editable_fields(entity, creating=False) if not f.name.startswith(MANAGED_PREFIXES)]


def short_id(value: object) -> str:
    """An id too long to read, cut to its start (the whole id is in the element's title)."""
    text = str(value or "")
    return text if len(text) <= 13 else text[:8] + "…"


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
        out.append(("/settings/data", "Your data"))
        if audit_entity is not None and crud.can(viewer, audit_entity, Action.READ):
            out.append(("/settings/audit", "Audit log"))
        if billing_enabled(web) and viewer.active is not None:
            out.append(("/settings/billing", "Billing"))
        if webhooks_enabled(web, viewer):
            out.append(("/settings/webhooks", "Webhooks"))
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

    async def members(request: Request, viewer: Viewer, refusal: AuthError | None = None) -> Response:
        if tenancy is None or viewer.active is None:
            raise Refused(404, "You have no active organization.")
        service = tenancy.organizations
        listed = await service.list_members(viewer.current, MemberQuery(limit=MEMBERS_SHOWN))
        can_invite = service_allows(viewer, "invitation", "create")
        invitations: list[dict[str, Any]] = []
        if can_invite:
            pending = await service.list_invitations(viewer.current)
            invitations = [i for i in pending if i.get("status") == "pending"]
        response = render(
            request,
            viewer,
            "settings_members.html",
            refusal.status if refusal is not None else 200,
            members=listed.get("members", []),
            invitations=invitations,
            roles=web.schema.roles,
            can_invite=can_invite,
            can_update=service_allows(viewer, "member", "update"),
            can_remove=service_allows(viewer, "member", "delete"),
            error=explain(refusal) if refusal is not None else None,
        )
        return web.refusal(response, refusal) if refusal is not None else response

    async def member_action(request: Request, viewer: Viewer) -> Response:
        form = await web.form(request)
        action = request.path_params["action"]
        target = request.path_params.get("id", "")
        if tenancy is None:
            raise Refused(404, "There is no such page.")
        service = tenancy.organizations
        current = viewer.current
        address, role = form.get("email", ""), form.get("role", "")
        try:
            if action in ("invite", "resend"):
                await web.guard(request, organizations.INVITE_MEMBER, current=current)
                resend = action == "resend"
                await attempt(service.invite(current, address, service.parse_role(role), None, resend=resend))
                done = f"Invitation sent again to {address}." if resend else f"Invitation sent to {address}."
            elif action == "role":
                await web.guard(request, organizations.UPDATE_MEMBER_ROLE, current=current)
                await service.update_member_role(current, target, service.parse_role(role))
                done = "Role changed."
            elif action == "remove":
                await web.guard(request, organizations.REMOVE_MEMBER, current=current)
                await service.remove_member(current, target)
                done = "Member removed."
            elif action == "cancel":
                await web.guard(request, organizations.CANCEL_INVITATION, current=current)
                await service.cancel_invitation(current, target)
                done = "Invitation cancelled."
            else:
                raise Refused(404, "There is no such page.")
        except AuthError as exc:
            return await members(request, viewer, exc)
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
        current, client = viewer.current, web.client(request)
        back = redirect("/settings/account")
        if action == "profile":
            try:
                await web.guard(request, accounts.UPDATE_USER, current=current)
                changes = await attempt(
                    accounts.update_user(ctx, client, current, {"name": form.get("name", "").strip()})
                )
            except AuthError as exc:
                return web.refusal(await account(request, viewer, {"name": explain(exc)}, refused_status(exc)), exc)
            return flash(web.set_cookies(back, changes), "Profile saved.")
        if action == "password":
            try:
                await web.guard(request, email_password.CHANGE_PASSWORD, current=current)
                changed = await email_password.change_password(
                    ctx,
                    client,
                    current,
                    current_password=form.get("current_password", ""),
                    new_password=form.get("new_password", ""),
                    revoke_others="revoke_others" in form,
                )
            except AuthError as exc:
                errors, general = field_errors(exc, {"newPassword": "new_password"})
                if exc.code == "INVALID_PASSWORD":
                    errors, general = {"current_password": "The current password is not right."}, None
                elif exc.code and exc.code.startswith("PASSWORD_TOO"):
                    errors = {"new_password": explain(exc)}
                response = await account(request, viewer, errors, refused_status(exc), password_error=general)
                return web.refusal(response, exc)
            return flash(web.set_cookies(back, changed.cookies), "Password changed.")
        if action == "revoke":
            # The form names a session by id; its token (a secret) never reaches the page.
            target = next(
                (s for s in await ctx.store.sessions_of(current.user.id) if s["id"] == form.get("session_id")),
                None,
            )
            if target is None:
                return flash(back, "That session has already ended.", "error")
            try:
                await web.guard(request, sessions.REVOKE_SESSION, current=current)
            except AuthError as exc:
                return web.refusal(flash(back, explain(exc), "error"), exc)
            changes = await sessions.revoke_session(ctx, client, current, target["token"])
            return web.set_cookies(flash(back, "Session revoked."), changes)
        if action == "revoke-others":
            try:
                await web.guard(request, sessions.REVOKE_OTHER_SESSIONS, current=current)
            except AuthError as exc:
                return web.refusal(flash(back, explain(exc), "error"), exc)
            await sessions.revoke_other_sessions(ctx, client, current)
            return flash(back, "Signed out everywhere else.")
        raise Refused(404, "There is no such page.")

    # -- audit log ----------------------------------------------------------------------------

    async def audit_people(viewer: Viewer) -> dict[str, str]:
        """The organization's members by user id, as the audit log names them ("Ada (ada@example.com)")."""
        if tenancy is None or viewer.active is None:
            return {}
        try:
            listed = await tenancy.organizations.list_members(viewer.current, MemberQuery(limit=MEMBERS_SHOWN))
        except (ApiError, AuthError):
            return {}
        people: dict[str, str] = {}
        for member in listed.get("members", []):
            user = member.get("user") or {}
            name, email = user.get("name"), user.get("email") or ""
            people[str(member.get("userId"))] = f"{name} ({email})" if name else email
        return people

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
        people = await audit_people(viewer)
        if filters["user_id"] and filters["user_id"] not in people:
            people[filters["user_id"]] = short_id(filters["user_id"])  # a former member: still filterable

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
            people=people,
            short_id=short_id,
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
        *webhooks_routes(web, render),
        *data_routes(web, crud, render),
    ]
