"""Better Auth's ``twoFactorClient()`` (npm ``better-auth``, pinned) against a real Tenantry server.

The server runs in this process on a real port; ``two-factor.test.mjs`` runs under Node's test
runner. Without Node or the installed client the test is skipped locally and fails under ``CI=true``.
"""

from __future__ import annotations

from tenantry.auth import AuthSettings
from tests.compat.live import require_node, run_node_suite
from tests.conftest import PrepareDatabase
from tests.live_server import live_server


def test_two_factor_client(prepare_database: PrepareDatabase) -> None:
    require_node()
    with live_server(prepare_database, AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)) as base:
        run_node_suite("two-factor.test.mjs", base, passes=1)
