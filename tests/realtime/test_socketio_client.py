"""The real ``socket.io-client`` (npm, pinned in tests/compat) against a Tenantry server on a real port.

The scenarios are in ``tests/compat/realtime.test.mjs`` (Node's test runner): connecting by token
and by cookie, refusals, organization rooms, events after commit only, the seed's "Project
created" notification, revocation, organization switches and replay after reconnecting.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import asyncpg
import pytest

from tenantry.app import app_tables, create_app
from tenantry.auth import AuthSettings
from tenantry.config import Settings
from tenantry.emulators.server import bind_socket, format_base_url, run_in_thread
from tenantry.hooks import load_hooks_file
from tenantry.realtime import RealtimeSettings
from tests.conftest import PrepareDatabase, require_service, seed_schema

ROOT = Path(__file__).resolve().parents[2]
COMPAT = ROOT / "tests" / "compat"


def node_ready() -> None:
    """Skip locally (fail under CI) without Node or the installed socket.io-client."""
    if shutil.which("node") is None:
        require_service("Node.js", "the `node` command is not on PATH")
    if not (COMPAT / "node_modules" / "socket.io-client").is_dir():
        require_service("the socket.io-client npm package", "run `npm ci` in tests/compat (make test does)")


def run_node(script: str, env: dict[str, str]) -> str:
    """Run a Node test file of tests/compat; its combined output (asserting it passed).

    ``--test-force-exit``: a polling-only socket.io-client keeps its last long poll open after
    ``close()`` until the server's ping interval ends, which would hold Node for 25 seconds.
    """
    result = subprocess.run(
        ["node", "--test", "--test-reporter=spec", "--test-force-exit", str(COMPAT / script)],
        cwd=COMPAT,
        env={"PATH": str(Path(shutil.which("node") or "node").parent), "NODE_NO_WARNINGS": "1", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"\bfail 0\b", output) and not re.search(r"\bpass 0\b", output), output
    return output


def test_socketio_client_suite(prepare_database: PrepareDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    node_ready()
    # A long re-check interval: revocations and organization switches must take effect at once
    # (the server re-checks after the request that made them), not at the next periodic pass.
    realtime = RealtimeSettings(TENANTRY_REALTIME_RECHECK_SECONDS=600)
    sock = bind_socket()
    base = format_base_url("127.0.0.1", sock.getsockname()[1])
    schema = seed_schema()
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_RATE_LIMIT="off")
    settings = Settings(TENANTRY_BASE_URL=base, TENANTRY_OPEN_API=False, auth=auth, realtime=realtime)
    database_url = prepare_database(app_tables(schema, settings, prepare_database.dialect))
    settings = settings.model_copy(update={"database_url": database_url})
    hooks = load_hooks_file(ROOT / "examples" / "saas" / "hooks.py")
    app = create_app(schema, settings, hooks=hooks)
    with run_in_thread(app, sock=sock):
        output = run_node("realtime.test.mjs", {"BASE_URL": base})
    assert re.search(r"\bpass 7\b", output), output


async def delete_session(database_url: str, token: str) -> None:
    """Delete a session behind the app's back (as an expiry or an administrator's SQL would end it)."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            conn.execute("DELETE FROM auth_sessions WHERE token = ?", (token,))
        return
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DELETE FROM auth_sessions WHERE token = $1", token)
    finally:
        await conn.close()


def test_sessions_ended_without_a_request_are_disconnected_by_the_periodic_check(
    prepare_database: PrepareDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    node_ready()
    realtime = RealtimeSettings(TENANTRY_REALTIME_RECHECK_SECONDS=0.3)
    sock = bind_socket()
    base = format_base_url("127.0.0.1", sock.getsockname()[1])
    schema = seed_schema()
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_RATE_LIMIT="off")
    settings = Settings(TENANTRY_BASE_URL=base, TENANTRY_OPEN_API=False, auth=auth, realtime=realtime)
    database_url = prepare_database(app_tables(schema, settings, prepare_database.dialect))
    settings = settings.model_copy(update={"database_url": database_url})
    app = create_app(schema, settings)
    with run_in_thread(app, sock=sock):
        script = subprocess.Popen(
            ["node", str(COMPAT / "realtime-expiry.mjs")],
            cwd=COMPAT,
            env={"PATH": str(Path(shutil.which("node") or "node").parent), "NODE_NO_WARNINGS": "1", "BASE_URL": base},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert script.stdin is not None and script.stdout is not None
        output: list[str] = []
        for line in script.stdout:
            output.append(line)
            if line.startswith("DELETE_SESSION "):
                asyncio.run(delete_session(database_url, line.split(" ", 1)[1].strip()))
                script.stdin.write("DONE\n")
                script.stdin.flush()
        assert script.wait(timeout=60) == 0, "".join(output)
    assert "disconnected: ok" in "".join(output)
