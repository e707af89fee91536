"""Your data, over HTTP on SQLite and PostgreSQL: exports (a zip of JSON lines, streamed; the
organization's for admins only, holding nothing of another organization), leaving and deleting an
organization (its name typed to confirm), and deleting one's account through the e-mailed link;
each audited."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import httpx
import orjson

from tests.auth.helpers import PASSWORD, sql
from tests.conftest import ClientFactory
from tests.two_factor.helpers import TF, code, secret_of
from tests.web.test_pages import BASE, FORM, invite, last_link, log_in, sign_up


def _zip(r: httpx.Response) -> zipfile.ZipFile:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert archive.testzip() is None
    return archive


def _lines(archive: zipfile.ZipFile, name: str) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in archive.read(name).splitlines() if x]


async def _as(client: httpx.AsyncClient, email: str) -> None:
    client.cookies.clear()
    await log_in(client, email)


async def test_exports_are_isolated_and_for_admins(make_client: ClientFactory) -> None:
    async with make_client() as client:
        await sign_up(client, "eve@example.com", org="Elsewhere")
        await log_in(client, "eve@example.com")
        await client.post("/app/projects/new", data={"name": "Secret", "status": "active"}, headers=FORM)
        await sign_up(client, "ada@example.com")
        await _as(client, "ada@example.com")
        await client.post("/app/projects/new", data={"name": "Apollo", "status": "active"}, headers=FORM)
        page = await client.get("/settings/data")
        assert page.status_code == 200 and 'href="/settings/data/organization.zip"' in page.text

        org = _zip(await client.get("/settings/data/organization.zip"))
        assert orjson.loads(org.read("organization.json"))["name"] == "Acme"
        assert [p["name"] for p in _lines(org, "projects.jsonl")] == ["Apollo"]
        assert [m["user"]["email"] for m in _lines(org, "members.jsonl")] == ["ada@example.com"]
        assert b"Secret" not in b"".join(org.read(n) for n in org.namelist())
        assert b"eve@example.com" not in b"".join(org.read(n) for n in org.namelist())
        assert {"manifest.json", "audit_logs.jsonl"} <= set(org.namelist())

        mine = _zip(await client.get("/settings/data/my-data.zip"))
        assert orjson.loads(mine.read("profile.json"))["email"] == "ada@example.com"
        assert [o["name"] for o in _lines(mine, "organizations.jsonl")] == ["Acme"]
        assert [p["name"] for p in _lines(mine, "organizations/acme/projects.jsonl")] == ["Apollo"]
        sessions = _lines(mine, "sessions.jsonl")
        assert sessions and all("token" not in s for s in sessions)

        # A member may download their own data, not the organization's.
        link = await invite(client, "max@example.com", "member")
        client.cookies.clear()
        body = {
            "invitation_id": link.rsplit("/", 1)[1],
            "name": "Max",
            "email": "max@example.com",
            "password": PASSWORD,
        }
        assert (await client.post("/signup", data=body, headers=FORM)).status_code == 303
        assert "Only admins can export" in (await client.get("/settings/data")).text
        assert (await client.get("/settings/data/organization.zip")).status_code == 403
        assert _zip(await client.get("/settings/data/my-data.zip")).read("profile.json")

        # Every export is in the audit log.
        await _as(client, "ada@example.com")
        audit = (await client.get("/settings/audit?action=data_export")).text
        assert audit.count("data_export") >= 3, audit


async def _secrets(client: httpx.AsyncClient, email: str) -> list[bytes]:
    """Every secret the database keeps of ``email``'s account: password hash, session tokens, API
    key hashes, the TOTP secret and backup codes."""
    (uid,) = (await sql(client, "SELECT id FROM users WHERE email = ?", email))[0]
    found = [r[0] for r in await sql(client, "SELECT password FROM auth_accounts WHERE user_id = ?", uid)]
    found += [r[0] for r in await sql(client, "SELECT token FROM auth_sessions WHERE user_id = ?", uid)]
    found += [r[0] for r in await sql(client, "SELECT key FROM auth_api_keys WHERE reference_id = ?", str(uid))]
    for secret, codes in await sql(client, "SELECT secret, backup_codes FROM auth_two_factors WHERE user_id = ?", uid):
        found += [secret, codes]
    return [str(s).encode() for s in found if s]


async def test_my_data_spans_every_organization_and_keeps_no_secret(make_client: ClientFactory) -> None:
    async with make_client() as client:
        # Bob's organization, where Ada is a member; Eve's, where she is not.
        await sign_up(client, "eve@example.com", org="Elsewhere")
        await log_in(client, "eve@example.com")
        await client.post("/app/projects/new", data={"name": "Eves secret", "status": "active"}, headers=FORM)
        await sign_up(client, "bob@example.com", org="Bobs")
        await _as(client, "bob@example.com")
        await client.post("/app/projects/new", data={"name": "Bobs own", "status": "active"}, headers=FORM)
        link = await invite(client, "ada@example.com", "member")
        await sign_up(client, "ada@example.com")
        await _as(client, "ada@example.com")
        await client.post("/app/projects/new", data={"name": "Apollo", "status": "active"}, headers=FORM)
        assert (await client.post(link, data={"decision": "accept"}, headers=FORM)).status_code == 303
        await client.post("/app/projects/new", data={"name": "Gemini", "status": "active"}, headers=FORM)

        # Credentials whose secrets must stay out of the export.
        key = await client.post("/api/auth/api-key/create", json={"name": "laptop"}, headers=FORM)
        assert key.status_code == 200, key.text
        enrol = await client.post("/api/auth/two-factor/enable", json={"password": PASSWORD}, headers=FORM)
        assert enrol.status_code == 200, enrol.text

        r = await client.get("/settings/data/my-data.zip")
        mine = _zip(r)
        names = set(mine.namelist())
        assert [p["name"] for p in _lines(mine, "organizations/acme/projects.jsonl")] == ["Apollo"]
        assert [p["name"] for p in _lines(mine, "organizations/bobs/projects.jsonl")] == ["Gemini"]
        assert not any(n.startswith("organizations/elsewhere") for n in names), names
        memberships = {o["name"]: o["role"] for o in _lines(mine, "organizations.jsonl")}
        assert memberships == {"Acme": "admin", "Bobs": "member"}
        assert [k["name"] for k in _lines(mine, "api_keys.jsonl")] == ["laptop"]
        assert _lines(mine, "passkeys.jsonl") == []
        sessions = _lines(mine, "sessions.jsonl")
        assert sessions and all(
            set(s) == {"id", "created_at", "expires_at", "ip_address", "user_agent"} for s in sessions
        )
        actions = {e["action"] for e in _lines(mine, "audit_log.jsonl")}
        assert {"organization_create", "invitation_accept", "api_key_create", "create", "data_export"} <= actions, (
            actions
        )
        (ada_id,) = (await sql(client, "SELECT id FROM users WHERE email = ?", "ada@example.com"))[0]
        assert all(str(e["user_id"]) == str(ada_id) for e in _lines(mine, "audit_log.jsonl"))

        contents = r.content + b"".join(mine.read(n) for n in names)
        for other in (b"Bobs own", b"Eves secret", b"eve@example.com", b"bob@example.com"):
            assert other not in contents, other
        secrets = await _secrets(client, "ada@example.com")
        assert len(secrets) >= 4  # password, a session, the key, the TOTP secret and codes
        for secret in secrets:
            assert secret not in contents, secret
        assert key.json()["key"].encode() not in contents

        # Bobs now requires two-factor, which Ada has not finished setting up: she may no longer
        # read its rows, so her export has none of them (her membership is still listed).
        await _as(client, "bob@example.com")
        enabled = await client.post(f"{TF}/enable", json={"password": PASSWORD}, headers=FORM)
        verified = await client.post(
            f"{TF}/verify-totp", json={"code": code(secret_of(enabled.json()["totpURI"]))}, headers=FORM
        )
        assert verified.status_code == 200, verified.text
        bobs = next(o["id"] for o in _lines(mine, "organizations.jsonl") if o["name"] == "Bobs")
        body = {"requireTwoFactor": True, "organizationId": bobs}
        assert (await client.post(f"{TF}/organization-requirement", json=body, headers=FORM)).status_code == 200
        await _as(client, "ada@example.com")
        again = _zip(await client.get("/settings/data/my-data.zip"))
        assert [o["name"] for o in _lines(again, "organizations.jsonl")] == ["Acme", "Bobs"]
        assert [p["name"] for p in _lines(again, "organizations/acme/projects.jsonl")] == ["Apollo"]
        assert not any(n.startswith("organizations/bobs/") for n in again.namelist())


async def test_leave_and_delete_organization_and_account(make_client: ClientFactory) -> None:
    async with make_client() as client:
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com")
        link = await invite(client, "vic@example.com", "member")
        client.cookies.clear()
        body = {
            "invitation_id": link.rsplit("/", 1)[1],
            "name": "Vic",
            "email": "vic@example.com",
            "password": PASSWORD,
        }
        assert (await client.post("/signup", data=body, headers=FORM)).status_code == 303
        page = (await client.get("/settings/data")).text
        assert "Leave organization" in page and "Delete organization" not in page  # not the top role
        r = await client.post("/settings/data/delete-organization", data={"confirm": "Acme"}, headers=FORM)
        assert r.status_code == 403
        # A form from another site is refused before anything happens.
        r = await client.post("/settings/data/leave", headers={"origin": "https://evil.example"})
        assert r.status_code == 403
        r = await client.post("/settings/data/leave", headers=FORM)
        assert r.status_code == 303 and r.headers["location"] == "/dashboard"
        assert "Create an organization" in (await client.get("/dashboard")).text

        # Deleting the account is confirmed by an e-mailed link opened while signed in.
        r = await client.post("/settings/data/delete-account", headers=FORM)
        assert r.status_code == 303
        url = (await last_link(client, "vic@example.com", "delete_account")).removeprefix(BASE)
        path, _, token = url.partition("?token=")
        assert path == "/settings/data/delete-account/confirm"
        page = await client.get(url)  # opening the link deletes nothing: it asks
        assert page.status_code == 200 and f'name="token" value="{token}"' in page.text
        r = await client.post(path, data={"token": "not-the-token"}, headers=FORM)
        assert r.status_code == 404 and "This link is invalid" in r.text
        r = await client.post(path, data={"token": token}, headers=FORM)
        assert r.status_code == 303 and r.headers["location"] == "/goodbye"
        assert any(
            c.startswith("better-auth.session_token=;") or "Max-Age=0" in c for c in r.headers.get_list("set-cookie")
        )
        assert "Your account was deleted" in (await client.get("/goodbye")).text
        assert (await client.get("/settings/data")).status_code == 303  # signed out
        r = await client.post("/login", data={"email": "vic@example.com", "password": PASSWORD}, headers=FORM)
        assert r.status_code != 303

        # The only admin cannot leave; deleting needs the name typed exactly.
        await _as(client, "ada@example.com")
        # An account that still owns records is told so, not deleted.
        await client.post("/app/projects/new", data={"name": "Apollo", "status": "active"}, headers=FORM)
        await client.post("/settings/data/delete-account", headers=FORM)
        url = (await last_link(client, "ada@example.com", "delete_account")).removeprefix(BASE)
        path, _, token = url.partition("?token=")
        r = await client.post(path, data={"token": token}, headers=FORM)
        assert r.status_code == 409 and "Your account still owns records" in r.text
        listing = (await client.get("/app/projects")).text
        project = re.search(r'href="/app/projects/([0-9a-f-]{36})"', listing)
        assert project is not None
        assert (await client.post(f"/app/projects/{project.group(1)}/delete", headers=FORM)).status_code == 303
        r = await client.post("/settings/data/leave", headers=FORM)
        assert r.status_code == 400 and "only owner" in r.text.lower(), r.text
        r = await client.post("/settings/data/delete-organization", data={"confirm": "acme"}, headers=FORM)
        assert r.status_code == 400 and "Type Acme exactly to confirm." in r.text
        r = await client.post("/settings/data/delete-organization", data={"confirm": "Acme"}, headers=FORM)
        assert r.status_code == 303, r.text
        assert "Create an organization" in (await client.get("/dashboard")).text
        mine = _zip(await client.get("/settings/data/my-data.zip"))
        assert _lines(mine, "organizations.jsonl") == []
        # Each of them is in the audit log (which outlives the account and the organization).
        actions = {row[0] for row in await sql(client, "SELECT action FROM audit_logs")}
        assert {"member_leave", "account_delete", "organization_delete", "data_export"} <= actions, actions
