"""``POST /notifications/read-all``: the bell's "mark all read" (a form that works without scripts)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from tenantry.web.bell import load_bell
from tenantry.web.core import Viewer, Web, flash, page, redirect, safe_next


def notification_routes(web: Web) -> list[BaseRoute]:
    """htmx gets the bell back to swap in; a plain form goes back to the page it was sent from."""

    async def read_all(request: Request, viewer: Viewer) -> Response:
        await web.form(request)  # the origin check every form POST passes
        user_id = viewer.user["id"]
        if web.runtime.realtime is not None:
            await web.runtime.realtime.store.mark_all_read(user_id)
        if request.headers.get("hx-request"):
            viewer.bell = await load_bell(web.runtime, user_id)
            # Not ``web.render``: a fragment must not consume the toast pending for the next page.
            body = web.env.get_template("_bell.html").render(viewer=viewer, bell_open=True)
            return HTMLResponse(body, headers=web.page_headers)
        back = request.headers.get("referer", "")
        target = "/" + back.split("://", 1)[-1].split("/", 1)[-1] if "://" in back else "/dashboard"
        return flash(redirect(safe_next(target)), "All notifications marked read.")

    return [Route("/notifications/read-all", page(web, signed_in=True)(read_all), methods=["POST"])]
