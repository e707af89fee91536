"""Better Auth's ``passkeyClient()`` (npm ``@better-auth/passkey``, pinned) against a real Tenantry server.

The server runs in this process on a real port without e-mail verification (so sign-up signs in);
``passkey.test.mjs`` runs under Node's test runner with a software authenticator in place of the
browser's WebAuthn. Without Node or the installed client the test is skipped locally and fails
under ``CI=true``.
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


def test_better_auth_passkey_client(database_url: str) -> None:
    if shutil.which("node") is None:
        require_service("Node.js", "the `node` command is not on PATH")
    if not (HERE / "node_modules" / "@better-auth" / "passkey").is_dir():
        require_service("the @better-auth/passkey npm client", "run `npm ci` in tests/compat (make test does)")
    sock = bind_socket()
    base = format_base_url("127.0.0.1", sock.getsockname()[1])
    schema = seed_schema()
    settings = Settings(DATABASE_URL=database_url, TENANTRY_BASE_URL=base, TENANTRY_OPEN_API=False)
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)
    asyncio.run(asyncio.to_thread(sync_schema, database_url, app_tables(schema, settings.dialect, auth)))
    app = create_app(schema, settings, auth_settings=auth)
    with run_in_thread(app, sock=sock):
        result = subprocess.run(
            ["node", "--test", "--test-reporter=spec", str(HERE / "passkey.test.mjs")],
            cwd=HERE,
            env={"BASE_URL": base, "PATH": str(Path(shutil.which("node") or "node").parent), "NODE_NO_WARNINGS": "1"},
            capture_output=True,
            text=True,
            timeout=300,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Node's spec reporter ends with counters such as "fail 0" and "pass 3".
    assert re.search(r"\bfail 0\b", output) and re.search(r"\bpass 3\b", output), output
