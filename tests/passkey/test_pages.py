"""The passkey parts of the web app in-process, on both databases: the sign-in button, the account
section listing the user's passkeys, renaming and removing them through forms."""

from __future__ import annotations

from typing import Any

from tenantry.auth import AuthSettings
from tests.auth.helpers import BASE, ORIGIN, sign_in, sign_up
from tests.passkey.test_endpoints import SETTINGS, device, passkey_rows, register

HTMX = {**ORIGIN, "hx-request": "true"}


async def test_login_page_offers_a_passkey(make_client: Any) -> None:
    async with make_client(**SETTINGS) as client:
        page = await client.get("/login?from=/settings/account")
        assert page.status_code == 200
        assert "Sign in with a passkey" in page.text
        assert 'data-next="/settings/account"' in page.text
        assert '<script src="/static/passkey/passkey.js" defer></script>' in page.text
        script = await client.get("/static/passkey/passkey.js")
        assert script.status_code == 200 and "navigator.credentials.get" in script.text


async def test_without_the_plugin_there_is_no_passkey_ui(make_client: Any) -> None:
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_AUTH_PLUGINS="")
    async with make_client(auth=auth, base_url=BASE) as client:
        assert "passkey" not in (await client.get("/login")).text.lower()
        await sign_up(client, "ada@example.com")
        assert "/settings/account/passkeys" not in (await client.get("/settings/account")).text
        assert (await client.get("/settings/account/passkeys")).status_code in (404, 405)  # no such page
        assert (await client.get("/api/auth/passkey/list-user-passkeys")).status_code == 404


async def test_account_section_lists_renames_and_removes(make_client: Any) -> None:
    async with make_client(**SETTINGS) as client:
        assert (await client.get("/settings/account/passkeys")).status_code == 303  # to sign in
        await sign_up(client, "ada@example.com")
        account = await client.get("/settings/account")
        assert 'hx-get="/settings/account/passkeys"' in account.text

        empty = await client.get("/settings/account/passkeys")
        assert empty.status_code == 200 and "You have no passkeys yet." in empty.text
        assert "Add a passkey" in empty.text and '<section class="card" id="passkeys"' in empty.text

        laptop = (await register(client, device(), name="Laptop <b>")).json()
        phone = (await register(client, device(), name="Phone")).json()
        section = (await client.get("/settings/account/passkeys")).text
        assert "Laptop &lt;b&gt;" in section and "Phone" in section and "<b>" not in section

        renamed = await client.post(
            "/settings/account/passkeys/rename", data={"id": laptop["id"], "name": "Work laptop"}, headers=HTMX
        )
        assert renamed.status_code == 200 and "Work laptop" in renamed.text
        blank = await client.post(
            "/settings/account/passkeys/rename", data={"id": laptop["id"], "name": ""}, headers=HTMX
        )
        assert blank.status_code == 422 and "Give the passkey a name" in blank.text

        removed = await client.post("/settings/account/passkeys/remove", data={"id": phone["id"]}, headers=ORIGIN)
        assert removed.status_code == 303 and removed.headers["location"] == "/settings/account"
        assert "Passkey%20removed." in removed.headers["set-cookie"]
        assert [r[1] for r in await passkey_rows(client)] == ["Work laptop"]

        # A form from another site is refused; so is an unknown action.
        forged = await client.post(
            "/settings/account/passkeys/remove", data={"id": laptop["id"]}, headers={"origin": "https://evil.example"}
        )
        assert forged.status_code == 403
        unknown = await client.post("/settings/account/passkeys/steal", data={"id": laptop["id"]}, headers=ORIGIN)
        assert unknown.status_code == 404
        assert len(await passkey_rows(client)) == 1

        # Bob cannot remove Ada's passkey through the page either.
        client.cookies.clear()
        await sign_up(client, "bob@example.com")
        theirs = await client.post("/settings/account/passkeys/remove", data={"id": laptop["id"]}, headers=HTMX)
        assert theirs.status_code == 422 and "That passkey is not yours." in theirs.text
        assert f'data-passkey="{laptop["id"]}"' not in theirs.text
        assert len(await passkey_rows(client)) == 1
        client.cookies.clear()
        await sign_in(client, "ada@example.com")
        assert f'data-passkey="{laptop["id"]}"' in (await client.get("/settings/account/passkeys")).text
