"""``/dev/webhooks``: the development receiver verifies what it gets as a receiver would, and lists it."""

from __future__ import annotations

from tenantry.mail import MailSettings
from tests.audit.helpers import eventually
from tests.auth.helpers import BASE
from tests.conftest import ClientFactory
from tests.tenancy.helpers import create_org, new_user
from tests.webhooks.helpers import AUTH, LOCAL, create_endpoint, create_project
from tests.webhooks.receiver import Receiver


async def test_the_dev_inbox_verifies_and_lists_what_it_receives(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    async with make_client(auth=AUTH, base_url=BASE, webhooks=LOCAL) as client:
        ada = await new_user(client, "ada@example.com")
        await create_org(client, ada, "Acme", slug="acme")
        box = receiver.inbox()
        await create_endpoint(client, ada, box.url, event_types=["projects.created"])
        await create_project(client, ada, "Apollo")
        await eventually(lambda: len(box.received) == 1)
        (message,) = box.received
        # What the endpoint got, handed to the inbox as is: verified. Changed: refused, and listed as such.
        r = await client.post("/dev/webhooks/inbox", content=message.body, headers=message.headers)
        assert r.status_code == 204
        forged = message.body.replace(b"Apollo", b"Hermes")
        r = await client.post("/dev/webhooks/inbox", content=forged, headers=message.headers)
        assert r.status_code == 400
        listed = (await client.get("/dev/webhooks.json")).json()
        assert [(d["event_type"], d["verified"]) for d in listed] == [
            ("projects.created", False),
            ("projects.created", True),
        ]
        assert listed[0]["problem"] == "No matching signature found"
        page = await client.get("/dev/webhooks")
        assert page.status_code == 200 and "signature verified" in page.text and "Hermes" in page.text


async def test_the_dev_inbox_is_not_served_in_production(make_client: ClientFactory) -> None:
    production = {"TENANTRY_ENV": "production", "TENANTRY_SECRET": "s" * 40}
    async with make_client(
        auth=AUTH, base_url=BASE, mail=MailSettings(TENANTRY_MAIL_BACKEND="file"), **production
    ) as client:
        assert (await client.get("/dev/webhooks")).status_code == 404
        assert (await client.post("/dev/webhooks/inbox", content=b"{}")).status_code in (404, 405)
