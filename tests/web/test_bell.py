"""The header's notification bell over HTTP (in-process client), on SQLite and PostgreSQL: the count
and the newest notifications are the signed-in user's own, rendered by the server and escaped;
"Mark all read" is a form (htmx gets the bell back, a plain form the page it came from) that
passes the origin check and marks only the caller's notifications."""

from __future__ import annotations

import re

from tenantry.realtime import Realtime
from tests.auth.helpers import BASE, NO_VERIFICATION, runtime
from tests.conftest import ClientFactory
from tests.tenancy.helpers import new_user

FORM = {"origin": BASE}


def count(page: str) -> str | None:
    """The bell's count as rendered, or None when it is hidden (nothing unread)."""
    found = re.search(r'<span class="bell-count" ?( hidden)?>(\d+)</span>', page)
    assert found, page
    return None if found.group(1) else found.group(2)


async def test_bell_counts_the_users_own_notifications_and_marks_them_read(make_client: ClientFactory) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ada = await new_user(client, "ada@example.com")
        bob = await new_user(client, "bob@example.com")
        realtime = runtime(client).get(Realtime)
        r = await client.get("/dashboard", headers={"authorization": f"Bearer {ada.token}"})
        assert r.status_code == 200 and count(r.text) is None and "No notifications yet." in r.text

        await realtime.notify_user(ada.id, type="t", title="<b>Hi</b>", message="first")
        await realtime.notify_user(ada.id, type="t", title="Again", message="second")
        await realtime.notify_user(bob.id, type="t", title="Bob's", message="not Ada's")
        page = (await client.get("/dashboard", headers={"authorization": f"Bearer {ada.token}"})).text
        assert count(page) == "2"
        assert "&lt;b&gt;Hi&lt;/b&gt;" in page and "<b>Hi</b>" not in page  # escaped
        assert page.index("second") < page.index("first")  # newest first
        assert "not Ada's" not in page

        # A form POST from elsewhere is refused, and nothing changes.
        refused = await client.post(
            "/notifications/read-all",
            headers={"authorization": f"Bearer {ada.token}", "origin": "https://evil.example"},
        )
        assert refused.status_code == 403
        assert await realtime.store.unread_count(ada.id) == 2

        # htmx: the bell comes back, open, with nothing unread; Bob's stays unread.
        swapped = await client.post(
            "/notifications/read-all",
            headers={"authorization": f"Bearer {ada.token}", "hx-request": "true", **FORM},
        )
        assert swapped.status_code == 200
        assert 'id="bell"' in swapped.text and "<html" not in swapped.text
        assert count(swapped.text) is None and " open>" in swapped.text
        assert await realtime.store.unread_count(ada.id) == 0
        assert await realtime.store.unread_count(bob.id) == 1

        # A plain form goes back to its page with a toast.
        await realtime.notify_user(bob.id, type="t", title="More", message="for Bob")
        plain = await client.post(
            "/notifications/read-all",
            headers={"authorization": f"Bearer {bob.token}", "referer": f"{BASE}/app/projects", **FORM},
        )
        assert plain.status_code == 303 and plain.headers["location"] == "/app/projects"
        assert await realtime.store.unread_count(bob.id) == 0


async def test_read_all_needs_a_signed_in_user(make_client: ClientFactory) -> None:
    async with make_client(base_url=BASE) as client:
        r = await client.post("/notifications/read-all", headers=FORM)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?from=")
