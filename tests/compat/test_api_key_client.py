"""Better Auth's ``apiKeyClient()`` (npm ``@better-auth/api-key``, pinned) against a live Tenantry
server, and the keys it creates used on the CRUD API (``api-key.test.mjs``), on both databases.

Skipped locally without Node or the installed client; fails under ``CI=true``.
"""

from __future__ import annotations

from tenantry.auth import AuthSettings
from tests.compat.live import require_node, run_node_suite
from tests.conftest import PrepareDatabase
from tests.live_server import live_server


def test_api_key_client(prepare_database: PrepareDatabase) -> None:
    require_node("@better-auth/api-key")
    with live_server(prepare_database, AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)) as base:
        run_node_suite("api-key.test.mjs", base, passes=2)
