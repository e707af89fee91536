"""The passkey endpoints on both databases, with a software authenticator standing in for the browser."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tenantry.auth import Authentication, AuthSettings
from tenantry.auth.errors import AuthError
from tenantry.auth.plugins.passkey import PasskeySettings, RelyingParty
from tenantry.auth.plugins.passkey.settings import relying_party
from tenantry.auth.store import UserRecord
from tenantry.config import Settings
from tests.audit.helpers import audit_rows
from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN, cookie_value, runtime, sign_in, sign_up, sql
from tests.passkey.authenticator import Authenticator

SETTINGS: dict[str, Any] = {"auth": NO_VERIFICATION, "base_url": BASE, "TENANTRY_OPEN_API": False}
API = "/api/auth/passkey"
CHALLENGE_COOKIE = "better-auth.better-auth-passkey"


def device() -> Authenticator:
    return Authenticator(rp_id="127.0.0.1", origin=BASE)


async def register(
    client: httpx.AsyncClient, auth: Authenticator, name: str | None = None, **lies: Any
) -> httpx.Response:
    """Both steps of adding a passkey for the signed-in user."""
    options = await client.get(f"{API}/generate-register-options")
    assert options.status_code == 200, options.text
    body: dict[str, Any] = {"response": auth.create(options.json(), **lies)}
    if name is not None:
        body["name"] = name
    return await client.post(f"{API}/verify-registration", json=body, headers=ORIGIN)


async def authenticate(client: httpx.AsyncClient, auth: Authenticator, **lies: Any) -> httpx.Response:
    """Both steps of signing in with the authenticator's newest passkey."""
    options = await client.get(f"{API}/generate-authenticate-options")
    assert options.status_code == 200, options.text
    return await client.post(
        f"{API}/verify-authentication", json={"response": auth.get(options.json(), **lies)}, headers=ORIGIN
    )


async def passkey_rows(client: httpx.AsyncClient) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await sql(client, "SELECT id, name, counter, credential_id FROM auth_passkeys")]


