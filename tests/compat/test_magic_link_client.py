"""Better Auth's ``magicLinkClient()`` (npm ``better-auth``, pinned) against a real Tenantry server.

The server runs in this process on a real port with its default settings; ``magic-link.test.mjs``
runs under Node's test runner and reads the links from the development outbox. Without Node or
the installed client the test is skipped locally and fails under ``CI=true``.
"""

from __future__ import annotations

from tenantry.auth import AuthSettings
from tests.compat.live import require_node, run_node_suite
from tests.conftest import PrepareDatabase
from tests.live_server import live_server


def test_better_auth_magic_link_client(prepare_database: PrepareDatabase) -> None:
    require_node()
    with live_server(prepare_database, AuthSettings()) as base:
        run_node_suite("magic-link.test.mjs", base, passes=4)
