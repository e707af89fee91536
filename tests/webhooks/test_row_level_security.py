"""Row-level security on the webhook tables (PostgreSQL): SQL the webhooks code did not write sees
only the acting user's organizations."""

from __future__ import annotations

import pytest

from tenantry.db.actor import NOBODY, SYSTEM, acting_as, user_actor
from tests.audit.helpers import eventually
from tests.auth.helpers import BASE, runtime
from tests.conftest import ClientFactory, postgres_scratch
from tests.databases import PostgresDatabases
from tests.tenancy.helpers import create_org, new_user
from tests.webhooks.helpers import AUTH, LOCAL, create_endpoint, create_project


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(postgres_databases: PostgresDatabases | None) -> str:
    """PostgreSQL only: SQLite has no row-level security (the service's own scope stands alone there)."""
    return postgres_scratch(postgres_databases)


async def test_each_user_sees_only_their_organizations_endpoints_messages_and_attempts(
    make_client: ClientFactory,
) -> None:
    async with make_client(auth=AUTH, base_url=BASE, webhooks=LOCAL) as client:
        ada = await new_user(client, "ada@example.com")
        await create_org(client, ada, "Acme", slug="acme")
        bob = await new_user(client, "bob@example.com")
        await create_org(client, bob, "Beta", slug="beta")
        await create_endpoint(client, ada, "http://127.0.0.1:9/acme", event_types=["projects.created"])
        await create_endpoint(client, bob, "http://127.0.0.1:9/beta", event_types=["projects.created"])
        await create_project(client, ada, "Apollo")
        await create_project(client, bob, "Bravo")
        db = runtime(client).db

        async def attempted() -> bool:
            with acting_as(SYSTEM):
                return len(await db.fetch("SELECT id FROM webhook_attempts")) == 2

        await eventually(attempted)

        async def urls(table: str) -> list[str]:
            column = "url" if table == "webhook_endpoints" else "e.url"
            join = "" if table == "webhook_endpoints" else " t JOIN webhook_endpoints e ON e.id = t.endpoint_id"
            rows = await db.fetch(f"SELECT {column} FROM {table}{join} ORDER BY 1")
            return [r[0] for r in rows]

        for table in ("webhook_endpoints", "webhook_messages", "webhook_attempts"):
            with acting_as(SYSTEM):
                assert await urls(table) == ["http://127.0.0.1:9/acme", "http://127.0.0.1:9/beta"], table
        with acting_as(user_actor(ada.id)):
            assert await urls("webhook_endpoints") == ["http://127.0.0.1:9/acme"]
            assert len(await db.fetch("SELECT id FROM webhook_messages")) == 1
            assert len(await db.fetch("SELECT id FROM webhook_attempts")) == 1
            # Writes are bound the same way: an unscoped UPDATE reaches this organization's endpoint only.
            async with db.transaction() as conn:
                assert await conn.execute("UPDATE webhook_endpoints SET description = 'touched'") == 1
        with acting_as(NOBODY):
            assert await db.fetch("SELECT id FROM webhook_endpoints") == []
        with acting_as(SYSTEM):
            rows = await db.fetch("SELECT url, description FROM webhook_endpoints ORDER BY url")
        assert [tuple(r) for r in rows] == [("http://127.0.0.1:9/acme", "touched"), ("http://127.0.0.1:9/beta", "")]
