"""Managing endpoints through ``/api/webhooks``: roles, tenancy, validation, secrets, audit, OpenAPI."""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from pydantic import ValidationError

from tenantry.config import Settings
from tenantry.mail import MailSettings
from tenantry.webhooks.addresses import refusal
from tests.api_key.helpers import create_key, with_key
from tests.auth.helpers import BASE, sql
from tests.conftest import ClientFactory
from tests.tenancy.helpers import create_org, join, new_user
from tests.webhooks.helpers import API, AUTH, LOCAL, STRICT, create_endpoint, webhooks

URL = "http://127.0.0.1:9/hooks"


async def test_admins_manage_members_are_refused_and_other_organizations_see_nothing(
    make_client: ClientFactory,
) -> None:
    async with make_client(auth=AUTH, base_url=BASE, webhooks=LOCAL) as client:
        ada = await new_user(client, "ada@example.com")
        org = await create_org(client, ada, "Acme", slug="acme")
        mia = await new_user(client, "mia@example.com")
        await join(client, ada, org, mia, "member")
        eve = await new_user(client, "eve@example.com")
        await create_org(client, eve, "Evil", slug="evil")

        created = await create_endpoint(
            client, ada, URL, description="CRM", event_types=["projects.created", "members.created"]
        )
        assert created["secret"].startswith("whsec_") and created["enabled"] is True
        eid = created["id"]
        one = f"{API}/endpoints/{eid}"
        listed = (await client.get(f"{API}/endpoints", headers=ada.headers)).json()
        assert [e["id"] for e in listed] == [eid] and "secret" not in listed[0]
        assert (await client.get(one, headers=ada.headers)).json()["description"] == "CRM"

        # A member: 403 on every operation, and nothing changes.
        for method, path, body in [
            ("GET", f"{API}/endpoints", None),
            ("POST", f"{API}/endpoints", {"url": URL}),
            ("GET", one, None),
            ("PATCH", one, {"enabled": False}),
            ("DELETE", one, None),
            ("GET", f"{one}/secret", None),
            ("POST", f"{one}/rotate-secret", None),
            ("GET", f"{one}/messages", None),
        ]:
            r = await client.request(method, path, json=body, headers=mia.headers)
            assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN_ACTION"), (method, path, r.text)
        # Another organization's admin: the endpoint does not exist for them.
        for method, path in [("GET", one), ("PATCH", one), ("DELETE", one), ("GET", f"{one}/secret")]:
            r = await client.request(method, path, json={} if method == "PATCH" else None, headers=eve.headers)
            assert (r.status_code, r.json()["code"]) == (404, "WEBHOOK_ENDPOINT_NOT_FOUND"), (method, path)
        assert (await client.get(f"{API}/endpoints", headers=eve.headers)).json() == []
        assert (await client.get(f"{API}/endpoints")).status_code == 401

        r = await client.patch(one, json={"enabled": False, "description": "paused"}, headers=ada.headers)
        assert r.status_code == 200, r.text
        assert (r.json()["enabled"], r.json()["disabled_reason"]) == (False, "manual")
        r = await client.patch(one, json={"enabled": True}, headers=ada.headers)
        assert (r.json()["enabled"], r.json()["disabled_reason"]) == (True, None)

        secret = (await client.get(f"{one}/secret", headers=ada.headers)).json()
        assert secret["secret"] == created["secret"] and secret["previous_secret"] is None
        rotated = (await client.post(f"{one}/rotate-secret", headers=ada.headers)).json()
        assert rotated["secret"] != created["secret"] and rotated["previous_secret"] == created["secret"]
        assert rotated["previous_secret_expires_at"].endswith("Z")

        assert (await client.delete(one, headers=ada.headers)).status_code == 200
        assert (await client.get(one, headers=ada.headers)).status_code == 404

        rows = await sql(
            client,
            "SELECT action, new_values, old_values FROM audit_logs WHERE resource_type = 'webhook_endpoints' "
            "ORDER BY created_at, id",
        )
        actions = [r[0] for r in rows]
        assert actions == ["create", "update", "update", "webhook_secret_read", "webhook_secret_rotate", "delete"]
        assert all("whsec_" not in str(r) for r in rows)


