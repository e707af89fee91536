"""The sign-in page's OAuth buttons, through the local OpenID provider emulator."""

from __future__ import annotations

from urllib.parse import urlsplit

from tenantry.emulators.server import RunningServer
from tests.auth.helpers import BASE
from tests.auth.test_social import authorize, idp, providers  # noqa: F401 (idp: the emulator fixture)
from tests.conftest import ClientFactory


async def test_continue_with_a_provider(make_client: ClientFactory, idp: RunningServer) -> None:  # noqa: F811
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        login = await client.get("/login?from=/dashboard")
        assert "Continue with Google" in login.text and "Continue with Dev" in login.text
        started = await client.post(
            "/login/social", data={"provider": "dev", "from": "/dashboard"}, headers={"origin": BASE}
        )
        assert started.status_code == 303
        assert started.headers["location"].startswith(idp.base_url)
        assert any(c.startswith("better-auth.state=") for c in started.headers.get_list("set-cookie"))
        back = await authorize(started.headers["location"], "olly@example.com")
        landed = await client.get(back[len(BASE) :])
        assert landed.status_code == 302 and urlsplit(landed.headers["location"]).path == "/dashboard"
        # Signed in, without an organization yet: the dashboard offers to create one.
        dash = await client.get("/dashboard")
        assert dash.status_code == 200 and "Create an organization" in dash.text
        unknown = await client.post("/login/social", data={"provider": "nope"}, headers={"origin": BASE})
        assert unknown.status_code == 400 and 'role="alert"' in unknown.text
