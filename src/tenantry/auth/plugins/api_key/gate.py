"""Using a key: is it valid now, for whom, and counting the use.

Every use reads the key by its hash together with its user and the user's role in the key's
organization *now* (one query), so a removed member's key stops working and a demoted member's
key loses rights at once. Then, all or nothing, the use is counted against the key's quota
(``remaining``) and rate limit (``rateLimitMax`` requests per ``rateLimitTimeWindow``) by guarded
updates of its row, which hold across processes, and the use is written to the audit log: on
PostgreSQL, for a key without a quota, by one statement (the update and the audit row's insert in
a data-modifying CTE); otherwise in one transaction. With the audit of uses off, a key without a
quota is counted by its guarded update alone.

On PostgreSQL the lookup itself does all of that for a key without a quota (``admit``): one
statement reads the key, its user and membership, counts the use under the same guards (the
plugins' session guards given in SQL: a banned user's key is not counted) and writes the audit
row, so a request with a key costs the round trips of one with a session.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tenantry.auth.plugins.api_key.errors import KeyRefused
from tenantry.auth.plugins.api_key.keys import hash_key
from tenantry.auth.plugins.api_key.scopes import principal_scopes
from tenantry.auth.plugins.api_key.settings import ApiKeySettings
from tenantry.auth.plugins.api_key.store import ApiKey, ApiKeyStore, AuditedUse, Counted, Found
from tenantry.auth.service import AuthContext, ClientInfo
from tenantry.auth.store import TWO_FACTOR_ATTRIBUTE
from tenantry.context import Principal
from tenantry.db import Connection
from tenantry.db.actor import acting_as, user_actor
from tenantry.db.codecs import utc_now

MAX_KEY_LENGTH = 256  # longer header values are refused without a database lookup
RACE_RETRIES = 4


@dataclass
class Admitted:
    """A key that may be used now, and the principal it acts as."""

    key: ApiKey
    principal: Principal


class KeyGate:
    """Validates keys and records their use."""

    def __init__(self, ctx: AuthContext, store: ApiKeyStore, settings: ApiKeySettings) -> None:
        self.ctx = ctx
        self.store = store
        self.settings = settings
        # The session guards last seen, and their conditions in SQL (``_guards_in_sql``).
        self._admits: tuple[tuple[Any, ...], list[Any] | None] | None = None

    async def admit(self, raw: str, client: ClientInfo, method: str, path: str, action: str) -> Principal:
        """``check`` then ``record``: the principal of a key whose use is counted (and audited), or
        ``KeyRefused`` (``AuthError`` from a plugin's session guard). On PostgreSQL a usable key
        without a quota is found and counted by one statement (``ApiKeyStore.find_and_count``);
        a key that statement did not count (refused, with a quota, or a lost race) goes the usual
        way from what it read, with no second lookup."""
        if not raw or len(raw) > MAX_KEY_LENGTH:
            raise KeyRefused(401, "INVALID_API_KEY")
        admits = self._guards_in_sql()
        audited = self.settings.audit_use and self.ctx.audit_hook is not None
        rows = self.ctx.audit_rows if audited else None
        if admits is None or (audited and rows is None):
            # Not in one statement (SQLite, a guard without SQL, uses audited on their own): the usual way.
            admitted = await self.check(raw)
            await self.record(admitted, client, method, path, action)
            return admitted.principal
        audit = None
        if rows is not None:
            row = rows.row(
                action=action,
                resource_type="api_key",
                new={"method": method, "path": path},
                ip=client.ip or None,
                user_agent=client.user_agent or None,
            )
            audit = AuditedUse(rows, row)
        hashed = hash_key(raw)
        counted = await self.store.find_and_count(
            hashed, utc_now(), rate_limits=self.settings.rate_limit_enabled, admits=admits, audit=audit
        )
        if counted is None:
            # Not counted (unknown, refused, with a quota, a lost race): looked up, the usual way.
            found = await self.store.find(hashed)
            if found is None:
                raise KeyRefused(401, "INVALID_API_KEY")
            admitted = await self.checked(found)
            await self.record(admitted, client, method, path, action)
            return admitted.principal
        # Counted: usable, a member, let through by the guards in SQL. A ban that ran out is lifted
        # by its guard, as it is when the user next signs in.
        if self.ctx.hooks.session_guards and counted.user.plugin.get("banned"):
            await self.ctx.guard_session(None, counted.user)
        return self.principal(counted)

    def _guards_in_sql(self) -> list[Any] | None:
        """The session guards' conditions in SQL (``admits``), or None when a key cannot be found and
        counted by one statement: not PostgreSQL, or a guard that cannot say it in SQL. Worked out
        at the first use (the plugins have all hooked in by then) and kept."""
        guards = tuple(self.ctx.hooks.session_guards)
        if self._admits is not None and self._admits[0] == guards:
            return self._admits[1]
        admits: list[Any] | None = [] if self.ctx.db.dialect_name == "postgresql" else None
        for guard in guards:
            admit = getattr(guard, "admits", None)
            if admits is None or admit is None or admit(self.store.auth.users, sa.literal(None)) is None:
                admits = None
                break
            admits.append(admit)
        self._admits = (guards, admits)
        return admits

    async def check(self, raw: str) -> Admitted:
        """The key's principal, or ``KeyRefused`` (a plugin's session guard may raise ``AuthError``:
        a banned user's keys stop working with their sessions). Nothing is counted yet."""
        if not raw or len(raw) > MAX_KEY_LENGTH:
            raise KeyRefused(401, "INVALID_API_KEY")
        found = await self.store.find(hash_key(raw))
        if found is None:
            raise KeyRefused(401, "INVALID_API_KEY")
        return await self.checked(found)

    async def checked(self, found: Found) -> Admitted:
        """``check`` of a key already found."""
        key = found.key
        now = utc_now()
        if not key.enabled:
            raise KeyRefused(401, "KEY_DISABLED")
        if key.expires_at is not None and key.expires_at <= now:
            # As Better Auth does: an expired key is deleted when it is next presented.
            async with self.ctx.db.transaction() as conn:
                await self.store.delete(conn, key.id)
            raise KeyRefused(401, "KEY_EXPIRED")
        if key.remaining == 0 and key.refill_amount is None:
            # Spent for good (no refill): Better Auth deletes it too.
            async with self.ctx.db.transaction() as conn:
                await self.store.delete(conn, key.id)
            raise KeyRefused(429, "USAGE_EXCEEDED")
        if self.ctx.hooks.session_guards:
            await self.ctx.guard_session(None, found.user)
        return Admitted(key, self.principal(found))

    def principal(self, found: Found | Counted) -> Principal:
        """The key's user, in the key's organization with the role held there now, within its scopes."""
        user = found.user
        if found.organization_id is not None and found.role is None:
            raise KeyRefused(403, "USER_NOT_MEMBER_OF_ORGANIZATION")
        attributes: dict[str, Any] = {
            "email": user.email,
            "email_verified": user.email_verified,
            "api_key_id": found.key_id,
        }
        if found.requires_two_factor is not None:
            attributes[TWO_FACTOR_ATTRIBUTE] = (found.requires_two_factor, bool(user.plugin.get("twoFactorEnabled")))
        return Principal(
            kind="user",
            user_id=str(user.id),
            org_id=found.organization_id,
            role=found.role,
            attributes=attributes,
            scopes=principal_scopes(found.scopes),
        )

    async def record(self, admitted: Admitted, client: ClientInfo, method: str, path: str, action: str) -> ApiKey:
        """Count the use (quota, rate limit, last use) and audit it, all or nothing."""
        now = utc_now()
        # As the key's user, whom the connection that found the key acts for already (no round trip
        # to switch); the key table has no row-level security and the audit log accepts any row.
        with acting_as(user_actor(str(admitted.principal.user_id))):
            return await self._record(admitted, client, method, path, action, now)

    async def _record(
        self, admitted: Admitted, client: ClientInfo, method: str, path: str, action: str, now: dt.datetime
    ) -> ApiKey:
        rows = self.ctx.audit_rows if self.settings.audit_use and self.ctx.audit_hook is not None else None
        if admitted.key.remaining is None and (rows is not None or not self.settings.audit_use):
            # One statement counts the use (a guarded update, all or nothing on its own) and writes
            # its audit row when uses are audited: no transaction, one round trip instead of four
            # (BEGIN, counter, audit row, COMMIT), or three with nothing to audit.
            audit = None
            if rows is not None:
                audit = AuditedUse(
                    rows,
                    rows.row(
                        action=action,
                        resource_type="api_key",
                        user_id=admitted.principal.user_id,
                        org_id=admitted.key.organization_id,
                        resource_id=admitted.key.id,
                        new={"method": method, "path": path},
                        ip=client.ip or None,
                        user_agent=client.user_agent or None,
                    ),
                )
            async with self.ctx.db.connection() as conn:
                key = await self.claim(conn, admitted.key, now, audit)
        else:
            async with self.ctx.db.transaction() as conn:
                key = await self.claim(conn, admitted.key, now)
                if self.settings.audit_use:
                    await self.ctx.audit(
                        conn,
                        action,
                        client,
                        user_id=admitted.principal.user_id,
                        org_id=key.organization_id,
                        resource_type="api_key",
                        resource_id=key.id,
                        new={"method": method, "path": path},
                    )
        admitted.key = key
        return key

    async def claim(self, conn: Connection, key: ApiKey, now: dt.datetime, audit: AuditedUse | None = None) -> ApiKey:
        """Take one use from the quota and one slot of the rate-limit window, or ``KeyRefused``;
        ``audit``: written by the statement that records the use (a key without a quota only)."""
        if key.remaining is not None:
            assert audit is None, "a quota and the window are two statements: a transaction audits them"
            spent = await self.store.use_quota(conn, key, now)
            if spent is None:
                raise KeyRefused(429, "USAGE_EXCEEDED")
            key = spent
        limited = (
            self.settings.rate_limit_enabled
            and key.rate_limit_enabled
            and key.rate_limit_time_window
            and key.rate_limit_max is not None
        )
        if not limited:
            touched = await self.store.touch(conn, key, now, audit)
            if touched is None and audit is not None:
                raise KeyRefused(401, "INVALID_API_KEY")  # deleted meanwhile: no use without its audit row
            return touched or key
        for _ in range(RACE_RETRIES):
            assert key.rate_limit_time_window is not None and key.rate_limit_max is not None
            window = dt.timedelta(milliseconds=key.rate_limit_time_window)
            if key.window_start is None or now - key.window_start >= window:
                updated = await self.store.start_window(conn, key, now, audit)
            elif key.request_count >= key.rate_limit_max:
                wait = (key.window_start + window - now).total_seconds()
                raise KeyRefused(429, "RATE_LIMITED", retry_after=max(1, math.ceil(wait)))
            else:
                updated = await self.store.count_request(conn, key, now, audit)
            if updated is not None:
                return updated
            # Another request changed the window first: read it again and decide anew.
            fresh = await self.store.by_id(key.id, conn)
            if fresh is None:
                raise KeyRefused(401, "INVALID_API_KEY")
            key = fresh
        raise KeyRefused(429, "RATE_LIMITED", retry_after=1)
