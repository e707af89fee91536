"""A banned user coming back from a social provider is sent to the error URL with BANNED_USER,
as Better Auth does, and gets no session (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tenantry.emulators.oidc import OIDCClient, start_oidc_emulator
from tenantry.emulators.server import RunningServer
from tests.admin.helpers import superuser
from tests.audit.helpers import person
from tests.auth.helpers import BASE
from tests.auth.test_social import CALLBACK, CLIENT_ID, CLIENT_SECRET, providers, query_of, session_user, social_sign_in

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def idp() -> Iterator[RunningServer]:
    server = start_oidc_emulator([OIDCClient(CLIENT_ID, CLIENT_SECRET, [f"{CALLBACK}/google"])])
    yield server
    server.stop()


async def test_banned_user_social_callback_redirects_with_the_code(make_client: Any, idp: RunningServer) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        root = await superuser(client)
        eve = await person(client, "eve@example.com")
        # Verified (by an admin), so the provider's verified address links to her account.
        verified = await client.post(
            "/api/auth/admin/update-user",
            json={"userId": eve.id, "data": {"emailVerified": True}},
            headers=root.headers,
        )
        assert verified.json()["emailVerified"] is True
        await client.post(
            "/api/auth/admin/ban-user", json={"userId": eve.id, "banReason": "spam"}, headers=root.headers
        )
        client.cookies.clear()
        back = await social_sign_in(client, "google", "eve@example.com", errorCallbackURL="/oops")
        assert back.status_code == 302
        assert back.headers["location"].startswith(f"{BASE}/oops?")
        query = query_of(back.headers["location"])
        assert query["error"] == "BANNED_USER" and "banned" in query["error_description"]
        assert "better-auth.session_token=" not in " ".join(back.headers.get_list("set-cookie")).replace(
            "better-auth.session_token=;", ""
        )
        assert await session_user(client) is None
