"""The OpenAPI document and the docs page: valid OpenAPI 3.1, complete, and served without a CDN."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from ._helpers import get_json

# Every type, every id kind, soft delete and relations in both directions.
WIDE_SCHEMA = """
Settings:
  title: Wide API
kinds:
  id: serial
  fields:
    - label: string(40) (required, unique)
things:
  soft_delete: true
  fields:
    - s: string(80) (required)
    - t: text
    - u: uuid (nullable)
    - i: integer (default: 3)
    - b: bigint (nullable)
    - d: decimal(12, 4) (nullable)
    - f: float (nullable)
    - flag: boolean (default: false)
    - ts: timestamp (nullable)
    - day: date (nullable)
    - doc: json (nullable)
    - size: enum(small, large) (nullable)
    - mood: enum(happy, sad) (default: happy)
    - email: string (email, nullable)
    - kind_id: integer (references kinds, nullable)
    - created_at: timestamp (auto)
    - updated_at: timestamp (auto)
labels:
  id: text
  fields:
    - thing_id: uuid (references things, required)
    - name: string
"""


async def test_seed_openapi_document(make_client) -> None:
    async with make_client() as client:
        r = await client.get("/api/openapi.json")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/json")
        spec = r.json()
        assert spec["openapi"] == "3.1.0"
        validate(spec, cls=OpenAPIV31SpecValidator)
        validate(spec)  # auto-detected version agrees

        paths = spec["paths"]
        for route in ("organizations", "users", "projects", "subscriptions", "audit_logs"):
            assert {"get", "post"} <= set(paths[f"/api/{route}"])
            assert set(paths[f"/api/{route}/bulk"]) == {"post"}
            assert {"get", "put", "patch", "delete"} <= set(paths[f"/api/{route}/{{id}}"])

        schemas = spec["components"]["schemas"]
        for name in ("Project", "ProjectCreate", "ProjectUpdate", "ProjectPage", "Error"):
            assert name in schemas, name
        for entity in ("Organization", "User", "Subscription", "AuditLog"):
            assert {entity, f"{entity}Create", f"{entity}Update", f"{entity}Page"} <= set(schemas)

        project = schemas["Project"]["properties"]
        assert {"id", "name", "description", "org_id", "created_by", "status", "created_at", "updated_at"} <= set(
            project
        )
        assert project["created_at"]["format"] == "date-time"
        assert project["status"]["enum"] == ["active", "archived"]
        assert project["organization"]["anyOf"][0] == {"$ref": "#/components/schemas/Organization"}
        assert schemas["Organization"]["properties"]["projects"]["items"] == {"$ref": "#/components/schemas/Project"}

        create = schemas["ProjectCreate"]
        # The organization and the owner are filled by the server when left out.
        assert sorted(create["required"]) == ["name"]
        assert {"org_id", "created_by"} <= set(create["properties"])
        assert "created_at" not in create["properties"] and "updated_at" not in create["properties"]
        assert "required" not in schemas["ProjectUpdate"] or schemas["ProjectUpdate"]["required"] == []
        # The seed's immutable audit timestamp is not writable at all.
        assert "created_at" not in schemas["AuditLogUpdate"]["properties"]

        page = schemas["ProjectPage"]
        assert page["required"] == ["data", "count", "total", "page", "pageCount"]
        assert page["properties"]["data"]["items"] == {"$ref": "#/components/schemas/Project"}
        assert set(schemas["Error"]["required"]) == {"statusCode", "message", "error", "code"}

        listing = paths["/api/projects"]["get"]
        params = {p["name"] for p in listing["parameters"]}
        assert {"fields", "filter", "or", "s", "join", "sort", "limit", "per_page", "offset", "page"} <= params
        assert "org_id" in params  # plain equality filters
        assert paths["/api/projects"]["post"]["responses"]["201"]
        assert paths["/api/projects/{id}"]["get"]["responses"]["404"]
        assert paths["/api/projects/{id}"]["delete"]["responses"]["409"]
        # Every $ref points at a component that exists.
        refs = set(re.findall(r'"\$ref":\s*"#/components/schemas/([^"]+)"', r.text))
        assert refs and refs <= set(schemas)


async def test_openapi_for_every_type_and_id_kind(make_client) -> None:
    async with make_client(WIDE_SCHEMA) as client:
        spec = await get_json(client, "/api/openapi.json")
        validate(spec, cls=OpenAPIV31SpecValidator)
        assert spec["info"]["title"] == "Wide API"
        schemas = spec["components"]["schemas"]
        thing = schemas["Thing"]["properties"]
        assert thing["b"]["type"] == ["string", "null"]
        assert thing["d"]["type"] == ["string", "null"] and "12,4" in thing["d"]["description"]
        assert thing["ts"]["format"] == "date-time"
        assert thing["day"]["format"] == "date"
        assert thing["size"]["enum"] == ["small", "large", None]
        assert thing["deleted_at"]["readOnly"] is True
        assert schemas["Kind"]["properties"]["id"]["type"] == "integer"
        assert schemas["Label"]["properties"]["id"]["type"] == "string"
        assert "/api/things/{id}/recover" in spec["paths"]
        assert "/api/kinds/{id}/recover" not in spec["paths"]
        kind_id = spec["paths"]["/api/kinds/{id}"]["parameters"][0]
        assert kind_id["schema"]["type"] == "integer"


async def test_openapi_is_stable_and_matches_routes(make_client) -> None:
    async with make_client() as client:
        first = await client.get("/api/openapi.json")
        second = await client.get("/api/openapi.json")
        assert first.content == second.content
        # Each documented list route answers.
        for path in first.json()["paths"]:
            # Billing's and webhooks' paths are for signed-in admins (tests/billing/test_openapi.py,
            # tests/webhooks/test_endpoints.py).
            admins_only = path.startswith(("/api/billing", "/api/webhooks"))
            signed_in = path.startswith(("/api/auth", "/api/notifications")) or path == "/metrics"
            if "{" not in path and not path.endswith("/bulk") and not admins_only and not signed_in:
                assert (await client.get(path)).status_code == 200, path


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


async def test_docs_page_uses_only_local_assets(make_client) -> None:
    async with make_client() as client:
        r = await client.get("/api/docs")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        html = r.text
        assert "swagger-ui" in html and "/api/openapi.json" in html
        assert "<title>My SaaS API — API docs</title>" in html  # the app's name, as its pages call it
        # No absolute or protocol-relative URL anywhere on the page.
        assert not re.search(r"https?:|//[a-z0-9]", html, re.IGNORECASE), re.findall(r"\S*https?:\S*", html)
        parser = _Assets()
        parser.feed(html)
        assert parser.urls, "the page loads its assets"
        kinds: dict[str, Any] = {}
        for url in parser.urls:
            assert url.startswith("/api/"), url
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert asset.content, url
            kinds[url.rsplit(".", 1)[-1]] = asset.headers["content-type"]
        assert kinds["js"].split(";")[0] in ("text/javascript", "application/javascript")
        assert kinds["css"].startswith("text/css")
        # The spec the page points at is served.
        assert (await client.get("/api/openapi.json")).status_code == 200
        # The vendored bundle itself fetches nothing from a CDN at start-up.
        bundle = await client.get("/api/_static/swagger-ui/swagger-ui-bundle.js")
        assert "unpkg.com" not in bundle.text and "cdn.jsdelivr.net" not in bundle.text


async def test_security_schemes_follow_the_enabled_credentials(make_client) -> None:
    from tenantry.auth import AuthSettings

    async with make_client() as client:
        spec = await get_json(client, "/api/openapi.json")
        schemes = spec["components"]["securitySchemes"]
        assert set(schemes) == {"sessionCookie", "bearerToken", "apiKey"}
        assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header", "name": "x-api-key"}
        assert spec["security"] == [{"sessionCookie": []}, {"bearerToken": []}, {"apiKey": []}]
        validate(spec, cls=OpenAPIV31SpecValidator)
    async with make_client(auth=AuthSettings(TENANTRY_AUTH_PLUGINS="two-factor")) as client:
        spec = await get_json(client, "/api/openapi.json")
        assert set(spec["components"]["securitySchemes"]) == {"sessionCookie", "bearerToken"}
