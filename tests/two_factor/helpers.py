"""Two-factor test helpers: enrolment through the API and codes computed as an authenticator app does."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp

from tests.auth.helpers import ORIGIN, PASSWORD, runtime, sign_in, sign_up, sql

TF = "/api/auth/two-factor"


def secret_of(uri: str) -> str:
    """The base32 secret of an ``otpauth://`` URI."""
    return parse_qs(urlsplit(uri).query)["secret"][0]


def code(secret: str, steps_ahead: int = 0) -> str:
    """The TOTP code of the current 30-second step (or a later one: each code is accepted once)."""
    return str(pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead))


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return await client.post(f"{TF}/{path}", json=body or {}, headers=ORIGIN)


async def enrolled(client: httpx.AsyncClient, email: str = "cap@example.com") -> tuple[str, list[str]]:
    """Sign up ``email``, turn two-factor on with a first code and sign out: ``(secret, backup codes)``."""
    r = await sign_up(client, email)
    assert r.status_code == 200, r.text
    enabled = await post(client, "enable", {"password": PASSWORD})
    assert enabled.status_code == 200, enabled.text
    secret = secret_of(enabled.json()["totpURI"])
    verified = await post(client, "verify-totp", {"code": code(secret)})
    assert verified.status_code == 200, verified.text
    assert verified.json()["user"]["twoFactorEnabled"] is True
    client.cookies.clear()
    return secret, enabled.json()["backupCodes"]


async def pending_sign_in(client: httpx.AsyncClient, email: str = "cap@example.com", **extra: Any) -> httpx.Response:
    """A password sign-in that stops at the second step."""
    r = await sign_in(client, email, PASSWORD, **extra)
    assert r.status_code == 200, r.text
    assert r.json() == {"twoFactorRedirect": True, "twoFactorMethods": ["totp", "otp"]}
    return r


async def table(client: httpx.AsyncClient) -> str:
    return str(runtime(client).tables.extensions["two-factor"].two_factors.name)


async def enrolment_row(client: httpx.AsyncClient, email: str = "cap@example.com") -> dict[str, Any]:
    name = await table(client)
    rows = await sql(
        client,
        f"SELECT t.secret, t.backup_codes, t.failed_verification_count, t.locked_until, t.verified "
        f"FROM {name} t JOIN users u ON u.id = t.user_id WHERE u.email = ?",
        email,
    )
    assert rows, "no enrolment"
    keys = ("secret", "backup_codes", "failed_verification_count", "locked_until", "verified")
    return dict(zip(keys, rows[0], strict=True))


async def audit_actions(client: httpx.AsyncClient) -> list[str]:
    return [r[0] for r in await sql(client, "SELECT action FROM audit_logs ORDER BY created_at")]