async def test_bad_input_is_a_clear_400_and_changes_nothing(make_client: ClientFactory) -> None:
    async with make_client(auth=AUTH, base_url=BASE, webhooks=LOCAL) as client:
        ada = await new_user(client, "ada@example.com")
        await create_org(client, ada, "Acme", slug="acme")
        cases = [
            ({"url": "ftp://example.com/x"}, "url", "INVALID_URL"),
            ({"url": "not a url"}, "url", "INVALID_URL"),
            ({}, "url", "REQUIRED"),
            ({"url": URL, "event_types": ["projects.exploded"]}, "event_types", "UNKNOWN_EVENT_TYPE"),
            ({"url": URL, "event_types": []}, "event_types", "INVALID_TYPE"),
            ({"url": URL, "enabled": "yes"}, "enabled", "INVALID_TYPE"),
            ({"url": URL, "secret": "whsec_mine"}, "secret", "UNKNOWN_FIELD"),
            ({"url": URL, "description": "x" * 501}, "description", "TOO_LONG"),
            ({"url": "http://nowhere.invalid/x"}, "url", "UNRESOLVABLE_HOST"),
            ({"url": "http://127.0.0.1:99999/x"}, "url", "INVALID_URL"),
            ({"url": "http://127.0.0.1/\u0000"}, "url", "INVALID_URL"),
            ({"url": URL, "description": "a\u0000b"}, "description", "INVALID_CHARACTERS"),
            ({"url": ["http://127.0.0.1/x"]}, "url", "REQUIRED"),
        ]
        for body, field, code in cases:
            r = await client.post(f"{API}/endpoints", json=body, headers=ada.headers)
            assert r.status_code == 400, (body, r.text)
            error = r.json()
            assert error["code"] == "VALIDATION_FAILED"
            assert error["errors"][0]["field"] == field and error["errors"][0]["code"] == code, (body, error)
        for raw, code in [(b"{", "INVALID_JSON"), (b"[1]", "VALIDATION_FAILED")]:
            r = await client.post(
                f"{API}/endpoints", content=raw, headers={**ada.headers, "content-type": "application/json"}
            )
            assert (r.status_code, r.json()["code"]) == (400, code)
        r = await client.get(f"{API}/endpoints/not-a-uuid", headers=ada.headers)
        assert (r.status_code, r.json()["code"]) == (404, "WEBHOOK_ENDPOINT_NOT_FOUND")
        endpoint = await create_endpoint(client, ada, URL)
        one = f"{API}/endpoints/{endpoint['id']}"
        for path, code in [
            (f"{one}/messages?limit=0", "INVALID_QUERY"),
            (f"{one}/messages?limit=9999", "INVALID_QUERY"),
            (f"{one}/messages?before=%00", "INVALID_QUERY"),
            (f"{one}/attempts?before=msg_x", "INVALID_QUERY"),
            (f"{one}/messages/%00/attempts", "WEBHOOK_MESSAGE_NOT_FOUND"),
            (f"{one}/messages/{'m' * 500}/attempts", "WEBHOOK_MESSAGE_NOT_FOUND"),
        ]:
            r = await client.get(path, headers=ada.headers)
            assert (r.status_code // 100, r.json()["code"]) == (4, code), (path, r.text)
        r = await client.post(f"{one}/replay", json={"since": "2026-13-45"}, headers=ada.headers)
        assert r.json()["errors"][0]["code"] == "INVALID_TIME"
        assert (await client.delete(one, headers=ada.headers)).status_code == 200
        r = await client.get(f"{API}/endpoints", headers=ada.headers)
        assert r.json() == []


REFUSED = [
    "http://127.0.0.1/x",
    "http://[::1]/x",
    "http://10.1.2.3/x",
    "http://172.16.5.4/x",
    "http://172.31.255.255/x",
    "http://192.168.0.10/x",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/x",
    "http://[::ffff:127.0.0.1]/x",
    "http://[::ffff:169.254.169.254]/x",
    "http://[fe80::1]/x",
    "http://localhost:8080/x",  # a host name resolving to loopback
    "http://2130706433/x",  # 127.0.0.1 written as a number
]


async def test_private_addresses_are_refused_at_registration(make_client: ClientFactory) -> None:
    async with make_client(auth=AUTH, base_url=BASE, webhooks=STRICT) as client:
        ada = await new_user(client, "ada@example.com")
        await create_org(client, ada, "Acme", slug="acme")
        for url in REFUSED:
            r = await client.post(f"{API}/endpoints", json={"url": url}, headers=ada.headers)
            assert r.status_code == 400, (url, r.text)
            assert r.json()["errors"][0]["code"] == "ADDRESS_NOT_ALLOWED", (url, r.json())
        assert (await client.get(f"{API}/endpoints", headers=ada.headers)).json() == []


def test_public_addresses_pass_the_address_rule() -> None:
    for address in ("93.184.215.14", "2606:4700:4700::1111", "1.1.1.1"):
        assert refusal(ipaddress.ip_address(address)) is None


async def test_production_requires_https(make_client: ClientFactory) -> None:
    async with make_client(auth=AUTH, base_url=BASE, webhooks=LOCAL) as client:
        ada = await new_user(client, "ada@example.com")
        await create_org(client, ada, "Acme", slug="acme")
        webhooks(client).service.https_only = True  # what TENANTRY_ENV=production sets
        r = await client.post(f"{API}/endpoints", json={"url": URL}, headers=ada.headers)
        assert r.json()["errors"][0]["code"] == "HTTPS_REQUIRED"


async def test_event_types_and_openapi(make_client: ClientFactory) -> None:
    async with make_client(auth=AUTH, base_url=BASE, webhooks=LOCAL) as client:
        ada = await new_user(client, "ada@example.com")
        types = (await client.get(f"{API}/event-types", headers=ada.headers)).json()["data"]
        names = [t["type"] for t in types]
        for name in (
            "projects.created",
            "projects.updated",
            "projects.deleted",
            "subscriptions.updated",
            "members.created",
            "invitations.created",
        ):
            assert name in names
        assert not any(n.startswith(("users.", "audit_logs.", "organizations.")) for n in names)
        updated = next(t for t in types if t["type"] == "projects.updated")["schema"]
        assert updated["properties"]["data"]["properties"]["name"]["type"] == "string"
        assert "previous" in updated["required"]
        document = (await client.get("/api/openapi.json")).json()
        # The whole document is validated by tests/api/test_openapi.py.
        assert f"{API}/endpoints" in document["paths"] and f"{API}/endpoints/{{id}}/rotate-secret" in document["paths"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [("http://127.0.0.1/x", "a loopback address"), ("http://[::ffff:10.0.0.1]/x", "a private address")],
)
def test_refusal_names_the_reason(url: str, reason: str) -> None:
    assert refusal(ipaddress.ip_address(httpx.URL(url).host)) == reason


async def test_api_keys_manage_webhooks_only_unscoped(make_client: ClientFactory) -> None:
    async with make_client(auth=AUTH, base_url=BASE, webhooks=LOCAL) as client:
        ada = await new_user(client, "ada@example.com")
        acme = await create_org(client, ada, "Acme", slug="acme")
        full = await create_key(client, ada, organizationId=acme["id"])
        scoped = await create_key(client, ada, organizationId=acme["id"], permissions={"projects": ["read"]})
        r = await client.post(f"{API}/endpoints", json={"url": URL}, headers=with_key(full["key"]))
        assert r.status_code == 201, r.text
        r = await client.get(f"{API}/endpoints", headers=with_key(scoped["key"]))
        assert (r.status_code, r.json()["code"]) == (403, "API_KEY_SCOPE_DENIED")


def test_production_refuses_private_addresses() -> None:
    production = {"TENANTRY_ENV": "production", "TENANTRY_SECRET": "s" * 40}
    mail = MailSettings(TENANTRY_MAIL_BACKEND="file")
    with pytest.raises(ValidationError, match="TENANTRY_WEBHOOKS_ALLOW_PRIVATE"):
        Settings(**production, mail=mail, webhooks=LOCAL)  # type: ignore[arg-type]
    assert Settings(**production, mail=mail, webhooks=STRICT).webhooks.allow_private is False  # type: ignore[arg-type]
