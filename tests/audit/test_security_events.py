"""Security events reach the audit log: sign-up and sign-in (failed too), sign-out, passwords, e-mail, sessions."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tenantry.auth import Authentication
from tenantry.mail import list_outbox
from tests.audit.helpers import audit_rows, person
from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN, PASSWORD, runtime, sign_in, sign_up, sql

SETTINGS = {"auth": NO_VERIFICATION, "base_url": BASE, "TENANTRY_OPEN_API": False}
NEW_PASSWORD = "Another-Pass-222"


async def link(client: httpx.AsyncClient, to: str, template: str) -> str:
    rt = runtime(client)
    found = [m for m in await list_outbox(rt.db, rt.tables, to=to) if m.template == template]
    assert found and found[0].url, f"no {template} mail to {to}"
    parts = urlsplit(found[0].url)
    return parts.path + "?" + parts.query if parts.query else parts.path


def by_action(rows: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["action"] == action]


async def secrets_of(client: httpx.AsyncClient) -> list[str]:
    """Every session token, password hash and verification value the database holds."""
    tables = runtime(client).get(Authentication).ctx.tables
    found = [str(r[0]) for r in await sql(client, f"SELECT token FROM {tables.sessions.name}")]
    found += [str(r[0]) for r in await sql(client, f"SELECT password FROM {tables.accounts.name}") if r[0]]
    found += [str(r[0]) for r in await sql(client, f"SELECT identifier FROM {tables.verifications.name}")]
    return found


async def test_sign_in_succeeds_fails_and_signs_out(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada = await person(client, "ada@example.com", org="acme")
        [signed_up] = by_action(await audit_rows(client), "sign_up")
        assert (signed_up["user_id"], signed_up["resource_type"], signed_up["resource_id"]) == (ada.id, "user", ada.id)
        assert signed_up["new_values"] == {"email": "ada@example.com", "name": "Ada"}

        ok = await client.post(
            "/api/auth/sign-in/email",
            json={"email": "ada@example.com", "password": PASSWORD},
            headers={**ORIGIN, "user-agent": "Browser/1.0"},
        )
        assert ok.status_code == 200
        token = ok.json()["token"]
        wrong = await sign_in(client, "ada@example.com", password="Wrong-Password-1")
        unknown = await sign_in(client, "nobody@example.com")
        assert wrong.status_code == unknown.status_code == 401

        rows = await audit_rows(client)
        [signed_in] = by_action(rows, "sign_in")
        session_id = str((await sql(client, "SELECT id FROM auth_sessions WHERE token = ?", token))[0][0])
        assert (signed_in["user_id"], signed_in["org_id"]) == (ada.id, ada.org_id)  # the session starts there
        assert (signed_in["resource_type"], signed_in["resource_id"]) == ("session", session_id)
        assert signed_in["user_agent"] == "Browser/1.0" and signed_in["ip_address"] == "127.0.0.1"
        failed = by_action(rows, "sign_in_failed")
        assert [(r["user_id"], r["resource_id"], r["org_id"]) for r in failed] == [
            (ada.id, ada.id, None),
            (None, None, None),
        ]
        assert [r["new_values"] for r in failed] == [
            {"email": "ada@example.com", "reason": "INVALID_EMAIL_OR_PASSWORD"},
            {"email": "nobody@example.com", "reason": "INVALID_EMAIL_OR_PASSWORD"},
        ]

        client.cookies.clear()
        out = await client.post("/api/auth/sign-out", json={}, headers={"authorization": f"Bearer {token}", **ORIGIN})
        assert out.status_code == 200
        [signed_out] = by_action(await audit_rows(client), "sign_out")
        assert (signed_out["user_id"], signed_out["org_id"]) == (ada.id, ada.org_id)
        assert (signed_out["resource_type"], signed_out["resource_id"]) == ("session", session_id)
        # Nothing recorded names a token or a password.
        stored = str(await audit_rows(client))
        assert token not in stored and PASSWORD not in stored and "Wrong-Password-1" not in stored


async def test_unverified_sign_in_is_a_failure(make_client) -> None:
    async with make_client(base_url=BASE) as client:  # e-mail verification required
        await sign_up(client)
        refused = await sign_in(client)
        assert refused.json()["code"] == "EMAIL_NOT_VERIFIED"
        [failed] = by_action(await audit_rows(client), "sign_in_failed")
        assert failed["new_values"] == {"email": "cap@example.com", "reason": "EMAIL_NOT_VERIFIED"}
        assert failed["user_id"] is not None


async def test_password_change_and_session_revocation(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada = await person(client, "ada@example.com", org="acme")
        second = (await sign_in(client, "ada@example.com")).json()["token"]
        third = (await sign_in(client, "ada@example.com")).json()["token"]
        client.cookies.clear()
        third_id = str((await sql(client, "SELECT id FROM auth_sessions WHERE token = ?", third))[0][0])

        r = await client.post("/api/auth/revoke-session", json={"token": third}, headers=ada.headers)
        assert r.json() == {"status": True}
        r = await client.post("/api/auth/revoke-other-sessions", json={}, headers=ada.headers)
        assert r.json() == {"status": True}
        change = await client.post(
            "/api/auth/change-password",
            json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "revokeOtherSessions": True},
            headers=ada.headers,
        )
        assert change.status_code == 200, change.text
        fresh = change.json()["token"]
        r = await client.post(
            "/api/auth/revoke-sessions", json={}, headers={"authorization": f"Bearer {fresh}", **ORIGIN}
        )
        assert r.json() == {"status": True}

        rows = await audit_rows(client)
        revoked = by_action(rows, "session_revoke")
        assert [(r["resource_type"], r["resource_id"]) for r in revoked] == [
            ("session", third_id),
            ("user", ada.id),
            ("user", ada.id),
        ]
        assert [r["new_values"] for r in revoked] == [
            None,
            {"sessions": "others", "count": 1},
            {"sessions": "all", "count": 1},
        ]
        assert all((r["user_id"], r["org_id"]) == (ada.id, ada.org_id) for r in revoked)
        [changed] = by_action(rows, "password_change")
        assert (changed["user_id"], changed["resource_id"], changed["org_id"]) == (ada.id, ada.id, ada.org_id)
        assert changed["new_values"] == {"revoked_other_sessions": True}
        stored = str(rows)
        for secret in [second, third, fresh, NEW_PASSWORD, *await secrets_of(client)]:
            assert secret not in stored


async def test_password_reset_email_change_and_account_deletion(make_client) -> None:
    async with make_client(base_url=BASE) as client:  # verification on: e-mail changes go through both mailboxes
        await sign_up(client)
        await client.get(await link(client, "cap@example.com", "verify_email"))
        user_id = (await sign_in(client)).json()["user"]["id"]

        await client.post("/api/auth/change-email", json={"newEmail": "new@example.com"}, headers=ORIGIN)
        await client.get(await link(client, "cap@example.com", "change_email"))
        await client.get(await link(client, "new@example.com", "verify_email"))

        client.cookies.clear()
        await client.post("/api/auth/request-password-reset", json={"email": "new@example.com"}, headers=ORIGIN)
        token = (await link(client, "new@example.com", "reset_password")).split("?")[0].rsplit("/", 1)[1]
        done = await client.post("/api/auth/reset-password", json={"newPassword": NEW_PASSWORD, "token": token})
        assert done.json() == {"status": True}

        assert (await sign_in(client, "new@example.com", password=NEW_PASSWORD)).status_code == 200
        await client.post("/api/auth/delete-user", json={}, headers=ORIGIN)
        delete_token = parse_qs(urlsplit(await link(client, "new@example.com", "delete_account")).query)["token"][0]
        gone = await client.post("/api/auth/delete-user", json={"token": delete_token}, headers=ORIGIN)
        assert gone.json() == {"success": True, "message": "User deleted"}

        rows = await audit_rows(client)
        assert [r["action"] for r in rows] == [
            "sign_up",
            "email_verify",
            "sign_in",
            "email_change_request",
            "email_change",
            "password_reset",
            "sign_in",
            "account_delete",
        ]
        assert all(r["user_id"] == user_id for r in rows)
        moved = ({"email": "cap@example.com"}, {"email": "new@example.com"})
        for action in ("email_change_request", "email_change"):
            [row] = by_action(rows, action)
            assert (row["old_values"], row["new_values"]) == moved
        assert by_action(rows, "password_reset")[0]["new_values"] == {"revoked_sessions": False}
        [deleted] = by_action(rows, "account_delete")
        assert deleted["old_values"] == {"email": "new@example.com", "name": "Cap User"}
        # The user is gone; its history is not.
        assert await sql(client, "SELECT id FROM users") == []
        assert token not in str(rows) and delete_token not in str(rows) and NEW_PASSWORD not in str(rows)


async def test_profile_updates_are_recorded(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada = await person(client, "ada@example.com", org="acme")
        r = await client.post("/api/auth/update-user", json={"name": "Ada L."}, headers=ada.headers)
        assert r.json() == {"status": True}
        [updated] = by_action(await audit_rows(client), "user_update")
        assert (updated["old_values"], updated["new_values"]) == ({"name": "Ada"}, {"name": "Ada L."})
        assert (updated["user_id"], updated["org_id"], updated["resource_id"]) == (ada.id, ada.org_id, ada.id)
