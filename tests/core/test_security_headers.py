"""Every response carries a deliberate set of security headers: API JSON, errors, pages, the API
docs and static files, in development and in production (HSTS only there, over https)."""

from __future__ import annotations

import os

import httpx

from tenantry.analytics import AnalyticsSettings
from tenantry.core.security_headers import frame_options, hsts_value
from tenantry.mail import MailSettings

PRODUCTION = {
    "TENANTRY_ENV": "production",
    "TENANTRY_SECRET": "s" * 40,
    "mail": MailSettings(TENANTRY_MAIL_BACKEND="file", TENANTRY_MAIL_FILE=os.devnull),
}
HSTS = "max-age=63072000; includeSubDomains"


def policy(response: httpx.Response) -> dict[str, list[str]]:
    """The response's content security policy, directive by directive."""
    directives: dict[str, list[str]] = {}
    for part in response.headers["content-security-policy"].split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def assert_common(response: httpx.Response, what: str) -> None:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff", what
    assert headers["referrer-policy"] == "same-origin", what
    assert policy(response)["frame-ancestors"] == ["'none'"], what
    assert headers["x-frame-options"] == "DENY", what


async def responses(client: httpx.AsyncClient) -> dict[str, httpx.Response]:
    """One response of each kind the app serves."""
    return {
        "api json": await client.get("/api/projects"),
        "api error": await client.get("/api/projects/not-a-uuid"),
        "no route": await client.get("/api/no_such_thing"),
        "auth json": await client.get("/api/auth/ok"),
        "openapi": await client.get("/api/openapi.json"),
        "docs": await client.get("/api/docs"),
        "docs script": await client.get("/api/_static/docs.js"),
        "swagger css": await client.get("/api/_static/swagger-ui/swagger-ui.css"),
        "page": await client.get("/login"),
        "redirect": await client.get("/dashboard"),
        "page script": await client.get("/static/web/app.js"),
        "home": await client.get("/"),
    }


async def test_every_kind_of_response_carries_the_headers(make_client) -> None:
    async with make_client() as client:
        answers = await responses(client)
        for what, response in answers.items():
            assert response.status_code < 500, what
            assert_common(response, what)
            # Development over http: a browser must never be pinned to https for 127.0.0.1.
            assert "strict-transport-security" not in response.headers, what
        # Non-HTML answers, opened as a document, may load and run nothing.
        for what in ("api json", "api error", "no route", "auth json", "openapi", "docs script", "swagger css"):
            assert answers[what].headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        # The docs run only the package's scripts and call only this site.
        docs = policy(answers["docs"])
        assert docs["script-src"] == ["'self'"] and docs["connect-src"] == ["'self'"]
        assert "<script>" not in answers["docs"].text  # no inline script for the policy to allow
        # Pages keep their own policy (no inline script either).
        assert policy(answers["page"])["script-src"] == ["'self'"]
        assert policy(answers["home"])["script-src"] == ["'self'"]


async def test_production_over_https_adds_hsts(make_client) -> None:
    async with make_client(base_url="https://app.example.com", **PRODUCTION) as client:
        for what, response in (await responses(client)).items():
            assert response.headers["strict-transport-security"] == HSTS, what
            assert_common(response, what)


async def test_the_posthog_allowance_keeps_the_page_policy_whole(make_client) -> None:
    analytics = AnalyticsSettings(POSTHOG_API_KEY="phc_test", POSTHOG_HOST="https://eu.i.posthog.com")
    async with make_client(analytics=analytics) as client:
        page = await client.get("/login")
        assert "https://eu.i.posthog.com" in policy(page)["connect-src"]
        assert policy(page)["script-src"] == ["'self'"]
        assert_common(page, "page with analytics")
        api = await client.get("/api/projects")
        assert "posthog" not in api.headers["content-security-policy"]


def test_hsts_only_in_production_over_https() -> None:
    assert hsts_value("production", "https://app.example.com", 63_072_000, True) == HSTS
    assert hsts_value("production", "https://app.example.com", 300, False) == "max-age=300"
    assert hsts_value("production", "https://app.example.com", 0, True) is None
    assert hsts_value("production", "http://app.example.com", 63_072_000, True) is None
    assert hsts_value("development", "https://app.example.com", 63_072_000, True) is None


def test_x_frame_options_follows_frame_ancestors() -> None:
    assert frame_options("default-src 'none'; frame-ancestors 'none'") == "DENY"
    assert frame_options("default-src 'none'; frame-ancestors 'self'") == "SAMEORIGIN"
    assert frame_options("default-src 'none'; frame-ancestors https://partner.example") is None
    assert frame_options("default-src 'none'") == "DENY"
