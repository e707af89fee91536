"""The plugin shape itself: a plugin's columns, endpoints, error codes and hooks reach the core flows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.requests import Request

from tenantry.auth import Authentication, AuthSettings
from tenantry.auth.errors import auth_error
from tenantry.auth.plugin import AuthPlugin, PluginField, SecondStep
from tenantry.auth.plugins import PLUGINS
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.service import ClientInfo
from tenantry.auth.store import UserRecord
from tenantry.context import Principal
from tenantry.core import App
from tenantry.db import Connection
from tests.auth.helpers import BASE, ORIGIN, PASSWORD, runtime, sign_in, sign_up

pytestmark = pytest.mark.asyncio


class ProbePlugin(AuthPlugin):
    """A plugin exercising every hook: a user flag, a session note, an endpoint and three hooks."""

    name = "probe"
    error_codes = {"PROBE_REFUSED": "Probe refused this user"}
    user_fields = (PluginField("probeFlag", "probe_flag", sa.Boolean(), default=False),)
    session_fields = (PluginField("probeNote", "probe_note", sa.Text()),)

    def endpoints(self, app: App, auth: Authentication) -> Sequence[Endpoint]:
        async def flag(req: AuthRequest) -> Reply:
            current = await req.session()
            async with req.ctx.db.transaction() as conn:
                user = await req.ctx.store.update_user(conn, current.user.id, {"probeFlag": True})
            assert user is not None
            return Reply({"user": req.ctx.shapes.user_json(user)})

        return (Endpoint("POST", "/probe/flag", flag),)

    def hook(self, app: App, auth: Authentication) -> None:
        async def refuse_blocked(conn: Connection | None, user: UserRecord) -> None:
            if user.core["name"] == "Blocked":
                raise auth_error(403, "PROBE_REFUSED")

        async def hold_flagged(client: ClientInfo, user: UserRecord, dont_remember: bool) -> SecondStep | None:
            return SecondStep({"held": True}) if user.plugin["probeFlag"] else None

        async def header_credential(request: Request) -> Principal | None:
            return Principal("system") if request.headers.get("x-probe") == "let-me-in" else None

        auth.ctx.hooks.session_guards.append(refuse_blocked)
        auth.ctx.hooks.second_factors.append(hold_flagged)
        auth.ctx.hooks.credentials.append(header_credential)


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> AuthSettings:
    monkeypatch.setitem(PLUGINS, "probe", lambda: ProbePlugin)
    return AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_AUTH_PLUGINS="probe")


async def test_plugin_fields_endpoints_and_hooks(make_client: Any, probe: AuthSettings) -> None:
    async with make_client(auth=probe, base_url=BASE) as client:
        signed_up = await sign_up(client)
        assert signed_up.json()["user"]["probeFlag"] is False
        session = (await client.get("/api/auth/get-session")).json()
        assert session["session"]["probeNote"] is None
        flagged = await client.post("/api/auth/probe/flag", json={}, headers=ORIGIN)
        assert flagged.status_code == 200 and flagged.json()["user"]["probeFlag"] is True
        # The second-factor hook answers instead of creating a session.
        client.cookies.clear()
        held = await sign_in(client)
        assert held.json() == {"held": True} and "set-cookie" not in held.headers
        # The session guard refuses sessions with the plugin's own error code, before the second factor.
        blocked = await client.post(
            "/api/auth/sign-up/email",
            json={"email": "blocked@example.com", "password": PASSWORD, "name": "Blocked"},
            headers=ORIGIN,
        )
        assert blocked.status_code == 403
        assert blocked.json() == {"message": "Probe refused this user", "code": "PROBE_REFUSED"}
        # The refused sign-up wrote nothing.
        assert await runtime(client).get(Authentication).ctx.store.user_by_email("blocked@example.com") is None
        # Another credential identifies a request without a session.
        auth = runtime(client).get(Authentication)
        assert await auth.authenticate(_request({})) is None
        assert await auth.authenticate(_request({"x-probe": "let-me-in"})) == Principal("system")


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/api/projects", "headers": raw, "query_string": b""})


async def test_plugins_can_be_switched_off(make_client: Any) -> None:
    settings = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_AUTH_PLUGINS="")
    async with make_client(auth=settings, base_url=BASE) as client:
        # Organizations are a plugin too, on whenever the schema has them; the optional ones are off.
        assert [p.id for p in runtime(client).get(Authentication).plugins] == ["tenancy"]
        user = (await sign_up(client)).json()["user"]
        assert "twoFactorEnabled" not in user
        assert (await client.post("/api/auth/two-factor/enable", json={}, headers=ORIGIN)).status_code == 404


async def test_unknown_plugin_is_a_settings_error() -> None:
    with pytest.raises(ValueError, match="unknown authentication plugin"):
        AuthSettings(TENANTRY_AUTH_PLUGINS="two-factor,telepathy")
