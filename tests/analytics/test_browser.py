"""posthog-js in Chromium against the PostHog emulator: the browser's events join the person and the
organization group the server's events name, and a signed-out browser starts anonymous again."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tenantry.auth import AuthSettings
from tests.analytics.conftest import PostHog
from tests.browser_harness import WAIT_MS, new_context, sign_out, sign_up
from tests.browser_harness import browser as browser  # the Chromium fixture
from tests.conftest import PrepareDatabase
from tests.live_server import live_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser


DESKTOP_CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"


def distinct_id_of(event: dict[str, Any]) -> str | None:
    """Whom a posthog-js event is by (it sends the id among the properties)."""
    found = event.get("distinct_id") or event.get("properties", {}).get("distinct_id")
    return str(found) if found is not None else None


def wait_for(found: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """What ``found()`` returns once it is not empty (posthog-js sends its queue every few seconds)."""
    deadline = time.monotonic() + WAIT_MS / 1000 * 2
    while time.monotonic() < deadline:
        if events := found():
            return events
        time.sleep(0.05)
    raise AssertionError("posthog-js sent no such event in time")


def test_the_browser_identifies_the_user_and_the_organization(
    prepare_database: PrepareDatabase, browser: Browser, posthog: PostHog
) -> None:
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)
    with live_server(prepare_database, auth, parts={"analytics": posthog.settings()}) as base:
        # Headless, automated Chromium says so (its user agent, navigator.webdriver), and posthog-js
        # drops a bot's events: this one passes for a person's browser.
        context = new_context(browser, base, user_agent=DESKTOP_CHROME)
        context.add_init_script("Object.defineProperty(navigator, 'webdriver', {get: () => false})")
        page = context.new_page()
        sign_up(page, "Acme", "Ada", "ada@example.com", lands_on=r"/dashboard")
        session = page.request.get("/api/auth/get-session").json()
        user_id, org_id = session["user"]["id"], session["session"]["activeOrganizationId"]
        assert user_id and org_id
        # posthog-js identifies the user on the first page it sees signed in, once: waited for there,
        # before leaving it (a queue still unsent when the page goes may be lost, and later pages do
        # not identify again).
        identified = wait_for(lambda: posthog.emulator.named("$identify"))
        assert {distinct_id_of(e) for e in identified} == {user_id}
        page.goto("/settings/account")

        def pageviews_of(distinct_id: str) -> list[dict[str, Any]]:
            return [e for e in posthog.emulator.named("$pageview") if distinct_id_of(e) == distinct_id]

        # The visit after sign-up is the user's, in the organization's group, as the server's events are.
        [*_, seen] = wait_for(lambda: pageviews_of(user_id))
        assert seen["properties"]["$groups"] == {"organization": org_id}
        assert seen["api_key"] == posthog.settings().api_key
        # Signed out, the next visitor on this browser is anonymous: not counted as Ada.
        sign_out(page)
        page.wait_for_url("**/login**")
        before = len(posthog.emulator.named("$pageview"))
        page.goto("/signup")
        later = wait_for(lambda: posthog.emulator.named("$pageview")[before:])
        assert all(distinct_id_of(e) != user_id for e in later)
        assert all("$groups" not in e["properties"] for e in later)
