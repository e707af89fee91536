"""Authentication logic shared by the ``/api/auth`` endpoints, the web UI and the CRUD API.

Sessions live in the database and are looked up on every request (one indexed query joining the
user), so revoking one takes effect on the next request, on every process; ``updateAge`` refresh
extends the expiry at most once per ``update_age`` seconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from tenantry.auth.cookies import CookieChanges, CookieNames, Cookies
from tenantry.auth.crypto import generate_id, read_jwt, sign_jwt, verify_bearer
from tenantry.auth.errors import auth_error, validation_error
from tenantry.auth.guard import AuthGuard
from tenantry.auth.origin import OriginPolicy
from tenantry.auth.plugin import AuthHooks
from tenantry.auth.ratelimit import RateLimiter
from tenantry.auth.settings import AuthSettings
from tenantry.auth.shapes import UserShapes
from tenantry.auth.store import AuthStore, Memberships, UserRecord
from tenantry.auth.tables import AuthTables
from tenantry.core.metrics import SIGN_INS
from tenantry.core.settings import CoreSettings as Settings
from tenantry.db import Connection, Database, SQLCompiler

BASE_PATH = "/api/auth"


class Mailer(Protocol):
    """Queues an e-mail inside the caller's transaction (so it exists iff the action committed)."""

    async def send(
        self, conn: Connection, *, template: str, to: str, url: str, context: dict[str, Any], dedupe_key: str
    ) -> None: ...


