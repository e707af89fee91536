"""Pages of the admin plugin, for superusers: users (search, detail with sessions, ban and unban,
revoke sessions, set the platform role, impersonate) and organizations (search).

Every action runs the ``/api/auth/admin/*`` endpoint's handler (``call_auth``), so the rights,
refusals and audit rows are those of the API. The banner shown on every page while an admin
impersonates someone (with the time left and a Stop button) is filled in here, through
``Web.viewer_hooks``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.auth.plugins.admin.access import is_admin
from tenantry.auth.plugins.admin.common import platform_role
from tenantry.web.bridge import apply_cookies, call_auth
from tenantry.web.core import Refused, Viewer, Web, flash, page, redirect

PAGE_SIZE = 25
# Ban lengths offered by the form (seconds; empty: until lifted).
BAN_LENGTHS = (("", "Until unbanned"), ("3600", "1 hour"), ("86400", "1 day"), ("604800", "1 week"))


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return max(1, int(raw)) if raw.isdigit() else 1


def routes(web: Web) -> list[BaseRoute]:
    """The admin plugin's pages."""
    runtime = web.runtime
    ctx = runtime.auth.ctx

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

    async def listing(
        request: Request, api_path: str, query: dict[str, str], page_path: str, filters: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """One page of an admin list endpoint (``query`` on top of the page's limit and offset), and
        what its template's pagination needs: links to ``page_path`` keep the ``filters``."""
        number = _page_number(request)
        paged = {"limit": str(PAGE_SIZE), "offset": str((number - 1) * PAGE_SIZE)}
        listed = await call_auth(runtime, request, "GET", api_path, query=paged | query)
        if not listed.ok:
            raise Refused(listed.error.status if listed.error else 500, listed.message)
        body: dict[str, Any] = listed.body

        def link(**changes: Any) -> str:
            params = {**filters, "page": number} | changes
            return page_path + "?" + urlencode({k: v for k, v in params.items() if v})

        paging = {
            "total": body["total"],
            "page": number,
            "page_count": max(1, math.ceil(body["total"] / PAGE_SIZE)),
            "link": link,
        }
        return body, paging

    async def users(request: Request, viewer: Viewer) -> Response:
        superuser(viewer)
        q = request.query_params.get("q", "").strip()
        field = request.query_params.get("field", "email")
        field = field if field in ("email", "name") else "email"
        query = {"sortBy": "createdAt"}
        if q:
            query |= {"searchValue": q, "searchField": field}
        body, paging = await listing(request, "/admin/list-users", query, "/admin", {"q": q, "field": field})
        return web.render(
            request, "admin_users.html", viewer, users=body["users"], q=q, field=field, tab="/admin", **paging
        )

    async def user_detail(request: Request, viewer: Viewer) -> Response:
        superuser(viewer)
        user_id = request.path_params["id"]
        found = await call_auth(runtime, request, "GET", "/admin/get-user", query={"id": user_id})
        if not found.ok:
            raise Refused(found.error.status if found.error else 500, found.message)
        sessions = await call_auth(runtime, request, "POST", "/admin/list-user-sessions", {"userId": user_id})
        return web.render(
            request,
            "admin_user.html",
            viewer,
            user=found.body,
            sessions=(sessions.body or {}).get("sessions", []),
            is_self=str(found.body["id"]) == viewer.user["id"],
            target_is_admin=is_admin(found.body.get("role")),
            ban_lengths=BAN_LENGTHS,
            tab="/admin",
        )

    async def user_action(request: Request, viewer: Viewer) -> Response:
        superuser(viewer)
        form = await web.form(request)
        user_id = request.path_params["id"]
        action = request.path_params["action"]
        back = f"/admin/users/{user_id}"
        body: dict[str, Any] = {"userId": user_id}
        if action == "ban":
            path, done = "/admin/ban-user", "User banned; their sessions were revoked."
            if form.get("reason", "").strip():
                body["banReason"] = form["reason"].strip()[:500]
            if form.get("length", "").isdigit():
                body["banExpiresIn"] = int(form["length"])
        elif action == "unban":
            path, done = "/admin/unban-user", "User unbanned."
        elif action == "revoke-sessions":
            path, done = "/admin/revoke-user-sessions", "All their sessions were revoked."
        elif action == "revoke-session":
            # The page names sessions by id (tokens are secrets it never shows); the API takes the token.
            path, done = "/admin/revoke-user-session", "Session revoked."
            listed = await call_auth(runtime, request, "POST", "/admin/list-user-sessions", {"userId": user_id})
            sessions = (listed.body or {}).get("sessions", [])
            token = next((s["token"] for s in sessions if s["id"] == form.get("session_id")), None)
            if token is None:
                return flash(redirect(back), "That session has already ended.", "error")
            body = {"sessionToken": token}
        elif action == "role":
            path, done = "/admin/set-role", "Platform role changed."
            body["role"] = form.get("role", "")
        elif action == "impersonate":
            outcome = await call_auth(runtime, request, "POST", "/admin/impersonate-user", body)
            if not outcome.ok:
                return flash(redirect(back), outcome.message, "error")
            return apply_cookies(runtime, outcome, redirect("/dashboard"))
        else:
            raise Refused(404, "Unknown action.")
        outcome = await call_auth(runtime, request, "POST", path, body)
        return flash(redirect(back), done if outcome.ok else outcome.message, "success" if outcome.ok else "error")

    async def organizations(request: Request, viewer: Viewer) -> Response:
        superuser(viewer)
        q = request.query_params.get("q", "").strip()
        query = {"searchValue": q} if q else {}
        page_path = "/admin/organizations"
        body, paging = await listing(request, "/admin/list-organizations", query, page_path, {"q": q})
        organizations = body["organizations"]
        return web.render(
            request, "admin_organizations.html", viewer, organizations=organizations, q=q, tab=page_path, **paging
        )

    async def stop(request: Request, viewer: Viewer) -> Response:
        await web.form(request)  # the origin check
        target = viewer.user["id"]
        outcome = await call_auth(runtime, request, "POST", "/admin/stop-impersonating")
        if not outcome.ok:
            raise Refused(outcome.error.status if outcome.error else 500, outcome.message)
        return apply_cookies(runtime, outcome, flash(redirect(f"/admin/users/{target}"), "Impersonation ended."))

    signed = page(web, signed_in=True)
    return [
        Route("/admin", signed(users), methods=["GET"]),
        Route("/admin/organizations", signed(organizations), methods=["GET"]),
        Route("/admin/stop-impersonating", signed(stop), methods=["POST"]),
        Route("/admin/users/{id}", signed(user_detail), methods=["GET"]),
        Route("/admin/users/{id}/{action}", signed(user_action), methods=["POST"]),
    ]
