"""``admin.test.mjs``: Better Auth's ``adminClient()`` against a real Tenantry server, with the
superuser made by ``tenantry admin create-superuser`` on the same database."""

from __future__ import annotations

from tenantry.auth import AuthSettings
from tests.compat.live import require_node, run_node_suite
from tests.conftest import PrepareDatabase
from tests.live_server import create_superuser, live_server

ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "Root-Password-123"


def test_better_auth_admin_client(prepare_database: PrepareDatabase) -> None:
    require_node()
    with live_server(
        prepare_database,
        AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False),
        before_start=lambda url: create_superuser(url, ADMIN_EMAIL, ADMIN_PASSWORD),
    ) as base:
        run_node_suite(
            "admin.test.mjs", base, passes=3, env={"ADMIN_EMAIL": ADMIN_EMAIL, "ADMIN_PASSWORD": ADMIN_PASSWORD}
        )
