"""``/settings/data``: a person's data and the way out. Download my data and export this
organization (admins only: the top role), leave the organization, delete it (typing its name to
confirm) and delete one's account (confirmed through an e-mailed link).

Each action calls the service its ``/api/auth`` endpoint calls, after the API's guard, and each is
audited: leaving and deleting by the organization service, the account's deletion when the
e-mailed link is opened, and every export here, in a transaction of its own before any byte of
it is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from tenantry.auth.cookies import CookieChanges
from tenantry.auth.errors import AuthError
from tenantry.auth.services import user as accounts
from tenantry.tenancy import service as organizations
from tenantry.tenancy.service import MemberQuery
from tenantry.web.auth_pages import explain
from tenantry.web.core import Refused, Viewer, Web, flash, page, redirect
from tenantry.web.crud import Crud
from tenantry.web.export import Exporter
from tenantry.web.personal_export import personal_parts

PAGE = "/settings/data"
MEMBERS_EXPORTED = 10_000
# The e-mailed deletion link's page, and where the browser lands once the account is gone.
CONFIRM = f"{PAGE}/delete-account/confirm"
GOODBYE = "/goodbye"
DELETION_REFUSED = {
    "INVALID_TOKEN": "This link is invalid, was already used or has expired. Ask for a new one on the Your data page.",
    "USER_HAS_REFERENCES": (
        "Your account still owns records (such as projects you created). Delete them, or ask an admin to, "
        "then ask for a new link."
    ),
}


def data_routes(web: Web, crud: Crud, render: Callable[..., Response]) -> list[BaseRoute]:
    """The page, its actions and its downloads; ``render`` is the settings pages' renderer."""
    runtime = web.runtime
    tenancy = runtime.tenancy
    ctx = runtime.auth.ctx
    exporter = Exporter(runtime.pipeline, crud.parser)
    top_role = web.schema.roles[0] if web.schema.roles else None

    def is_admin(viewer: Viewer) -> bool:
        return viewer.active is not None and viewer.role == top_role

    def can_delete_org(viewer: Viewer) -> bool:
        return (
            tenancy is not None
            and viewer.role is not None
            and tenancy.organizations.allows(viewer.role, {"organization": ["delete"]})
        )

    def show(request: Request, viewer: Viewer, status: int = 200, **extra: Any) -> Response:
        return render(
            request,
            viewer,
            "settings_data.html",
            status,
            is_admin=is_admin(viewer),
            can_delete_org=can_delete_org(viewer),
            **extra,
        )

    async def data(request: Request, viewer: Viewer) -> Response:
        return show(request, viewer)

    async def audited(viewer: Viewer, request: Request, resource_type: str, resource_id: Any) -> None:
        async with runtime.db.transaction() as conn:
            await ctx.audit(
                conn,
                "data_export",
                ctx.client(request),
                session=viewer.current.session,
                resource_type=resource_type,
                resource_id=resource_id,
            )

    def download(body: AsyncIterator[bytes], name: str) -> Response:
        headers = {
            **web.page_headers,
            "content-disposition": f'attachment; filename="{name}"',
        }
        return StreamingResponse(body, media_type="application/zip", headers=headers)

    async def export_account(request: Request, viewer: Viewer) -> Response:
        sessions = await ctx.store.sessions_of(viewer.current.user.id)
        parts = await personal_parts(web, crud, exporter, request, viewer, sessions)
        await audited(viewer, request, "user", viewer.current.user.id)
        return download(exporter.account(viewer, parts), "my-data.zip")

    async def export_organization(request: Request, viewer: Viewer) -> Response:
        if tenancy is None or viewer.active is None:
            raise Refused(404, "You have no active organization.")
        if not is_admin(viewer):
            raise Refused(403, "Only admins can export the organization.")
        org = await runtime.pipeline.get_row(viewer.ctx, tenancy.tables.organization_entity, viewer.active["id"])
        listed = await tenancy.organizations.list_members(viewer.current, MemberQuery(limit=MEMBERS_EXPORTED))
        await audited(viewer, request, "organization", org["id"])
        slug = str(org.get("slug") or "organization")
        body = exporter.organization(viewer, org, listed.get("members", []), crud.readable(viewer))
        return download(body, f"{slug}-export.zip")

    async def leave(request: Request, viewer: Viewer) -> Response:
        await web.form(request)
        if tenancy is None or viewer.active is None:
            raise Refused(404, "You have no active organization.")
        name = viewer.active.get("name")
        try:
            await web.guard(request, organizations.LEAVE, current=viewer.current)
            await tenancy.organizations.leave(viewer.current, str(viewer.active["id"]))
        except AuthError as exc:
            return web.refusal(show(request, viewer, 400, leave_error=explain(exc)), exc)
        return flash(redirect("/dashboard"), f"You left {name}.")

    async def delete_organization(request: Request, viewer: Viewer) -> Response:
        form = await web.form(request)
        if tenancy is None or viewer.active is None:
            raise Refused(404, "You have no active organization.")
        name = str(viewer.active.get("name") or "")
        if form.get("confirm", "").strip() != name:
            return show(request, viewer, 400, delete_org_error=f"Type {name} exactly to confirm.")
        try:
            await web.guard(request, organizations.DELETE, current=viewer.current)
            await tenancy.organizations.delete_organization(viewer.current, str(viewer.active["id"]))
        except AuthError as exc:
            return web.refusal(show(request, viewer, exc.status, delete_org_error=explain(exc)), exc)
        return flash(redirect("/dashboard"), f"{name} was deleted.")

    async def delete_account(request: Request, viewer: Viewer) -> Response:
        await web.form(request)
        try:
            await web.guard(request, accounts.DELETE_USER, current=viewer.current)
            # The link opens a page that asks once more (a link alone deletes nothing) and explains a refusal.
            await accounts.request_deletion(ctx, viewer.current, confirm_url=f"{ctx.base_url}{CONFIRM}")
        except AuthError as exc:
            return web.refusal(show(request, viewer, 400, delete_account_error=explain(exc)), exc)
        return flash(
            redirect(PAGE),
            f"We sent a link to {viewer.current.user.email}. Open it to delete your account.",
        )

    async def confirm_deletion(request: Request, viewer: Viewer) -> Response:
        """The e-mailed link's page: a button that deletes (GET shows it; POST deletes)."""
        if request.method == "GET":
            token = request.query_params.get("token", "")
            return web.render(request, "delete_account.html", viewer, token=token)
        form = await web.form(request)
        try:
            await web.guard(request, accounts.DELETE_USER, current=viewer.current)
            await accounts.delete_with_token(ctx, ctx.client(request), viewer.current, form.get("token", ""))
        except AuthError as exc:
            message = DELETION_REFUSED.get(exc.code or "", explain(exc))
            response = web.render(request, "delete_account.html", viewer, status=exc.status, token="", error=message)
            return web.refusal(response, exc)
        # The account and its sessions are gone: the browser forgets the session too.
        return web.set_cookies(redirect(GOODBYE), CookieChanges.cleared())

    async def goodbye(request: Request) -> Response:
        return web.render(
            request,
            "message.html",
            heading="Your account was deleted",
            lines=["Your account and your sessions are gone. Thank you for having been here."],
            links=[("/signup", "Create a new account")],
        )

    signed = page(web, signed_in=True)
    return [
        Route(PAGE, signed(data), methods=["GET"]),
        Route(f"{PAGE}/my-data.zip", signed(export_account), methods=["GET"]),
        Route(f"{PAGE}/organization.zip", signed(export_organization), methods=["GET"]),
        Route(f"{PAGE}/leave", signed(leave), methods=["POST"]),
        Route(f"{PAGE}/delete-organization", signed(delete_organization), methods=["POST"]),
        Route(f"{PAGE}/delete-account", signed(delete_account), methods=["POST"]),
        Route(CONFIRM, signed(confirm_deletion), methods=["GET", "POST"]),
        Route(GOODBYE, page(web)(goodbye), methods=["GET"]),
    ]
