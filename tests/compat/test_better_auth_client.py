"""Better Auth's real JS client (npm ``better-auth``, pinned) against a real Tenantry server.

The server runs in this process on a real port; the client suite (``auth.test.mjs``) runs under
Node's test runner. Without Node or the installed client the test is skipped locally and fails
under ``CI=true``.
"""

from __future__ import annotations

from tenantry.auth import AuthSettings
from tenantry.emulators.oidc import OIDCClient, start_oidc_emulator
from tests.compat.live import require_node, run_node_suite
from tests.conftest import PrepareDatabase
from tests.live_server import live_server, reserve


def test_better_auth_client_suite(prepare_database: PrepareDatabase) -> None:
    require_node()
    address = reserve()
    callbacks = [f"{address[1]}/api/auth/callback/{p}" for p in ("google", "github")]
    idp = start_oidc_emulator([OIDCClient("compat", "compat-secret", callbacks)])
    issuer = idp.base_url
    # updateAge of one second lets the suite watch a session refresh without waiting a day.
    # Google and GitHub are the local emulator, through the same code path as the real ones.
    auth = AuthSettings(
        TENANTRY_SESSION_UPDATE_AGE=1,
        GOOGLE_CLIENT_ID="compat",
        GOOGLE_CLIENT_SECRET="compat-secret",
        GOOGLE_ISSUER=issuer,
        GITHUB_CLIENT_ID="compat",
        GITHUB_CLIENT_SECRET="compat-secret",
        GITHUB_AUTHORIZE_URL=f"{issuer}/github/login/oauth/authorize",
        GITHUB_TOKEN_URL=f"{issuer}/github/login/oauth/access_token",
        GITHUB_API_URL=f"{issuer}/github/api",
    )
    with idp, live_server(prepare_database, auth, address=address) as base:
        run_node_suite("auth.test.mjs", base, passes=None)


def test_better_auth_organization_client(prepare_database: PrepareDatabase) -> None:
    """``organization.test.mjs``: Better Auth's ``organizationClient()`` plugin against the server,
    with the default settings (sign-up requires e-mail verification)."""
    require_node()
    with live_server(prepare_database, AuthSettings()) as base:
        run_node_suite("organization.test.mjs", base, passes=3)
