"""Helpers for the API key tests: users with bearer sessions (tests.tenancy.helpers) and their keys."""

from __future__ import annotations

from typing import Any

import httpx

from tests.auth.helpers import ORIGIN, runtime, sql
from tests.tenancy.helpers import User

KEYS = "/api/auth/api-key"


def table(client: httpx.AsyncClient) -> str:
    """The API key table's name in this app."""
    return str(runtime(client).tables.extensions["api-key"].keys.name)


async def create_key(client: httpx.AsyncClient, user: User, **body: Any) -> dict[str, Any]:
    """``POST /api-key/create`` as ``user``: the answer, with the key itself in ``key``."""
    r = await client.post(f"{KEYS}/create", json=body, headers=user.headers)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def with_key(key: str) -> dict[str, str]:
    """Headers of a request made with an API key only (no session)."""
    return {"x-api-key": key}


async def key_call(client: httpx.AsyncClient, user: User | None, method: str, path: str, **kw: Any) -> httpx.Response:
    """``method /api/auth/api-key/<path>`` as ``user`` (or with no session)."""
    headers = user.headers if user is not None else ORIGIN
    return await client.request(method, f"{KEYS}/{path}", headers=headers, **kw)


async def audit_rows(client: httpx.AsyncClient, action: str) -> list[Any]:
    """``(user_id, org_id, resource_id, new_values)`` of the audit rows with ``action``, oldest first."""
    return await sql(
        client,
        "SELECT user_id, org_id, resource_id, new_values FROM audit_logs WHERE action = ? ORDER BY created_at, id",
        action,
    )
