"""The slim session read API requests authenticate with gives the principal the full lookup gives."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.requests import Request

from tenantry.auth import Authentication
from tenantry.auth.capability import principal_of
from tests.admin.helpers import SETTINGS, superuser
from tests.audit.helpers import Person, join, person
from tests.auth.helpers import BASE, runtime, sql

pytestmark = pytest.mark.asyncio


def request_with(token: str, method: str = "GET") -> Request:
    """A request carrying ``token`` as a bearer (the path does not matter to authentication)."""
    headers = [(b"authorization", f"Bearer {token}".encode()), (b"host", b"testserver")]
    return Request({"type": "http", "method": method, "path": "/api/projects", "headers": headers, "query_string": b""})


async def both_ways(client: httpx.AsyncClient, who: Person) -> tuple[Any, Any]:
    """The principal of ``who``'s session read whole (as pages do) and read slim (as API requests do)."""
    auth = runtime(client).get(Authentication)
    request = request_with(who.token)
    lookup = await auth.ctx.lookup(request, refresh=False)
    whole = auth.principal(request, lookup.current)
    token, _ = auth.ctx.request_token(request)
    assert token is not None
    read = await auth.ctx.store.session_principal(token)
    assert read is not None
    return whole, principal_of(read)


async def test_the_slim_read_gives_the_principal_the_full_lookup_gives(make_client: Any) -> None:
    async with make_client(auth=SETTINGS, base_url=BASE) as client:
        alone = await person(client, "alone@example.com")
        admin = await person(client, "admin@example.com", org="acme")
        root = await superuser(client, "root@example.com", org="root-org")
        member = await person(client, "member@example.com")
        assert admin.org_id is not None
        await join(client, member, admin.org_id, "member")
        for who in (alone, admin, root, member):
            whole, slim = await both_ways(client, who)
            assert slim == whole, who.email
        whole, slim = await both_ways(client, root)
        assert slim.attributes.get("platform_role") == whole.attributes.get("platform_role") is not None

        # A membership that ended: the session still names the organization, which grants nothing.
        auth = runtime(client).get(Authentication)
        members = auth.ctx.store.memberships
        assert members is not None
        await sql(client, f"DELETE FROM {members.members.name} WHERE role = ?", "member")
        whole, slim = await both_ways(client, member)
        assert slim == whole and slim.org_id is None and slim.role is None


async def test_an_unknown_session_is_read_as_none(make_client: Any) -> None:
    async with make_client(auth=SETTINGS, base_url=BASE) as client:
        store = runtime(client).get(Authentication).ctx.store
        assert await store.session_principal("no-such-token") is None


async def test_the_two_factor_requirement_is_read_as_the_full_lookup_reads_it(make_client: Any) -> None:
    async with make_client(auth=SETTINGS, base_url=BASE) as client:
        admin = await person(client, "admin@example.com", org="acme")
        auth = runtime(client).get(Authentication)
        members = auth.ctx.store.memberships
        assert members is not None and members.organizations is not None
        whole, slim = await both_ways(client, admin)
        assert slim == whole and slim.attributes["two_factor"] == (False, False)
        await sql(client, f"UPDATE {members.organizations.name} SET require_two_factor = ?", True)
        whole, slim = await both_ways(client, admin)
        assert slim == whole and slim.attributes["two_factor"] == (True, False)