async def test_register_list_rename_delete(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        user = (await sign_up(client, "ada@example.com")).json()["user"]
        auth = device()
        options = (await client.get(f"{API}/generate-register-options")).json()
        assert options["rp"] == {"name": runtime(client).schema.app_name, "id": "127.0.0.1"}
        assert options["user"]["name"] == "ada@example.com" and options["attestation"] == "none"
        assert options["authenticatorSelection"]["residentKey"] == "preferred"
        assert options["excludeCredentials"] == []

        first = await register(client, auth, name="  Laptop  ")
        assert first.status_code == 200, first.text
        passkey = first.json()
        assert passkey["name"] == "Laptop" and passkey["userId"] == user["id"]
        assert passkey["credentialID"] == auth.credentials[0].id_b64
        assert passkey["counter"] == 0 and passkey["transports"] == "internal,hybrid"
        assert passkey["deviceType"] == "multiDevice" and passkey["backedUp"] is True
        assert passkey["aaguid"] == "01234567-89ab-cdef-0123-456789abcdef"
        assert set(passkey) == {
            "id", "name", "publicKey", "userId", "credentialID", "counter",
            "deviceType", "backedUp", "transports", "createdAt", "aaguid",
        }  # fmt: skip

        # A second passkey, without a name; the options now exclude the first.
        options = (await client.get(f"{API}/generate-register-options")).json()
        assert [c["id"] for c in options["excludeCredentials"]] == [auth.credentials[0].id_b64]
        second = await client.post(
            f"{API}/verify-registration", json={"response": auth.create(options)}, headers=ORIGIN
        )
        assert second.status_code == 200 and second.json()["name"] is None

        listed = (await client.get(f"{API}/list-user-passkeys")).json()
        assert [p["id"] for p in listed] == [passkey["id"], second.json()["id"]]

        renamed = await client.post(
            f"{API}/update-passkey", json={"id": passkey["id"], "name": "Work laptop"}, headers=ORIGIN
        )
        assert renamed.status_code == 200 and renamed.json()["passkey"]["name"] == "Work laptop"
        blank = await client.post(f"{API}/update-passkey", json={"id": passkey["id"], "name": "  "}, headers=ORIGIN)
        assert blank.status_code == 400 and blank.json()["code"] == "VALIDATION_ERROR"

        removed = await client.post(f"{API}/delete-passkey", json={"id": passkey["id"]}, headers=ORIGIN)
        assert removed.status_code == 200 and removed.json() == {"status": True}
        assert [p["id"] for p in (await client.get(f"{API}/list-user-passkeys")).json()] == [second.json()["id"]]
        gone = await client.post(f"{API}/delete-passkey", json={"id": passkey["id"]}, headers=ORIGIN)
        assert gone.status_code == 404 and gone.json()["code"] == "PASSKEY_NOT_FOUND"

        rows = [r for r in await audit_rows(client) if r["resource_type"] == "passkey"]
        assert [r["action"] for r in rows] == [
            "passkey_register",
            "passkey_register",
            "passkey_update",
            "passkey_delete",
        ]
        assert {r["user_id"] for r in rows} == {user["id"]}
        assert rows[2]["old_values"] == {"name": "Laptop"} and rows[2]["new_values"] == {"name": "Work laptop"}


async def test_sign_in_without_a_username(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        user = (await sign_up(client, "ada@example.com")).json()["user"]
        auth = device()
        assert (await register(client, auth, name="Phone")).status_code == 200
        client.cookies.clear()

        options = await client.get(f"{API}/generate-authenticate-options")
        assert options.status_code == 200
        assert "allowCredentials" not in options.json()  # the browser offers the site's discoverable passkeys
        assert options.json()["rpId"] == "127.0.0.1" and options.json()["userVerification"] == "preferred"
        assert cookie_value(options, CHALLENGE_COOKIE) is not None
        challenge_cookie = next(c for c in options.headers.get_list("set-cookie") if c.startswith(CHALLENGE_COOKIE))
        assert "Max-Age=300" in challenge_cookie and "HttpOnly" in challenge_cookie

        signed_in = await client.post(
            f"{API}/verify-authentication", json={"response": auth.get(options.json())}, headers=ORIGIN
        )
        assert signed_in.status_code == 200, signed_in.text
        body = signed_in.json()
        assert body["user"]["id"] == user["id"] and body["session"]["userId"] == user["id"]
        assert cookie_value(signed_in) is not None
        session = (await client.get("/api/auth/get-session")).json()
        assert session["user"]["email"] == "ada@example.com"
        assert [r[2] for r in await passkey_rows(client)] == [1]  # the counter moved on

        [row] = [r for r in await audit_rows(client) if r["action"] == "sign_in"][-1:]
        assert row["new_values"]["method"] == "passkey" and row["user_id"] == user["id"]
        assert (row["resource_type"], row["resource_id"]) == ("session", body["session"]["id"])

        # Signed in, the options list this user's passkeys only.
        again = (await client.get(f"{API}/generate-authenticate-options")).json()
        assert [c["id"] for c in again["allowCredentials"]] == [auth.credentials[0].id_b64]


async def test_challenges_are_single_use_and_bound(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        await sign_up(client, "ada@example.com")
        auth = device()

        # Registration answering another challenge, from another origin or for another site.
        for lie in (
            {"challenge": "c29tZXRoaW5nIGVsc2U"},
            {"origin": "https://evil.example"},
            {"rp_id": "evil.example"},
        ):
            refused = await register(client, auth, **lie)
            assert refused.status_code == 400, lie
            assert refused.json()["code"] == "FAILED_TO_VERIFY_REGISTRATION"
        assert await passkey_rows(client) == []
        assert (await register(client, auth)).status_code == 200

        # No pending ceremony, a reused one, and one of the other kind.
        fresh = httpx.AsyncClient(transport=client._transport, base_url=BASE)
        async with fresh:
            options = (await fresh.get(f"{API}/generate-authenticate-options")).json()
            missing = await fresh.post(
                f"{API}/verify-authentication", json={"response": auth.get(options)}, headers={**ORIGIN, "cookie": ""}
            )
            assert missing.status_code == 400 and missing.json()["code"] == "CHALLENGE_NOT_FOUND"
        options_r = await client.get(f"{API}/generate-authenticate-options")
        assertion = auth.get(options_r.json())
        ok = await client.post(f"{API}/verify-authentication", json={"response": assertion}, headers=ORIGIN)
        assert ok.status_code == 200
        replay = await client.post(f"{API}/verify-authentication", json={"response": assertion}, headers=ORIGIN)
        assert replay.status_code == 400 and replay.json()["code"] == "CHALLENGE_NOT_FOUND"
        await client.get(f"{API}/generate-register-options")
        crossed = await client.post(
            f"{API}/verify-authentication", json={"response": auth.get(options_r.json())}, headers=ORIGIN
        )
        assert crossed.status_code == 400 and crossed.json()["code"] == "CHALLENGE_NOT_FOUND"

        # An assertion signed over another challenge than the one issued.
        wrong = await authenticate(client, auth, challenge="c29tZXRoaW5nIGVsc2U")
        assert wrong.status_code == 400 and wrong.json()["code"] == "AUTHENTICATION_FAILED"
        forged_cookie = await client.post(
            f"{API}/verify-authentication",
            json={"response": auth.get(options_r.json())},
            headers={**ORIGIN, "cookie": f"{CHALLENGE_COOKIE}=abc.{'A' * 43}="},
        )
        assert forged_cookie.status_code == 400 and forged_cookie.json()["code"] == "CHALLENGE_NOT_FOUND"


async def test_unknown_credential_and_counter_regression_refused(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada = (await sign_up(client, "ada@example.com")).json()["user"]
        auth = device()
        await register(client, auth)
        client.cookies.clear()

        stranger = device()
        stranger.create({"user": {"id": "AA"}, "challenge": "AA"})  # a passkey this site never saw
        unknown = await authenticate(client, stranger)
        assert unknown.status_code == 401 and unknown.json()["code"] == "PASSKEY_NOT_FOUND"

        assert (await authenticate(client, auth, counter=5)).status_code == 200
        client.cookies.clear()
        for counter in (5, 4):  # not more than the stored 5: a cloned authenticator
            refused = await authenticate(client, auth, counter=counter)
            assert refused.status_code == 400 and refused.json()["code"] == "AUTHENTICATION_FAILED"
            assert cookie_value(refused) is None
        assert [r[2] for r in await passkey_rows(client)] == [5]
        failed = [r for r in await audit_rows(client) if r["action"] == "sign_in_failed"]
        assert [(r["user_id"], r["new_values"]["method"]) for r in failed] == [(ada["id"], "passkey")] * 2
        assert (await authenticate(client, auth, counter=6)).status_code == 200


async def test_someone_elses_passkey_cannot_be_touched(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        await sign_up(client, "ada@example.com")
        ada_key = (await register(client, device(), name="Ada's")).json()
        client.cookies.clear()
        await sign_up(client, "bob@example.com")

        assert (await client.get(f"{API}/list-user-passkeys")).json() == []
        deleted = await client.post(f"{API}/delete-passkey", json={"id": ada_key["id"]}, headers=ORIGIN)
        assert deleted.status_code == 401 and deleted.json()["code"] == "UNAUTHORIZED"
        renamed = await client.post(f"{API}/update-passkey", json={"id": ada_key["id"], "name": "Mine"}, headers=ORIGIN)
        assert renamed.status_code == 401
        assert renamed.json()["code"] == "YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY"
        assert [r[1] for r in await passkey_rows(client)] == ["Ada's"]

        # Bob cannot finish a registration Ada's browser started.
        client.cookies.clear()
        await sign_in(client, "ada@example.com")
        auth = device()
        ada_options = await client.get(f"{API}/generate-register-options")
        pending = cookie_value(ada_options, CHALLENGE_COOKIE)
        client.cookies.clear()
        await sign_in(client, "bob@example.com")
        client.cookies.set(CHALLENGE_COOKIE, pending or "")
        stolen = await client.post(
            f"{API}/verify-registration", json={"response": auth.create(ada_options.json())}, headers=ORIGIN
        )
        assert stolen.status_code == 401 and stolen.json()["code"] == "YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY"


async def test_registration_needs_a_session_and_a_valid_body(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        for method, path in (
            ("GET", "generate-register-options"),
            ("POST", "verify-registration"),
            ("GET", "list-user-passkeys"),
            ("POST", "delete-passkey"),
            ("POST", "update-passkey"),
        ):
            r = await client.request(method, f"{API}/{path}", json={"id": "x", "name": "y"}, headers=ORIGIN)
            assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED", path
        bad = await client.post(f"{API}/verify-authentication", json={"response": "nope"}, headers=ORIGIN)
        assert bad.status_code == 400 and bad.json()["code"] == "VALIDATION_ERROR"

        await sign_up(client, "ada@example.com")
        attachment = await client.get(f"{API}/generate-register-options?authenticatorAttachment=usb")
        assert attachment.status_code == 400 and attachment.json()["code"] == "VALIDATION_ERROR"
        platform = await client.get(f"{API}/generate-register-options?authenticatorAttachment=platform")
        assert platform.json()["authenticatorSelection"]["authenticatorAttachment"] == "platform"
        for junk in ({"response": 5}, {"response": {"id": "x"}}, {"response": {"response": []}}, {}):
            await client.get(f"{API}/generate-register-options")
            r = await client.post(f"{API}/verify-registration", json=junk, headers=ORIGIN)
            assert r.status_code == 400 and r.json()["code"] == "FAILED_TO_VERIFY_REGISTRATION", junk
        for junk in ({"id": 5}, {"id": "x", "response": "y"}):
            await client.get(f"{API}/generate-authenticate-options")
            r = await client.post(f"{API}/verify-authentication", json={"response": junk}, headers=ORIGIN)
            assert r.status_code == 401 and r.json()["code"] == "PASSKEY_NOT_FOUND", junk
        # The same authenticator twice.
        auth = device()
        assert (await register(client, auth)).status_code == 200
        again = (await client.get(f"{API}/generate-register-options")).json()
        dup = await client.post(
            f"{API}/verify-registration",
            json={"response": auth.create(again, again=auth.credentials[0])},
            headers=ORIGIN,
        )
        assert dup.status_code == 400 and dup.json()["code"] == "PREVIOUSLY_REGISTERED"


async def test_session_guards_apply(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        await sign_up(client, "ada@example.com")
        auth = device()
        await register(client, auth)
        client.cookies.clear()

        async def banned(conn: Any, user: UserRecord) -> None:
            raise AuthError(403, "BANNED_USER", "You have been banned from this application")

        runtime(client).get(Authentication).ctx.hooks.session_guards.append(banned)
        refused = await authenticate(client, auth)
        assert refused.status_code == 403 and refused.json()["code"] == "BANNED_USER"
        assert cookie_value(refused) is None
        assert [r[2] for r in await passkey_rows(client)] == [0]  # all or nothing: the counter stayed


@pytest.mark.parametrize("preset", ["tenantry", "better-auth"])
def test_table_names_follow_the_preset(preset: str) -> None:
    from tenantry.app import app_tables
    from tests.conftest import seed_schema

    tables = app_tables(seed_schema(), Settings(auth=AuthSettings(TENANTRY_AUTH_TABLES=preset)), "postgresql")
    table = tables.extensions["passkey"].passkeys
    if preset == "tenantry":
        assert table.name == "auth_passkeys"
        assert [c.name for c in table.columns][:5] == ["id", "name", "public_key", "user_id", "credential_id"]
    else:
        assert table.name == "passkey"
        assert [c.name for c in table.columns] == [
            "id", "name", "publicKey", "userId", "credentialID", "counter",
            "deviceType", "backedUp", "transports", "createdAt", "aaguid",
        ]  # fmt: skip


async def test_registration_needs_a_fresh_session(make_client) -> None:
    stale = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_SESSION_FRESH_AGE=0)
    async with make_client(auth=stale, base_url=BASE) as client:
        await sign_up(client, "ada@example.com")
        refused = await client.get(f"{API}/generate-register-options")
        assert refused.status_code == 403 and refused.json()["code"] == "SESSION_NOT_FRESH"
        assert (await client.get(f"{API}/list-user-passkeys")).json() == []  # listing needs no fresh session


async def test_relying_party_and_origins_are_configurable(make_client) -> None:
    passkey = PasskeySettings(
        TENANTRY_PASSKEY_RP_ID="example.com",
        TENANTRY_PASSKEY_RP_NAME="Example",
        TENANTRY_PASSKEY_ORIGIN="https://app.example.com, https://www.example.com/",
    )
    async with make_client(**SETTINGS, passkey=passkey) as client:
        await sign_up(client, "ada@example.com")
        auth = Authenticator(rp_id="example.com", origin="https://www.example.com")
        options = (await client.get(f"{API}/generate-register-options")).json()
        assert options["rp"] == {"name": "Example", "id": "example.com"}
        base_origin = await register(client, auth, origin=BASE)  # the base URL is no longer one of them
        assert base_origin.status_code == 400
        assert (await register(client, auth)).status_code == 200
        client.cookies.clear()
        assert (await authenticate(client, auth, origin="https://app.example.com")).status_code == 200


def test_relying_party_defaults_to_the_base_url() -> None:
    rp = relying_party(PasskeySettings(), "http://localhost:8123/", "Acme")
    assert rp == RelyingParty(id="localhost", name="Acme", origins=("http://localhost:8123",))
    rp = relying_party(PasskeySettings(), "https://app.example.com/base", "Acme")
    assert (rp.id, rp.origins) == ("app.example.com", ("https://app.example.com",))


async def test_a_new_ceremony_replaces_the_browsers_previous_one(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        for _ in range(3):  # a user who opens the passkey prompt and cancels it, three times
            assert (await client.get(f"{API}/generate-authenticate-options")).status_code == 200
        pending = await sql(client, "SELECT value FROM auth_verifications")
        assert len(pending) == 1 and '"authentication"' in pending[0][0]
