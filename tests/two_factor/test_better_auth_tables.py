"""With Better Auth's table names (``TENANTRY_AUTH_TABLES=better-auth``) the enrolment lives in
Better Auth's ``twoFactor`` table and columns, and the whole flow works the same."""

from __future__ import annotations

from typing import Any

import pytest

from tenantry.auth import AuthSettings
from tests.auth.helpers import BASE, sql
from tests.two_factor.helpers import code, enrolled, pending_sign_in, post

pytestmark = pytest.mark.asyncio

SCHEMA = """
users:
  table: user
  id: text
  fields:
    role: text (nullable)
"""
BETTER_AUTH = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_AUTH_TABLES="better-auth")


async def test_better_auth_names(make_client: Any) -> None:
    async with make_client(SCHEMA, auth=BETTER_AUTH, base_url=BASE) as client:
        secret, backup = await enrolled(client)
        rows = await sql(
            client,
            'SELECT t."secret", t."backupCodes", t."verified", t."failedVerificationCount", t."lockedUntil" '
            'FROM "twoFactor" t JOIN "user" u ON u.id = t."userId" WHERE u.email = ?',
            "cap@example.com",
        )
        assert len(rows) == 1 and secret not in rows[0][0] and backup[0] not in rows[0][1]
        assert rows[0][2] and rows[0][3] == 0 and rows[0][4] is None
        flag = await sql(client, 'SELECT "twoFactorEnabled" FROM "user"')
        assert flag[0][0]
        await pending_sign_in(client)
        ok = await post(client, "verify-totp", {"code": code(secret, 1)})
        assert ok.status_code == 200 and ok.json()["user"]["twoFactorEnabled"] is True
