"""A server process killed (SIGKILL) right after a keyed create committed, before it could answer: the
client's retry, served by another app on the same database, gets the stored answer, and the row
exists once. (Without a key the same retry would create it twice: the crash the key is for.)"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tenantry.app import app_tables, create_app
from tenantry.config import Settings
from tenantry.idempotency import KEYS_TABLE
from tests.auth.helpers import BASE, NO_VERIFICATION, sql
from tests.conftest import SEED_SCHEMA_PATH, PrepareDatabase, seed_schema
from tests.tenancy.helpers import create_org, new_user
from tests.webhooks.test_crash import free_port

# The server process: the seed schema on the test's database; a project named "crash" kills the
# process once its transaction has committed (an after-create hook runs after the commit).
SERVER = """
import os, signal, sys
import uvicorn
from tenantry.app import create_app
from tenantry.auth import AuthSettings
from tenantry.config import Settings
from tenantry.hooks import Hooks
from tenantry.schema import load_schema

async def die(event):
    if event.new["name"] == "crash":
        os.kill(os.getpid(), signal.SIGKILL)

hooks = Hooks()
hooks.add("projects", "after_create", die)
url, port, schema, base = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
settings = Settings(
    DATABASE_URL=url,
    TENANTRY_BASE_URL=base,
    TENANTRY_OPEN_API=False,
    auth=AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_RATE_LIMIT="off"),
)
uvicorn.run(create_app(load_schema(schema), settings, hooks=hooks), host="127.0.0.1", port=port, log_level="warning")
"""


# PostgreSQL only: the in-process tests prove on both databases that the answer commits with the
# write; this one proves it against a real SIGKILL, which costs a process start.
@pytest.mark.slow(5)
@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_a_write_committed_before_the_process_died_is_answered_on_retry(
    prepare_database: PrepareDatabase,
) -> None:
    settings = Settings(TENANTRY_BASE_URL=BASE, TENANTRY_OPEN_API=False, auth=NO_VERIFICATION)
    url = prepare_database(app_tables(seed_schema(), settings, prepare_database.dialect))
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SERVER,
        url,
        str(port),
        str(SEED_SCHEMA_PATH),
        BASE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as remote:
            deadline = time.monotonic() + 30
            while True:
                assert proc.returncode is None, "the server process exited"
                with contextlib.suppress(httpx.TransportError):
                    if (await remote.get("/api/auth/ok")).status_code == 200:
                        break
                assert time.monotonic() < deadline, "the server process never answered"
                await asyncio.sleep(0.05)
            ada = await new_user(remote, "ada@example.com", verified=False)
            await create_org(remote, ada, "Acme", slug="acme")
            headers = {**ada.headers, "idempotency-key": "crash-1"}
            with pytest.raises(httpx.TransportError):  # the reply is lost with the process
                await remote.post("/api/projects", json={"name": "crash"}, headers=headers)
        assert await asyncio.wait_for(proc.wait(), 30) == -signal.SIGKILL
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), 30)

    # The client retries, and another app on the same database answers.
    app = create_app(seed_schema(), settings.model_copy(update={"database_url": url}))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client,
    ):
        client.app = app  # type: ignore[attr-defined]
        retry = await client.post("/api/projects", json={"name": "crash"}, headers=headers)
        assert retry.status_code == 201, retry.text
        assert retry.headers["idempotent-replayed"] == "true" and retry.json()["name"] == "crash"
        [(project_id,)] = await sql(client, "SELECT id FROM projects")
        assert retry.json()["id"] == str(project_id)
        [(state,)] = await sql(client, f"SELECT state FROM {KEYS_TABLE}")
        assert state == "done"
        audit = await sql(client, "SELECT action FROM audit_logs WHERE resource_type = 'projects'")
        assert [a for (a,) in audit] == ["create"]
