"""The browser snippet with a key (and the policy allowing its host), nothing without; ``/dev/analytics``."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from tenantry.analytics import AnalyticsSettings
from tenantry.mail import MailSettings
from tenantry.web.core import PAGE_HEADERS
from tests.analytics.conftest import API_KEY, PostHog
from tests.auth.helpers import BASE, NO_VERIFICATION
from tests.conftest import ClientFactory
from tests.tenancy.helpers import create_org, new_user

PRODUCTION = {
    "TENANTRY_ENV": "production",
    "TENANTRY_SECRET": "p" * 40,
    "mail": MailSettings(TENANTRY_MAIL_BACKEND="file"),
}


def directives(policy: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in policy.split(";"))}


async def test_pages_load_posthog_from_this_site_with_a_key(make_client: ClientFactory) -> None:
    host = "https://eu.i.posthog.com"
    analytics = AnalyticsSettings(POSTHOG_API_KEY=API_KEY, POSTHOG_HOST=host)
    async with make_client(None, auth=NO_VERIFICATION, base_url=BASE, analytics=analytics) as client:
        page = await client.get("/login")
        script = await client.get("/static/analytics/vendor/posthog.js")
        init = await client.get("/static/analytics/init.js")
    assert page.status_code == 200
    assert '<script src="/static/analytics/vendor/posthog.js" defer></script>' in page.text
    assert '<script src="/static/analytics/init.js" defer></script>' in page.text
    [config] = re.findall(r'<meta name="tenantry-posthog" content="([^"]*)">', page.text)
    assert json.loads(html.unescape(config)) == {"key": API_KEY, "host": host}
    # Served by the app itself: no script from PostHog's hosts, and only its ingestion host allowed.
    assert script.status_code == 200 and "posthog" in script.text[:5000].lower()
    assert init.status_code == 200 and "disable_external_dependency_loading: true" in init.text
    policy = directives(page.headers["content-security-policy"])
    assert policy["connect-src"] == ["'self'", host]
    assert policy["script-src"] == ["'self'"]
    # Every other directive as it was.
    assert {**policy, "connect-src": None} == {
        **directives(PAGE_HEADERS["content-security-policy"]),
        "connect-src": None,
    }


async def test_no_snippet_and_the_policy_unchanged_without_a_key(make_client: ClientFactory) -> None:
    async with make_client(None, auth=NO_VERIFICATION, base_url=BASE) as client:
        page = await client.get("/login")
    assert page.status_code == 200
    assert "posthog" not in page.text.lower()
    assert page.headers["content-security-policy"] == PAGE_HEADERS["content-security-policy"]


async def test_the_browser_snippet_can_be_turned_off(make_client: ClientFactory, posthog: PostHog) -> None:
    settings = posthog.settings(TENANTRY_ANALYTICS_BROWSER=False)
    async with make_client(None, auth=NO_VERIFICATION, base_url=BASE, analytics=settings) as client:
        page = await client.get("/login")
    assert "posthog" not in page.text.lower()
    assert page.headers["content-security-policy"] == PAGE_HEADERS["content-security-policy"]


async def test_dev_analytics_lists_events_kept_locally_without_a_key(make_client: ClientFactory) -> None:
    async with make_client(None, auth=NO_VERIFICATION, base_url=BASE) as client:
        ada = await new_user(client, "ada@example.com")
        org = await create_org(client, ada, "Acme <Labs>")
        listed: list[dict[str, Any]] = (await client.get("/dev/analytics.json")).json()
        page = await client.get("/dev/analytics")
    by_name = {e["event"]: e for e in listed}
    assert [e["event"] for e in listed][-1] == "user signed up"  # newest first
    assert by_name["user signed up"]["distinct_id"] == ada.id
    assert by_name["organization created"]["groups"] == {"organization": org["id"]}
    assert by_name["$groupidentify"]["properties"] == {"name": "Acme <Labs>"}
    assert {e["delivery"] for e in listed} == {"kept locally"}
    assert page.status_code == 200
    assert "kept locally" in page.text and "organization created" in page.text
    assert "Acme &lt;Labs&gt;" in page.text and "Acme <Labs>" not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


async def test_dev_analytics_shows_the_delivery_with_a_key(client: Any, posthog: PostHog) -> None:
    from tests.analytics.conftest import all_delivered

    ada = await new_user(client, "ada@example.com")
    await all_delivered(client)
    [listed] = (await client.get("/dev/analytics.json")).json()
    assert (listed["event"], listed["distinct_id"], listed["delivery"]) == ("user signed up", ada.id, "done")
    assert [e["uuid"] for e in posthog.emulator.events] == [listed["uuid"]]


async def test_dev_analytics_is_not_served_in_production(make_client: ClientFactory, posthog: PostHog) -> None:
    async with make_client(None, auth=NO_VERIFICATION, base_url=BASE, analytics=posthog.settings(), **PRODUCTION) as c:
        assert (await c.get("/dev/analytics")).status_code == 404
        assert (await c.get("/dev/analytics.json")).status_code == 404
