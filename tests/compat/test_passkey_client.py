"""Better Auth's ``passkeyClient()`` (npm ``@better-auth/passkey``, pinned) against a real Tenantry server.

The server runs in this process on a real port without e-mail verification (so sign-up signs in);
``passkey.test.mjs`` runs under Node's test runner with a software authenticator in place of the
browser's WebAuthn. Without Node or the installed client the test is skipped locally and fails
under ``CI=true``.
"""

from __future__ import annotations

from tenantry.auth import AuthSettings
from tests.compat.live import require_node, run_node_suite
from tests.conftest import PrepareDatabase
from tests.live_server import live_server


def test_better_auth_passkey_client(prepare_database: PrepareDatabase) -> None:
    require_node("@better-auth/passkey")
    with live_server(prepare_database, AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)) as base:
        run_node_suite("passkey.test.mjs", base, passes=3)
