"""A process killed between storing a Stripe event and committing its effect: applied exactly once later.

The worker is a real separate process. It stores the event (as the webhook endpoint does first),
starts applying it, and dies with ``os._exit`` at the last moment before the commit: after the
subscription row, its audit row and its domain event were written in the transaction, when it is
about to mark the event applied. Nothing of the half-done transaction survives; the event stays
stored and unapplied. The next start of the app applies it, once; redeliveries change nothing.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from tests.auth.helpers import BASE, NO_VERIFICATION, runtime, sql
from tests.billing.helpers import SECRET, billing, billing_schema, count, deliver, event, stripe, subscription_object
from tests.conftest import ClientFactory
from tests.tenancy.helpers import create_org, new_user

WORKER = """
import asyncio, os, sys
import orjson
from asgi_lifespan import LifespanManager
from tenantry.billing import Billing
from tenantry.app import create_app
from tenantry.auth import AuthSettings
from tenantry.config import Settings
from tenantry.schema import load_schema

schema_path, db_url, event_path = sys.argv[1:4]

async def main() -> None:
    app = create_app(
        load_schema(schema_path),
        Settings(DATABASE_URL=db_url, auth=AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)),
    )
    async with LifespanManager(app):
        billing = app.state.tenantry.get(Billing)

        async def die(*args, **kwargs):
            # Everything of the change is written, uncommitted: the process is killed here.
            os._exit(9)

        billing.store.mark_applied = die
        await billing.webhooks.receive(orjson.loads(open(event_path, "rb").read()))

asyncio.run(main())
"""


@pytest.mark.parametrize("recovery", ["restart", "redelivery"])
async def test_killed_between_receiving_and_applying_is_applied_once_later(
    make_client: ClientFactory, database_url: str, tmp_path: Path, recovery: str
) -> None:
    schema_path = tmp_path / "schema.yaml"
    schema_path.write_text(billing_schema())
    async with make_client(billing_schema(), auth=NO_VERIFICATION, base_url=BASE, billing=stripe(SECRET)) as client:
        owner = await new_user(client, "owner@example.com")
        org = await create_org(client, owner, "Acme", slug="acme")
        e = event("customer.subscription.created", subscription_object(org["id"]), int(time.time()))
        event_path = tmp_path / "event.json"
        event_path.write_bytes(orjson.dumps(e))

        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        app_database = runtime(client).settings.database_url  # on PostgreSQL, not database_url's
        worker = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", WORKER, str(schema_path), app_database, str(event_path)],
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert worker.returncode == 9, worker.stderr.decode()[-2000:]
        # Received and stored, not applied; nothing of the change committed.
        assert await sql(client, "SELECT id FROM stripe_events WHERE applied_at IS NULL") == [(e["id"],)]
        assert await count(client, "SELECT count(*) FROM subscriptions") == 0
        assert await count(client, "SELECT count(*) FROM audit_logs WHERE resource_type = 'subscriptions'") == 0
        if recovery == "redelivery":
            # Stripe retries the delivery that got no answer: the running app applies it now.
            r = await deliver(client, e)
            assert r.status_code == 200 and r.json()["outcome"] == "applied"

    # The app starts again on the same database: a stored, unapplied event is applied at start-up.
    async with make_client(billing_schema(), auth=NO_VERIFICATION, base_url=BASE, billing=stripe(SECRET)) as client:
        assert await count(client, "SELECT count(*) FROM stripe_events WHERE applied_at IS NULL") == 0
        rows = await sql(client, "SELECT org_id, stripe_subscription_id, status FROM subscriptions")
        assert [(str(r[0]), r[1], r[2]) for r in rows] == [(org["id"], "sub_test_1", "active")]
        # Stripe retries the delivery it saw fail: acknowledged, applied no second time.
        for _ in range(3):
            r = await deliver(client, e)
            assert r.status_code == 200 and r.json()["outcome"] == "duplicate"
        assert await count(client, "SELECT count(*) FROM subscriptions") == 1
        assert await count(client, "SELECT count(*) FROM audit_logs WHERE resource_type = 'subscriptions'") == 1
        assert await count(client, "SELECT count(*) FROM outbox_events WHERE topic = 'subscriptions.created'") == 1
        assert await billing(client).webhooks.apply_pending() == 0
