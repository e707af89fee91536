"""The indexed router answers every path exactly as Starlette's own router would."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router

from tenantry.core.routing import IndexedRouter, literal_start, may_match, segments_key


def answer(name: str) -> Any:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(f"{name} {sorted(request.path_params.items())}")

    return endpoint


def routes(catch_all: bool = True) -> list[BaseRoute]:
    """Shapes an app has: literal paths, parameters in every position, partial segments, mounts, a
    catch-all (or none, so that slashes redirect), the same path with other methods (405), and a
    route after a broader one."""
    inner = Router([Route("/file/{name}", answer("mounted"))])
    return [
        Route("/api/auth/{path:path}", answer("auth"), methods=["GET", "POST"]),
        Route("/api/webhooks/endpoints", answer("endpoints"), methods=["POST"]),
        Route("/api/webhooks/endpoints/{id}", answer("endpoint"), methods=["GET"]),
        Route("/api/health", answer("health")),
        Mount("/api/_static", app=inner),
        Route("/api/{resource}", answer("collection"), methods=["GET", "POST"]),
        Route("/api/{resource}/bulk", answer("bulk"), methods=["POST"]),
        Route("/api/{resource}/{id}", answer("item"), methods=["GET", "PATCH"]),
        Route("/report-{year}.csv", answer("report")),
        Route("/settings", answer("settings")),
        Route("/settings/members/{id}/{action}", answer("member"), methods=["POST"]),
        Route("/{entity}/new", answer("new")),
        Route("/docs/", answer("docs")),
        Route("/", answer("home")),
        *([Route("/{path:path}", answer("catch-all"), methods=["GET"])] if catch_all else []),
    ]


PATHS = [
    "/",
    "/api",
    "/api/",
    "/api/auth",
    "/api/auth/get-session",
    "/api/auth/organization/list",
    "/api/webhooks/endpoints",
    "/api/webhooks/endpoints/",
    "/api/webhooks/endpoints/7",
    "/api/webhooks/endpoints/7/secret",
    "/api/webhooks",
    "/api/health",
    "/api/healthz",
    "/api/_static/file/x.js",
    "/api/_static",
    "/api/projects",
    "/api/projects/",
    "/api/projects/bulk",
    "/api/projects/42",
    "/api/projects/42/recover",
    "/report-2026.csv",
    "/report-.csv",
    "/settings",
    "/settings/",
    "/settings/members/3/remove",
    "/settings/members/3",
    "/projects/new",
    "/docs",
    "/docs/",
    "/nowhere/at/all",
    "//double",
    "/%2e%2e/x",
]


async def answers(app: Starlette) -> list[tuple[str, str, int, str, str]]:
    seen = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path in PATHS:
            for method in ("GET", "POST", "PATCH", "DELETE"):
                r = await client.request(method, path, follow_redirects=False)
                seen.append((method, path, r.status_code, r.text, r.headers.get("location", "")))
    return seen


@pytest.mark.parametrize("catch_all", [True, False])
async def test_the_indexed_router_answers_as_starlettes_router_does(catch_all: bool) -> None:
    plain = Starlette(routes=routes(catch_all))
    indexed = Starlette(routes=routes(catch_all))
    indexed.router = IndexedRouter(indexed.router.routes)
    expected = await answers(plain)
    assert await answers(indexed) == expected
    # The comparison covered every kind of answer: routed and 405, then redirects and 404s.
    statuses = {status for _, _, status, _, _ in expected}
    assert {200, 405} <= statuses
    if not catch_all:
        assert {307, 404} <= statuses


async def test_routes_added_after_construction_are_found() -> None:
    app = Starlette(routes=[Route("/a", answer("a"))])
    app.router = IndexedRouter(app.router.routes)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.get("/b")).status_code == 404
        app.router.routes.append(Route("/b", answer("b")))
        assert (await client.get("/b")).text == "b []"


def test_the_candidates_of_a_path_keep_the_routes_order_and_leave_out_only_impossible_ones() -> None:
    router = IndexedRouter(routes())
    found = [literal_start(r) for r in router.candidates("/api/projects/42")]
    assert found == ["/api/", "/api/", "/api/", "/", "/", "/"]
    assert [literal_start(r) for r in router.candidates("/api/webhooks/endpoints/7")][:2] == [
        "/api/webhooks/endpoints",
        "/api/webhooks/endpoints/",
    ]


@pytest.mark.parametrize(
    ("start", "key", "expected"),
    [
        ("/", "/api/projects", True),
        ("/api/", "/api/projects", True),
        ("/api/projects", "/api/projects", True),
        ("/api/pro", "/api/projects", True),  # a parameter inside the second segment
        ("/api/projects/", "/api/projects", True),
        ("/api/projectsx/", "/api/projects", False),
        ("/api/webhooks/endpoints", "/api/projects", False),
        ("/settings", "/settings", True),
        ("/settings/members/", "/settings", True),
        ("/settings/members/", "/settingsx", False),
        ("/report-", "/report-2026.csv", True),
    ],
)
def test_may_match(start: str, key: str, expected: bool) -> None:
    assert may_match(start, key) is expected


def test_segments_key() -> None:
    assert segments_key("/") == "/"
    assert segments_key("/api") == "/api"
    assert segments_key("/api/projects") == "/api/projects"
    assert segments_key("/api/projects/7/recover") == "/api/projects"
    assert segments_key("/api/") == "/api/"
