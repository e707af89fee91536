"""Better Auth's ``twoFactorClient()`` (npm ``better-auth``, pinned) against a real Tenantry server.

The server runs in this process on a real port; ``two-factor.test.mjs`` runs under Node's test
runner. Without Node or the installed client the test is skipped locally and fails under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

from tenantry.app import app_tables, create_app
from tenantry.auth import AuthSettings
from tenantry.config import Settings
from tenantry.db.migrations import sync_schema
from tenantry.emulators.server import bind_socket, format_base_url, run_in_thread
from tests.conftest import require_service, seed_schema

HERE = Path(__file__).resolve().parent


def test_two_factor_client(database_url: str) -> None:
    if shutil.which("node") is None:
        require_service("Node.js", "the `node` command is not on PATH")
    if not (HERE / "node_modules" / "better-auth").is_dir():
        require_service("the better-auth npm client", "run `npm ci` in tests/compat (make test does)")
    sock = bind_socket()
    base = format_base_url("127.0.0.1", sock.getsockname()[1])
    schema = seed_schema()
    settings = Settings(DATABASE_URL=database_url, TENANTRY_BASE_URL=base, TENANTRY_OPEN_API=False)
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)
    asyncio.run(asyncio.to_thread(sync_schema, database_url, app_tables(schema, settings.dialect, auth)))
    app = create_app(schema, settings, auth_settings=auth)
    with run_in_thread(app, sock=sock):
        result = subprocess.run(
            ["node", "--test", "--test-reporter=spec", str(HERE / "two-factor.test.mjs")],
            cwd=HERE,
            env={"BASE_URL": base, "PATH": str(Path(shutil.which("node") or "node").parent), "NODE_NO_WARNINGS": "1"},
            capture_output=True,
            text=True,
            timeout=300,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"\bfail 0\b", output) and re.search(r"\bpass 1\b", output), output
