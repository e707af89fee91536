"""Shared helpers for the authentication tests."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from typing import Any

import httpx

from tenantry.app import Tenantry
from tenantry.auth import Authentication, AuthSettings
from tenantry.config import DEV_SECRET

BASE = "http://127.0.0.1:8000"
ORIGIN = {"origin": BASE}
PASSWORD = "Password-One-111"
NO_VERIFICATION = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)


def runtime(client: httpx.AsyncClient) -> Tenantry:
    return client.app.state.tenantry  # type: ignore[attr-defined, no-any-return]


def expected_signature(token: str, secret: str = DEV_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), token.encode(), hashlib.sha256).digest()).decode()


def set_cookies(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


def cookie_value(response: httpx.Response, name: str = "better-auth.session_token") -> str | None:
    for header in set_cookies(response):
        if header.startswith(name + "="):
            return header.split(";", 1)[0].split("=", 1)[1]
    return None


async def sign_up(client: httpx.AsyncClient, email: str = "cap@example.com", **extra: Any) -> httpx.Response:
    body = {"email": email, "password": PASSWORD, "name": "Cap User", **extra}
    return await client.post("/api/auth/sign-up/email", json=body, headers=ORIGIN)


async def sign_in(
    client: httpx.AsyncClient, email: str = "cap@example.com", password: str = PASSWORD, **extra: Any
) -> httpx.Response:
    body = {"email": email, "password": password, **extra}
    return await client.post("/api/auth/sign-in/email", json=body, headers=ORIGIN)


async def sql(client: httpx.AsyncClient, statement: str, *params: Any) -> list[Any]:
    """Run SQL on the app's database (``?`` placeholders are turned into ``$n`` on PostgreSQL)."""
    db = runtime(client).db
    if db.dialect_name == "postgresql":
        parts = statement.split("?")
        statement = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))
    async with db.transaction() as conn:
        return await conn.fetch(statement, params)


def ts(client: httpx.AsyncClient, value: dt.datetime) -> Any:
    """A timestamp as the app's database stores it."""
    return runtime(client).get(Authentication).ctx.store.ts_in(value)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
