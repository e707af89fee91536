"""Point Tenantry at a PostgreSQL database made by Better Auth itself: its users keep signing in.

Better Auth 1.7.25 (npm) creates its tables with its own migrations, signs a user up (scrypt
password hash) and opens a session. Tenantry, configured with Better Auth's table names, then
serves that database unchanged: the old session cookie is valid, the password works (and is
re-hashed with argon2id), and the user appears in the CRUD API.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
from asgi_lifespan import LifespanManager

from tenantry.app import app_tables, create_app
from tenantry.auth import AuthSettings
from tenantry.config import Settings
from tenantry.db.migrations import sync_schema
from tenantry.schema import load_schema_text
from tests.conftest import PG_ADMIN_URL, require_service
from tests.databases import PostgresDatabases

HERE = Path(__file__).resolve().parent
SECRET = "better-auth-shared-secret-0123456789abcdef"
BASE = "http://127.0.0.1:8000"

# The Better Auth app's user model as a Tenantry schema: Better Auth's own table and id type, and
# the two additional fields that app declared. Better Auth's core fields need not be repeated.
SCHEMA = """
users:
  table: user
  id: text
  fields:
    org_id: text (nullable)
    role: text (nullable)
"""


@contextmanager
def _better_auth_database(
    databases: PostgresDatabases | None, plugins: str = ""
) -> Iterator[tuple[str, dict[str, object]]]:
    """A fresh PostgreSQL database made by Better Auth (with ``plugins``), and what it created."""
    if shutil.which("node") is None or not (HERE / "node_modules" / "pg").is_dir():
        require_service("Node.js with the compat packages", "run `npm ci` in tests/compat (make test does)")
    if databases is None:
        require_service("PostgreSQL", f"cannot connect to {PG_ADMIN_URL}")
    assert databases is not None
    url = databases.fresh()  # dropped at the end of the run
    made = subprocess.run(
        ["node", str(HERE / "make-better-auth-db.mjs")],
        cwd=HERE,
        env={
            "DATABASE_URL": url,
            "BETTER_AUTH_SECRET": SECRET,
            "BASE_URL": BASE,
            "BETTER_AUTH_PLUGINS": plugins,
            "PATH": str(Path(shutil.which("node") or "node").parent),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    yield url, json.loads(made.stdout.strip().splitlines()[-1])


def test_existing_better_auth_database(postgres_databases: PostgresDatabases | None) -> None:
    with _better_auth_database(postgres_databases) as (url, created):
        asyncio.run(_serve_and_check(url, created))


async def _serve_and_check(url: str, created: dict[str, object]) -> None:
    schema = load_schema_text(SCHEMA, "better-auth.yaml")
    settings = Settings(DATABASE_URL=url, TENANTRY_SECRET=SECRET, TENANTRY_BASE_URL=BASE, TENANTRY_OPEN_API=False)
    # That app did not require e-mail verification and ran no Better Auth plugin; this
    # configuration of Tenantry matches it (plugins add columns and tables of their own).
    auth = AuthSettings(
        TENANTRY_AUTH_TABLES="better-auth", TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_AUTH_PLUGINS=""
    )
    # Tenantry's own tables (the outbox …) are added beside Better Auth's; its tables are left alone.
    result = await asyncio.to_thread(sync_schema, url, app_tables(schema, settings.model_copy(update={"auth": auth})))
    assert result.skipped == []
    # Only Tenantry's own tables are created, and the app's database role gets the rows of all of them.
    own = ("audit_logs", "outbox_events", "outbox_deliveries", "notifications", "idempotency_keys")
    for change in result.applied:
        ours = change.startswith(("grant ", "create role ", "create function "))
        assert ours or any(f" {t}" in change for t in own), change
    app = create_app(schema, settings.model_copy(update={"auth": auth}))
    user = created["user"]
    assert isinstance(user, dict)
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        # 1. The session Better Auth issued is valid here (same secret, same signed cookie).
        cookie_name, _, cookie_value = str(created["cookie"]).partition("=")
        session = await client.get("/api/auth/get-session", headers={"cookie": f"{cookie_name}={cookie_value}"})
        assert session.status_code == 200, session.text
        body = session.json()
        assert body["user"]["id"] == user["id"] and body["user"]["email"] == "veteran@example.com"
        assert body["user"]["role"] == "member" and body["session"]["token"] == created["token"]
        # 2. The scrypt password signs in, and is upgraded to argon2id.
        signed_in = await client.post(
            "/api/auth/sign-in/email", json={"email": "veteran@example.com", "password": "Better-Auth-Pass-1"}
        )
        assert signed_in.status_code == 200, signed_in.text
        conn = await asyncpg.connect(url)
        try:
            stored = await conn.fetchval('SELECT password FROM account WHERE "providerId" = $1', "credential")
        finally:
            await conn.close()
        assert str(stored).startswith("$argon2id$")
        again = await client.post(
            "/api/auth/sign-in/email",
            json={"email": "veteran@example.com", "password": "Better-Auth-Pass-1"},
            headers={"origin": BASE},
        )
        assert again.status_code == 200
        # 3. The CRUD API serves the same rows (Better Auth's text ids), to a signed-in caller.
        token = signed_in.json()["token"]
        users = await client.get("/api/users", headers={"authorization": f"Bearer {token}"})
        assert users.status_code == 200, users.text + str(users.headers)
        assert [u["id"] for u in users.json()] == [user["id"]]
        # 4. New sign-ups land in Better Auth's tables, in Better Auth's format.
        fresh = await client.post(
            "/api/auth/sign-up/email",
            json={"email": "new@example.com", "password": "Fresh-Pass-123", "name": "New"},
            headers={"origin": BASE},
        )
        assert fresh.status_code == 200, fresh.text
        new_id = fresh.json()["user"]["id"]
        assert len(new_id) == 32 and new_id.isalnum()


# The same app with Better Auth's twoFactor and admin plugins: the admin plugin owns the user's
# ``role`` (so the app declares no such field) and adds the ban columns and ``impersonatedBy``.
PLUGIN_SCHEMA = """
users:
  table: user
  id: text
  fields:
    org_id: text (nullable)
