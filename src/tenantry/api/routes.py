"""The generated CRUD endpoints: ``/api/<route>`` for every entity, matched case-insensitively.

One set of routes serves every entity (the entity is looked up from the path), so a schema with
many entities adds no routing cost. Handlers stay thin: parse, call the pipeline, shape the reply.
A write sent with an ``Idempotency-Key`` goes through ``tenantry.idempotency`` (one header lookup
when there is none).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from tenantry.core.http import ROUTE_SCOPE_KEY, JSONResponse, read_json
from tenantry.errors import ApiError
from tenantry.idempotency import IDEMPOTENCY_HEADER, Claim, Idempotency
from tenantry.pipeline import Seal
from tenantry.querystring import QueryParser
from tenantry.schema import Entity

if TYPE_CHECKING:
    from tenantry.core import App

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def method_not_allowed(request: Request, allowed: list[str]) -> ApiError:
    return ApiError(405, "METHOD_NOT_ALLOWED", f"Cannot {request.method} {request.url.path}", allow=", ".join(allowed))


def not_routed(request: Request) -> ApiError:
    """No entity has this route: 405 with ``Allow`` when another route serves the path with other
    methods (``DELETE /api/billing``: Starlette passed it on to these catch-alls), else 404."""
    allowed: set[str] = set()
    router = request.scope.get("router")
    for route in getattr(router, "routes", ()):
        match, _ = route.matches(request.scope)
        if match is Match.PARTIAL and isinstance(route, Route) and route.methods:
            allowed |= route.methods
    if allowed:
        return method_not_allowed(request, sorted(allowed))
    return ApiError(404, "ROUTE_NOT_FOUND", f"Cannot {request.method} {request.url.path}")


class CrudEndpoints:
    """Starlette endpoints for the generated CRUD API of one app."""

    def __init__(self, runtime: App) -> None:
        self.runtime = runtime
        self.pipeline = runtime.pipeline
        self.by_route = runtime.schema.by_route()
        self.parser = QueryParser(runtime.schema, runtime.settings.max_limit)
        self.max_body = runtime.settings.max_body_bytes
        idempotency = runtime.find(Idempotency)
        self.keys = idempotency.keys if idempotency is not None else None
        self._fixed: dict[str, set[str]] | None = None

    def _fixed_paths(self, request: Request) -> dict[str, set[str]]:
        """The app's other routes without parameters and their methods, read once."""
        if self._fixed is None:
            fixed: dict[str, set[str]] = {}
            for route in getattr(request.scope.get("router"), "routes", ()):
                if isinstance(route, Route) and "{" not in route.path and route.methods:
                    fixed.setdefault(route.path, set()).update(route.methods)
            self._fixed = fixed
        return self._fixed

    def routes(self, prefix: str = "/api") -> list[Route]:
        return [
            Route(prefix + "/{resource}", self.collection, methods=ALL_METHODS),
            Route(prefix + "/{resource}/bulk", self.bulk, methods=ALL_METHODS),
            Route(prefix + "/{resource}/{id}", self.item, methods=ALL_METHODS),
            Route(prefix + "/{resource}/{id}/recover", self.recover, methods=ALL_METHODS),
        ]

    def entity(self, request: Request) -> Entity:
        fixed = self._fixed_paths(request).get(request.url.path)
        if fixed is not None:
            # A path another route serves with other methods (``PUT /api/audit_logs/export``):
            # Starlette passed it on to these catch-alls, which must not take it for a row id.
            raise method_not_allowed(request, sorted(fixed))
        entity = self.by_route.get(request.path_params["resource"].lower())
        if entity is None:
            raise not_routed(request)
        # Logs, traces and metrics name the entity's endpoint (/api/projects/{id}), not the shared route.
        template = getattr(request.scope.get("route"), "path_format", None)
        if isinstance(template, str):
            request.scope[ROUTE_SCOPE_KEY] = template.replace("{resource}", entity.route, 1)
        return entity

    async def collection(self, request: Request) -> Response:
        entity = self.entity(request)
        ctx = await self.runtime.context(request)
        if request.method in ("GET", "HEAD"):
            query = self.parser.parse_list(entity, request.query_params.multi_items())
            page = await self.pipeline.list_rows(ctx, entity, query)
            return JSONResponse(page.envelope() if page.paginated else page.data)
        if request.method == "POST":
            body = await read_json(request, self.max_body)
            return await self._write(
                request, ctx, entity, body, 201, lambda seal: self.pipeline.create_row(ctx, entity, body, seal=seal)
            )
        raise method_not_allowed(request, ["GET", "POST"])

    async def bulk(self, request: Request) -> Response:
        entity = self.entity(request)
        if request.method != "POST":
            if entity.id_type == "text":
                return await self.item(request)  # `bulk` may be a row's id
            raise method_not_allowed(request, ["POST"])
        ctx = await self.runtime.context(request)
        body = await read_json(request, self.max_body)
        if not isinstance(body, dict) or "bulk" not in body:
            raise ApiError(
                400,
                "VALIDATION_FAILED",
                ["bulk should not be empty"],
                errors=[{"field": "bulk", "message": "is required", "code": "REQUIRED"}],
            )
        return await self._write(
            request,
            ctx,
            entity,
            body,
            201,
            lambda seal: self.pipeline.create_rows(ctx, entity, body["bulk"], seal=seal),
        )

    async def item(self, request: Request) -> Response:
        entity = self.entity(request)
        ctx = await self.runtime.context(request)
        row_id = request.path_params.get("id", "bulk")
        handler = self._item_handlers.get(request.method)
        if handler is None:
            raise method_not_allowed(request, ["GET", "PUT", "PATCH", "DELETE"])
        return await handler(self, request, entity, ctx, row_id)

    async def _get(self, request: Request, entity: Entity, ctx: Any, row_id: str) -> Response:
        fields, joins = self.parser.parse_read(entity, request.query_params.multi_items())
        return JSONResponse(await self.pipeline.get_row(ctx, entity, row_id, fields=fields, joins=joins))

    async def _update(self, request: Request, entity: Entity, ctx: Any, row_id: str) -> Response:
        body = await read_json(request, self.max_body)
        return await self._write(
            request, ctx, entity, body, 200, lambda seal: self.pipeline.update_row(ctx, entity, row_id, body, seal=seal)
        )

    async def _delete(self, request: Request, entity: Entity, ctx: Any, row_id: str) -> Response:
        # nestjsx/crud answers a delete with 200 and an empty body (returnDeleted: false).
        return await self._write(
            request,
            ctx,
            entity,
            None,
            200,
            lambda seal: self.pipeline.delete_row(ctx, entity, row_id, seal=seal),
            _empty,
        )

    async def _write(
        self,
        request: Request,
        ctx: Any,
        entity: Entity,
        body: Any,
        status: int,
        write: Callable[[Seal | None], Awaitable[Any]],
        render: Callable[[Any], Any] = lambda result: result,
    ) -> Response:
        """Run ``write`` and answer ``status`` with what ``render`` makes of its result; with an
        ``Idempotency-Key``, once per key, its answer stored in the write's transaction."""
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None or self.keys is None:  # without the capability the header means nothing
            return _answer(status, render(await write(None)))

        def seal_of(claim: Claim | None) -> Awaitable[Any]:
            return write(None if claim is None else claim.seal)

        async def present(stored: Any) -> Any:
            rows = stored if isinstance(stored, list) else [stored]
            await self.pipeline.present(ctx, entity, [r for r in rows if isinstance(r, dict)])
            return stored

        return await self.keys.run(
            request, ctx, key, body, status=status, write=seal_of, render=render, present=present
        )

    _item_handlers: dict[str, Callable[[CrudEndpoints, Request, Entity, Any, str], Awaitable[Response]]] = {
        "GET": _get,
        "HEAD": _get,
        "PUT": _update,
        "PATCH": _update,
        "DELETE": _delete,
    }

    async def recover(self, request: Request) -> Response:
        entity = self.entity(request)
        if not entity.soft_delete:
            raise ApiError(404, "ROUTE_NOT_FOUND", f"Cannot {request.method} {request.url.path}")
        if request.method != "PATCH":
            raise method_not_allowed(request, ["PATCH"])
        ctx = await self.runtime.context(request)
        return JSONResponse(await self.pipeline.recover_row(ctx, entity, request.path_params["id"]))


def _empty(result: Any) -> None:
    """A delete answers with an empty body (nestjsx/crud's returnDeleted: false)."""
    return None


def _answer(status: int, body: Any) -> Response:
    return Response(status_code=status) if body is None else JSONResponse(body, status_code=status)
