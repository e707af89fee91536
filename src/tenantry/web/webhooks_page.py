"""``/settings/webhooks``: an organization's admins register, pause, delete and re-key webhook endpoints,
see each endpoint's latest deliveries and send a message again.

Every action calls the webhooks service the ``/api/webhooks`` endpoints call (in-process), so roles,
validation (the address checks included) and audit rows are the API's. A new or rotated secret is
shown in that answer only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.errors import ApiError
from tenantry.web.core import Refused, Viewer, Web, flash, page, redirect

PAGE = "/settings/webhooks"
RECENT_ATTEMPTS = 5


def webhooks_enabled(web: Web, viewer: Viewer) -> bool:
    """Whether the viewer gets the tab: the app has webhooks and the viewer is an admin of their organization."""
    found = web.runtime.webhooks
    return found is not None and viewer.active is not None and viewer.role == found.service.top_role


def webhooks_routes(web: Web, render: Callable[..., Response]) -> list[BaseRoute]:
    """The webhooks page and its actions; ``render`` is the settings pages' renderer (with their tabs)."""
    webhooks = web.runtime.webhooks
    if webhooks is None:
        return []
    service = webhooks.service
    resender = webhooks.resender

    async def show(
        request: Request,
        viewer: Viewer,
        *,
        created: dict[str, Any] | None = None,
        error: str | None = None,
        values: dict[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        if not webhooks_enabled(web, viewer):
            raise Refused(403, "Only the organization's admins manage webhooks.")
        endpoints = []
        for endpoint in await service.list(viewer.ctx):
            attempts = await service.store.attempts(
                None, endpoint.id, message_id=None, limit=RECENT_ATTEMPTS, before=None
            )
            endpoints.append({**endpoint.to_json(), "attempts": [a.to_json() for a in attempts]})
        return render(
            request,
            viewer,
            "settings_webhooks.html",
            status,
            endpoints=endpoints,
            event_types=service.catalogue.names,
            created=created,
            error=error,
            values=values or {},
        )

    async def index(request: Request, viewer: Viewer) -> Response:
        return await show(request, viewer)

    async def create(request: Request, viewer: Viewer) -> Response:
        form = await web.form(request)
        data = await request.form()
        chosen = [str(v) for v in data.getlist("event_types")]
        body: dict[str, Any] = {
            "url": form.get("url", ""),
            "description": form.get("description", ""),
            "event_types": chosen or None,
        }
        try:
            endpoint = await service.create(viewer.ctx, body)
        except ApiError as exc:
            return await show(request, viewer, error=_message(exc), values=form, status=exc.status)
        created = {**endpoint.to_json(), "secret": endpoint.secret}
        return await show(request, viewer, created=created, status=201)

    async def action(request: Request, viewer: Viewer) -> Response:
        await web.form(request)  # the origin check
        endpoint_id, name = request.path_params["id"], request.path_params["action"]
        try:
            if name == "enable" or name == "disable":
                await service.update(viewer.ctx, endpoint_id, {"enabled": name == "enable"})
                done = "Endpoint turned on." if name == "enable" else "Endpoint paused."
            elif name == "delete":
                await service.delete(viewer.ctx, endpoint_id)
                done = "Endpoint deleted."
            elif name == "rotate":
                secrets = await service.rotate(viewer.ctx, endpoint_id)
                endpoint = await service.get(viewer.ctx, endpoint_id)
                return await show(request, viewer, created={**endpoint.to_json(), **secrets, "rotated": True})
            else:
                raise Refused(404, "There is no such page.")
        except ApiError as exc:
            return flash(redirect(PAGE), _message(exc), "error")
        return flash(redirect(PAGE), done)

    async def resend(request: Request, viewer: Viewer) -> Response:
        await web.form(request)  # the origin check
        params = request.path_params
        try:
            await resender.resend(viewer.ctx, params["id"], params["message_id"])
        except ApiError as exc:
            return flash(redirect(PAGE), _message(exc), "error")
        return flash(redirect(PAGE), "Message sent again.")

    signed = page(web, signed_in=True)
    return [
        Route(PAGE, signed(index), methods=["GET"]),
        Route(PAGE + "/create", signed(create), methods=["POST"]),
        Route(PAGE + "/{id}/{action}", signed(action), methods=["POST"]),
        Route(PAGE + "/{id}/messages/{message_id}/resend", signed(resend), methods=["POST"]),
    ]


def _message(exc: ApiError) -> str:
    return exc.message if isinstance(exc.message, str) else "; ".join(exc.message)