"""


def test_existing_better_auth_database_with_two_factor_and_admin(postgres_databases: PostgresDatabases | None) -> None:
    """A database Better Auth made with ``twoFactor()`` and ``admin()``: Tenantry's same plugins, in the
    ``better-auth`` preset, find the user and session columns those plugins own exactly as they are,
    and read and write them (a ban set here is Better Auth's ``banned``)."""
    with _better_auth_database(postgres_databases, "twoFactor,admin") as (url, created):
        asyncio.run(_serve_with_plugins(url, created))


async def _serve_with_plugins(url: str, created: dict[str, object]) -> None:
    schema = load_schema_text(PLUGIN_SCHEMA, "better-auth.yaml")
    settings = Settings(DATABASE_URL=url, TENANTRY_SECRET=SECRET, TENANTRY_BASE_URL=BASE, TENANTRY_OPEN_API=False)
    auth = AuthSettings(
        TENANTRY_AUTH_TABLES="better-auth",
        TENANTRY_REQUIRE_EMAIL_VERIFICATION=False,
        TENANTRY_AUTH_PLUGINS="two-factor,admin",
    )
    result = await asyncio.to_thread(sync_schema, url, app_tables(schema, settings.model_copy(update={"auth": auth})))
    # Nothing to change on Better Auth's user and session tables, whose plugin columns already exist.
    touching = [c for c in result.applied + result.skipped if re.search(r'\b"?(user|session)"?[.( ]', c)]
    assert touching == [], touching
    user = created["user"]
    assert isinstance(user, dict) and user["role"] == "user" and user["banned"] is False
    conn = await asyncpg.connect(url)
    try:
        await conn.execute('UPDATE "user" SET role = $1 WHERE id = $2', "admin", user["id"])
    finally:
        await conn.close()
    app = create_app(schema, settings.model_copy(update={"auth": auth}))
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        # Better Auth's session is valid, with its plugins' fields.
        cookie_name, _, cookie_value = str(created["cookie"]).partition("=")
        as_veteran = {"cookie": f"{cookie_name}={cookie_value}", "origin": BASE}
        session = (await client.get("/api/auth/get-session", headers=as_veteran)).json()
        assert session["user"]["role"] == "admin" and session["user"]["twoFactorEnabled"] is False
        assert session["session"]["impersonatedBy"] is None
        fresh = await client.post(
            "/api/auth/sign-up/email",
            json={"email": "new@example.com", "password": "Fresh-Pass-123", "name": "New"},
            headers={"origin": BASE},
        )
        new_id = fresh.json()["user"]["id"]
        listed = await client.get("/api/auth/admin/list-users", headers=as_veteran)
        assert listed.status_code == 200, listed.text
        assert {u["email"]: u["role"] for u in listed.json()["users"]} == {
            "veteran@example.com": "admin",
            "new@example.com": "user",
        }
        banned = await client.post(
            "/api/auth/admin/ban-user", json={"userId": new_id, "banReason": "spam"}, headers=as_veteran
        )
        assert banned.status_code == 200, banned.text
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow('SELECT banned, "banReason" FROM "user" WHERE id = $1', new_id)
    finally:
        await conn.close()
    assert tuple(row) == (True, "spam")
