"""``app_from_env`` on a schema with mistakes: in development an app that shows them (the page a
browser reloads until they are fixed, a 503 JSON error for API clients); in production, no start."""

from __future__ import annotations

import asyncio
import html
from pathlib import Path

import httpx
import pytest

from tenantry.app import app_from_env
from tenantry.server.schema_error import CODE, HEADER
from tests.conftest import SEED_SCHEMA_PATH

PLANS_WITHOUT_FREE = "\nsettings:\n  billing:\n    plans:\n      pro:\n        price_monthly: price_pro\n"


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A schema with two bad types; the environment pointing at it."""
    path = tmp_path / "schema.yaml"
    text = SEED_SCHEMA_PATH.read_text().replace("enum(active, archived)", "enumm(active)")
    path.write_text(text.replace("  - description: text (nullable)", "  - description: txet (nullable)"))
    monkeypatch.chdir(tmp_path)
    for key in ("DATABASE_URL", "TENANTRY_ENV", "TENANTRY_SCHEMA"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TENANTRY_SCHEMA", str(path))
    return path


async def test_development_serves_the_problems(broken: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANTRY_ENV", "development")
    app = app_from_env()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dev") as client:
        page = await client.get("/app/projects?x=1", headers={"accept": "text/html,application/xhtml+xml"})
        assert page.status_code == 503 and page.headers[HEADER] == "1" and page.headers["retry-after"] == "1"
        text = html.unescape(page.text)
        # Every problem, as FILE:LINE: message.
        assert f"{broken}:" in text and "unknown type 'enumm'" in text and "unknown type 'txet'" in text
        assert "2 problems in the schema; fix them and save." in text
        policy = page.headers["content-security-policy"]
        nonce = policy.split("'nonce-")[1].split("'")[0]
        assert f"<script nonce={nonce}>" in page.text and "location.reload()" in page.text
        assert "connect-src 'self'" in policy and "unsafe-inline" not in policy

        for method, path in (("GET", "/api/projects"), ("POST", "/api/projects"), ("DELETE", "/x")):
            answer = await client.request(method, path, headers={"accept": "application/json"})
            assert answer.status_code == 503, (method, path)
            body = answer.json()
            assert body["code"] == CODE and body["statusCode"] == 503 and len(body["problems"]) == 2
            assert body["problems"][0].startswith(f"{broken}:")
        # An API path is answered in JSON even when a browser asks for it.
        api = await client.get("/api/projects", headers={"accept": "text/html"})
        assert api.headers["content-type"] == "application/json"


def test_mistakes_in_the_plans_too(broken: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken.write_text(SEED_SCHEMA_PATH.read_text() + PLANS_WITHOUT_FREE)
    asyncio.run(_plans_page(monkeypatch))


async def _plans_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANTRY_ENV", "development")
    app = app_from_env()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dev") as client:
        answer = await client.get("/api/billing")
    assert answer.status_code == 503 and answer.json()["code"] == CODE
    assert [p.split(": ", 1)[1] for p in answer.json()["problems"]] == [
        "no 'free' plan: declare the plan organizations have without a subscription"
    ]


def test_production_does_not_start(broken: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANTRY_ENV", "production")
    monkeypatch.setenv("TENANTRY_SECRET", "s" * 48)
    monkeypatch.setenv("TENANTRY_MAIL_BACKEND", "file")
    with pytest.raises(SystemExit):
        app_from_env()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def broken(:\n    pass\n", ":1: SyntaxError: invalid syntax"),
        ("import os\n\nraise RuntimeError('no config here')\n", ":3: RuntimeError: no config here"),
    ],
)
def test_a_broken_hooks_file_is_shown_too(
    broken: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: str
) -> None:
    broken.write_text(SEED_SCHEMA_PATH.read_text())
    hooks = broken.parent / "hooks.py"
    hooks.write_text(source)
    monkeypatch.setenv("TENANTRY_ENV", "development")
    app = app_from_env()

    async def ask() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dev") as client:
            return await client.get("/", headers={"accept": "text/html"}), await client.get("/api/projects")

    page, api = asyncio.run(ask())
    assert page.status_code == 503 and f"{hooks}{expected}" in html.unescape(page.text)
    assert api.status_code == 503 and api.json()["code"] == "HOOKS_INVALID"
    assert api.json()["problems"] == [f"{hooks}{expected}"]
