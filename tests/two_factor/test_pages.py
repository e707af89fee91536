"""The two-factor pages in-process: enrolment with the QR code, the sign-in step with each factor,
new backup codes and turning it off, each running the API's handlers."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tenantry.mail import list_outbox
from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN, PASSWORD, runtime, sign_up
from tests.two_factor.helpers import code

pytestmark = pytest.mark.asyncio


async def log_in(client: httpx.AsyncClient, target: str = "/dashboard") -> httpx.Response:
    body = {"email": "cap@example.com", "password": PASSWORD, "from": target, "remember": "1"}
    return await client.post("/login", data=body, headers=ORIGIN)


async def enrol_by_page(client: httpx.AsyncClient) -> tuple[str, list[str]]:
    section = await client.get("/settings/account/two-factor")
    assert "Set up two-factor" in section.text
    wrong = await client.post("/settings/account/two-factor/enable", data={"password": "nope-nope"}, headers=ORIGIN)
    assert wrong.status_code == 303 and wrong.headers["location"].startswith("/settings/account")
    page = await client.post("/settings/account/two-factor/enable", data={"password": PASSWORD}, headers=ORIGIN)
    assert page.status_code == 200 and "<svg" in page.text
    found = re.search(r"data-totp-secret>([A-Z2-7]+)<", page.text)
    assert found
    backup = re.findall(r"<li>([A-Za-z0-9]{5}-[A-Za-z0-9]{5})</li>", page.text)
    assert len(backup) == 10
    secret = found.group(1)
    retry = await client.post("/settings/account/two-factor/confirm", data={"code": "000000x"}, headers=ORIGIN)
    # The same secret again, the codes not (they are shown once).
    assert retry.status_code == 401 and f"data-totp-secret>{secret}<" in retry.text
    assert "data-backup-codes" not in retry.text
    done = await client.post("/settings/account/two-factor/confirm", data={"code": code(secret)}, headers=ORIGIN)
    assert done.status_code == 303 and done.headers["location"] == "/settings/account"
    return secret, backup


async def test_enrol_then_sign_in_with_each_factor(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        await sign_up(client)
        secret, backup = await enrol_by_page(client)
        on = await client.get("/settings/account/two-factor")
        assert "10 backup codes left" in on.text
        await client.post("/sign-out", data={}, headers=ORIGIN)
        client.cookies.clear()

        # Password, then the app's code (the next step's: the enrolment used this one).
        step = await log_in(client, "/settings/account")
        assert step.status_code == 303 and step.headers["location"] == "/two-factor?from=%2Fsettings%2Faccount"
        form = await client.get(step.headers["location"])
        assert 'autocomplete="one-time-code"' in form.text and "Trust this device" in form.text
        assert (await client.get("/dashboard")).status_code == 303  # no session yet
        bad = await client.post(
            "/two-factor", data={"code": "123456x", "method": "totp", "from": "/settings/account"}, headers=ORIGIN
        )
        assert bad.status_code == 401 and "not right" in bad.text
        ok = await client.post(
            "/two-factor", data={"code": code(secret, 1), "method": "totp", "from": "/settings/account"}, headers=ORIGIN
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/settings/account"
        assert (await client.get("/settings/account")).status_code == 200
        await client.post("/sign-out", data={}, headers=ORIGIN)
        client.cookies.clear()

        # A backup code, then an e-mailed code.
        await log_in(client)
        used = await client.post("/two-factor", data={"code": backup[0], "method": "backup"}, headers=ORIGIN)
        assert used.status_code == 303
        client.cookies.clear()
        await log_in(client)
        sent = await client.post("/two-factor/send-otp", data={"from": "/dashboard"}, headers=ORIGIN)
        assert sent.status_code == 200 and "We e-mailed you" in sent.text
        rt = runtime(client)
        mail = [m for m in await list_outbox(rt.db, rt.tables, to="cap@example.com") if m.template == "two_factor_otp"]
        otp = mail[0].subject.split(" ")[0]
        signed = await client.post("/two-factor", data={"code": otp, "method": "otp"}, headers=ORIGIN)
        assert signed.status_code == 303 and signed.headers["location"] == "/dashboard"

        # New backup codes, then off.
        codes = await client.post(
            "/settings/account/two-factor/backup-codes", data={"password": PASSWORD}, headers=ORIGIN
        )
        assert len(re.findall(r"<li>([A-Za-z0-9]{5}-[A-Za-z0-9]{5})</li>", codes.text)) == 10
        off = await client.post("/settings/account/two-factor/disable", data={"password": PASSWORD}, headers=ORIGIN)
        assert off.status_code == 303
        client.cookies.clear()
        plain = await log_in(client)
        assert plain.headers["location"] == "/dashboard"


async def test_the_step_page_without_a_pending_sign_in(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        r = await client.get("/two-factor?from=/settings/account")
        assert r.status_code == 303 and r.headers["location"] == "/login?from=%2Fsettings%2Faccount"
        posted = await client.post("/two-factor", data={"code": "123456", "method": "totp"}, headers=ORIGIN)
        assert posted.status_code == 303 and posted.headers["location"].startswith("/login")
        foreign = await client.post("/two-factor", data={"code": "1"}, headers={"origin": "https://evil.example"})
        assert foreign.status_code == 403
