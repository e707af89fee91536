"""The web pages over HTTP (in-process client), on SQLite and PostgreSQL: forms run the same
services as the API; what a role may not do is neither offered nor accepted."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from tenantry.auth import Authentication
from tenantry.mail import list_outbox
from tests.auth.helpers import PASSWORD, runtime
from tests.conftest import ClientFactory

BASE = "http://testserver"
FORM = {"origin": BASE}


async def last_link(client: httpx.AsyncClient, to: str, template: str) -> str:
    rt = runtime(client)
    mails = [m for m in await list_outbox(rt.db, rt.tables, to=to) if m.template == template]
    assert mails, f"no {template} mail to {to}"
    return mails[0].url


async def sign_up(client: httpx.AsyncClient, email: str, org: str = "Acme") -> None:
    body = {"organization": org, "name": "Ada", "email": email, "password": PASSWORD}
    r = await client.post("/signup", data=body, headers=FORM)
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/verify-email?email=")
    url = await last_link(client, email, "verify_email")
    r = await client.get(url.removeprefix(BASE))
    assert r.status_code == 302 and r.headers["location"] == "/login?verified=1"


async def log_in(client: httpx.AsyncClient, email: str, target: str = "/dashboard") -> None:
    body = {"email": email, "password": PASSWORD, "from": target, "remember": "1"}
    r = await client.post("/login", data=body, headers=FORM)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == target


async def test_protected_pages_send_to_login_and_back(make_client: ClientFactory) -> None:
    async with make_client() as client:
        r = await client.get("/app/projects?sort=name,ASC")
        assert r.status_code == 303
        assert r.headers["location"] == "/login?from=%2Fapp%2Fprojects%3Fsort%3Dname%2CASC"
        login = await client.get(r.headers["location"])
        assert 'name="from" value="/app/projects?sort=name,ASC"' in login.text
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com", "/app/projects?sort=name,ASC")
        page = await client.get("/app/projects?sort=name,ASC")
        assert page.status_code == 200 and "<h1>Projects</h1>" in page.text


async def test_signup_rules_and_unverified_sign_in(make_client: ClientFactory) -> None:
    async with make_client() as client:
        short = {"organization": "Acme", "name": "Ada", "email": "ada@example.com", "password": "short"}
        r = await client.post("/signup", data=short, headers=FORM)
        assert r.status_code == 400
        assert 'id="e-password"' in r.text and "at least 8 characters" in r.text
        body = {**short, "password": PASSWORD}
        assert (await client.post("/signup", data=body, headers=FORM)).status_code == 303
        r = await client.post("/login", data={"email": "ada@example.com", "password": PASSWORD}, headers=FORM)
        assert r.status_code == 403
        assert "not verified yet" in r.text and "/verify-email?email=ada%40example.com" in r.text
        # A form from another site is refused before anything happens.
        r = await client.post("/signup", data=body, headers={"origin": "https://evil.example"})
        assert r.status_code == 403


async def test_crud_pages_within_the_organization(make_client: ClientFactory) -> None:
    async with make_client() as client:
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com")
        dash = await client.get("/dashboard")
        assert dash.status_code == 200 and "New project" in dash.text and "Acme" in dash.text
        # A server-side field error appears next to its field.
        r = await client.post("/app/projects/new", data={"name": "", "status": "active"}, headers=FORM)
        assert r.status_code == 400, r.text
        assert re.search(r'id="e-name" role="alert"', r.text), r.text
        r = await client.post(
            "/app/projects/new",
            data={"name": "Apollo", "description": "To the moon", "status": "active", "next": "/dashboard"},
            headers=FORM,
        )
        assert r.status_code == 303 and r.headers["location"] == "/dashboard"
        dash = await client.get("/dashboard")
        assert "Apollo" in dash.text and "To the moon" in dash.text
        # From the dialog (htmx): a refusal answers the form with its errors, a success where to go.
        htmx = {**FORM, "hx-request": "true"}
        r = await client.post("/app/projects/new", data={"name": "", "dialog": "1", "next": "/dashboard"}, headers=htmx)
        assert r.status_code == 400 and 'id="entity-form"' in r.text and "data-close" in r.text
        r = await client.post("/app/projects/new", data={"name": "Gemini", "next": "/dashboard"}, headers=htmx)
        assert r.status_code == 200 and r.headers["hx-redirect"] == "/dashboard"
        listing = await client.get("/app/projects?q=apo&f_status=active&sort=name,DESC")
        assert listing.status_code == 200 and "Apollo" in listing.text
        assert "No projects match" in (await client.get("/app/projects?q=zzz")).text
        project_id = re.search(r'href="/app/projects/([0-9a-f-]{36})"', listing.text).group(1)  # type: ignore[union-attr]
        r = await client.post(
            f"/app/projects/{project_id}/edit", data={"name": "Artemis", "status": "archived"}, headers=FORM
        )
        assert r.status_code == 303
        detail = await client.get(f"/app/projects/{project_id}")
        assert "Artemis" in detail.text and "archived" in detail.text and "Delete project?" in detail.text
        r = await client.post(f"/app/projects/{project_id}/delete", data={}, headers=FORM)
        assert r.status_code == 303 and urlsplit(r.headers["location"]).path == "/app/projects"
        assert (await client.get(f"/app/projects/{project_id}")).status_code == 404


async def invite(client: httpx.AsyncClient, email: str, role: str) -> str:
    r = await client.post("/settings/members/invite", data={"email": email, "role": role}, headers=FORM)
    assert r.status_code == 303, r.text
    url = await last_link(client, email, "invitation")
    assert urlsplit(url).path.startswith("/accept-invitation/")
    return urlsplit(url).path


async def test_members_invitation_roles_and_isolation(make_client: ClientFactory) -> None:
    async with make_client() as client:
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com")
        r = await client.post("/app/projects/new", data={"name": "Secret", "status": "active"}, headers=FORM)
        project = r.headers["location"]
        link = await invite(client, "vic@example.com", "viewer")
        members = await client.get("/settings/members")
        assert "vic@example.com" in members.text and "Pending invitations" in members.text
        audit = await client.get("/settings/audit?resource_type=projects")
        assert audit.status_code == 200 and "projects" in audit.text and "export?format=csv" in audit.text
        client.cookies.clear()
        # The invitee signs up through the link and lands in the organization, as a viewer.
        page = await client.get(link)
        assert "Join Acme" in page.text
        signup = await client.get(f"/signup?invitation={link.rsplit('/', 1)[1]}")
        assert 'value="vic@example.com"' in signup.text
        invitation_id = link.rsplit("/", 1)[1]
        body = {"invitation_id": invitation_id, "name": "Vic", "email": "vic@example.com", "password": PASSWORD}
        r = await client.post("/signup", data=body, headers=FORM)
        assert r.status_code == 303 and r.headers["location"] == "/dashboard", r.text
        dash = await client.get("/dashboard")
        assert "Secret" in dash.text and "You are viewer" in dash.text
        assert "New project" not in dash.text
        detail = await client.get(project)
        assert detail.status_code == 200 and "Delete" not in detail.text and "Edit</a>" not in detail.text
        assert "Audit log" not in (await client.get("/settings/account")).text
        # Forged writes are refused by the server all the same.
        forged = await client.post("/app/projects/new", data={"name": "Nope", "status": "active"}, headers=FORM)
        assert forged.status_code == 403
        forged = await client.post(f"{project}/delete", data={}, headers=FORM)
        assert forged.status_code == 403
        assert (await client.get(project)).status_code == 200
        client.cookies.clear()
        # A user of another organization sees neither the project nor its page.
        await sign_up(client, "bob@example.com", org="Other")
        await log_in(client, "bob@example.com")
        assert "Secret" not in (await client.get("/dashboard")).text
        assert "Secret" not in (await client.get("/app/projects")).text
        assert (await client.get(project)).status_code == 404


async def test_account_sessions_and_password(make_client: ClientFactory) -> None:
    async with make_client() as client:
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com")
        first = dict(client.cookies)
        client.cookies.clear()
        await log_in(client, "ada@example.com")
        page = await client.get("/settings/account")
        ids = re.findall(r'name="session_id" value="([^"]+)"', page.text)
        assert len(ids) == 1, page.text
        r = await client.post("/settings/account/revoke", data={"session_id": ids[0]}, headers=FORM)
        assert r.status_code == 303
        client.cookies.clear()
        client.cookies.update(first)
        assert (await client.get("/dashboard")).status_code == 303  # that session is gone
        client.cookies.clear()
        await log_in(client, "ada@example.com")
        wrong = {"current_password": "not-the-one", "new_password": "Another-Pass-222"}
        r = await client.post("/settings/account/password", data=wrong, headers=FORM)
        assert r.status_code == 400 and 'id="e-current_password"' in r.text
        right = {"current_password": PASSWORD, "new_password": "Another-Pass-222"}
        assert (await client.post("/settings/account/password", data=right, headers=FORM)).status_code == 303


async def test_organization_switcher(make_client: ClientFactory) -> None:
    async with make_client() as client:
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com")
        await client.post("/app/projects/new", data={"name": "Acme rocket", "status": "active"}, headers=FORM)
        r = await client.post("/organizations/new", data={"name": "Second"}, headers=FORM)
        assert r.status_code == 303
        dash = (await client.get("/dashboard")).text
        assert "<h1>Second</h1>" in dash and "Acme rocket" not in dash
        options = dict(re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)</option>', dash))
        acme = next(k for k, v in options.items() if v == "Acme")
        headers = {**FORM, "referer": f"{BASE}/app/projects/123"}
        r = await client.post("/organizations/switch", data={"organization_id": acme}, headers=headers)
        assert r.status_code == 303 and r.headers["location"] == "/app/projects"
        dash = (await client.get("/dashboard")).text
        assert "<h1>Acme</h1>" in dash and "Acme rocket" in dash
        # Not a member: refused, and nothing changes.
        r = await client.post("/organizations/switch", data={"organization_id": "nope"}, headers=FORM)
        assert "<h1>Acme</h1>" in (await client.get("/dashboard")).text


async def test_home_page_leads_into_the_app(make_client: ClientFactory) -> None:
    async with make_client() as client:
        home = await client.get("/")
        assert home.status_code == 200
        assert 'href="/dashboard"' in home.text and 'href="/signup"' in home.text and "/api/projects" in home.text
        css = await client.get("/static/web/app.css")
        js = await client.get("/static/web/vendor/htmx.min.js")
        assert css.status_code == 200 and "prefers-color-scheme: dark" in css.text
        assert js.status_code == 200 and "htmx" in js.text


async def test_signed_in_but_unverified_sees_why(make_client: ClientFactory) -> None:
    from tenantry.auth import AuthSettings

    async with make_client(auth=AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)) as client:
        body = {"organization": "Acme", "name": "Ada", "email": "ada@example.com", "password": PASSWORD}
        r = await client.post("/signup", data=body, headers=FORM)
        assert r.status_code == 303 and r.headers["location"] == "/dashboard"
        dash = await client.get("/dashboard")
        assert "is not verified yet" in dash.text and "/verify-email?email=ada%40example.com" in dash.text
        assert "default-src 'self'" in dash.headers["content-security-policy"]


async def test_organization_settings(make_client: ClientFactory) -> None:
    async with make_client() as client:
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com")
        page = (await client.get("/settings/organization")).text
        assert 'name="billing_email"' in page and 'name="slug"' in page and "stripe_customer_id" not in page
        data = {"name": "Acme Inc", "slug": "acme-inc", "billing_email": "billing@acme.example"}
        r = await client.post("/settings/organization", data=data, headers=FORM)
        assert r.status_code == 303, r.text
        page = (await client.get("/settings/organization")).text
        assert 'value="Acme Inc"' in page and 'value="billing@acme.example"' in page
        r = await client.post("/settings/organization", data={**data, "name": ""}, headers=FORM)
        assert r.status_code == 400 and 'id="e-name" role="alert"' in r.text


async def test_members_management(make_client: ClientFactory) -> None:
    async with make_client() as client:
        # Bob has an account (and an organization of his own) before he is invited.
        await sign_up(client, "bob@example.com", org="Bobs")
        client.cookies.clear()
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com")
        link = await invite(client, "bob@example.com", "member")
        await invite(client, "cy@example.com", "viewer")
        page = (await client.get("/settings/members")).text
        cy_id = re.search(r'/settings/members/([^/"]+)/resend"><input type="hidden" name="email" value="cy@', page)
        assert cy_id, page
        resend = {"email": "cy@example.com", "role": "viewer"}
        r = await client.post(f"/settings/members/{cy_id.group(1)}/resend", data=resend, headers=FORM)
        assert r.status_code == 303
        r = await client.post(f"/settings/members/{cy_id.group(1)}/cancel", data={}, headers=FORM)
        assert r.status_code == 303
        assert "cy@example.com" not in (await client.get("/settings/members")).text
        # Inviting an address that already has a pending invitation says why.
        r = await client.post(
            "/settings/members/invite", data={"email": "bob@example.com", "role": "member"}, headers=FORM
        )
        assert r.status_code == 400 and 'role="alert"' in r.text
        client.cookies.clear()

        # Bob, signed in, accepts on the invitation page and lands in Acme.
        await log_in(client, "bob@example.com", link)
        page = (await client.get(link)).text
        assert "Accept invitation" in page and "Join Acme" in page
        r = await client.post(link, data={"decision": "accept"}, headers=FORM)
        assert r.status_code == 303 and r.headers["location"] == "/dashboard"
        assert "<h1>Acme</h1>" in (await client.get("/dashboard")).text
        members_page = (await client.get("/settings/members")).text
        assert "Send invitation" not in members_page and "/remove" not in members_page  # a member manages nobody
        client.cookies.clear()

        await log_in(client, "ada@example.com")
        page = (await client.get("/settings/members")).text
        bob_member = re.search(r'/settings/members/([^/"]+)/role"', page)
        assert bob_member, page
        member_id = bob_member.group(1)
        r = await client.post(f"/settings/members/{member_id}/role", data={"role": "viewer"}, headers=FORM)
        assert r.status_code == 303
        page = (await client.get("/settings/members")).text
        assert re.search(r'<option value="viewer" selected>viewer</option>', page)
        r = await client.post(f"/settings/members/{member_id}/remove", data={}, headers=FORM)
        assert r.status_code == 303
        assert "bob@example.com" not in (await client.get("/settings/members")).text
        audit = (await client.get("/settings/audit?resource_type=member")).text
        assert "<td>member</td>" in audit


async def test_profile_and_sign_out_everywhere_else(make_client: ClientFactory) -> None:
    async with make_client() as client:
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com")
        first = dict(client.cookies)
        client.cookies.clear()
        await log_in(client, "ada@example.com")
        r = await client.post("/settings/account/profile", data={"name": "Ada Lovelace"}, headers=FORM)
        assert r.status_code == 303
        assert "Ada Lovelace" in (await client.get("/settings/account")).text
        r = await client.post("/settings/account/revoke-others", data={}, headers=FORM)
        assert r.status_code == 303
        assert (await client.get("/dashboard")).status_code == 200
        client.cookies.clear()
        client.cookies.update(first)
        assert (await client.get("/dashboard")).status_code == 303


async def test_odd_requests_get_pages_not_server_errors(make_client: ClientFactory) -> None:
    async with make_client() as client:
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com")
        odd_gets = [
            "/app/projects/not-a-uuid",
            "/app/projects/00000000-0000-0000-0000-000000000000",
            "/app/projects?page=0&sort=nope,UP&f_status=bogus&q=%00",
            "/app/projects?page=99999",
            "/app/nothing",
            "/app/projects/not-a-uuid/edit",
            "/accept-invitation/does-not-exist",
            "/signup?invitation=nope",
            "/reset-password?token=nope",
            "/reset-password?error=INVALID_TOKEN",
            "/verify-email?error=TOKEN_EXPIRED",
            "/login?from=//evil.example/",
            "/settings/audit?page=-1&action=bogus",
            "/settings/nothing",
        ]
        for url in odd_gets:
            r = await client.get(url)
            assert r.status_code < 500, (url, r.status_code, r.text[:300])
        assert (await client.get("/app/projects/00000000-0000-0000-0000-000000000000")).status_code == 404
        odd_posts = [
            ("/app/projects/new", {"name": "x" * 10_000, "status": "nope"}),
            ("/app/projects/not-a-uuid/delete", {}),
            ("/app/projects/not-a-uuid/edit", {"name": "x"}),
            ("/organizations/switch", {}),
            ("/organizations/new", {"name": ""}),
            ("/settings/members/invite", {"email": "not-an-email", "role": "emperor"}),
            ("/settings/members/nope/role", {"role": "emperor"}),
            ("/settings/members/nope/remove", {}),
            ("/settings/members/nope/cancel", {}),
            ("/settings/account/revoke", {"session_id": "nope"}),
            ("/settings/account/password", {}),
            ("/settings/account/nothing", {}),
            ("/reset-password", {"token": "nope", "password": "Password-Two-222"}),
            ("/forgot-password", {"email": "not-an-email"}),
            ("/verify-email", {"email": ""}),
            ("/accept-invitation/nope", {"decision": "accept"}),
        ]
        for url, data in odd_posts:
            r = await client.post(url, data=data, headers=FORM)
            assert r.status_code < 500, (url, r.status_code, r.text[:300])


async def test_browsing_keeps_the_session_alive(make_client: ClientFactory) -> None:
    from tenantry.auth import AuthSettings

    # updateAge 0: every request is due for a refresh, as a day-old session is by default.
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_SESSION_UPDATE_AGE=0)
    async with make_client(auth=auth) as client:
        body = {"organization": "Acme", "name": "Ada", "email": "ada@example.com", "password": PASSWORD}
        assert (await client.post("/signup", data=body, headers=FORM)).status_code == 303
        store = runtime(client).get(Authentication).ctx.store
        before = (await store.sessions_of(await user_id(client, "ada@example.com")))[0]
        page = await client.get("/dashboard")
        cookies = page.headers.get_list("set-cookie")
        assert any(c.startswith("better-auth.session_token=") and "Max-Age=" in c for c in cookies), cookies
        after = (await store.sessions_of(await user_id(client, "ada@example.com")))[0]
        assert after["expires_at"] > before["expires_at"]


async def user_id(client: httpx.AsyncClient, email: str) -> object:
    user = await runtime(client).get(Authentication).ctx.store.user_by_email(email)
    assert user is not None
    return user.id


async def test_sign_in_form_shares_the_api_rate_limit(make_client: ClientFactory) -> None:
    from tenantry.auth import AuthSettings

    async with make_client(auth=AuthSettings(TENANTRY_RATE_LIMIT="on")) as client:
        wrong = {"email": "ada@example.com", "password": "wrong-password"}
        statuses = [(await client.post("/login", data=wrong, headers=FORM)).status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        r = await client.post("/login", data=wrong, headers=FORM)
        assert r.status_code == 429 and "Too many attempts" in r.text
        # The API's endpoint counts the same attempts.
        api = await client.post("/api/auth/sign-in/email", json=wrong, headers=FORM)
        assert api.status_code == 429
