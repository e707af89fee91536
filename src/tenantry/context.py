"""Who is asking, and from where: the first step of every request's path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

PrincipalKind = Literal["anonymous", "user", "system", "developer"]

# ``Principal.attributes`` key of a signed-in user's platform role (the admin plugin's
# ``user.role``, read with the session on every request; absent without the plugin). Only a
# session sets it: an API key acts in its own organization, whatever its owner's platform role.
PLATFORM_ROLE_ATTRIBUTE = "platform_role"


@dataclass(frozen=True, slots=True)
class Principal:
    """The identity a request acts as.

    ``developer`` is the open access of ``tenantry dev`` before authentication is configured;
    ``system`` is the server itself (webhooks, CLI). ``user`` principals carry their active
    organization and role there. ``scopes`` narrow a user principal further (an API key's
    permissions, entity -> actions); ``None`` leaves the role's rights whole.
    """

    kind: PrincipalKind
    user_id: str | None = None
    org_id: str | None = None
    role: str | None = None
    session_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    scopes: Mapping[str, frozenset[str]] | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.kind != "anonymous"

    def permits(self, entity: str, action: str) -> bool:
        """Whether the scopes allow ``action`` (read, create, update, delete) on ``entity``: deny by
        default once scopes are given; without scopes, yes (the role policy still decides)."""
        return self.scopes is None or action in self.scopes.get(entity, ())


ANONYMOUS = Principal("anonymous")
DEVELOPER = Principal("developer")
SYSTEM = Principal("system")


@dataclass(frozen=True, slots=True)
class RequestContext:
    """A principal plus the request facts the audit log records."""

    principal: Principal
    ip_address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


SYSTEM_CONTEXT = RequestContext(SYSTEM)
