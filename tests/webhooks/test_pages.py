"""``/settings/webhooks`` over HTTP (in-process client), both databases: an admin adds, pauses, re-keys
and deletes an endpoint through the page; a member gets no tab and a 403."""

from __future__ import annotations

import re
from urllib.parse import unquote

import httpx

from tests.auth.helpers import BASE
from tests.conftest import ClientFactory
from tests.tenancy.helpers import create_org, join, new_user
from tests.webhooks.helpers import API, AUTH, LOCAL

PAGE = "/settings/webhooks"


def toast(r: httpx.Response) -> str:
    return unquote(r.cookies.get("tenantry.flash", ""))


async def test_an_admin_manages_endpoints_from_the_settings_page(make_client: ClientFactory) -> None:
    async with make_client(auth=AUTH, base_url=BASE, webhooks=LOCAL) as client:
        ada = await new_user(client, "ada@example.com")
        org = await create_org(client, ada, "Acme", slug="acme")
        mia = await new_user(client, "mia@example.com")
        await join(client, ada, org, mia, "member")

        empty = await client.get(PAGE, headers=ada.headers)
        assert empty.status_code == 200, empty.text
        assert 'href="/settings/webhooks" aria-current="page">Webhooks</a>' in empty.text
        assert "No endpoints yet." in empty.text and 'value="projects.created"' in empty.text

        refused = await client.post(PAGE + "/create", data={"url": "ftp://x"}, headers=ada.headers)
        assert refused.status_code == 400 and "must be an http or https URL" in refused.text

        made = await client.post(
            PAGE + "/create",
            data={"url": "http://127.0.0.1:9/in", "description": "CRM", "event_types": ["projects.created"]},
            headers=ada.headers,
        )
        assert made.status_code == 201, made.text
        secret = re.search(r"<code data-secret>(whsec_[^<]+)</code>", made.text)
        assert secret is not None
        (endpoint,) = (await client.get(f"{API}/endpoints", headers=ada.headers)).json()
        assert endpoint["event_types"] == ["projects.created"] and endpoint["description"] == "CRM"
        shown = (await client.get(f"{API}/endpoints/{endpoint['id']}/secret", headers=ada.headers)).json()
        assert shown["secret"] == secret.group(1)
        listed = await client.get(PAGE, headers=ada.headers)
        assert "http://127.0.0.1:9/in" in listed.text and "whsec_" not in listed.text  # shown once only

        unknown = await client.post(
            f"{PAGE}/{endpoint['id']}/messages/msg_nothing/resend", data={}, headers=ada.headers
        )
        assert unknown.status_code == 303 and toast(unknown) and "sent again" not in toast(unknown)

        paused = await client.post(f"{PAGE}/{endpoint['id']}/disable", data={}, headers=ada.headers)
        assert paused.status_code == 303 and toast(paused).endswith("Endpoint paused.")
        assert (await client.get(f"{API}/endpoints/{endpoint['id']}", headers=ada.headers)).json()["enabled"] is False
        rotated = await client.post(f"{PAGE}/{endpoint['id']}/rotate", data={}, headers=ada.headers)
        assert "previous one keeps signing" in rotated.text and secret.group(1) not in rotated.text

        # A member: no tab, no page, and a forged form changes nothing.
        assert "/settings/webhooks" not in (await client.get("/settings/account", headers=mia.headers)).text
        assert (await client.get(PAGE, headers=mia.headers)).status_code == 403
        forged = await client.post(f"{PAGE}/{endpoint['id']}/delete", data={}, headers=mia.headers)
        assert forged.status_code == 303 and "admins" in toast(forged)
        assert (await client.get(f"{API}/endpoints/{endpoint['id']}", headers=ada.headers)).status_code == 200

        deleted = await client.post(f"{PAGE}/{endpoint['id']}/delete", data={}, headers=ada.headers)
        assert deleted.status_code == 303 and toast(deleted).endswith("Endpoint deleted.")
        assert (await client.get(f"{API}/endpoints", headers=ada.headers)).json() == []
