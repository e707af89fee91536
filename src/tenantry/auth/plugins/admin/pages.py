"""Pages of the admin plugin, for superusers: users (search, detail with sessions, ban and unban,
revoke sessions, set the platform role, impersonate) and organizations (search).

Every action calls the admin service the ``/api/auth/admin/*`` endpoints call, after the API's
guard, so the rights, refusals, limits and audit rows are those of the API. The banner shown on
every page while an admin impersonates someone (with the time left and a Stop button) is filled in
here, through ``Web.viewer_hooks``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.auth.errors import AuthError
from tenantry.auth.plugins.admin import service
from tenantry.auth.plugins.admin.access import is_admin
from tenantry.auth.plugins.admin.common import platform_role
from tenantry.auth.plugins.admin.queries import UserQuery
from tenantry.web.core import Refused, Viewer, Web, attempt, flash, page, redirect

if TYPE_CHECKING:
    from tenantry.auth.plugins.admin import AdminPlugin

PAGE_SIZE = 25
# Ban lengths offered by the form (seconds; empty: until lifted).
BAN_LENGTHS = (("", "Until unbanned"), ("3600", "1 hour"), ("86400", "1 day"), ("604800", "1 week"))


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return max(1, int(raw)) if raw.isdigit() else 1


def routes(web: Web, plugin: AdminPlugin) -> list[BaseRoute]:
    """The admin plugin's pages."""
    runtime = web.runtime
    ctx = runtime.auth.ctx

    duration = plugin.settings.impersonation_duration

    async def describe(viewer: Viewer) -> None:
        current = viewer.current
        admin_id = current.session.get("impersonated_by")
        viewer.extras["superuser"] = not admin_id and is_admin(platform_role(ctx, current.user))
        if not admin_id:
            return
        admin = await ctx.store.user_by_id(admin_id)
        expires: dt.datetime = current.session["expires_at"]
        left = max(0, math.ceil((expires - dt.datetime.now(dt.UTC)).total_seconds() / 60))
        viewer.extras["impersonation"] = {
            "admin": (admin.core.get("name") or admin.email) if admin is not None else "an administrator",
            "expires_at": expires.isoformat(),
            "minutes_left": left,
        }

    web.viewer_hooks.append(describe)

    def superuser(viewer: Viewer) -> None:
        if not viewer.extras.get("superuser"):
            raise Refused(403, "Only platform administrators can open the admin pages.")

    def paging(request: Request, total: int, page_path: str, filters: dict[str, str]) -> dict[str, Any]:
        """What a list template's pagination needs: links to ``page_path`` keep the ``filters``."""
        number = _page_number(request)

        def link(**changes: Any) -> str:
            params = {**filters, "page": number} | changes
            return page_path + "?" + urlencode({k: v for k, v in params.items() if v})

        return {"total": total, "page": number, "page_count": max(1, math.ceil(total / PAGE_SIZE)), "link": link}

    def offset(request: Request) -> int | None:
        skipped = (_page_number(request) - 1) * PAGE_SIZE
        return skipped or None

    async def users(request: Request, viewer: Viewer) -> Response:
        superuser(viewer)
        q = request.query_params.get("q", "").strip()
        field = request.query_params.get("field", "email")
        field = field if field in ("email", "name") else "email"
        query = UserQuery(
            search_value=q or None, search_field=field, sort_by="createdAt", limit=PAGE_SIZE, offset=offset(request)
        )
        found = await service.list_users(ctx, viewer.current, query)
        pages = paging(request, found.total, "/admin", {"q": q, "field": field})
        return web.render(
            request, "admin_users.html", viewer, users=found.users, q=q, field=field, tab="/admin", **pages
        )

    async def user_detail(request: Request, viewer: Viewer) -> Response:
        superuser(viewer)
        user_id = request.path_params["id"]
        found = await service.get_user(ctx, viewer.current, user_id)
        sessions = await service.list_user_sessions(ctx, viewer.current, user_id)
        return web.render(
            request,
            "admin_user.html",
            viewer,
            user=found,
            sessions=sessions,
            is_self=str(found["id"]) == viewer.user["id"],
            target_is_admin=is_admin(found.get("role")),
            ban_lengths=BAN_LENGTHS,
            tab="/admin",
        )

    async def user_action(request: Request, viewer: Viewer) -> Response:
        superuser(viewer)
        form = await web.form(request)
        user_id = request.path_params["id"]
        action = request.path_params["action"]
        back = redirect(f"/admin/users/{user_id}")
        current, client = viewer.current, web.client(request)
        try:
            if action == "ban":
                await web.guard(request, service.BAN_USER, current=current)
                reason = form.get("reason", "").strip()[:500] or None
                length = int(form["length"]) if form.get("length", "").isdigit() else None
                await attempt(service.ban_user(ctx, client, current, user_id, reason=reason, expires_in=length))
                done = "User banned; their sessions were revoked."
            elif action == "unban":
                await web.guard(request, service.UNBAN_USER, current=current)
                await service.unban_user(ctx, client, current, user_id)
                done = "User unbanned."
            elif action == "revoke-sessions":
                await web.guard(request, service.REVOKE_USER_SESSIONS, current=current)
                await service.revoke_user_sessions(ctx, client, current, user_id)
                done = "All their sessions were revoked."
            elif action == "revoke-session":
                # The page names sessions by id (tokens are secrets it never shows); the service takes the token.
                sessions = await service.list_user_sessions(ctx, current, user_id)
                token = next((s["token"] for s in sessions if s["id"] == form.get("session_id")), None)
                if token is None:
                    return flash(back, "That session has already ended.", "error")
                await web.guard(request, service.REVOKE_USER_SESSION, current=current)
                await service.revoke_user_session(ctx, client, current, token)
                done = "Session revoked."
            elif action == "role":
                await web.guard(request, service.SET_ROLE, current=current)
                await service.set_role(ctx, client, current, user_id, form.get("role", ""))
                done = "Platform role changed."
            elif action == "impersonate":
                await web.guard(request, service.IMPERSONATE_USER, current=current)
                switched = await service.impersonate(ctx, client, current, user_id, duration)
                return web.set_cookies(redirect("/dashboard"), switched.cookies)
            else:
                raise Refused(404, "Unknown action.")
        except AuthError as exc:
            return web.refusal(flash(back, exc.message, "error"), exc)
        return flash(back, done)

    async def organizations(request: Request, viewer: Viewer) -> Response:
        superuser(viewer)
        q = request.query_params.get("q", "").strip()
        page_path = "/admin/organizations"
        found = await service.list_organizations(ctx, viewer.current, q or None, PAGE_SIZE, offset(request) or 0)
        pages = paging(request, found.total, page_path, {"q": q})
        return web.render(
            request, "admin_organizations.html", viewer, organizations=found.organizations, q=q, tab=page_path, **pages
        )

    async def stop(request: Request, viewer: Viewer) -> Response:
        await web.form(request)  # the origin check
        target = viewer.user["id"]
        await web.guard(request, service.STOP_IMPERSONATING, current=viewer.current)
        switched = await service.stop_impersonating(ctx, web.client(request), viewer.current)
        return web.set_cookies(flash(redirect(f"/admin/users/{target}"), "Impersonation ended."), switched.cookies)

    signed = page(web, signed_in=True)
    return [
        Route("/admin", signed(users), methods=["GET"]),
        Route("/admin/organizations", signed(organizations), methods=["GET"]),
        Route("/admin/stop-impersonating", signed(stop), methods=["POST"]),
        Route("/admin/users/{id}", signed(user_detail), methods=["GET"]),
        Route("/admin/users/{id}/{action}", signed(user_action), methods=["POST"]),
    ]
