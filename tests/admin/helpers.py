"""A superuser and ordinary users for the admin plugin's tests."""

from __future__ import annotations

import httpx

from tenantry.auth import Authentication, AuthSettings
from tenantry.auth.plugins.admin.superusers import make_superuser
from tests.audit.helpers import Person, person
from tests.auth.helpers import PASSWORD, runtime

SETTINGS = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)


async def superuser(client: httpx.AsyncClient, email: str = "root@example.com", *, org: str | None = None) -> Person:
    """A signed-in superuser (promoted as ``tenantry admin create-superuser`` does)."""
    who = await person(client, email, org=org)
    await make_superuser(runtime(client).get(Authentication).ctx, email, None, None)
    return who


async def password_sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    """A password sign-in that keeps no cookie in the client."""
    response = await client.post(
        "/api/auth/sign-in/email",
        json={"email": email, "password": password},
        headers={"origin": str(client.base_url).rstrip("/")},
    )
    client.cookies.clear()
    return response
