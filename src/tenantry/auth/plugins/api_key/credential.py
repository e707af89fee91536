"""``x-api-key`` on the CRUD API: a request without a session, authenticated by a key.

The key acts as its user in its organization, with the role the user holds there now and within
the key's scopes: the same tenancy, row-level security actor and permission rules as that
member's session. Keys are not accepted on ``/api/auth`` (Better Auth's ``enableSessionForAPIKeys``
is off by default: the router never asks this resolver), nor on billing and notifications, which
act for a person rather than for an API client.
"""

from __future__ import annotations

from starlette.requests import Request

from tenantry.auth.errors import AuthError
from tenantry.auth.plugins.api_key.errors import KeyRefused
from tenantry.auth.plugins.api_key.gate import KeyGate
from tenantry.context import Principal
from tenantry.errors import ApiError

HEADER = "x-api-key"
NOT_FOR_KEYS = ("/api/billing", "/api/notifications")


class KeyCredential:
    """The ``credentials`` hook of the plugin."""

    def __init__(self, gate: KeyGate) -> None:
        self.gate = gate

    async def __call__(self, request: Request) -> Principal | None:
        raw = request.headers.get(HEADER)
        if raw is None:
            return None
        path = request.url.path
        if not path.startswith("/api/") or path.startswith(NOT_FOR_KEYS):
            raise ApiError(403, "API_KEY_NOT_ACCEPTED", "API keys are accepted on the CRUD API only")
        try:
            principal = await self.gate.admit(raw, self.gate.ctx.client(request), request.method, path, "api_key_use")
        except KeyRefused as exc:
            raise exc.api_error() from None
        except AuthError as exc:  # a plugin's guard refused the key's user (banned)
            raise ApiError(exc.status, exc.code or "UNAUTHORIZED", exc.message) from None
        return principal
