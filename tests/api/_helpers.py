"""Small helpers shared by the API tests: seed rows through the API and read results compactly."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

Params = list[tuple[str, str]] | dict[str, str]


def is_uuid(value: Any) -> bool:
    try:
        return str(uuid.UUID(str(value))) == value
    except ValueError:
        return False


async def post(client: httpx.AsyncClient, route: str, body: Any) -> dict[str, Any]:
    """POST a row and return it, failing loudly when the API refuses it."""
    r = await client.post(f"/api/{route}", json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def get_json(client: httpx.AsyncClient, url: str, params: Params | None = None, status: int = 200) -> Any:
    r = await client.get(url, params=params)
    assert r.status_code == status, r.text
    return r.json()


async def names(client: httpx.AsyncClient, route: str, params: Params, key: str = "name") -> set[str]:
    """The ``key`` values of a list request that must succeed (bare array expected)."""
    data = await get_json(client, f"/api/{route}", params)
    assert isinstance(data, list), data
    return {row[key] for row in data}


async def ordered(client: httpx.AsyncClient, route: str, params: Params, key: str = "name") -> list[Any]:
    data = await get_json(client, f"/api/{route}", params)
    assert isinstance(data, list), data
    return [row[key] for row in data]


async def seed_org(
    client: httpx.AsyncClient, name: str = "Acme Corp", slug: str = "acme", **extra: Any
) -> dict[str, Any]:
    return await post(client, "organizations", {"name": name, "slug": slug, **extra})


async def seed_user(
    client: httpx.AsyncClient, org: dict[str, Any], email: str = "ada@example.com", **extra: Any
) -> dict[str, Any]:
    return await post(client, "users", {"email": email, "name": email.split("@")[0], "org_id": org["id"], **extra})


async def seed_project(
    client: httpx.AsyncClient, org: dict[str, Any], user: dict[str, Any], name: str = "Apollo", **extra: Any
) -> dict[str, Any]:
    return await post(client, "projects", {"name": name, "org_id": org["id"], "created_by": user["id"], **extra})


def assert_error(r: httpx.Response, status: int, code: str | None = None, message: str | None = None) -> dict[str, Any]:
    """The response is a NestJS-shaped error with this status (and code / message when given)."""
    assert r.status_code == status, f"{r.status_code} {r.text}"
    body: dict[str, Any] = r.json()
    assert body["statusCode"] == status
    assert isinstance(body["error"], str) and body["error"]
    if code is not None:
        assert body["code"] == code, body
    if message is not None:
        assert body["message"] == message, body
    return body


def field_codes(body: dict[str, Any]) -> dict[str, str]:
    """``{field: code}`` of a VALIDATION_FAILED body."""
    return {e["field"]: e["code"] for e in body.get("errors", [])}
