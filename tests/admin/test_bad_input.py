"""Malformed input to every admin endpoint is a 4xx with a code, never a 500 (both databases)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.admin.helpers import SETTINGS, superuser
from tests.audit.helpers import person
from tests.auth.helpers import BASE

pytestmark = pytest.mark.asyncio

ODD_VALUES: list[Any] = [
    None,
    0,
    -1,
    1.5,
    True,
    "",
    "x" * 5000,
    [],
    ["a"],
    {},
    {"a": 1},
    "00000000-0000-0000-0000-000000000000",
]
BODIES: dict[str, list[str]] = {
    "/admin/create-user": ["email", "name", "password", "role", "data"],
    "/admin/update-user": ["userId", "data"],
    "/admin/set-role": ["userId", "role"],
    "/admin/ban-user": ["userId", "banReason", "banExpiresIn"],
    "/admin/unban-user": ["userId"],
    "/admin/list-user-sessions": ["userId"],
    "/admin/revoke-user-session": ["sessionToken"],
    "/admin/revoke-user-sessions": ["userId"],
    "/admin/impersonate-user": ["userId"],
    "/admin/remove-user": ["userId"],
    "/admin/set-user-password": ["userId", "newPassword"],
    "/admin/has-permission": ["permissions", "permission"],
}
QUERIES = ["/admin/list-users", "/admin/get-user", "/admin/list-organizations"]
QUERY_KEYS = ["id", "searchValue", "searchField", "searchOperator", "limit", "offset", "sortBy", "sortDirection"]
QUERY_KEYS += ["filterField", "filterValue", "filterOperator"]


async def test_malformed_admin_requests_are_4xx(make_client: Any) -> None:
    async with make_client(auth=SETTINGS, base_url=BASE) as client:
        root = await superuser(client)
        eve = await person(client, "eve@example.com")
        for path, keys in BODIES.items():
            for key in keys:
                for value in ODD_VALUES:
                    body = {k: eve.id for k in keys if k in ("userId",)} | {key: value}
                    r = await client.post("/api/auth" + path, json=body, headers=root.headers)
                    assert r.status_code < 500, (path, body, r.text)
                    if r.status_code >= 400:
                        assert "message" in r.json(), (path, body, r.text)
        for path in QUERIES:
            for key in QUERY_KEYS:
                for value in ("", "-1", "1e999", "%", "name", "desc", "in", "\u0000", "x" * 3000):
                    r = await client.get("/api/auth" + path, params={key: value}, headers=root.headers)
                    assert r.status_code < 500, (path, key, value, r.text)
        not_json = await client.post(
            "/api/auth/admin/ban-user", content=b"[1,2]", headers={**root.headers, "content-type": "application/json"}
        )
        assert not_json.status_code == 400
        # The superuser is still there and still a superuser: nothing above removed or demoted them.
        me = await client.get("/api/auth/admin/get-user", params={"id": root.id}, headers=root.headers)
        assert me.status_code == 200 and me.json()["role"] == "admin"
