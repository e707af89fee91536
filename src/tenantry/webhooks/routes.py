"""``/api/webhooks``: the event catalogue, and an organization's endpoints, secrets, messages and attempts.

Thin: each route parses the request, asks ``EndpointService`` (which checks who asks), shapes JSON.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.core.http import JSONResponse, read_json
from tenantry.webhooks import errors
from tenantry.webhooks.fanout import is_message_id

if TYPE_CHECKING:
    from tenantry.webhooks.resend import Resender
    from tenantry.webhooks.service import EndpointService

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 250


class WebhookRoutes:
    """The endpoints of ``/api/webhooks``."""

    def __init__(self, service: EndpointService, resender: Resender) -> None:
        self.service = service
        self.resender = resender
        self.app = service.app

    def routes(self, prefix: str = "/api/webhooks") -> list[BaseRoute]:
        one = prefix + "/endpoints/{id}"
        return [
            Route(f"{prefix}/event-types", self.event_types, methods=["GET"]),
            Route(f"{prefix}/endpoints", self.list, methods=["GET"]),
            Route(f"{prefix}/endpoints", self.create, methods=["POST"]),
            Route(one, self.get, methods=["GET"]),
            Route(one, self.update, methods=["PATCH", "PUT"]),
            Route(one, self.delete, methods=["DELETE"]),
            Route(f"{one}/secret", self.secret, methods=["GET"]),
            Route(f"{one}/rotate-secret", self.rotate, methods=["POST"]),
            Route(f"{one}/messages", self.messages, methods=["GET"]),
            Route(f"{one}/attempts", self.attempts, methods=["GET"]),
            Route(one + "/messages/{message_id}/attempts", self.message_attempts, methods=["GET"]),
            Route(one + "/messages/{message_id}/resend", self.resend, methods=["POST"]),
            Route(f"{one}/replay", self.replay, methods=["POST"]),
        ]

    async def event_types(self, request: Request) -> Response:
        ctx = await self.app.context(request)
        if not ctx.principal.is_authenticated:
            raise errors.sign_in_first()
        return JSONResponse({"data": [t.describe() for t in self.service.catalogue.all()]})

    async def list(self, request: Request) -> Response:
        ctx = await self.app.context(request)
        return JSONResponse([e.to_json() for e in await self.service.list(ctx)])

    async def create(self, request: Request) -> Response:
        ctx = await self.app.context(request)
        self.service.admin_org(ctx)  # who asks before what they sent
        body = await read_json(request, self.app.settings.max_body_bytes)
        endpoint = await self.service.create(ctx, body)
        # The secret is shown here, once in passing; GET …/secret shows it to admins again.
        return JSONResponse({**endpoint.to_json(), "secret": endpoint.secret}, status_code=201)

    async def get(self, request: Request) -> Response:
        ctx = await self.app.context(request)
        return JSONResponse((await self.service.get(ctx, request.path_params["id"])).to_json())

    async def update(self, request: Request) -> Response:
        ctx = await self.app.context(request)
        self.service.admin_org(ctx)
        body = await read_json(request, self.app.settings.max_body_bytes)
        return JSONResponse((await self.service.update(ctx, request.path_params["id"], body)).to_json())

    async def delete(self, request: Request) -> Response:
        ctx = await self.app.context(request)
        await self.service.delete(ctx, request.path_params["id"])
        return Response(status_code=200)

    async def secret(self, request: Request) -> Response:
        ctx = await self.app.context(request)
        return JSONResponse(await self.service.secret(ctx, request.path_params["id"]))

    async def rotate(self, request: Request) -> Response:
        ctx = await self.app.context(request)
        return JSONResponse(await self.service.rotate(ctx, request.path_params["id"]))

    async def messages(self, request: Request) -> Response:
        ctx = await self.app.context(request)
        endpoint = await self.service.get(ctx, request.path_params["id"])
        limit, before = _page(request)
        found = await self.service.store.messages(None, endpoint.id, limit=limit, before=before)
        return JSONResponse(_envelope([m.to_json() for m in found], limit))

    async def attempts(self, request: Request) -> Response:
        ctx = await self.app.context(request)
        endpoint = await self.service.get(ctx, request.path_params["id"])
        return await self._attempts(request, endpoint.id, None)

    async def message_attempts(self, request: Request) -> Response:
        ctx = await self.app.context(request)
        endpoint, message = await self.service.message(
            ctx, request.path_params["id"], request.path_params["message_id"]
        )
        return await self._attempts(request, endpoint.id, message.id)

    async def _attempts(self, request: Request, endpoint_id: str, message_id: str | None) -> Response:
        limit, before = _page(request, uuid_cursor=True)
        found = await self.service.store.attempts(None, endpoint_id, message_id=message_id, limit=limit, before=before)
        return JSONResponse(_envelope([a.to_json() for a in found], limit))

    async def resend(self, request: Request) -> Response:
        ctx = await self.app.context(request)
        message = await self.resender.resend(ctx, request.path_params["id"], request.path_params["message_id"])
        return JSONResponse(message.to_json(), status_code=202)

    async def replay(self, request: Request) -> Response:
        ctx = await self.app.context(request)
        self.service.admin_org(ctx)
        body = await read_json(request, self.app.settings.max_body_bytes)
        return JSONResponse(await self.resender.replay(ctx, request.path_params["id"], body), status_code=202)


def _page(request: Request, *, uuid_cursor: bool = False) -> tuple[int, str | None]:
    params = request.query_params
    raw = params.get("limit")
    if raw is None or raw == "":
        limit = DEFAULT_LIMIT
    elif raw.isdigit() and 1 <= int(raw) <= MAX_LIMIT:
        limit = int(raw)
    else:
        raise errors.invalid_query(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    before = params.get("before") or None
    if before is not None and not _cursor_ok(before, uuid_cursor=uuid_cursor):
        raise errors.invalid_query("before must be the id of a listed item")
    return limit, before


def _cursor_ok(value: str, *, uuid_cursor: bool) -> bool:
    if uuid_cursor:
        try:
            uuid.UUID(value)
        except ValueError:
            return False
        return True
    return is_message_id(value)


def _envelope(data: list[dict[str, object]], limit: int) -> dict[str, object]:
    """A page, newest first; ``next`` is the cursor of the following page (``?before=``), if there may be one."""
    last = data[-1]["id"] if len(data) == limit and data else None
    return {"data": data, "next": last}
