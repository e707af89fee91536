"""Concurrent requests: a backup code signs in once however many browsers race with it, and
wrong codes sent at once are all counted toward the lockout (one atomic update each)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN, PASSWORD
from tests.two_factor.helpers import TF, enrolled, enrolment_row

pytestmark = pytest.mark.asyncio


async def pending_browser(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Another browser on the same app, stopped at the second step of its sign-in."""
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=client.app), base_url=BASE)  # type: ignore[attr-defined]
    body = {"email": "cap@example.com", "password": PASSWORD}
    r = await other.post("/api/auth/sign-in/email", json=body, headers=ORIGIN)
    assert r.json()["twoFactorRedirect"] is True
    return other


async def test_a_backup_code_raced_by_several_browsers_signs_in_once(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        _, backup = await enrolled(client)
        browsers = [await pending_browser(client) for _ in range(4)]
        try:
            answers = await asyncio.gather(
                *(b.post(f"{TF}/verify-backup-code", json={"code": backup[0]}, headers=ORIGIN) for b in browsers)
            )
        finally:
            for b in browsers:
                await b.aclose()
        assert sorted(r.status_code for r in answers) == [200, 401, 401, 401]
        row = await enrolment_row(client)
        assert row["backup_codes"].count(",") == 8  # nine hashes left


async def test_wrong_codes_at_once_are_all_counted(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        await enrolled(client)
        browser = await pending_browser(client)
        try:
            answers = await asyncio.gather(
                *(browser.post(f"{TF}/verify-totp", json={"code": "00000x"}, headers=ORIGIN) for _ in range(7))
            )
        finally:
            await browser.aclose()
        assert {r.status_code for r in answers} <= {401, 429}
        row = await enrolment_row(client)
        assert row["locked_until"] is not None
        assert row["failed_verification_count"] == sum(r.status_code == 401 for r in answers) >= 5
