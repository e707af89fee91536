"""The facet of a capability that extends authentication, after Better Auth's plugins.

An ``AuthPlugin`` is a ``Capability`` (tables of its own through ``contribute``, settings, routes,
pages …) that also brings, each optional: columns on Better Auth's user and session tables
(``user_fields``/``session_fields``, read and written by the store and shown in the JSON like
core fields), endpoints under ``/api/auth``, rate-limit rules, error codes, and hooks into the
core flows (``hook``), collected in ``AuthHooks``: they run for the endpoints and the web pages
alike, since both call the same services through the same guard. Authentication registers each
when it is installed (``Authentication.register``), in capability order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from starlette.requests import Request

from tenantry.auth.ratelimit import Rule
from tenantry.context import Principal
from tenantry.core import App, Capability

if TYPE_CHECKING:
    from tenantry.auth.capability import Authentication
    from tenantry.auth.router import Endpoint
    from tenantry.auth.service import ClientInfo, Current
    from tenantry.auth.store import UserRecord
    from tenantry.auth.tables import Preset
    from tenantry.db import Connection


@dataclass(frozen=True)
class PluginField:
    """A column a plugin adds to the user or session table.

    ``name`` is Better Auth's field name (its JSON key and, in the ``better-auth`` preset, its
    column); ``key`` the snake_case column key code addresses it by. ``default`` (a flag's) is
    written for new rows and, in the ``tenantry`` preset, also a column default so existing rows
    get it when the column is added.
    """

    name: str
    key: str
    type: Any  # a SQLAlchemy type
    default: bool | None = None
    returned: bool = True  # shown in the user/session JSON


# A new session is about to be created for this user: raise an AuthError to refuse it (banned users).
# A guard that also has ``admits(users_table, now) -> condition`` says in SQL whom it lets through,
# so a credential's lookup can count its use in the same statement (API keys, on PostgreSQL).
SessionGuard = Callable[["Connection | None", "UserRecord"], Awaitable[None]]


@dataclass
class SecondStep:
    """What a first factor that needs a second step answers instead of a session: the API's JSON
    ``body`` (two-factor: ``{"twoFactorRedirect": true, ...}``) and the complete ``Set-Cookie``
    values that carry the pending sign-in."""

    body: Any
    cookies: list[str] = field(default_factory=list)


# A first factor succeeded for this user (the client, the user, "don't remember me"): a second
# step to answer instead of creating the session (two-factor), or None.
SecondFactor = Callable[["ClientInfo", "UserRecord", bool], Awaitable["SecondStep | None"]]
# The session of the request an action runs for, read on demand (most checks never need it).
SessionSource = Callable[[], Awaitable["Current | None"]]
# An action is about to run (its method and /api/auth path, from the API or a page, for the
# session ``SessionSource`` gives): raise an AuthError to refuse it (an impersonation may not change
# its user's credentials).
ActionCheck = Callable[[str, str, SessionSource], Awaitable[None]]
# A request to any route carries no session: another credential may identify it (x-api-key).
# A resolver runs ``ctx.guard_session`` on the credential's user before it admits (and counts) a
# request, so what refuses a user's sessions (a ban) refuses their other credentials too.
CredentialResolver = Callable[[Request], Awaitable[Principal | None]]
# A session (or another credential, such as an API key) was resolved into a principal for a route
# outside /api/auth: may refuse it (403) or adjust it.
PrincipalCheck = Callable[[Request, Principal], Awaitable[Principal]]
# What a plugin keeps of a user, for "download my data": a file name and its rows (metadata only,
# never a secret: no key hash, no public key material, no TOTP secret).
PersonalData = Callable[[Any], Awaitable[tuple[str, list[dict[str, Any]]]]]


@dataclass
class AuthHooks:
    """Where plugins join the core flows; each list runs in registration order."""

    session_guards: list[SessionGuard] = field(default_factory=list)
    second_factors: list[SecondFactor] = field(default_factory=list)
    credentials: list[CredentialResolver] = field(default_factory=list)
    principal_checks: list[PrincipalCheck] = field(default_factory=list)
    action_checks: list[ActionCheck] = field(default_factory=list)
    personal_data: list[PersonalData] = field(default_factory=list)


class AuthPlugin(Capability):
    """A capability of ``/api/auth``. Subclasses set ``name`` and override what they need.

    Installed after authentication (which it requires); ``install`` registers it there, so a
    subclass that needs more wiring overrides ``hook`` rather than ``install``.
    """

    after: ClassVar[tuple[str, ...]] = ("auth",)
    requires: ClassVar[tuple[str, ...]] = ("auth",)
    error_codes: ClassVar[Mapping[str, str]] = {}
    rate_limits: ClassVar[tuple[tuple[str, Rule], ...]] = ()
    user_fields: ClassVar[tuple[PluginField, ...]] = ()
    session_fields: ClassVar[tuple[PluginField, ...]] = ()

    @property
    def id(self) -> str:
        """Better Auth's name of the plugin (``two-factor`` …), which is the capability's name."""
        return self.name

    def user_fields_for(self, declared: frozenset[str]) -> tuple[PluginField, ...]:
        """The user columns this plugin adds, given the field names the users entity ``declared``
        (a plugin whose Better Auth field name is taken, such as ``role``, keeps it elsewhere)."""
        return self.user_fields

    def install(self, app: App) -> None:
        """Register with the app's authentication: error codes, endpoints, rate limits, then ``hook``."""
        from tenantry.auth.capability import Authentication  # built on this module

        app.get(Authentication).register(self, app)

    def endpoints(self, app: App, auth: Authentication) -> Sequence[Endpoint]:
        """The plugin's endpoints under ``/api/auth``."""
        return ()

    def hook(self, app: App, auth: Authentication) -> None:
        """Join the core flows (``auth.ctx.hooks``) once the endpoints are registered."""


def plugin_column(preset: Preset, spec: PluginField) -> sa.Column[Any]:
    """The column of a plugin field, named as the preset names columns.

    Better Auth applies a field's ``defaultValue`` in code, so its tables carry no column default:
    the ``better-auth`` preset repeats that (new users get the value from the store instead).
    """
    from tenantry.auth.tables import preset_column

    default = None
    if spec.default is not None and preset != "better-auth":
        default = sa.true() if spec.default else sa.false()
    return preset_column(preset, spec.key, spec.type, nullable=True, server_default=default)
