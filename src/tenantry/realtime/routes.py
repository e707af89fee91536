"""``/api/notifications``: the signed-in user's own notifications, their unread count, marking them read."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.core.http import JSONResponse
from tenantry.errors import unauthorized
from tenantry.realtime.errors import invalid_query, notification_not_found
from tenantry.realtime.service import NotificationStore

if TYPE_CHECKING:
    from tenantry.core import App

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class NotificationRoutes:
    """Thin endpoints over ``NotificationStore``; every statement is bound to the caller's user id."""

    def __init__(self, runtime: App, store: NotificationStore) -> None:
        self.runtime = runtime
        self.store = store

    def routes(self, prefix: str = "/api") -> list[BaseRoute]:
        base = f"{prefix}/notifications"
        return [
            Route(base, self.list, methods=["GET", "HEAD"]),
            Route(f"{base}/unread-count", self.unread_count, methods=["GET", "HEAD"]),
            Route(f"{base}/read-all", self.read_all, methods=["POST"]),
            Route(base + "/{id}/read", self.read_one, methods=["POST"]),
        ]

    async def _user(self, request: Request) -> str:
        ctx = await self.runtime.context(request)
        user_id = ctx.principal.user_id
        if ctx.principal.kind != "user" or user_id is None:
            raise unauthorized("Sign in to read your notifications")
        return user_id

    async def list(self, request: Request) -> Response:
        user_id = await self._user(request)
        params = request.query_params
        page = _positive(params.get("page"), "page", 1, 1_000_000)
        limit = _positive(params.get("limit"), "limit", DEFAULT_LIMIT, MAX_LIMIT)
        unread = params.get("unread", "false").lower()
        if unread not in ("true", "false", "1", "0"):
            raise invalid_query("unread must be true or false")
        result = await self.store.page(user_id, page=page, limit=limit, unread_only=unread in ("true", "1"))
        return JSONResponse(result.envelope())

    async def unread_count(self, request: Request) -> Response:
        user_id = await self._user(request)
        return JSONResponse({"count": await self.store.unread_count(user_id)})

    async def read_all(self, request: Request) -> Response:
        user_id = await self._user(request)
        return JSONResponse({"updated": await self.store.mark_all_read(user_id)})

    async def read_one(self, request: Request) -> Response:
        user_id = await self._user(request)
        raw = request.path_params["id"]
        try:
            notification_id = str(uuid.UUID(raw))
        except ValueError:
            raise notification_not_found() from None
        if not await self.store.mark_read(user_id, notification_id):
            raise notification_not_found()  # someone else's or none: the same answer
        return JSONResponse({"id": notification_id, "read": True})


def _positive(raw: str | None, name: str, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise invalid_query(f"{name} must be a whole number from 1 to {maximum}")
    return int(raw)