class AuditHook(Protocol):
    """Writes one audit-log row on ``conn``, inside the caller's transaction.

    The app sets it (``AuthContext.audit_hook``) when it keeps an audit log, so authentication
    records its security events without depending on the audit capability.
    """

    async def __call__(
        self,
        conn: Connection,
        *,
        action: str,
        resource_type: str,
        user_id: Any = None,
        org_id: Any = None,
        resource_id: Any = None,
        old: dict[str, Any] | None = None,
        new: dict[str, Any] | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> None: ...


class AuditRows(Protocol):
    """The audit log's rows as parts of a caller's own statement (``tenantry.audit.Auditor``): a
    change and its audit row written by one statement, with no transaction around them."""

    def row(
        self,
        *,
        action: str,
        resource_type: str,
        user_id: Any = None,
        org_id: Any = None,
        resource_id: Any = None,
        old: dict[str, Any] | None = None,
        new: dict[str, Any] | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> dict[str, Any]:
        """The bind parameters of one row."""
        ...

    def insert_when(self, source: Any, taken: Mapping[str, Any] | None = None) -> Any:
        """A SQLAlchemy ``INSERT`` of that row, made only if the CTE ``source`` has a row; the
        logical columns of ``taken`` read from ``source``'s columns instead of parameters."""
        ...


class SignUpHook(Protocol):
    """Runs inside the sign-up transaction right after the user and its password account exist.

    Organizations set it (``AuthContext.on_sign_up``) to create or join one in the same transaction
    from the body's extra fields; raising rolls the whole sign-up back. Returns the user as it now
    is (e.g. verified by the invitation it signed up with).
    """

    async def __call__(self, conn: Connection, user: UserRecord, body: dict[str, Any]) -> UserRecord: ...


@dataclass(frozen=True)
class ClientInfo:
    """Who is calling: the address and user agent (sessions and the audit log keep them), and the
    cookies the browser sent (raw, signed values: plugins read theirs, such as two-factor's
    pending sign-in or the admin's kept session)."""

    ip: str
    user_agent: str
    cookies: Mapping[str, str] = field(default_factory=dict, compare=False)


@dataclass
class Current:
    """The session a request carries, and how it arrived."""

    session: dict[str, Any]
    user: UserRecord
    via_cookie: bool
    dont_remember: bool = False
    refreshed: bool = False


@dataclass
class Lookup:
    """Result of reading a request's session: ``current``, or ``stale`` when cookies must be cleared."""

    current: Current | None = None
    stale: bool = False
    had_token: bool = False


@dataclass
class AuthContext:
    """Everything the authentication endpoints share."""

    settings: Settings
    auth: AuthSettings
    db: Database
    tables: AuthTables
    store: AuthStore
    shapes: UserShapes
    cookies: Cookies
    origins: OriginPolicy
    limiter: RateLimiter | None
    mailer: Mailer | None
    base_url: str = field(init=False)
    audit_hook: AuditHook | None = None
    # Set with ``audit_hook`` on PostgreSQL: see ``AuditRows``.
    audit_rows: AuditRows | None = None
    on_sign_up: SignUpHook | None = None
    hooks: AuthHooks = field(default_factory=AuthHooks)
    guard: AuthGuard = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = self.settings.base_url.rstrip("/")
        # One guard for the endpoints and the pages: the same rate limits, origin rules and plugins' checks.
        self.guard = AuthGuard(self.origins, self.limiter, self.client_ip, self.hooks)

    @property
    def secret(self) -> str:
        return self.settings.secret_value

    @property
    def auth_url(self) -> str:
        """``{baseURL}/api/auth``: where links in e-mails point."""
        return self.base_url + BASE_PATH

    # -- the audit log ------------------------------------------------------------------------

    async def audit(
        self,
        conn: Connection,
        action: str,
        client: ClientInfo | None,
        *,
        session: dict[str, Any] | None = None,
        user_id: Any = None,
        org_id: Any = None,
        resource_type: str = "user",
        resource_id: Any = None,
        old: dict[str, Any] | None = None,
        new: dict[str, Any] | None = None,
    ) -> None:
        """Record a security event in ``conn``'s transaction (a no-op when the app keeps no log).

        ``user_id`` is who acted; with a ``session`` it defaults to the session's user, and the
        organization to the session's active one, counted only while the user is a member of it.
        """
        if self.audit_hook is None:
            return
        if session is not None:
            user_id = session.get("user_id") if user_id is None else user_id
            if org_id is None and session.get("role"):
                org_id = session.get("active_organization_id")
        await self.audit_hook(
            conn,
            action=action,
            resource_type=resource_type,
            user_id=user_id,
            org_id=org_id,
            resource_id=resource_id,
            old=old,
            new=new,
            ip=(client.ip or None) if client else None,
            user_agent=(client.user_agent or None) if client else None,
        )

    async def audit_alone(self, action: str, client: ClientInfo | None, **details: Any) -> None:
        """Record an event in a transaction of its own, for requests that fail (a refused sign-in)."""
        if self.audit_hook is None:
            return
        async with self.db.transaction() as conn:
            await self.audit(conn, action, client, **details)

    # -- clients ------------------------------------------------------------------------------

    def client(self, request: Request) -> ClientInfo:
        """The caller of ``request``, as services take it."""
        return ClientInfo(
            ip=self.client_ip(request) or "",
            user_agent=request.headers.get("user-agent", ""),
            cookies=dict(request.cookies),
        )

    def client_ip(self, request: Request) -> str | None:
        """The caller's address; ``X-Forwarded-For`` counts only when the peer is a trusted proxy."""
        peer = request.client.host if request.client else None
        forwarded = request.headers.get("x-forwarded-for")
        # Any client can send the header; only a proxy the operator named may say who the client is.
        if forwarded and peer is not None and peer in self.auth.trusted_proxies:
            candidate = forwarded.split(",")[0].strip()
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                return peer
        return peer

    def write_cookies(self, response: Response, changes: CookieChanges) -> None:
        """Set or clear the cookies an action changed, on an API answer or a page alike."""
        self.cookies.apply(response, changes, self.auth.expires_in)

    # -- sessions -----------------------------------------------------------------------------

    def request_token(self, request: Request) -> tuple[str | None, bool]:
        """The session token from the cookie or an ``Authorization: Bearer`` header; and whether by cookie."""
        header = request.headers.get("authorization")
        if header and header[:7].lower() == "bearer ":
            token = verify_bearer(self.secret, header[7:].strip())
            if token:
                return token, False
        return self.cookies.session_token(request), True

    async def lookup(self, request: Request, *, refresh: bool = True) -> Lookup:
        """The valid session of a request. Expired or revoked ones are reported as ``stale``."""
        token, via_cookie = self.request_token(request)
        if not token:
            return Lookup()
        found = await self.store.session_with_user(token)
        now = dt.datetime.now(dt.UTC)
        if found is None:
            return Lookup(stale=via_cookie, had_token=True)
        session, user = found
        if session["expires_at"] < now:
            async with self.db.transaction() as conn:
                await self.store.delete_session(conn, token)
            return Lookup(stale=via_cookie, had_token=True)
        current = Current(session, user, via_cookie, dont_remember=via_cookie and self.cookies.dont_remember(request))
        if refresh and not current.dont_remember and self.due_for_refresh(session, now):
            refreshed = await self.store.refresh_session(token, now + dt.timedelta(seconds=self.auth.expires_in))
            if refreshed is None:  # revoked between the read and the refresh
                return Lookup(stale=via_cookie, had_token=True)
            refreshed["role"] = session.get("role")
            current.session = refreshed
            current.refreshed = True
        return Lookup(current=current, had_token=True)

    def due_for_refresh(self, session: dict[str, Any], now: dt.datetime) -> bool:
        if session.get("impersonated_by"):
            return False  # an impersonation (admin plugin) keeps the short lifetime it was given
        # Better Auth: refresh when expiresAt - expiresIn + updateAge <= now.
        expires: dt.datetime = session["expires_at"]
        return expires - dt.timedelta(seconds=self.auth.expires_in - self.auth.update_age) <= now

    def is_fresh(self, session: dict[str, Any]) -> bool:
        created: dt.datetime = session["created_at"]
        return (dt.datetime.now(dt.UTC) - created).total_seconds() < self.auth.fresh_age

    async def guard_session(self, conn: Connection | None, user: UserRecord) -> None:
        """Let plugins refuse a session for ``user`` before one is made (a banned user): raises AuthError."""
        for guard in self.hooks.session_guards:
            await guard(conn, user)

    async def create_session(
        self,
        conn: Connection,
        user_id: Any,
        client: ClientInfo,
        dont_remember: bool = False,
        *,
        lifetime: int | None = None,
        plugin_values: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A new session: ``expiresIn`` from now, or one day when the user chose not to be remembered
        (or ``lifetime`` seconds). Plugins' session guards run first and may refuse it."""
        if self.hooks.session_guards:
            user = await self.store.user_by_id(user_id, conn)
            if user is not None:
                await self.guard_session(conn, user)
        if lifetime is None:
            lifetime = 60 * 60 * 24 if dont_remember else self.auth.expires_in
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lifetime)
        return await self.store.create_session(conn, user_id, expires, client.ip, client.user_agent, plugin_values)

    async def sign_in(
        self,
        conn: Connection,
        user_id: Any,
        client: ClientInfo,
        *,
        method: str,
        dont_remember: bool = False,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A new session for a sign-in by ``method`` and its ``sign_in`` audit row, in ``conn``'s transaction.

        ``details`` are added to the row's ``new`` next to the method (the passkey, the second factor).
        """
        session = await self.create_session(conn, user_id, client, dont_remember=dont_remember)
        # Counted once the session exists for good (a rolled-back sign-in made none).
        conn.on_commit(SIGN_INS.labels(method=method).inc)
        await self.audit(
            conn,
            "sign_in",
            client,
            user_id=user_id,
            org_id=session.get("active_organization_id"),
            resource_type="session",
            resource_id=session["id"],
            new={"method": method, **(details or {})},
        )
        return session

    def check_fits(self, field: str, value: str | None) -> None:
        """A core user field must fit its column (SQLite would store it anyway; PostgreSQL would not)."""
        length = getattr(self.tables.user_columns[field].type, "length", None)
        if value is not None and length is not None and len(value) > length:
            raise validation_error(f"body.{field}", f"Too big: expected string to have <={length} characters")

    # -- passwords ----------------------------------------------------------------------------

    def check_password_length(self, password: str) -> None:
        if len(password) < self.auth.min_password_length:
            raise auth_error(400, "PASSWORD_TOO_SHORT")
        if len(password) > self.auth.max_password_length:
            raise auth_error(400, "PASSWORD_TOO_LONG")

    # -- e-mail verification ------------------------------------------------------------------

    def verification_token(
        self, email: str, *, update_to: str | None = None, request_type: str | None = None
    ) -> tuple[str, str]:
        """A signed, expiring token for ``/verify-email`` and its id (made single-use by a row)."""
        jti = generate_id()
        claims: dict[str, Any] = {"email": email.lower(), "jti": jti}
        if update_to:
            claims["updateTo"] = update_to.lower()
        if request_type:
            claims["requestType"] = request_type
        return sign_jwt(self.secret, claims, self.auth.verification_expires_in), jti

    def read_verification_token(self, token: str) -> dict[str, Any] | None:
        return read_jwt(self.secret, token)

    async def send_verification_email(
        self,
        conn: Connection,
        user: UserRecord,
        callback_url: str | None,
        *,
        update_to: str | None = None,
        request_type: str | None = None,
        template: str = "verify_email",
    ) -> None:
        """Queue the verification (or change-email) message with a one-time link."""
        token, jti = self.verification_token(user.email, update_to=update_to, request_type=request_type)
        await self.store.create_verification(
            conn,
            f"email-verification:{jti}",
            str(user.id),
            dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.auth.verification_expires_in),
        )
        url = f"{self.auth_url}/verify-email?token={token}&callbackURL={quote(callback_url or '/', safe='')}"
        await self.mail(
            conn,
            template=template,
            to=update_to if request_type == "change-email-verification" and update_to else user.email,
            url=url,
            user=user,
            dedupe_key=f"{template}:{jti}",
            extra={"new_email": update_to} if update_to else {},
        )

    async def mail(
        self,
        conn: Connection,
        *,
        template: str,
        to: str,
        url: str,
        user: UserRecord,
        dedupe_key: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if self.mailer is None:
            return
        context: dict[str, Any] = {"name": user.core.get("name"), "email": user.email}
        context.update(extra or {})
        await self.mailer.send(conn, template=template, to=to, url=url, context=context, dedupe_key=dedupe_key)


async def at_least(seconds: float, started: float) -> None:
    """Sleep until ``seconds`` have passed since ``started``: answers that must not leak by timing."""
    remaining = seconds - (time.monotonic() - started)
    if remaining > 0:
        await asyncio.sleep(remaining)


def build_context(
    settings: Settings,
    auth: AuthSettings,
    db: Database,
    tables: AuthTables,
    sql: SQLCompiler,
    mailer: Mailer | None,
    memberships: Memberships | None = None,
) -> AuthContext:
    """Assemble the authentication context of an app."""
    rate_limited = auth.rate_limit == "on" or (auth.rate_limit == "auto" and settings.env == "production")
    return AuthContext(
        settings=settings,
        auth=auth,
        db=db,
        tables=tables,
        store=AuthStore(db, tables, sql, memberships),
        shapes=UserShapes(tables, db.dialect_name),
        cookies=Cookies(CookieNames.for_site(auth.cookie_prefix, settings.base_url), settings.secret_value),
        origins=OriginPolicy(settings.base_url, auth.trusted_origins),
        limiter=RateLimiter(settings.redis_url) if rate_limited else None,
        mailer=mailer,
    )
