"""Every route the app serves is in ``/api/openapi.json`` (so none can be added undocumented), the
document is valid OpenAPI 3.1, and a method a path does not serve is a 405 naming those it does."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator
from starlette.routing import Mount, Route

from tenantry.auth import Authentication, AuthSettings
from tenantry.schema import Schema, load_schema
from tests.api.test_crud_options import BLOG
from tests.auth.helpers import runtime
from tests.conftest import ClientFactory

ALL_PLUGINS = AuthSettings(TENANTRY_AUTH_PLUGINS="admin,two-factor,magic-link,passkey,api-key")
# Served, but not API: the web app's pages (HTML for browsers, see docs/) and the development tools
# under /dev/ (only in development). Every other route must be in the document.
NOT_API = "/dev/"


def crud_operations(schema: Schema) -> set[tuple[str, str]]:
    """What the CRUD API serves: every entity's route and every view's, less the routes their
    ``crud.routes`` options leave out (docs/crud-options.md)."""
    served: set[tuple[str, str]] = set()
    routes = [(e.route, e, e.crud) for e in schema.entities.values()]
    routes += [(v.route, schema.entities[v.entity], v.crud) for v in schema.views]
    for route, entity, options in routes:
        base = f"/api/{route}"
        operations = {
            ("GET", base): "getManyBase",
            ("POST", base): "createOneBase",
            ("POST", base + "/bulk"): "createManyBase",
            ("GET", base + "/{id}"): "getOneBase",
            ("PUT", base + "/{id}"): "replaceOneBase",
            ("PATCH", base + "/{id}"): "updateOneBase",
            ("DELETE", base + "/{id}"): "deleteOneBase",
        }
        if entity.soft_delete:
            operations[("PATCH", base + "/{id}/recover")] = "recoverOneBase"
        served |= {op for op, name in operations.items() if options.serves(name)}
    return served


async def test_views_and_route_options_are_documented(make_client: ClientFactory) -> None:
    """The blog of docs/crud-options.md: views are documented, routes its options leave out are not."""
    async with make_client(load_schema(BLOG)) as client:
        spec = (await client.get("/api/openapi.json")).json()
        validate(spec, cls=OpenAPIV31SpecValidator)
        schema = runtime(client).schema
        routes = {f"/api/{e.route}" for e in schema.entities.values()} | {f"/api/{v.route}" for v in schema.views}
        documented = {
            (m.upper(), path)
            for path, item in spec["paths"].items()
            if "/".join(path.split("/")[:3]) in routes
            for m in item
            if m != "parameters"
        }
        served = crud_operations(schema)
        assert documented == served
        assert ("DELETE", "/api/Authors/{id}") not in served and ("GET", "/api/secure-posts") in served
        # A guard's header is a required parameter of each of the view's operations.
        listed = spec["paths"]["/api/secure-posts"]["get"]
        assert {
            "name": "x-blog-key",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "const": "s3cret"},
        } in (listed["parameters"])
        # Hidden fields are not in a route's rows; a fixed value is not required in its bodies.
        shapes = spec["components"]["schemas"]
        assert "email" not in shapes["AuthorResponse"]["properties"] and "email" in shapes["Author"]["properties"]
        assert "body" not in shapes["SecurePosts"]["properties"]
        assert "authorId" in shapes["PostCreate"]["required"]
        assert "authorId" not in shapes["ScopedPostsCreate"]["required"]


def _template(path: str) -> str:
    """``/api/{resource}/{id}`` and ``/api/auth/{path:path}`` as the document writes a path."""
    return re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", path)


async def test_every_route_is_documented(make_client: ClientFactory) -> None:
    async with make_client(auth=ALL_PLUGINS) as client:
        spec = (await client.get("/api/openapi.json")).json()
        validate(spec, cls=OpenAPIV31SpecValidator)
        documented = {(m.upper(), path) for path, item in spec["paths"].items() for m in item if m != "parameters"}
        app = runtime(client)
        web = app.capabilities.named("web")
        pages = {id(route) for route in (web.routes() if web is not None else ())}
        served: set[tuple[str, str]] = set()
        catch_alls = 0
        for route in client.app.routes:  # type: ignore[attr-defined]
            if id(route) in pages or route.path.startswith(NOT_API):
                continue
            if isinstance(route, Mount):
                served.add(("GET", route.path + "/{path}"))
            elif isinstance(route, Route) and "{resource}" in route.path:
                catch_alls += 1  # the CRUD API's routes: one per entity, checked below
            elif isinstance(route, Route) and route.path.startswith("/api/auth/"):
                served |= {
                    ("GET" if m == "HEAD" else m, "/api/auth" + t)
                    for m, t in app.get(Authentication).router.endpoints()
                }
            else:
                assert isinstance(route, Route) and route.methods, route
                served |= {(m, _template(route.path)) for m in route.methods if m != "HEAD"}
        assert catch_alls == 4
        served |= crud_operations(app.schema)
        missing = sorted(served - documented)
        assert not missing, f"served but not in the OpenAPI document: {missing}"
        # And nothing documented that is not served.
        assert not sorted(documented - served), sorted(documented - served)
        # Every operation documents its errors with a stable code (the shared schemas), and some success.
        for path, item in spec["paths"].items():
            for method, op in item.items():
                if method == "parameters":
                    continue
                statuses = set(op["responses"])
                # (POST /api/auth/get-session is Better Auth's 405, always.)
                assert statuses & {"200", "201", "202", "204", "302", "405"}, (method, path)
                for status, response in op["responses"].items():
                    json_body = response.get("content", {}).get("application/json")
                    if status[0] == "4" and json_body is not None:
                        model = json_body["schema"].get("$ref", "").rsplit("/", 1)[-1]
                        assert model in ("Error", "AuthError", "AuthRateLimited"), (method, path, status)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/billing", "GET, HEAD"),
        ("GET", "/api/billing/checkout", "POST"),
        ("GET", "/api/projects/bulk", "POST"),
        ("PUT", "/api/projects/bulk", "POST"),
        ("POST", "/api/projects/00000000-0000-4000-8000-000000000000", "DELETE, GET, PATCH, PUT"),
        ("DELETE", "/api/projects", "GET, POST"),
        ("PUT", "/api/audit_logs/export", "GET, HEAD"),
        ("DELETE", "/api/notifications", "GET, HEAD"),
        ("POST", "/api/openapi.json", "GET, HEAD"),
        ("DELETE", "/api/webhooks/endpoints", "GET, HEAD, POST"),
    ],
)
async def test_a_method_not_served_is_405_with_allow(
    make_client: ClientFactory, method: str, path: str, allow: str
) -> None:
    async with make_client() as client:
        r = await client.request(method, path, headers={"content-type": "application/json"}, content=b"{}")
        assert r.status_code == 405, (method, path, r.text)
        assert sorted(r.headers["allow"].split(", ")) == sorted(allow.split(", "))
        assert r.json()["code"] == "METHOD_NOT_ALLOWED"
