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

from tenantry.api.endpoint import Endpoint
from tenantry.core.http import ROUTE_SCOPE_KEY, JSONResponse, read_json
from tenantry.errors import ApiError
from tenantry.idempotency import IDEMPOTENCY_HEADER, Claim, Idempotency
from tenantry.pipeline import Seal
from tenantry.querystring import QueryParser
from tenantry.schema import Entity
from tenantry.schema.crud import Guard

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
        schema = runtime.schema
        self.parser = QueryParser(schema, runtime.settings.max_limit)
        # Every entity's own route and every view's, lower-cased: routes match case-insensitively.
        self.by_route: dict[str, Endpoint] = {
            e.route.lower(): Endpoint.build(schema, self.parser, e.route, e, e.crud, Guard())
            for e in schema.entities.values()
        }
        for view in schema.views:
            entity = schema.entities[view.entity]
            self.by_route[view.route.lower()] = Endpoint.build(
                schema, self.parser, view.route, entity, view.crud, view.guard
            )
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

    def endpoint(self, request: Request) -> Endpoint:
        fixed = self._fixed_paths(request).get(request.scope["path"])
        if fixed is not None:
            # A path another route serves with other methods (``PUT /api/audit_logs/export``):
            # Starlette passed it on to these catch-alls, which must not take it for a row id.
            raise method_not_allowed(request, sorted(fixed))
        endpoint = self.by_route.get(request.path_params["resource"].lower())
        if endpoint is None:
            raise not_routed(request)
        # Logs, traces and metrics name the entity's endpoint (/api/projects/{id}), not the shared route.
        template = getattr(request.scope.get("route"), "path_format", None)
        if isinstance(template, str):
            request.scope[ROUTE_SCOPE_KEY] = template.replace("{resource}", endpoint.route, 1)
        return endpoint

    def entity(self, request: Request) -> Entity:
        """The entity a request's route serves (its own route or a view's)."""
        return self.endpoint(request).entity

    async def _open(self, request: Request, kind: str, methods: list[str]) -> tuple[Endpoint, Any]:
        """The route's endpoint and the request's context, once its method, route options and guard allow it."""
        endpoint = self.endpoint(request)
        if request.method not in methods:
            shown = [m for m in methods if m != "HEAD"]
            raise method_not_allowed(request, endpoint.allowed_methods(kind, shown) or shown)
        ctx = await self.runtime.context(request)
        endpoint.check(request, ctx, kind)
        return endpoint, ctx

    async def collection(self, request: Request) -> Response:
        endpoint, ctx = await self._open(request, "collection", ["GET", "HEAD", "POST"])
        entity = endpoint.entity
        if request.method in ("GET", "HEAD"):
            parsed = self.parser.parse_list(entity, endpoint.params(request.query_params.multi_items()))
            query, restrict = endpoint.list_query(parsed)
            page = await self.pipeline.list_rows(ctx, entity, query, restrict=restrict)
            endpoint.shape(page.data)
            return JSONResponse(page.envelope() if page.paginated else page.data)
        body = await read_json(request, self.max_body)
        restrict = endpoint.restriction
        return await self._write(
            request,
            ctx,
            endpoint,
            body,
            201,
            lambda seal: self.pipeline.create_row(
                ctx, entity, body, seal=seal, restrict=restrict, joins=endpoint.write_joins
            ),
        )

    async def bulk(self, request: Request) -> Response:
        endpoint = self.endpoint(request)
        entity = endpoint.entity
        if request.method != "POST" and entity.id_type == "text":
            return await self.item(request)  # `bulk` may be a row's id
        endpoint, ctx = await self._open(request, "bulk", ["POST"])
        body = await read_json(request, self.max_body)
        if not isinstance(body, dict) or "bulk" not in body:
            raise ApiError(
                400,
                "VALIDATION_FAILED",
                ["bulk should not be empty"],
                errors=[{"field": "bulk", "message": "is required", "code": "REQUIRED"}],
            )
        restrict = endpoint.restriction
        return await self._write(
            request,
            ctx,
            endpoint,
            body,
            201,
            lambda seal: self.pipeline.create_rows(
                ctx, entity, body["bulk"], seal=seal, restrict=restrict, joins=endpoint.write_joins
            ),
        )

    async def item(self, request: Request) -> Response:
        endpoint, ctx = await self._open(request, "item", ["GET", "HEAD", "PUT", "PATCH", "DELETE"])
        row_id = request.path_params.get("id", "bulk")
        handler = self._item_handlers[request.method]
        return await handler(self, request, endpoint, ctx, row_id)

    async def _get(self, request: Request, endpoint: Endpoint, ctx: Any, row_id: str) -> Response:
        entity = endpoint.entity
        fields, joins = self.parser.parse_read(entity, endpoint.params(request.query_params.multi_items()))
        fields, joins, restrict = endpoint.read(fields, joins)
        row = await self.pipeline.get_row(ctx, entity, row_id, fields=fields, joins=joins, restrict=restrict)
        return JSONResponse(endpoint.shape_one(row))

    async def _update(self, request: Request, endpoint: Endpoint, ctx: Any, row_id: str) -> Response:
        body = await read_json(request, self.max_body)
        entity, restrict = endpoint.entity, endpoint.restriction
        return await self._write(
            request,
            ctx,
            endpoint,
            body,
            200,
            lambda seal: self.pipeline.update_row(
                ctx, entity, row_id, body, seal=seal, restrict=restrict, joins=endpoint.write_joins
            ),
        )

    async def _delete(self, request: Request, endpoint: Endpoint, ctx: Any, row_id: str) -> Response:
        # nestjsx/crud answers a delete with 200 and an empty body (returnDeleted: false).
        entity, restrict = endpoint.entity, endpoint.restriction
        return await self._write(
            request,
            ctx,
            endpoint,
            None,
            200,
            lambda seal: self.pipeline.delete_row(ctx, entity, row_id, seal=seal, restrict=restrict),
            _empty,
        )

    async def _write(
        self,
        request: Request,
        ctx: Any,
        endpoint: Endpoint,
        body: Any,
        status: int,
        write: Callable[[Seal | None], Awaitable[Any]],
        render: Callable[[Any], Any] | None = None,
    ) -> Response:
        """Run ``write`` and answer ``status`` with what ``render`` makes of its result (by default the
        row or rows as the route shows them); with an ``Idempotency-Key``, once per key, its answer
        stored in the write's transaction."""
        entity = endpoint.entity
        if render is None:

            def render(result: Any) -> Any:
                if isinstance(result, list):
                    return endpoint.shape([dict(r) for r in result])
                return endpoint.shape_one(dict(result)) if isinstance(result, dict) else result

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

    _item_handlers: dict[str, Callable[[CrudEndpoints, Request, Endpoint, Any, str], Awaitable[Response]]] = {
        "GET": _get,
        "HEAD": _get,
        "PUT": _update,
        "PATCH": _update,
        "DELETE": _delete,
    }

    async def recover(self, request: Request) -> Response:
        endpoint = self.endpoint(request)
        if not endpoint.entity.soft_delete:
            raise ApiError(404, "ROUTE_NOT_FOUND", f"Cannot {request.method} {request.url.path}")
        endpoint, ctx = await self._open(request, "recover", ["PATCH"])
        row = await self.pipeline.recover_row(
            ctx, endpoint.entity, request.path_params["id"], restrict=endpoint.restriction
        )
        return JSONResponse(endpoint.shape_one(row))


def _empty(result: Any) -> None:
    """A delete answers with an empty body (nestjsx/crud's returnDeleted: false)."""
    return None


def _answer(status: int, body: Any) -> Response:
    return Response(status_code=status) if body is None else JSONResponse(body, status_code=status)
