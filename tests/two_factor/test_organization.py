"""An organization that requires two-factor: only admins with two-factor set it; members without it
are refused (403 TWO_FACTOR_REQUIRED) on the organization's data, and pages send them to set it up."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.auth.helpers import BASE, NO_VERIFICATION, PASSWORD
from tests.tenancy.helpers import User, create_org, join, new_user
from tests.two_factor.helpers import TF, audit_actions, code, secret_of

pytestmark = pytest.mark.asyncio


async def turn_on(client: httpx.AsyncClient, user: User) -> User:
    """Two-factor on for ``user`` (by bearer token); the session rotates, so the new token."""
    enabled = await client.post(f"{TF}/enable", json={"password": PASSWORD}, headers=user.headers)
    assert enabled.status_code == 200, enabled.text
    secret = secret_of(enabled.json()["totpURI"])
    verified = await client.post(f"{TF}/verify-totp", json={"code": code(secret)}, headers=user.headers)
    assert verified.status_code == 200, verified.text
    client.cookies.clear()
    return User(user.id, user.email, verified.json()["token"])


async def require(client: httpx.AsyncClient, user: User, org: dict[str, Any], on: bool) -> httpx.Response:
    body = {"requireTwoFactor": on, "organizationId": org["id"]}
    return await client.post(f"{TF}/organization-requirement", json=body, headers=user.headers)


async def test_organization_requirement_enforced(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        admin = await new_user(client, "admin@example.com")
        org = await create_org(client, admin, "Acme", slug="acme")
        member = await new_user(client, "member@example.com")
        await join(client, admin, org, member, "member")
        assert (await client.get("/api/projects", headers=member.headers)).status_code == 200

        # Members may not set it; an admin must have two-factor first (or they would lock themselves out).
        refused = await require(client, member, org, True)
        assert (refused.status_code, refused.json()["code"]) == (403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION")
        first = await require(client, admin, org, True)
        assert (first.status_code, first.json()["code"]) == (403, "TWO_FACTOR_REQUIRED")
        admin = await turn_on(client, admin)
        ok = await require(client, admin, org, True)
        assert ok.json() == {"organizationId": org["id"], "requireTwoFactor": True}
        assert "two_factor_requirement" in await audit_actions(client)

        # The member without two-factor: the data is refused, the pages send them to set it up.
        blocked = await client.get("/api/projects", headers=member.headers)
        assert (blocked.status_code, blocked.json()["code"]) == (403, "TWO_FACTOR_REQUIRED")
        assert (await client.get("/api/projects", headers=admin.headers)).status_code == 200
        page = await client.get("/dashboard", headers=member.headers)
        assert page.status_code == 303 and page.headers["location"].startswith("/settings/account")
        account = await client.get("/settings/account", headers=member.headers)
        assert account.status_code == 200
        section = await client.get("/settings/account/two-factor", headers=member.headers)
        assert section.status_code == 200 and "Set up two-factor" in section.text
        read = await client.get(f"{TF}/organization-requirement", headers=member.headers)
        assert read.json()["requireTwoFactor"] is True

        member = await turn_on(client, member)
        assert (await client.get("/api/projects", headers=member.headers)).status_code == 200

        # Another organization, or no organization at all, is refused without a 500.
        for bogus in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
            assert (await require(client, admin, {"id": bogus}, False)).status_code == 403
            got = await client.get(f"{TF}/organization-requirement?organizationId={bogus}", headers=admin.headers)
            assert got.status_code == 403
        wrong_type = await client.post(
            f"{TF}/organization-requirement", json={"requireTwoFactor": "yes"}, headers=admin.headers
        )
        assert wrong_type.json()["code"] == "VALIDATION_ERROR"

        # Turned off again: anyone may work without it.
        off = await require(client, admin, org, False)
        assert off.json()["requireTwoFactor"] is False


async def test_organization_settings_page_shows_the_requirement(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        admin = await new_user(client, "admin@example.com")
        org = await create_org(client, admin, "Acme", slug="acme")
        member = await new_user(client, "member@example.com")
        await join(client, admin, org, member, "member")
        form = {**admin.headers}
        section = await client.get("/settings/organization/two-factor", headers=form)
        assert 'name="require"' in section.text
        refused = await client.post("/settings/organization/two-factor", data={"require": "1"}, headers=form)
        assert refused.status_code == 303 and "tenantry.flash" in refused.headers.get("set-cookie", "")
        admin = await turn_on(client, admin)
        saved = await client.post("/settings/organization/two-factor", data={"require": "1"}, headers=admin.headers)
        assert saved.status_code == 303
        shown = await client.get("/settings/organization/two-factor", headers=admin.headers)
        assert "checked" in shown.text
        as_member = await client.get("/settings/organization/two-factor", headers=member.headers)
        # The member is sent to set up two-factor first.
        assert as_member.status_code == 303


async def test_api_keys_of_members_without_two_factor_are_refused_too(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        admin = await new_user(client, "admin@example.com")
        org = await create_org(client, admin, "Acme", slug="acme")
        member = await new_user(client, "member@example.com")
        await join(client, admin, org, member, "member")
        made = await client.post(
            "/api/auth/api-key/create", json={"name": "ci", "organizationId": org["id"]}, headers=member.headers
        )
        assert made.status_code == 200, made.text
        key = {"x-api-key": made.json()["key"]}
        assert (await client.get("/api/projects", headers=key)).status_code == 200
        admin = await turn_on(client, admin)
        assert (await require(client, admin, org, True)).status_code == 200
        # A key made before (or after) the requirement is no way around it.
        blocked = await client.get("/api/projects", headers=key)
        assert (blocked.status_code, blocked.json()["code"]) == (403, "TWO_FACTOR_REQUIRED")
        member = await turn_on(client, member)
        assert (await client.get("/api/projects", headers=key)).status_code == 200
