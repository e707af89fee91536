"""The ``standardwebhooks`` npm package, under Node, verifies what Tenantry delivered (both databases)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from tests.audit.helpers import eventually
from tests.auth.helpers import BASE
from tests.compat.live import require_node, run_node_suite
from tests.conftest import ClientFactory
from tests.tenancy.helpers import create_org, new_user
from tests.webhooks.helpers import AUTH, LOCAL, create_endpoint, create_project
from tests.webhooks.receiver import Receiver


async def test_the_node_library_verifies_our_signatures(
    make_client: ClientFactory, receiver: Receiver, tmp_path: Path
) -> None:
    require_node("standardwebhooks")
    async with make_client(auth=AUTH, base_url=BASE, webhooks=LOCAL) as client:
        ada = await new_user(client, "ada@example.com")
        await create_org(client, ada, "Acme", slug="acme")
        first, second = receiver.inbox(), receiver.inbox()
        one = await create_endpoint(client, ada, first.url, event_types=["projects.created"])
        two = await create_endpoint(client, ada, second.url, event_types=["projects.created"])
        await create_project(client, ada, "Apollo — «ünïcode»")
        await eventually(lambda: len(first.received) == len(second.received) == 1)
    cases = [
        {
            "secret": endpoint["secret"],
            "headers": message.headers,
            "body": message.body.decode(),
            "type": "projects.created",
        }
        for endpoint, box in ((one, first), (two, second))
        for message in box.received
    ]
    path = tmp_path / "cases.json"
    path.write_bytes(orjson.dumps(cases))
    await asyncio.to_thread(run_node_suite, "webhooks.test.mjs", BASE, passes=2, env={"WEBHOOK_CASES": str(path)})
