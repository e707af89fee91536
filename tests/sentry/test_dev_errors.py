"""``/dev/errors``: in development without a DSN, errors are kept in memory and listed; never in production."""

from __future__ import annotations

import re
from typing import Any

import sentry_sdk

from tenantry.app import default_capabilities
from tenantry.config import Settings
from tenantry.mail import MailSettings
from tenantry.sentry import ErrorTracking
from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN, runtime
from tests.sentry.boom import Boom
from tests.sentry.test_reporting import lenient, signed_up_with_org

PRODUCTION_SECRET = "a-production-secret-of-at-least-32-characters"


async def test_dev_errors_lists_a_captured_error_with_its_details(make_client: Any) -> None:
    settings = Settings(auth=NO_VERIFICATION)
    capabilities = [*default_capabilities(settings), Boom()]
    async with make_client(auth=NO_VERIFICATION, base_url=BASE, capabilities=capabilities) as client:
        tracking = runtime(client).get(ErrorTracking)
        assert tracking.log is not None and not tracking.reporting
        empty = await client.get("/dev/errors")
        assert empty.status_code == 200 and "No errors yet." in empty.text
        user_id, org_id = await signed_up_with_org(client)
        async with lenient(client) as browser:
            failed = await browser.post("/api/boom", json={"password": "dev-secret-Pw1"}, headers=ORIGIN)
        assert failed.status_code == 500
        # The local transport keeps the event when it is captured: nothing to wait for.
        listed = (await client.get("/dev/errors.json")).json()
        assert [(e["type"], e["message"], e["route"], e["user_id"], e["org_id"]) for e in listed] == [
            ("BoomError", "the route exploded", "/api/boom", user_id, org_id)
        ]
        page = await client.get("/dev/errors")
        assert page.status_code == 200
        assert "BoomError" in page.text and "the route exploded" in page.text and user_id in page.text
        assert "script-src" not in page.headers["content-security-policy"]
        [link] = re.findall(r'href="(/dev/errors/[0-9a-f]{32})"', page.text)
        detail = await client.get(link)
        assert detail.status_code == 200
        assert "explode" in detail.text and "tests/sentry/boom.py" in detail.text  # the stack trace
        assert org_id in detail.text and "development" in detail.text
        assert "dev-secret-Pw1" not in detail.text  # scrubbed as for Sentry
        assert (await client.get("/dev/errors/0123456789abcdef0123456789abcdef")).status_code == 404
    assert not sentry_sdk.get_client().is_active()


async def test_dev_errors_is_not_served_in_production(make_client: Any, tmp_path: Any) -> None:
    async with make_client(
        TENANTRY_ENV="production",
        TENANTRY_SECRET=PRODUCTION_SECRET,
        mail=MailSettings(TENANTRY_MAIL_BACKEND="file", TENANTRY_MAIL_FILE=str(tmp_path / "mail.jsonl")),
    ) as client:
        tracking = runtime(client).get(ErrorTracking)
        assert tracking.log is None and tracking.client is None
        assert not sentry_sdk.get_client().is_active()  # no DSN: nothing started
        for path in ("/dev/errors", "/dev/errors.json", "/dev/errors/0123456789abcdef0123456789abcdef"):
            response = await client.get(path)
            assert response.status_code == 404, path


async def test_dev_errors_can_be_turned_off(make_client: Any) -> None:
    from tenantry.sentry import SentrySettings

    async with make_client(sentry=SentrySettings(TENANTRY_DEV_ERRORS=False)) as client:
        assert not sentry_sdk.get_client().is_active()
        assert (await client.get("/dev/errors")).status_code == 404
