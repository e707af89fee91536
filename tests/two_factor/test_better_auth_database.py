"""A PostgreSQL database Better Auth made with its ``twoFactor()`` plugin: Tenantry's migrations
add only the column of its own (``lastTotpStep``) to Better Auth's ``twoFactor`` table, and a user
of that database turns two-factor on and signs in with it here."""

from __future__ import annotations

import asyncio

import httpx
from asgi_lifespan import LifespanManager

from tenantry.app import app_tables, create_app
from tenantry.auth import AuthSettings
from tenantry.config import Settings
from tenantry.db.migrations import sync_schema
from tenantry.schema import load_schema_text
from tests.compat.test_existing_better_auth_database import BASE, PLUGIN_SCHEMA, SECRET, _better_auth_database
from tests.databases import PostgresDatabases
from tests.two_factor.helpers import TF, code, secret_of

PASSWORD = "Better-Auth-Pass-1"  # the user make-better-auth-db.mjs signs up


def test_better_auth_two_factor_table_is_served(postgres_databases: PostgresDatabases | None) -> None:
    with _better_auth_database(postgres_databases, "twoFactor,admin") as (url, _created):
        asyncio.run(_check(url))


async def _check(url: str) -> None:
    schema = load_schema_text(PLUGIN_SCHEMA, "better-auth.yaml")
    auth = AuthSettings(
        TENANTRY_AUTH_TABLES="better-auth",
        TENANTRY_REQUIRE_EMAIL_VERIFICATION=False,
        TENANTRY_AUTH_PLUGINS="two-factor,admin",
    )
    result = await asyncio.to_thread(sync_schema, url, app_tables(schema, Settings(DATABASE_URL=url, auth=auth)))
    assert [c for c in result.applied + result.skipped if "twoFactor" in c] == ["add column twoFactor.lastTotpStep"]
    settings = Settings(
        DATABASE_URL=url, TENANTRY_SECRET=SECRET, TENANTRY_BASE_URL=BASE, TENANTRY_OPEN_API=False, auth=auth
    )
    app = create_app(schema, settings)
    origin = {"origin": BASE}
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        credentials = {"email": "veteran@example.com", "password": PASSWORD}
        signed_in = await client.post("/api/auth/sign-in/email", json=credentials, headers=origin)
        assert signed_in.status_code == 200, signed_in.text
        enabled = await client.post(f"{TF}/enable", json={"password": PASSWORD}, headers=origin)
        assert enabled.status_code == 200, enabled.text
        secret = secret_of(enabled.json()["totpURI"])
        confirmed = await client.post(f"{TF}/verify-totp", json={"code": code(secret)}, headers=origin)
        assert confirmed.json()["user"]["twoFactorEnabled"] is True
        client.cookies.clear()
        pending = await client.post("/api/auth/sign-in/email", json=credentials, headers=origin)
        assert pending.json()["twoFactorRedirect"] is True
        done = await client.post(f"{TF}/verify-totp", json={"code": code(secret, 1)}, headers=origin)
        assert done.status_code == 200 and done.json()["user"]["email"] == "veteran@example.com"
