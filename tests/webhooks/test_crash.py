"""A server killed (SIGKILL) while its request is at the endpoint: the next process sends it again, once.

Real processes on both databases: a Tenantry server (uvicorn, its outbox workers inside) takes the
writes and starts the delivery; the receiver holds that request open and the test kills the server
with SIGKILL. A second server on the same database, its clock past the first one's lease (as if it
started that much later), sends the message again with the same ``webhook-id``, and exactly one
successful attempt is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import httpx

from tenantry.app import app_tables
from tenantry.config import Settings
from tenantry.emulators.server import bind_socket
from tests.audit.helpers import eventually
from tests.auth.helpers import BASE
from tests.conftest import SEED_SCHEMA_PATH, PrepareDatabase, seed_schema
from tests.tenancy.helpers import create_org, new_user
from tests.webhooks.helpers import API, AUTH, LOCAL, create_endpoint, create_project
from tests.webhooks.receiver import Receiver

# The server process: the seed schema on the test's database, webhooks to 127.0.0.1 allowed, its
# clock ``shift`` seconds ahead of the wall clock.
SERVER = """
import datetime as dt, sys
import uvicorn
from tenantry.app import create_app
from tenantry.auth import AuthSettings
from tenantry.config import Settings
from tenantry.db.codecs import utc_now
from tenantry.schema import load_schema
from tenantry.webhooks import WebhookSettings

url, port, schema, base = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
shift = dt.timedelta(seconds=float(sys.argv[5]))
settings = Settings(
    DATABASE_URL=url,
    TENANTRY_BASE_URL=base,
    TENANTRY_OPEN_API=False,
    auth=AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_RATE_LIMIT="off"),
    webhooks=WebhookSettings(TENANTRY_WEBHOOKS_ALLOW_PRIVATE=True, TENANTRY_WEBHOOKS_TIMEOUT=5),
)
app = create_app(load_schema(schema), settings, clock=lambda: utc_now() + shift)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""


LATER = 3600.0


def free_port() -> int:
    with contextlib.closing(bind_socket()) as sock:
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def server(url: str, shift: float) -> AsyncIterator[tuple[asyncio.subprocess.Process, httpx.AsyncClient]]:
    """A server process on ``url`` and a client of it; killed on the way out if still running."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SERVER,
        url,
        str(port),
        str(SEED_SCHEMA_PATH),
        BASE,
        str(shift),
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                if proc.returncode is not None:
                    output = await proc.stdout.read() if proc.stdout else b""
                    raise AssertionError(f"the server process exited: {output.decode()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/api/auth/ok")).status_code == 200:
                        break
                assert time.monotonic() < deadline, "the server process never answered"
                await asyncio.sleep(0.05)
            yield proc, client
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), 30)


async def test_a_message_in_flight_when_the_server_is_killed_is_delivered_once_after_restart(
    prepare_database: PrepareDatabase, receiver: Receiver
) -> None:
    settings = Settings(TENANTRY_BASE_URL=BASE, auth=AUTH, webhooks=LOCAL)
    url = prepare_database(app_tables(seed_schema(), settings, prepare_database.dialect))
    box = receiver.inbox(held=True)
    assert box.gate is not None

    async with server(url, shift=0) as (first, client):
        ada = await new_user(client, "ada@example.com", verified=False)
        await create_org(client, ada, "Acme", slug="acme")
        endpoint = await create_endpoint(client, ada, box.url, event_types=["projects.created"])
        await create_project(client, ada, "Apollo")
        await eventually(lambda: box.arrived == 1)  # the request is at the endpoint, unanswered
        first.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(first.wait(), 30) == -signal.SIGKILL
    box.gate.set()  # the receiver finishes the orphaned request: it did get the message once

    # The next process starts once the dead one's claim has run out (a lease of minutes): its clock
    # is an hour later.
    async with server(url, shift=LATER) as (_, client):
        await eventually(lambda: len(box.received) == 2)
        first_id, second_id = (m.headers["webhook-id"] for m in box.received)
        assert first_id == second_id and box.received[0].body == box.received[1].body
        listing = f"{API}/endpoints/{endpoint['id']}"

        async def recorded() -> bool:
            messages = (await client.get(f"{listing}/messages", headers=ada.headers)).json()["data"]
            return [m["status"] for m in messages] == ["delivered"]

        await eventually(recorded)
        (message,) = (await client.get(f"{listing}/messages", headers=ada.headers)).json()["data"]
        assert message["id"] == first_id
        attempts = (await client.get(f"{listing}/attempts", headers=ada.headers)).json()["data"]
        assert [(a["status"], a["response_status"]) for a in attempts] == [("succeeded", 204)]
    assert box.arrived == 2  # nothing more came after the recorded success
