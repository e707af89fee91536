"""Two nodes on one database: what one node changes about a signed-in user counts on the other's next request.

Node A is an app in this process; node B a server process of its own (``uvicorn``) (its own pool, caches and
memory: nothing but the database is shared). A user's bearer session is used on both. Each change
is made through one node and checked on both at once, with no wait in between: a role change, a
switch of the session's active organization, a revoked session and a ban. A cache of sessions or
principals on either node that missed one of these would fail here.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tenantry.auth import Authentication
from tenantry.auth.plugins.admin.superusers import make_superuser
from tests.admin.helpers import SETTINGS
from tests.auth.helpers import BASE, ORIGIN, PASSWORD, runtime
from tests.conftest import ClientFactory, seed_project
from tests.realtime.test_multinode import free_port, start_node
from tests.tenancy.helpers import User, create_org, join, new_user, ok

SECRET = "two-nodes-secret-" + "n" * 32


@asynccontextmanager
async def other_node(database_url: str, directory: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Node B: the realtime test's server process serving the seed's app on ``database_url`` (migrated
    by node A), and a client of it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_") and k != "DATABASE_URL"}
    env.update(
        TENANTRY_SCHEMA=str(seed_project(directory) / "schema.yaml"),
        DATABASE_URL=database_url,
        TENANTRY_SECRET=SECRET,
        TENANTRY_TRUSTED_ORIGINS=BASE,
        TENANTRY_REQUIRE_EMAIL_VERIFICATION="false",
        TENANTRY_RATE_LIMIT="off",
        TENANTRY_OPEN_API="false",
        TENANTRY_AUTO_MIGRATE="false",
    )
    proc = await asyncio.to_thread(start_node, env, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        proc.terminate()
        try:
            output, _ = await asyncio.to_thread(proc.communicate, timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = await asyncio.to_thread(proc.communicate, timeout=5)
    log = output.decode(errors="replace")
    assert "Traceback" not in log, log


async def statuses(
    nodes: tuple[httpx.AsyncClient, ...], user: User, method: str, path: str, body: Any = None
) -> list[int]:
    """The status of the same request (JSON ``body``, if any) made by ``user`` on each node, in turn."""
    return [(await node.request(method, path, headers=user.headers, json=body)).status_code for node in nodes]


async def project_names(node: httpx.AsyncClient, user: User) -> set[str]:
    r = await node.get("/api/projects", headers=user.headers)
    assert r.status_code == 200, r.text
    return {p["name"] for p in r.json()}


@pytest.mark.slow(12)
async def test_role_switch_revocation_and_ban_count_on_the_next_request_of_either_node(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    # Both with the API closed, as in production: a request without a valid session is refused.
    async with make_client(auth=SETTINGS, base_url=BASE, TENANTRY_SECRET=SECRET, TENANTRY_OPEN_API=False) as a:
        url = runtime(a).settings.database_url
        async with other_node(url, tmp_path) as b:
            nodes = (a, b)
            ann = await new_user(a, "ann@example.com")
            mia = await new_user(a, "mia@example.com")
            acme = await create_org(a, ann, "Acme")
            member = await join(a, ann, acme, mia, "member")
            beta = await create_org(b, mia, "Beta")  # mia's own: it becomes her active organization
            assert (await a.post("/api/projects", json={"name": "Beta plan"}, headers=mia.headers)).status_code == 201
            await ok(b, mia, "set-active", {"organizationId": acme["id"]})
            assert (await a.post("/api/projects", json={"name": "Acme plan"}, headers=ann.headers)).status_code == 201
            assert [await project_names(node, mia) for node in nodes] == [{"Acme plan"}] * 2

            # A role change made on one node: the next request on either node has the new role.
            await ok(b, ann, "update-member-role", {"memberId": member["id"], "role": "viewer"})
            assert await statuses(nodes, mia, "POST", "/api/projects", {"name": "Refused"}) == [403, 403]
            await ok(a, ann, "update-member-role", {"memberId": member["id"], "role": "member"})
            assert await statuses(nodes, mia, "POST", "/api/projects", {"name": "Mia's"}) == [201, 201]

            # The session's organization switched on one node: both read the other organization's rows.
            await ok(a, mia, "set-active", {"organizationId": beta["id"]})
            assert [await project_names(node, mia) for node in nodes] == [{"Beta plan"}] * 2
            await ok(b, mia, "set-active", {"organizationId": acme["id"]})
            assert [await project_names(node, mia) for node in nodes] == [{"Acme plan", "Mia's"}] * 2

            # A session revoked on one node is refused by both; her other session still works.
            second = await a.post(
                "/api/auth/sign-in/email", json={"email": mia.email, "password": PASSWORD}, headers=ORIGIN
            )
            assert second.status_code == 200, second.text
            a.cookies.clear()  # the bearer tokens say who asks, not a cookie the client kept
            other = User(mia.id, mia.email, second.json()["token"])
            revoked = await b.post("/api/auth/revoke-session", json={"token": mia.token}, headers=other.headers)
            assert revoked.status_code == 200, revoked.text
            assert await statuses(nodes, mia, "GET", "/api/projects") == [401, 401]
            assert await statuses(nodes, other, "GET", "/api/projects") == [200, 200]

            # A ban made on one node ends her sessions on both at once.
            root = await new_user(a, "root@example.com")
            await make_superuser(runtime(a).get(Authentication).ctx, root.email, None, None)
            banned = await b.post("/api/auth/admin/ban-user", json={"userId": mia.id}, headers=root.headers)
            assert banned.status_code == 200, banned.text
            assert await statuses(nodes, other, "GET", "/api/projects") == [401, 401]
            for node in nodes:
                assert (await node.get("/api/auth/get-session", headers=other.headers)).json() is None
