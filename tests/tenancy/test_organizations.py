"""Better Auth's organization plugin (``/api/auth/organization/*``), sign-up with an organization,
and the tenant boundary as organizations see it — on SQLite and PostgreSQL.

Users act with bearer tokens (``tests.tenancy.helpers.User``); the app signs in at sign-up
(``NO_VERIFICATION``) unless a test says otherwise, and test users are marked verified unless
the test is about verification.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import httpx

from tenantry.auth import Authentication, AuthSettings
from tenantry.mail import list_outbox
from tenantry.tenancy import Tenancy
from tenantry.tenancy.service import OrgChange
from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN, PASSWORD, cookie_value, runtime, set_cookies, sql, ts
from tests.tenancy.helpers import (
    User,
    call,
    create_org,
    fails,
    invitation_mails,
    join,
    new_user,
    ok,
    session_of,
    set_verified,
)

ORG_KEYS = ["name", "slug", "logo", "createdAt", "metadata", "billing_email", "stripe_customer_id", "id"]
MEMBER_KEYS = ["organizationId", "userId", "role", "createdAt", "id"]
INVITATION_KEYS = ["organizationId", "email", "role", "status", "expiresAt", "createdAt", "inviterId", "id"]


def when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def project(client: httpx.AsyncClient, user: User, name: str, **extra: Any) -> httpx.Response:
    return await client.post("/api/projects", json={"name": name, **extra}, headers=user.headers)


# -- organizations --------------------------------------------------------------------------------


async def test_create_check_slug_list_and_set_active(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        # A new user has no organization: the session says so, tenant data is out of reach.
        assert (await session_of(client, ann))["session"]["activeOrganizationId"] is None
        r = await client.get("/api/projects", headers=ann.headers)
        assert (r.status_code, r.json()["code"]) == (403, "NO_ACTIVE_ORGANIZATION")

        acme = await create_org(
            client, ann, "Acme Corp", slug="acme", logo="https://img/acme.png", metadata={"tier": 1}
        )
        assert list(acme) == [*ORG_KEYS, "members"]
        assert (acme["name"], acme["slug"], acme["logo"], acme["metadata"]) == (
            "Acme Corp",
            "acme",
            "https://img/acme.png",
            {"tier": 1},
        )
        assert abs((when(acme["createdAt"]) - dt.datetime.now(dt.UTC)).total_seconds()) < 60
        [member] = acme["members"]
        assert list(member) == MEMBER_KEYS
        assert (member["organizationId"], member["userId"], member["role"]) == (acme["id"], ann.id, "admin")
        session = await session_of(client, ann)
        assert session["session"]["activeOrganizationId"] == acme["id"]
        assert session["user"]["org_id"] == acme["id"] and session["user"]["role"] == "admin"
        assert session["user"]["organization"] == {"id": acme["id"], "name": "Acme Corp", "slug": "acme"}
        assert (await client.get("/api/projects", headers=ann.headers)).json() == []

        # Slugs: generated from the name and de-duplicated; a given one must be free.
        assert await fails(client, ann, "check-slug", {"slug": "acme"}) == (400, "ORGANIZATION_SLUG_ALREADY_TAKEN")
        assert await ok(client, ann, "check-slug", {"slug": "free-slug"}) == {"status": True}
        assert await fails(client, ann, "create", {"name": "Again", "slug": "acme"}) == (
            400,
            "ORGANIZATION_ALREADY_EXISTS",
        )
        second = await create_org(client, ann, "Ünïcode  Ωrg!!", keepCurrentActiveOrganization=True)
        assert second["slug"] == "unicode-rg"
        third = await create_org(client, ann, "Unicode rg", keepCurrentActiveOrganization=True)
        fourth = await create_org(client, ann, "unicode-RG", keepCurrentActiveOrganization=True)
        assert (third["slug"], fourth["slug"]) == ("unicode-rg-2", "unicode-rg-3")
        assert (await session_of(client, ann))["session"]["activeOrganizationId"] == acme["id"]  # kept

        listed = await ok(client, ann, "list")
        assert [o["slug"] for o in listed] == ["acme", "unicode-rg", "unicode-rg-2", "unicode-rg-3"]
        assert list(listed[0]) == ORG_KEYS and listed[0]["metadata"] == {"tier": 1}

        # set-active by id, by slug, and null to clear; the cookie is re-issued as Better Auth does.
        cookie_client_token = ann.token
        client.cookies.set("better-auth.session_token", cookie_value_for(client, cookie_client_token))
        r = await client.post(
            "/api/auth/organization/set-active", json={"organizationId": second["id"]}, headers=ORIGIN
        )
        assert r.status_code == 200 and r.json()["id"] == second["id"] and list(r.json()) == ORG_KEYS
        assert cookie_value(r) is not None and "Max-Age=604800" in set_cookies(r)[0]
        client.cookies.clear()
        assert (await session_of(client, ann))["session"]["activeOrganizationId"] == second["id"]
        assert (await ok(client, ann, "set-active", {"organizationSlug": "unicode-rg-2"}))["id"] == third["id"]
        assert (await ok(client, ann, "set-active", {}))["id"] == third["id"]  # nothing named: the active one
        assert await ok(client, ann, "set-active", {"organizationId": None}) is None
        assert (await session_of(client, ann))["session"]["activeOrganizationId"] is None
        assert await ok(client, ann, "set-active", {}) is None
        assert await fails(client, ann, "set-active", {"organizationSlug": "nope"}) == (400, "ORGANIZATION_NOT_FOUND")

        # Someone else's organization cannot be activated, and the attempt changes nothing.
        bob = await new_user(client, "bob@example.com")
        bobs = await create_org(client, bob, "Bob's")
        assert await fails(client, ann, "set-active", {"organizationId": bobs["id"]}) == (
            403,
            "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
        )
        assert await fails(client, ann, "set-active", {"organizationId": "not-a-uuid"}) == (
            403,
            "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
        )
        assert [o["id"] for o in await ok(client, bob, "list")] == [bobs["id"]]

        # Input checks and authentication.
        r = await call(client, ann, "create", {"slug": "x"})
        assert r.json() == {
            "message": "[body.name] Invalid input: expected string, received undefined",
            "code": "VALIDATION_ERROR",
        }
        assert await fails(client, ann, "create", {"name": ""}) == (400, "VALIDATION_ERROR")
        assert await fails(client, ann, "create", {"name": "X", "metadata": "text"}) == (400, "VALIDATION_ERROR")
        assert await fails(client, ann, "create", {"name": "X", "billing_email": ["x"]}) == (400, "VALIDATION_ERROR")
        assert await fails(client, None, "create", {"name": "X"}) == (401, "UNAUTHORIZED")
        assert await fails(client, None, "list") == (401, "UNAUTHORIZED")
        assert await fails(client, None, "check-slug", {"slug": "x"}) == (401, "UNAUTHORIZED")
        with_billing = await create_org(client, ann, "Billing", billing_email="pay@example.com")
        assert with_billing["billing_email"] == "pay@example.com"


def cookie_value_for(client: httpx.AsyncClient, token: str) -> str:
    """The signed session cookie value of ``token`` (what a browser would hold)."""
    return runtime(client).get(Authentication).ctx.cookies.signed_session_value(token)


async def test_full_organization_update_and_delete(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        mia = await new_user(client, "mia@example.com")
        acme = await create_org(client, ann, "Acme", slug="acme")
        mia_member = await join(client, ann, acme, mia, "member")
        pending = await ok(client, ann, "invite-member", {"email": "new@example.com", "role": "viewer"})

        full = await ok(client, ann, "get-full-organization")  # the active organization
        assert list(full) == [*ORG_KEYS, "invitations", "members"] and full["id"] == acme["id"]
        assert [m["user"]["email"] for m in full["members"]] == ["ann@example.com", "mia@example.com"]
        assert list(full["members"][1]) == [*MEMBER_KEYS, "user"]
        assert full["members"][1]["user"] == {"id": mia.id, "name": "Mia", "email": "mia@example.com", "image": None}
        assert full["members"][1]["id"] == mia_member["id"]
        # Every invitation, whatever its status (as Better Auth lists them).
        assert [(i["email"], i["status"]) for i in full["invitations"]] == [
            ("mia@example.com", "accepted"),
            ("new@example.com", "pending"),
        ]
        assert list(full["invitations"][1]) == INVITATION_KEYS and full["invitations"][1]["id"] == pending["id"]
        assert (
            len((await ok(client, ann, "get-full-organization", organizationSlug="acme", membersLimit=1))["members"])
            == 1
        )
        # A member who cannot invite does not see the invitations (their ids are join links).
        assert (await ok(client, mia, "get-full-organization", organizationId=acme["id"]))["invitations"] == []
        assert await ok(client, mia, "get-organization") == {k: full[k] for k in ORG_KEYS}

        # Outsiders see nothing, and learn nothing beyond Better Auth's answers.
        zed = await new_user(client, "zed@example.com")
        assert await ok(client, zed, "get-full-organization") is None  # no active organization
        assert await ok(client, zed, "get-organization") is None
        assert await fails(client, zed, "get-full-organization", organizationId=acme["id"]) == (
            403,
            "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
        )
        assert await fails(client, zed, "get-full-organization", organizationSlug="nope") == (
            400,
            "ORGANIZATION_NOT_FOUND",
        )

        # update: the top role only; slugs stay unique.
        updated = await ok(
            client,
            ann,
            "update",
            {
                "data": {
                    "name": "Acme Inc",
                    "logo": "https://img/a.png",
                    "metadata": {"a": 1},
                    "billing_email": "b@x.io",
                }
            },
        )
        assert (updated["name"], updated["slug"], updated["logo"], updated["metadata"], updated["billing_email"]) == (
            "Acme Inc",
            "acme",
            "https://img/a.png",
            {"a": 1},
            "b@x.io",
        )
        other = await create_org(client, zed, "Other", slug="other")
        assert await fails(client, ann, "update", {"organizationId": acme["id"], "data": {"slug": "other"}}) == (
            400,
            "ORGANIZATION_SLUG_ALREADY_TAKEN",
        )
        assert (await ok(client, ann, "update", {"data": {"slug": "acme-inc"}}))["slug"] == "acme-inc"
        assert await fails(client, mia, "update", {"data": {"name": "Mine"}}) == (
            403,
            "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION",
        )
        assert await fails(client, zed, "update", {"organizationId": acme["id"], "data": {"name": "Mine"}}) == (
            400,
            "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
        )
        assert await fails(client, ann, "update", {"data": {"name": ""}}) == (400, "VALIDATION_ERROR")
        assert await fails(client, ann, "update", {"name": "no data"}) == (400, "VALIDATION_ERROR")
        r = await call(client, None, "update", {"data": {"name": "x"}})
        assert (r.status_code, r.json()) == (401, {"message": "User not found", "code": "USER_NOT_FOUND"})
        assert (await ok(client, mia, "get-organization"))["name"] == "Acme Inc"

        # delete: the top role only; data of the organization's own blocks it (the schema keeps it).
        assert await fails(client, mia, "delete", {"organizationId": acme["id"]}) == (
            403,
            "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION",
        )
        assert await fails(client, zed, "delete", {"organizationId": acme["id"]}) == (
            400,
            "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
        )
        made = await project(client, ann, "Launch")
        assert made.status_code == 201, made.text
        assert await fails(client, ann, "delete", {"organizationId": acme["id"]}) == (409, "REFERENCED_BY")
        assert (await client.delete(f"/api/projects/{made.json()['id']}", headers=ann.headers)).status_code == 200
        # Ann also belongs to Other: her session moves there; Mia has no organization left.
        await join(client, zed, other, ann, "viewer")
        assert (await ok(client, ann, "set-active", {"organizationId": acme["id"]}))["id"] == acme["id"]
        deleted = await ok(client, ann, "delete", {"organizationId": acme["id"]})
        assert deleted["id"] == acme["id"] and deleted["name"] == "Acme Inc"
        assert (await session_of(client, ann))["session"]["activeOrganizationId"] == other["id"]
        mias = await session_of(client, mia)
        assert mias["session"]["activeOrganizationId"] is None and mias["user"]["organization"] is None
        assert await ok(client, ann, "list") == [await ok(client, ann, "get-organization")]
        # Its memberships and invitations went with it.
        assert {str(r[0]) for r in await sql(client, "SELECT organization_id FROM org_invitations")} == {other["id"]}
        assert {str(r[0]) for r in await sql(client, "SELECT organization_id FROM org_members")} == {other["id"]}


async def test_organizations_deleted_through_crud_leave_no_session_behind(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        first = await create_org(client, ann, "First")
        second = await create_org(client, ann, "Second")  # now active
        r = await client.delete(f"/api/organizations/{second['id']}", headers=ann.headers)
        assert r.status_code == 200, r.text
        assert (await session_of(client, ann))["session"]["activeOrganizationId"] == first["id"]


# -- invitations ------------------------------------------------------------------------------------


async def test_invitations_for_an_existing_user(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com", name="Ann Admin")
        acme = await create_org(client, ann, "Acme", slug="acme")
        bob = await new_user(client, "bob@example.com", verified=False)

        invitation = await ok(client, ann, "invite-member", {"email": "Bob@Example.com", "role": "member"})
        assert list(invitation) == INVITATION_KEYS
        assert (invitation["email"], invitation["role"], invitation["status"], invitation["inviterId"]) == (
            "bob@example.com",
            "member",
            "pending",
            ann.id,
        )
        assert invitation["organizationId"] == acme["id"]
        lifetime = when(invitation["expiresAt"]) - when(invitation["createdAt"])
        assert abs(lifetime.total_seconds() - 48 * 3600) < 5
        # The e-mail was queued with the invitation, linking to the app's accept page.
        [mail] = await invitation_mails(client, "bob@example.com")
        assert mail.url == f"{BASE}/accept-invitation/{invitation['id']}"
        assert "Ann Admin invited you to join Acme" in mail.subject
        assert "ann@example.com" in mail.text and " as member" in mail.text and "Hi Bob" in mail.text

        # Refusals: a duplicate pending invitation, an existing member, a role nobody has.
        assert await fails(client, ann, "invite-member", {"email": "bob@example.com", "role": "viewer"}) == (
            400,
            "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION",
        )
        assert await fails(client, ann, "invite-member", {"email": "ann@example.com", "role": "member"}) == (
            400,
            "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION",
        )
        r = await call(client, ann, "invite-member", {"email": "x@example.com", "role": "boss"})
        assert (r.status_code, r.json()) == (400, {"message": "ROLE_NOT_FOUND: boss", "code": "ROLE_NOT_FOUND"})
        assert await fails(client, ann, "invite-member", {"email": "x@example.com", "role": ["member", "viewer"]}) == (
            400,
            "BAD_REQUEST",
        )
        assert await fails(client, ann, "invite-member", {"email": "not-an-email", "role": "member"}) == (
            400,
            "INVALID_EMAIL",
        )
        # resend: the same invitation, extended, e-mailed again.
        resent = await ok(client, ann, "invite-member", {"email": "bob@example.com", "role": "viewer", "resend": True})
        assert resent["id"] == invitation["id"] and resent["role"] == "member"
        assert when(resent["expiresAt"]) >= when(invitation["expiresAt"])
        assert len(await invitation_mails(client, "bob@example.com")) == 2

        # Only the addressee, with a verified address, may see, accept or reject it.
        zed = await new_user(client, "zed@example.com")
        assert await fails(client, zed, "get-invitation", id=invitation["id"]) == (
            403,
            "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION",
        )
        assert await fails(client, zed, "accept-invitation", {"invitationId": invitation["id"]}) == (
            403,
            "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION",
        )
        assert await fails(client, bob, "get-invitation", id=invitation["id"]) == (
            403,
            "EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION",
        )
        assert await fails(client, bob, "accept-invitation", {"invitationId": invitation["id"]}) == (
            403,
            "EMAIL_VERIFICATION_REQUIRED_BEFORE_ACCEPTING_OR_REJECTING_INVITATION",
        )
        assert await fails(client, bob, "list-user-invitations") == (403, "EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION")
        await set_verified(client, bob.id)
        seen = await ok(client, bob, "get-invitation", id=invitation["id"])
        assert list(seen) == [*INVITATION_KEYS, "organizationName", "organizationSlug", "inviterEmail"]
        assert (seen["organizationName"], seen["organizationSlug"], seen["inviterEmail"]) == (
            "Acme",
            "acme",
            "ann@example.com",
        )
        mine = await ok(client, bob, "list-user-invitations")
        assert [(i["id"], i["organizationName"]) for i in mine] == [(invitation["id"], "Acme")]
        r = await call(client, None, "get-invitation", id=invitation["id"])
        # Better Auth's message with the code of its session check (it gives this one no code).
        assert (r.status_code, r.json()) == (401, {"message": "Not authenticated", "code": "UNAUTHORIZED"})
        r = await call(client, bob, "list-user-invitations", email="bob@example.com")
        assert r.status_code == 400

        accepted = await ok(client, bob, "accept-invitation", {"invitationId": invitation["id"]})
        assert list(accepted) == ["invitation", "member"]
        assert accepted["invitation"]["status"] == "accepted" and accepted["invitation"]["id"] == invitation["id"]
        assert (accepted["member"]["userId"], accepted["member"]["role"]) == (bob.id, "member")
        session = await session_of(client, bob)
        assert session["session"]["activeOrganizationId"] == acme["id"] and session["user"]["role"] == "member"
        # Single use.
        assert await fails(client, bob, "accept-invitation", {"invitationId": invitation["id"]}) == (
            400,
            "INVITATION_NOT_FOUND",
        )
        assert await ok(client, bob, "list-user-invitations") == []

        # Who may invite and list: the top role; members neither.
        assert await fails(client, bob, "invite-member", {"email": "c@example.com", "role": "viewer"}) == (
            403,
            "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION",
        )
        assert await fails(client, bob, "list-invitations") == (403, "YOU_ARE_NOT_ALLOWED_TO_LIST_INVITATIONS")
        assert await fails(
            client, zed, "invite-member", {"email": "c@example.com", "role": "viewer", "organizationId": acme["id"]}
        ) == (
            400,
            "MEMBER_NOT_FOUND",
        )
        # No organization named and none active: Better Auth's message, and the code its other
        # organization endpoints give that situation.
        r = await call(client, zed, "list-invitations")
        assert (r.status_code, r.json()) == (
            400,
            {"message": "Organization ID is required", "code": "NO_ACTIVE_ORGANIZATION"},
        )
        r = await call(client, zed, "list-invitations", organizationId=acme["id"])
        assert (r.status_code, r.json()) == (
            403,
            {
                "message": "You are not a member of this organization",
                "code": "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION",
            },
        )
        assert [i["email"] for i in await ok(client, ann, "list-invitations")] == ["bob@example.com"]

        # reject and cancel.
        to_reject = await ok(client, ann, "invite-member", {"email": "zed@example.com", "role": "viewer"})
        to_cancel = await ok(client, ann, "invite-member", {"email": "cy@example.com", "role": "admin"})
        assert await fails(client, bob, "cancel-invitation", {"invitationId": to_cancel["id"]}) == (
            403,
            "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION",
        )
        canceled = await ok(client, ann, "cancel-invitation", {"invitationId": to_cancel["id"]})
        assert canceled["status"] == "canceled" and canceled["id"] == to_cancel["id"]
        assert await fails(client, ann, "cancel-invitation", {"invitationId": to_cancel["id"]}) == (
            400,
            "INVITATION_NOT_FOUND",
        )
        rejected = await ok(client, zed, "reject-invitation", {"invitationId": to_reject["id"]})
        assert rejected["member"] is None and rejected["invitation"]["status"] == "rejected"
        r = await call(client, zed, "accept-invitation", {"invitationId": to_reject["id"]})
        assert (r.status_code, r.json()["code"]) == (400, "INVITATION_NOT_FOUND")
        r = await call(client, zed, "reject-invitation", {"invitationId": "nope"})
        assert (r.status_code, r.json()) == (400, {"message": "Invitation not found!", "code": "INVITATION_NOT_FOUND"})
        statuses = {i["email"]: i["status"] for i in await ok(client, ann, "list-invitations")}
        assert statuses == {"bob@example.com": "accepted", "zed@example.com": "rejected", "cy@example.com": "canceled"}

        # An expired invitation is no invitation.
        late = await ok(client, ann, "invite-member", {"email": "zed@example.com", "role": "viewer"})
        await sql(
            client,
            "UPDATE org_invitations SET expires_at = ? WHERE id = ?",
            ts(client, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)),
            late["id"],
        )
        assert await fails(client, zed, "accept-invitation", {"invitationId": late["id"]}) == (
            400,
            "INVITATION_NOT_FOUND",
        )
        assert await ok(client, zed, "list-user-invitations") == []
        # ... and no longer blocks a new one.
        assert (await ok(client, ann, "invite-member", {"email": "zed@example.com", "role": "viewer"}))["id"] != late[
            "id"
        ]


async def test_a_new_user_signs_up_through_the_invitation_link(make_client) -> None:
    # The default settings: sign-up requires e-mail verification.
    async with make_client(base_url=BASE) as client:
        ann = await new_user_verified_by_sql(client, "ann@example.com")
        acme = await create_org(client, ann, "Acme", slug="acme")
        invitation = await ok(client, ann, "invite-member", {"email": "newbie@example.com", "role": "viewer"})
        [mail] = await invitation_mails(client, "newbie@example.com")
        assert "Hi there" in mail.text  # no account, no name yet
        invitation_id = urlsplit(mail.url).path.rsplit("/", 1)[1]
        assert invitation_id == invitation["id"]

        # The link's id for another address, an unknown id: refused, and nobody is created.
        body = {"name": "Newbie", "password": PASSWORD, "invitationId": invitation_id}
        r = await client.post("/api/auth/sign-up/email", json={**body, "email": "other@example.com"}, headers=ORIGIN)
        assert (r.status_code, r.json()["code"]) == (403, "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION")
        r = await client.post(
            "/api/auth/sign-up/email", json={**body, "email": "newbie@example.com", "invitationId": "x"}, headers=ORIGIN
        )
        assert (r.status_code, r.json()["code"]) == (400, "INVITATION_NOT_FOUND")
        assert (
            await sql(client, "SELECT id FROM users WHERE email IN (?, ?)", "other@example.com", "newbie@example.com")
            == []
        )

        r = await client.post("/api/auth/sign-up/email", json={**body, "email": "newbie@example.com"}, headers=ORIGIN)
        assert r.status_code == 200, r.text
        data = r.json()
        # The invitation e-mail proved the address: verified, signed in at once, no verification mail.
        assert data["user"]["emailVerified"] is True and data["token"]
        assert cookie_value(r) is not None
        rt = runtime(client)
        assert [m.template for m in await list_outbox(rt.db, rt.tables, to="newbie@example.com")] == ["invitation"]
        client.cookies.clear()
        newbie = User(data["user"]["id"], "newbie@example.com", data["token"])
        session = await session_of(client, newbie)
        assert session["session"]["activeOrganizationId"] == acme["id"]
        assert (session["user"]["role"], session["user"]["org_id"]) == ("viewer", acme["id"])
        assert session["user"]["organization"] == {"id": acme["id"], "name": "Acme", "slug": "acme"}
        used = await ok(client, ann, "list-invitations")
        assert [(i["email"], i["status"]) for i in used] == [("newbie@example.com", "accepted")]
        # Single use: signing up again with it (another password, same address) finds no invitation.
        r = await client.post("/api/auth/sign-up/email", json={**body, "email": "newbie@example.com"}, headers=ORIGIN)
        assert r.json()["token"] is None  # an existing address: Better Auth's look-alike answer, nothing done
        assert (await ok(client, ann, "list-members"))["total"] == 2


async def new_user_verified_by_sql(client: httpx.AsyncClient, email: str) -> User:
    """A user of an app that requires verification: created unverified, verified, then signed in."""
    r = await client.post(
        "/api/auth/sign-up/email", json={"email": email, "password": PASSWORD, "name": "Ann"}, headers=ORIGIN
    )
    assert r.status_code == 200 and r.json()["token"] is None
    await set_verified(client, r.json()["user"]["id"])
    r = await client.post("/api/auth/sign-in/email", json={"email": email, "password": PASSWORD}, headers=ORIGIN)
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return User(r.json()["user"]["id"], email, r.json()["token"])


# -- sign-up with an organization -------------------------------------------------------------------


async def test_sign_up_with_an_organization_is_one_transaction(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:

        async def sign_up(email: str, **extra: Any) -> httpx.Response:
            body = {"email": email, "password": PASSWORD, "name": "Founder", **extra}
            r = await client.post("/api/auth/sign-up/email", json=body, headers=ORIGIN)
            client.cookies.clear()
            return r

        async def users_named(email: str) -> int:
            return len(await sql(client, "SELECT id FROM users WHERE email = ?", email))

        r = await sign_up("one@example.com", organizationName="Acme Corp")
        assert r.status_code == 200, r.text
        one = User(r.json()["user"]["id"], "one@example.com", r.json()["token"])
        session = await session_of(client, one)
        org = session["user"]["organization"]
        assert (org["name"], org["slug"], session["user"]["role"]) == ("Acme Corp", "acme-corp", "admin")
        assert session["session"]["activeOrganizationId"] == org["id"] == session["user"]["org_id"]
        # The organization's admin can work at once.
        assert (await project(client, one, "First")).status_code == 201

        r = await sign_up("two@example.com", organizationName="Acme  corp")
        two = User(r.json()["user"]["id"], "two@example.com", r.json()["token"])
        assert (await session_of(client, two))["user"]["organization"]["slug"] == "acme-corp-2"
        r = await sign_up("three@example.com", organizationName="Three", organizationSlug="three-co")
        assert r.status_code == 200

        # A failure after the user was inserted (a given slug that is taken) leaves nothing behind.
        r = await sign_up("four@example.com", organizationName="Four", organizationSlug="acme-corp")
        assert (r.status_code, r.json()) == (
            400,
            {"message": "Organization already exists", "code": "ORGANIZATION_ALREADY_EXISTS"},
        )
        assert await users_named("four@example.com") == 0
        assert (
            await sql(
                client, "SELECT id FROM auth_accounts WHERE account_id NOT IN (SELECT CAST(id AS TEXT) FROM users)"
            )
            == []
        )
        # So do malformed organization fields: nothing is created.
        r = await sign_up("five@example.com", organizationSlug="lonely")
        assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR")
        r = await sign_up("five@example.com", organizationName="")
        assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR")
        r = await sign_up("five@example.com", organizationName=5)
        assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR")
        r = await sign_up("five@example.com", organizationName="Both", invitationId="abc")
        assert (r.status_code, r.json()["code"]) == (400, "BAD_REQUEST")
        assert await users_named("five@example.com") == 0
        orgs = {r[0] for r in await sql(client, "SELECT slug FROM organizations")}
        assert orgs == {"acme-corp", "acme-corp-2", "three-co"}
        # Without organization fields, sign-up is as before: a user with no organization.
        r = await sign_up("six@example.com")
        six = User(r.json()["user"]["id"], "six@example.com", r.json()["token"])
        assert (await session_of(client, six))["session"]["activeOrganizationId"] is None


async def test_sign_up_with_an_organization_when_verification_is_required(make_client) -> None:
    async with make_client(base_url=BASE) as client:
        r = await client.post(
            "/api/auth/sign-up/email",
            json={"email": "v@example.com", "password": PASSWORD, "name": "V", "organizationName": "Verified Co"},
            headers=ORIGIN,
        )
        assert r.status_code == 200 and r.json()["token"] is None  # not signed in before verifying
        assert r.json()["user"]["emailVerified"] is False
        await set_verified(client, r.json()["user"]["id"])
        r = await client.post(
            "/api/auth/sign-in/email", json={"email": "v@example.com", "password": PASSWORD}, headers=ORIGIN
        )
        client.cookies.clear()
        user = User(r.json()["user"]["id"], "v@example.com", r.json()["token"])
        session = await session_of(client, user)  # the first session starts in the organization
        assert session["user"]["organization"]["slug"] == "verified-co" and session["user"]["role"] == "admin"


# -- members and roles ------------------------------------------------------------------------------


async def test_members_roles_and_the_last_admin(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        mia = await new_user(client, "mia@example.com")
        vic = await new_user(client, "vic@example.com")
        acme = await create_org(client, ann, "Acme", slug="acme")
        ann_member = acme["members"][0]
        mia_member = await join(client, ann, acme, mia, "member")
        vic_member = await join(client, ann, acme, vic, "viewer")

        # The last admin can neither leave nor step down, and nobody below can remove them.
        assert await fails(client, ann, "leave", {"organizationId": acme["id"]}) == (
            400,
            "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER",
        )
        assert await fails(client, ann, "update-member-role", {"memberId": ann_member["id"], "role": "member"}) == (
            400,
            "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER",
        )
        assert await fails(client, ann, "remove-member", {"memberIdOrEmail": ann_member["id"]}) == (
            400,
            "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER",
        )
        assert await fails(client, mia, "remove-member", {"memberIdOrEmail": "ann@example.com"}) == (
            400,
            "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER",
        )
        # Below the top role: no role changes, no removals, no way to the top.
        assert await fails(client, mia, "update-member-role", {"memberId": vic_member["id"], "role": "member"}) == (
            403,
            "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
        )
        assert await fails(client, mia, "update-member-role", {"memberId": mia_member["id"], "role": "admin"}) == (
            403,
            "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
        )
        assert await fails(client, mia, "remove-member", {"memberIdOrEmail": vic_member["id"]}) == (
            401,
            "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER",
        )
        assert await fails(client, ann, "update-member-role", {"memberId": mia_member["id"], "role": "boss"}) == (
            400,
            "ROLE_NOT_FOUND",
        )
        assert await fails(client, ann, "update-member-role", {"memberId": "nope", "role": "viewer"}) == (
            400,
            "MEMBER_NOT_FOUND",
        )

        # Better Auth's "owner" is our top role: a second admin, after which the first may step down.
        promoted = await ok(client, ann, "update-member-role", {"memberId": mia_member["id"], "role": "owner"})
        assert list(promoted) == MEMBER_KEYS and (promoted["id"], promoted["role"]) == (mia_member["id"], "admin")
        demoted = await ok(client, ann, "update-member-role", {"memberId": ann_member["id"], "role": ["member"]})
        assert demoted["role"] == "member"
        assert (await ok(client, ann, "get-active-member-role")) == {"role": "member"}
        # Now Mia is the last admin; Ann (member) cannot touch her, Mia cannot leave.
        assert await fails(client, ann, "update-member-role", {"memberId": mia_member["id"], "role": "member"}) == (
            403,
            "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
        )
        assert await fails(client, mia, "leave", {"organizationId": acme["id"]}) == (
            400,
            "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER",
        )

        # Removal by e-mail and by id; a member of another organization is not found here.
        removed = await ok(client, mia, "remove-member", {"memberIdOrEmail": "VIC@example.com"})
        assert removed == {"member": {k: vic_member[k] for k in MEMBER_KEYS}}
        assert (await session_of(client, vic))["session"]["activeOrganizationId"] is None  # removed: no org left
        zed = await new_user(client, "zed@example.com")
        zeds = await create_org(client, zed, "Zed")
        assert await fails(client, mia, "remove-member", {"memberIdOrEmail": zeds["members"][0]["id"]}) == (
            400,
            "MEMBER_NOT_FOUND",
        )
        assert await fails(
            client, mia, "update-member-role", {"memberId": zeds["members"][0]["id"], "role": "viewer"}
        ) == (
            403,
            "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
        )
        assert await fails(
            client, zed, "remove-member", {"memberIdOrEmail": "ann@example.com", "organizationId": acme["id"]}
        ) == (
            400,
            "MEMBER_NOT_FOUND",
        )
        assert (await ok(client, mia, "remove-member", {"memberIdOrEmail": demoted["id"]}))["member"][
            "userId"
        ] == ann.id
        assert await fails(client, ann, "get-active-member") == (400, "NO_ACTIVE_ORGANIZATION")
        assert await fails(client, None, "remove-member", {"memberIdOrEmail": "x"}) == (401, "UNAUTHORIZED")


async def test_member_queries_and_permissions(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        mia = await new_user(client, "mia@example.com")
        vic = await new_user(client, "vic@example.com")
        acme = await create_org(client, ann, "Acme", slug="acme")
        await join(client, ann, acme, mia, "member")
        await join(client, ann, acme, vic, "viewer")

        active = await ok(client, mia, "get-active-member")
        assert list(active) == [*MEMBER_KEYS, "user"]
        assert (active["userId"], active["role"], active["user"]["email"]) == (mia.id, "member", "mia@example.com")
        assert await ok(client, mia, "get-active-member-role") == {"role": "member"}
        assert await ok(client, mia, "get-active-member-role", userId=vic.id) == {"role": "viewer"}
        assert await ok(client, mia, "get-active-member-role", organizationSlug="acme", userId=ann.id) == {
            "role": "admin"
        }
        zed = await new_user(client, "zed@example.com")
        assert await fails(client, mia, "get-active-member-role", userId=zed.id) == (
            403,
            "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION",
        )
        assert await fails(client, zed, "get-active-member-role", organizationId=acme["id"]) == (
            403,
            "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION",
        )
        assert await fails(client, zed, "get-active-member") == (400, "NO_ACTIVE_ORGANIZATION")

        listed = await ok(client, vic, "list-members")
        assert listed["total"] == 3 and [m["user"]["email"] for m in listed["members"]] == [
            "ann@example.com",
            "mia@example.com",
            "vic@example.com",
        ]
        page = await ok(client, vic, "list-members", limit=1, offset=1)
        assert page["total"] == 3 and [m["userId"] for m in page["members"]] == [mia.id]
        desc = await ok(client, vic, "list-members", sortBy="createdAt", sortDirection="desc")
        assert [m["userId"] for m in desc["members"]] == [vic.id, mia.id, ann.id]
        viewers = await ok(client, vic, "list-members", filterField="role", filterValue="viewer")
        assert viewers["total"] == 1 and viewers["members"][0]["userId"] == vic.id
        not_viewers = await ok(
            client, vic, "list-members", filterField="role", filterOperator="ne", filterValue="viewer"
        )
        assert not_viewers["total"] == 2
        assert (await ok(client, vic, "list-members", organizationSlug="acme"))["total"] == 3
        assert await fails(client, vic, "list-members", sortDirection="sideways") == (400, "VALIDATION_ERROR")
        assert await fails(client, vic, "list-members", sortBy="password") == (400, "BAD_REQUEST")
        assert await fails(client, zed, "list-members", organizationId=acme["id"]) == (
            403,
            "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION",
        )
        assert await fails(client, zed, "list-members") == (400, "NO_ACTIVE_ORGANIZATION")

        async def can(user: User, permissions: dict[str, list[str]]) -> bool:
            answer = await ok(client, user, "has-permission", {"permissions": permissions})
            assert list(answer) == ["error", "success"] and answer["error"] is None
            return bool(answer["success"])

        # Better Auth's default statements: owner (our top role) everything, member nothing.
        assert await can(ann, {"organization": ["update", "delete"], "member": ["delete"], "invitation": ["create"]})
        assert not await can(mia, {"member": ["delete"]})
        assert not await can(mia, {"invitation": ["create"]})
        assert not await can(vic, {"organization": ["update"]})
        assert await can(vic, {"ac": ["read"]})
        # Our entities, with the seed's defaults: viewer reads, member creates.
        assert await can(vic, {"projects": ["read"]}) and not await can(vic, {"projects": ["create"]})
        assert await can(mia, {"projects": ["create", "update", "delete"]})
        assert await can(ann, {"projects": ["create"], "subscriptions": ["delete"], "member": ["update"]})
        assert not await can(ann, {"spaceships": ["read"]}) and not await can(ann, {"member": []})
        assert not await can(ann, {})
        legacy = await ok(
            client, ann, "has-permission", {"permission": {"member": ["create"]}, "organizationId": acme["id"]}
        )
        assert legacy == {"error": None, "success": True}
        assert await fails(client, ann, "has-permission", {"permissions": {"member": "delete"}}) == (
            400,
            "VALIDATION_ERROR",
        )
        assert await fails(client, ann, "has-permission", {}) == (400, "VALIDATION_ERROR")
        assert await fails(client, zed, "has-permission", {"permissions": {"member": ["delete"]}}) == (
            400,
            "NO_ACTIVE_ORGANIZATION",
        )
        assert await fails(
            client, zed, "has-permission", {"permissions": {"member": ["delete"]}, "organizationId": acme["id"]}
        ) == (401, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION")
        # Text filters match literally (wildcards in the value are plain characters).
        assert (
            await ok(client, vic, "list-members", filterField="role", filterOperator="starts_with", filterValue="mem")
        )["total"] == 1
        assert (await ok(client, vic, "list-members", filterField="role", filterOperator="contains", filterValue="%"))[
            "total"
        ] == 0


async def test_leaving_moves_the_session_and_no_organization_means_no_tenant_data(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        bob = await new_user(client, "bob@example.com")
        acme = await create_org(client, ann, "Acme")
        beta = await create_org(client, bob, "Beta")
        await join(client, bob, beta, ann, "member")  # accepting makes Beta active
        await join(client, ann, acme, bob, "viewer")
        assert (await ok(client, ann, "set-active", {"organizationId": beta["id"]}))["id"] == beta["id"]

        left = await ok(client, ann, "leave", {"organizationId": beta["id"]})
        assert list(left) == [*MEMBER_KEYS, "user"] and (left["userId"], left["role"]) == (ann.id, "member")
        session = await session_of(client, ann)  # moved to her other organization
        assert session["session"]["activeOrganizationId"] == acme["id"] and session["user"]["role"] == "admin"
        assert await fails(client, ann, "leave", {"organizationId": beta["id"]}) == (400, "MEMBER_NOT_FOUND")
        assert [o["id"] for o in await ok(client, ann, "list")] == [acme["id"]]

        # Bob leaves Acme while Beta is active: his active organization stays.
        assert (await session_of(client, bob))["session"]["activeOrganizationId"] == acme["id"]
        await ok(client, bob, "set-active", {"organizationId": beta["id"]})
        await ok(client, bob, "leave", {"organizationId": acme["id"]})
        assert (await session_of(client, bob))["session"]["activeOrganizationId"] == beta["id"]

        # Leaving the last one: no organization, and everything tenant-scoped says so.
        cy = await new_user(client, "cy@example.com")
        await join(client, ann, acme, cy, "member")
        made = await project(client, cy, "Cy's")
        assert made.status_code == 201
        await ok(client, cy, "leave", {"organizationId": acme["id"]})
        session = await session_of(client, cy)
        assert session["session"]["activeOrganizationId"] is None
        assert (session["user"]["org_id"], session["user"]["role"], session["user"]["organization"]) == (
            None,
            None,
            None,
        )
        for response in (
            await client.get("/api/projects", headers=cy.headers),
            await project(client, cy, "Nowhere"),
            await client.get(f"/api/projects/{made.json()['id']}", headers=cy.headers),
        ):
            assert (response.status_code, response.json()["code"]) == (403, "NO_ACTIVE_ORGANIZATION")
        me = (await client.get(f"/api/users/{cy.id}", headers=cy.headers)).json()
        assert (me["org_id"], me["role"], me["organization"]) == (None, None, None)
        assert await ok(client, cy, "list") == []
        assert await fails(client, cy, "get-active-member") == (400, "NO_ACTIVE_ORGANIZATION")
        # ... until they create one (or accept an invitation).
        own = await create_org(client, cy, "Cy Co")
        assert (await session_of(client, cy))["user"]["org_id"] == own["id"]
        assert (await client.get("/api/projects", headers=cy.headers)).json() == []


async def test_role_changes_take_effect_on_the_next_request(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        mia = await new_user(client, "mia@example.com")
        acme = await create_org(client, ann, "Acme")
        mia_member = await join(client, ann, acme, mia, "member")
        annes = (await project(client, ann, "Ann's")).json()
        mine = await project(client, mia, "Mia's")
        assert mine.status_code == 201 and mine.json()["created_by"] == mia.id
        mias = mine.json()

        async def patch(user: User, row: dict[str, Any]) -> int:
            r = await client.patch(f"/api/projects/{row['id']}", json={"description": "x"}, headers=user.headers)
            return r.status_code

        # member: updates its own rows only; others' it can read, so they are refused, not hidden.
        assert await patch(mia, mias) == 200
        assert await patch(mia, annes) == 403
        # viewer: reads only.
        await ok(client, ann, "update-member-role", {"memberId": mia_member["id"], "role": "viewer"})
        r = await project(client, mia, "Denied")
        assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN_ACTION")
        assert (await patch(mia, mias), len((await client.get("/api/projects", headers=mia.headers)).json())) == (
            403,
            2,
        )
        assert (await session_of(client, mia))["user"]["role"] == "viewer"
        # admin: everything, including others' rows.
        await ok(client, ann, "update-member-role", {"memberId": mia_member["id"], "role": "admin"})
        assert await patch(mia, annes) == 200
        assert (await project(client, mia, "Allowed")).status_code == 201
        assert (await client.delete(f"/api/projects/{annes['id']}", headers=mia.headers)).status_code == 200


async def test_users_are_filtered_by_their_memberships(make_client) -> None:
    # The seed lists a team with GET /api/users?org_id=…: org_id and role are the memberships the
    # presenter shows, so filters on them must mean the same thing.
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        mia = await new_user(client, "mia@example.com")
        bob = await new_user(client, "bob@example.com")
        acme = await create_org(client, ann, "Acme")
        beta = await create_org(client, bob, "Beta")
        await join(client, ann, acme, mia, "member")
        await ok(client, ann, "set-active", {"organizationId": acme["id"]})

        async def ids(**params: str) -> set[str]:
            r = await client.get("/api/users", params=params, headers=ann.headers)
            assert r.status_code == 200, r.text
            return {u["id"] for u in r.json()}

        assert await ids(org_id=acme["id"]) == {ann.id, mia.id}
        assert await ids(filter=f"org_id||$eq||{acme['id']}") == {ann.id, mia.id}
        assert await ids(filter="role||$eq||member") == {mia.id}
        assert await ids(filter="role||$in||admin,viewer") == {ann.id}
        assert await ids(filter=f"org_id||$eq||{beta['id']}") == set()  # bob is not Ann's to see
        r = await client.get("/api/users", params={"filter": "role||$ne||admin"}, headers=ann.headers)
        assert (r.status_code, r.json()["code"]) == (400, "INVALID_FILTER")


async def test_an_organizations_users_are_its_members(make_client) -> None:
    # The seed's organizations -> users relation (users.org_id) means membership here: a user may
    # belong to several organizations, and joins and filters say so.
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com", name="Ann")
        mia = await new_user(client, "mia@example.com", name="Mia")
        bob = await new_user(client, "bob@example.com", name="Bob")
        acme = await create_org(client, ann, "Acme")
        beta = await create_org(client, bob, "Beta")
        await join(client, ann, acme, mia, "member")
        await join(client, bob, beta, ann, "viewer")
        await ok(client, ann, "set-active", {"organizationId": acme["id"]})

        r = await client.get("/api/organizations", params={"join": "users||name"}, headers=ann.headers)
        assert r.status_code == 200, r.text
        users = {o["name"]: sorted(u["name"] for u in o["users"]) for o in r.json()}
        # Beta's other members are not Ann's to see from Acme; she sees herself there.
        assert users == {"Acme": ["Ann", "Mia"], "Beta": ["Ann"]}
        r = await client.get("/api/organizations", params={"filter": "users.name||$eq||Mia"}, headers=ann.headers)
        assert [o["name"] for o in r.json()] == ["Acme"]
        assert (await project(client, mia, "Mia's")).status_code == 201
        r = await client.get(
            "/api/projects", params={"join": ["organization", "organization.users"]}, headers=ann.headers
        )
        assert r.status_code == 200, r.text
        assert sorted(u["name"] for u in r.json()[0]["organization"]["users"]) == ["Ann", "Mia"]


async def test_sorting_by_a_relation_reads_only_related_rows_in_scope(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com", name="Zed")
        mia = await new_user(client, "mia@example.com", name="Aaron")
        acme = await create_org(client, ann, "Acme")
        await join(client, ann, acme, mia, "member")
        assert (await project(client, ann, "Ann's")).status_code == 201
        assert (await project(client, mia, "Mia's")).status_code == 201

        async def names() -> list[str]:
            r = await client.get("/api/projects", params={"sort": "user.name,ASC"}, headers=ann.headers)
            assert r.status_code == 200, r.text
            return [p["name"] for p in r.json()]

        assert await names() == ["Mia's", "Ann's"]  # Aaron before Zed
        # Mia leaves: her user row is no longer Ann's to read, so it no longer orders Ann's page
        # (her project sorts as if it had no creator: last), which would otherwise tell her name apart.
        await ok(client, mia, "leave", {"organizationId": acme["id"]})
        assert await names() == ["Ann's", "Mia's"]


async def test_tenant_isolation_basics(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        bob = await new_user(client, "bob@example.com")
        both = await new_user(client, "both@example.com")
        a = await create_org(client, ann, "Org A")
        b = await create_org(client, bob, "Org B")
        await join(client, ann, a, both, "member")
        await join(client, bob, b, both, "member")  # now active in B
        secret = (await project(client, ann, "A secret")).json()
        await project(client, bob, "B plan")

        # Bob (B only) sees nothing of A: not in lists, 404 by id, whatever he tries.
        assert [p["name"] for p in (await client.get("/api/projects", headers=bob.headers)).json()] == ["B plan"]
        url = f"/api/projects/{secret['id']}"
        for response in (
            await client.get(url, headers=bob.headers),
            await client.patch(url, json={"name": "mine"}, headers=bob.headers),
            await client.delete(url, headers=bob.headers),
        ):
            assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
        r = await project(client, bob, "Sneaky", org_id=a["id"])
        assert (r.status_code, r.json()["code"]) == (403, "TENANT_MISMATCH")
        r = await project(client, bob, "Borrowed", created_by=ann.id)  # Ann is no user Bob can see
        body = r.json()
        codes = {e["field"]: e["code"] for e in body.get("errors", [])}
        assert r.status_code == 400 and codes == {"created_by": "REFERENCE_NOT_FOUND"}, body
        assert (await client.get("/api/projects", params={"org_id": a["id"]}, headers=bob.headers)).json() == []
        assert (await client.get(f"/api/users/{ann.id}", headers=bob.headers)).status_code == 404

        # A member of both names either organization, or both, with ?org_id=.
        in_a = (await client.get("/api/projects", params={"org_id": a["id"]}, headers=both.headers)).json()
        assert [p["name"] for p in in_a] == ["A secret"]
        r = await client.get(
            "/api/projects", params={"filter": f"org_id||$in||{a['id']},{b['id']}"}, headers=both.headers
        )
        assert sorted(p["name"] for p in r.json()) == ["A secret", "B plan"]
        # Without it, the active organization (B) only.
        assert [p["name"] for p in (await client.get("/api/projects", headers=both.headers)).json()] == ["B plan"]


async def test_users_and_the_session_show_the_seeds_user_with_org(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        mia = await new_user(client, "mia@example.com")
        acme = await create_org(client, ann, "Acme", slug="acme")
        await join(client, ann, acme, mia, "viewer")
        summary = {"id": acme["id"], "name": "Acme", "slug": "acme"}
        for viewer in (ann, mia):
            row = (await client.get(f"/api/users/{mia.id}", headers=viewer.headers)).json()
            assert (row["org_id"], row["role"], row["organization"]) == (acme["id"], "viewer", summary)
        row = (await client.get(f"/api/users/{ann.id}", headers=mia.headers)).json()
        assert (row["role"], row["organization"]) == ("admin", summary)
        user = (await session_of(client, mia))["user"]
        assert (user["org_id"], user["role"], user["organization"]) == (acme["id"], "viewer", summary)
        # The organization's new name shows on the next request.
        await ok(client, ann, "update", {"data": {"name": "Acme 2"}})
        assert (await session_of(client, mia))["user"]["organization"]["name"] == "Acme 2"


async def test_every_change_is_seen_inside_its_transaction(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        seen: list[OrgChange] = []

        async def record(conn: Any, change: OrgChange) -> None:
            # Inside the transaction: the change is visible on the same connection.
            assert conn is not None
            seen.append(change)

        runtime(client).get(Tenancy).organizations.observers.append(record)
        ann = await new_user(client, "ann@example.com")
        mia = await new_user(client, "mia@example.com")
        acme = await create_org(client, ann, "Acme")
        member = await join(client, ann, acme, mia, "member")
        await ok(client, ann, "update-member-role", {"memberId": member["id"], "role": "viewer"})
        await ok(client, ann, "remove-member", {"memberIdOrEmail": member["id"]})
        await fails(client, ann, "leave", {"organizationId": acme["id"]})  # refused: nothing recorded
        got = [(c.action, c.resource_type, c.actor_id) for c in seen]
        assert got == [
            ("create", "organization", ann.id),
            ("create", "member", ann.id),
            ("create", "invitation", ann.id),
            ("update", "invitation", mia.id),
            ("create", "member", mia.id),
            ("update", "member", ann.id),
            ("delete", "member", ann.id),
        ]
        role_change = seen[5]
        assert role_change.old is not None and role_change.new is not None
        assert (role_change.old["role"], role_change.new["role"]) == ("member", "viewer")
        assert all(c.organization_id == acme["id"] for c in seen)


async def test_two_admins_stepping_down_at_once_leave_one(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        mia = await new_user(client, "mia@example.com")
        acme = await create_org(client, ann, "Acme")
        ann_member = acme["members"][0]
        mia_member = await join(client, ann, acme, mia, "admin")

        async def admins() -> int:
            listed = await ok(
                client, ann, "list-members", organizationId=acme["id"], filterField="role", filterValue="admin"
            )
            return int(listed["total"])

        # Each demotes themself: the organization's row lock orders them; the second is the last admin.
        results = await asyncio.gather(
            call(client, ann, "update-member-role", {"memberId": ann_member["id"], "role": "member"}),
            call(client, mia, "update-member-role", {"memberId": mia_member["id"], "role": "member"}),
        )
        assert sorted(r.status_code for r in results) == [200, 400]
        assert await admins() == 1
        # Reset, then each demotes the other: the second is no longer an admin when its turn comes.
        winner, loser = (ann, mia) if results[0].status_code == 400 else (mia, ann)
        loser_member = mia_member if loser is mia else ann_member
        await ok(client, winner, "update-member-role", {"memberId": loser_member["id"], "role": "admin"})
        results = await asyncio.gather(
            call(client, ann, "update-member-role", {"memberId": mia_member["id"], "role": "member"}),
            call(client, mia, "update-member-role", {"memberId": ann_member["id"], "role": "member"}),
        )
        assert sorted(r.status_code for r in results) == [200, 403]
        assert await admins() == 1
        # And both leaving at once: one stays.
        await ok(
            client,
            ann if results[0].status_code == 200 else mia,
            "update-member-role",
            {
                "memberId": mia_member["id"] if results[0].status_code == 200 else ann_member["id"],
                "role": "admin",
            },
        )
        results = await asyncio.gather(
            call(client, ann, "leave", {"organizationId": acme["id"]}),
            call(client, mia, "leave", {"organizationId": acme["id"]}),
        )
        assert sorted(r.status_code for r in results) == [200, 400]
        stayed = ann if results[1].status_code == 200 else mia
        assert await ok(client, stayed, "get-active-member-role") == {"role": "admin"}
        r = await call(client, None, "list-user-invitations")
        assert (r.status_code, r.json()) == (
            400,
            {
                "message": "Missing session headers, or email query parameter.",
                "code": "MISSING_SESSION_HEADERS_OR_EMAIL_QUERY_PARAMETER",
            },
        )


async def test_better_auths_own_table_names(make_client) -> None:
    """With ``TENANTRY_AUTH_TABLES=better-auth`` (``member``, ``invitation``, camelCase columns,
    ``session.activeOrganizationId``) the plugin works the same."""
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_AUTH_TABLES="better-auth")
    async with make_client(auth=auth, base_url=BASE) as client:
        ann = await new_user_in(client, "ann@example.com")
        acme = await create_org(client, ann, "Acme")
        invitation = await ok(client, ann, "invite-member", {"email": "new@example.com", "role": "member"})
        r = await client.post(
            "/api/auth/sign-up/email",
            json={"email": "new@example.com", "password": PASSWORD, "name": "New", "invitationId": invitation["id"]},
            headers=ORIGIN,
        )
        client.cookies.clear()
        new = User(r.json()["user"]["id"], "new@example.com", r.json()["token"])
        assert (await session_of(client, new))["user"]["role"] == "member"
        members = await ok(client, new, "list-members")
        assert [m["user"]["email"] for m in members["members"]] == ["ann@example.com", "new@example.com"]
        await ok(client, new, "leave", {"organizationId": acme["id"]})
        assert (await session_of(client, new))["session"]["activeOrganizationId"] is None
        rows = await sql(client, 'SELECT "organizationId", "userId", role FROM member')
        assert [(str(o), str(u), role) for o, u, role in rows] == [(acme["id"], ann.id, "admin")]


async def new_user_in(client: httpx.AsyncClient, email: str) -> User:
    r = await client.post(
        "/api/auth/sign-up/email", json={"email": email, "password": PASSWORD, "name": "Ann"}, headers=ORIGIN
    )
    client.cookies.clear()
    return User(r.json()["user"]["id"], email, r.json()["token"])
