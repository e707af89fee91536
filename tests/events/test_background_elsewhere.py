"""Background work in other processes: web nodes with ``TENANTRY_BACKGROUND=false`` and ``tenantry worker``.

A web node that runs no workers leaves its deliveries to the processes that do; on PostgreSQL it
rings for them (``NOTIFY``) so they deliver at once rather than at their next poll.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tenantry.app import create_app
from tenantry.config import Settings
from tenantry.events import DomainEvent, Subscriber
from tests.conftest import ClientFactory, postgres_scratch, seed_schema
from tests.databases import PostgresDatabases

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "saas"
PROJECTS = """
projects:
  - name: string (required)
"""


def recording(name: str, into: list[str]) -> Subscriber:
    """A subscriber of every project's creation that notes the projects' names."""

    async def handle(event: DomainEvent) -> None:
        assert event.data is not None
        into.append(str(event.data["name"]))

    return Subscriber(name, ("projects.created",), handle)


async def wait_until(condition: Callable[[], bool], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_web_node_without_background_work_leaves_deliveries_to_a_worker(
    make_client: ClientFactory, database_url: str
) -> None:
    made_by_web: list[str] = []
    made_by_worker: list[str] = []
    async with (
        make_client(PROJECTS, TENANTRY_BACKGROUND=False) as web,
        make_client(PROJECTS, TENANTRY_BACKGROUND=True) as worker,
    ):
        web_outbox = web.app.state.tenantry.outbox  # type: ignore[attr-defined]
        worker_outbox = worker.app.state.tenantry.outbox  # type: ignore[attr-defined]
        assert not web_outbox.running and worker_outbox.running
        postgres = database_url.startswith("postgresql")
        if postgres:
            # The worker polls once at start, then only when rung: a delivery now comes from the bell.
            worker_outbox.poll_interval = 3600.0
        web_outbox.register(recording("notes", made_by_web))
        worker_outbox.register(recording("notes", made_by_worker))
        await asyncio.sleep(0.2)  # the new worker's first pass (nothing due yet)

        ready = await web.get("/readyz")
        assert ready.status_code == 200, ready.text  # no workers here, and none expected
        created = await web.post("/api/projects", json={"name": "Atlas"})
        assert created.status_code == 201, created.text
        assert await wait_until(lambda: made_by_worker == ["Atlas"]), made_by_worker
        assert made_by_web == []
        if postgres:
            # A burst of writes: every delivery arrives, woken by a few notifications rather than polls.
            for n in range(5):
                assert (await web.post("/api/projects", json={"name": f"p{n}"})).status_code == 201
            assert await wait_until(lambda: len(made_by_worker) == 6), made_by_worker
            assert sorted(made_by_worker[1:]) == [f"p{n}" for n in range(5)]


@asynccontextmanager
async def web_node(url: str, mail_file: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The example app in this process, as a web node whose background work runs elsewhere."""
    settings = Settings(
        DATABASE_URL=url,
        TENANTRY_BACKGROUND=False,
        TENANTRY_BASE_URL="http://testserver",
        TENANTRY_MAIL_BACKEND="file",
        TENANTRY_MAIL_FILE=str(mail_file),
    )
    app = create_app(seed_schema(), settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        yield client


@pytest.fixture
def pg_url(postgres_databases: PostgresDatabases | None) -> str:
    return postgres_scratch(postgres_databases)


@pytest.mark.postgres
@pytest.mark.slow(12)
async def test_tenantry_worker_delivers_what_web_nodes_write(tmp_path: Path, pg_url: str) -> None:
    project = tmp_path / "saas"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("*.db*", "__pycache__", ".tenantry"))
    mail_file = tmp_path / "mail.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_") and k != "DATABASE_URL"}
    env.update(
        DATABASE_URL=pg_url,
        TENANTRY_SECRET="s" * 48,
        TENANTRY_MAIL_BACKEND="file",
        TENANTRY_MAIL_FILE=str(mail_file),
    )
    tenantry = str(Path(sys.executable).parent / "tenantry")
    made = await asyncio.to_thread(
        subprocess.run, [tenantry, "migrate", "make", "-m", "initial"], cwd=project, env=env, capture_output=True
    )
    assert made.returncode == 0, made.stdout + made.stderr
    output = tmp_path / "worker.log"
    with output.open("wb") as out:
        worker = await asyncio.create_subprocess_exec(
            tenantry, "worker", "--migrate", cwd=project, env=env, stdout=out, stderr=out
        )
    try:
        assert await wait_until(lambda: worker.returncode is not None or "worker started" in output.read_text(), 30)
        assert worker.returncode is None, output.read_text()
        async with web_node(pg_url, mail_file) as web:
            body = {"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}
            signed_up = await web.post("/api/auth/sign-up/email", json=body, headers={"origin": "http://testserver"})
            assert signed_up.status_code == 200, signed_up.text
            # The verification mail was sent by the worker process: this one runs no background work.
            assert await wait_until(lambda: mail_file.exists() and "ada@example.com" in mail_file.read_text())
        sent = [json.loads(line) for line in mail_file.read_text().splitlines()]
        assert [m["to"] for m in sent] == ["ada@example.com"]
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.wait(), 15) == 0
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
