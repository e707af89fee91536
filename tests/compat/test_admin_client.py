"""``admin.test.mjs``: Better Auth's ``adminClient()`` against a real Tenantry server, with the
superuser made by ``tenantry admin create-superuser`` on the same database."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from tenantry.app import app_tables, create_app
from tenantry.auth import AuthSettings
from tenantry.cli import app as cli
from tenantry.config import Settings
from tenantry.db.migrations import sync_schema
from tenantry.emulators.server import bind_socket, format_base_url, run_in_thread
from tests.conftest import SEED_SCHEMA_PATH, require_service, seed_schema

HERE = Path(__file__).resolve().parent
ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "Root-Password-123"


def test_better_auth_admin_client(database_url: str) -> None:
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
    made = CliRunner().invoke(
        cli,
        [
            "admin",
            "create-superuser",
            "--email",
            ADMIN_EMAIL,
            "--password",
            ADMIN_PASSWORD,
            "--schema",
            str(SEED_SCHEMA_PATH),
        ],
        env={"DATABASE_URL": database_url, "TENANTRY_AUTH_PLUGINS": "admin,two-factor,magic-link,passkey,api-key"},
    )
    assert made.exit_code == 0, made.output
    app = create_app(schema, settings, auth_settings=auth)
    with run_in_thread(app, sock=sock):
        result = subprocess.run(
            ["node", "--test", "--test-reporter=spec", str(HERE / "admin.test.mjs")],
            cwd=HERE,
            env={
                "BASE_URL": base,
                "ADMIN_EMAIL": ADMIN_EMAIL,
                "ADMIN_PASSWORD": ADMIN_PASSWORD,
                "PATH": str(Path(shutil.which("node") or "node").parent),
                "NODE_NO_WARNINGS": "1",
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"\bfail 0\b", output) and re.search(r"\bpass 3\b", output), output
