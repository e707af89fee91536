"""Reads and writes of the two-factor table and the organizations' requirement.

Statements are built once and cached compiled, like the authentication store's. Counters and
single-use values change with one conditional ``UPDATE`` each, so concurrent requests (on any
process) can neither lose a failure nor use one backup code or TOTP step twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tenantry.auth.crypto import generate_id
from tenantry.auth.plugins.two_factor.tables import TwoFactorTables
from tenantry.auth.store import AuthStore
from tenantry.db import Connection

_FIELDS = (
    "id",
    "secret",
    "backup_codes",
    "user_id",
    "verified",
    "failed_verification_count",
    "locked_until",
    "last_totp_step",
)


@dataclass
class Enrolment:
    """A user's two-factor row."""

    id: str
    secret: str
    backup_codes: str
    user_id: Any
    verified: bool
    failed_count: int
    locked_until: dt.datetime | None
    last_totp_step: int | None

    def locked(self, now: dt.datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


class TwoFactorStore:
    """SQL for the ``twoFactor`` table, on the caller's connection (or the pool for reads)."""

    def __init__(self, auth_store: AuthStore, tables: TwoFactorTables) -> None:
        self.auth = auth_store
        self.t = tables
        self.db = auth_store.db
        self.sql = auth_store.sql
        self.pg = auth_store.dialect == "postgresql"

    async def _fetch(self, conn: Connection | None, key: tuple[Any, ...], build: Any, **params: Any) -> list[Any]:
        stmt = self.sql.prepared(("two-factor", *key), build)
        args = stmt.params(extras=params)
        return await (self.db.fetch(stmt.sql, args) if conn is None else conn.fetch(stmt.sql, args))

    def _bool(self, value: bool) -> Any:
        return value if self.pg else int(value)

    def _row(self, row: Any) -> Enrolment:
        values = dict(zip(_FIELDS, row, strict=True))
        return Enrolment(
            id=values["id"],
            secret=values["secret"],
            backup_codes=values["backup_codes"],
            user_id=self.auth.user_id_out(values["user_id"]),
            # Better Auth's default: a row without the flag is a confirmed one.
            verified=values["verified"] is None or bool(values["verified"]),
            failed_count=int(values["failed_verification_count"] or 0),
            locked_until=self.auth.ts_out(values["locked_until"]),
            last_totp_step=values["last_totp_step"],
        )

    def _returning(self) -> list[Any]:
        return [self.t.two_factors.c[k] for k in _FIELDS]

    async def of_user(self, user_id: Any, conn: Connection | None = None) -> Enrolment | None:
        t = self.t.two_factors
        rows = await self._fetch(
            conn,
            ("of_user",),
            lambda: sa.select(*self._returning()).where(t.c.user_id == sa.bindparam("uid")),
            uid=self.auth.user_id_in(user_id),
        )
        return self._row(rows[0]) if rows else None

    async def start(self, conn: Connection, user_id: Any, secret: str, backup_codes: str) -> None:
        """A new, unconfirmed enrolment replacing any unconfirmed one (a confirmed one is refused earlier)."""
        t = self.t.two_factors
        await self._fetch(
            conn,
            ("delete_of_user",),
            lambda: sa.delete(t).where(t.c.user_id == sa.bindparam("uid")).returning(t.c.id),
            uid=self.auth.user_id_in(user_id),
        )
        await self._fetch(
            conn,
            ("insert",),
            lambda: sa.insert(t).values({k: sa.bindparam(k) for k in _FIELDS}).returning(t.c.id),
            id=generate_id(),
            secret=secret,
            backup_codes=backup_codes,
            user_id=self.auth.user_id_in(user_id),
            verified=self._bool(False),
            failed_verification_count=0,
            locked_until=None,
            last_totp_step=None,
        )

    async def delete(self, conn: Connection, user_id: Any) -> bool:
        t = self.t.two_factors
        rows = await self._fetch(
            conn,
            ("delete_of_user",),
            lambda: sa.delete(t).where(t.c.user_id == sa.bindparam("uid")).returning(t.c.id),
            uid=self.auth.user_id_in(user_id),
        )
        return bool(rows)

    async def confirm(self, conn: Connection, row_id: str) -> None:
        t = self.t.two_factors
        await self._fetch(
            conn,
            ("confirm",),
            lambda: (
                sa.update(t).where(t.c.id == sa.bindparam("rid")).values(verified=sa.bindparam("yes")).returning(t.c.id)
            ),
            rid=row_id,
            yes=self._bool(True),
        )

    async def use_totp_step(self, conn: Connection, row_id: str, step: int) -> bool:
        """Record ``step`` as used; False when it (or a later step) already was: a replayed code."""
        t = self.t.two_factors
        rows = await self._fetch(
            conn,
            ("use_step",),
            lambda: (
                sa.update(t)
                .where(
                    t.c.id == sa.bindparam("rid"),
                    sa.or_(t.c.last_totp_step.is_(None), t.c.last_totp_step < sa.bindparam("step")),
                )
                .values(last_totp_step=sa.bindparam("step"))
                .returning(t.c.id)
            ),
            rid=row_id,
            step=step,
        )
        return bool(rows)

    async def replace_backup_codes(self, conn: Connection, row_id: str, expected: str | None, new: str) -> bool:
        """Swap the stored codes; with ``expected``, only if they are still those (a code used once)."""
        t = self.t.two_factors
        if expected is None:
            rows = await self._fetch(
                conn,
                ("set_codes",),
                lambda: (
                    sa.update(t)
                    .where(t.c.id == sa.bindparam("rid"))
                    .values(backup_codes=sa.bindparam("codes"))
                    .returning(t.c.id)
                ),
                rid=row_id,
                codes=new,
            )
        else:
            rows = await self._fetch(
                conn,
                ("swap_codes",),
                lambda: (
                    sa.update(t)
                    .where(t.c.id == sa.bindparam("rid"), t.c.backup_codes == sa.bindparam("old"))
                    .values(backup_codes=sa.bindparam("codes"))
                    .returning(t.c.id)
                ),
                rid=row_id,
                old=expected,
                codes=new,
            )
        return bool(rows)

    async def record_failure(
        self, conn: Connection, row_id: str, now: dt.datetime, max_failures: int, lock_for: dt.timedelta
    ) -> tuple[int, dt.datetime | None]:
        """Count one failed code; at ``max_failures`` in a row lock the account for ``lock_for``.

        One atomic increment (a lock that has run out starts the count again), then the lock when
        the count reached the limit. Returns the count and the new lock's end, if this failure set one.
        """
        t = self.t.two_factors
        expired = sa.and_(t.c.locked_until.is_not(None), t.c.locked_until <= sa.bindparam("now"))
        rows = await self._fetch(
            conn,
            ("fail",),
            lambda: (
                sa.update(t)
                .where(t.c.id == sa.bindparam("rid"))
                .values(
                    failed_verification_count=sa.case(
                        (expired, 1), else_=sa.func.coalesce(t.c.failed_verification_count, 0) + 1
                    ),
                    locked_until=sa.case((expired, sa.null()), else_=t.c.locked_until),
                )
                .returning(t.c.failed_verification_count)
            ),
            rid=row_id,
            now=self.auth.ts_in(now),
        )
        count = int(rows[0][0]) if rows else 0
        if count < max_failures:
            return count, None
        until = now + lock_for
        locked = await self._fetch(
            conn,
            ("lock",),
            lambda: (
                sa.update(t)
                .where(
                    t.c.id == sa.bindparam("rid"),
                    t.c.failed_verification_count >= sa.bindparam("limit"),
                    t.c.locked_until.is_(None),
                )
                .values(locked_until=sa.bindparam("until"))
                .returning(t.c.id)
            ),
            rid=row_id,
            limit=max_failures,
            until=self.auth.ts_in(until),
        )
        return count, until if locked else None

    async def reset_failures(self, conn: Connection, row_id: str) -> None:
        t = self.t.two_factors
        await self._fetch(
            conn,
            ("reset",),
            lambda: (
                sa.update(t)
                .where(t.c.id == sa.bindparam("rid"))
                .values(failed_verification_count=0, locked_until=sa.null())
                .returning(t.c.id)
            ),
            rid=row_id,
        )

    # -- organizations ------------------------------------------------------------------------

    async def requirement(self, user_id: Any, org_id: Any) -> tuple[bool, bool] | None:
        """``(organization requires two-factor, user has it on)`` in one query; None if either is gone."""
        orgs, users = self.t.organizations, self.t.users
        if orgs is None:
            return None
        flag = self.auth.t.plugin_user_fields
        enabled_key = next(f.key for f in flag if f.name == "twoFactorEnabled")
        rows = await self._fetch(
            None,
            ("requirement",),
            lambda: sa.select(orgs.c.require_two_factor, users.c[enabled_key]).where(
                orgs.c.id == sa.bindparam("org"), users.c.id == sa.bindparam("uid")
            ),
            org=self.auth.org_id_in(org_id),
            uid=self.auth.user_id_in(user_id),
        )
        if not rows:
            return None
        return bool(rows[0][0]), bool(rows[0][1])

    async def organization_requires(self, org_id: Any, conn: Connection | None = None) -> bool:
        orgs = self.t.organizations
        if orgs is None:
            return False
        rows = await self._fetch(
            conn,
            ("org_requires",),
            lambda: sa.select(orgs.c.require_two_factor).where(orgs.c.id == sa.bindparam("org")),
            org=self.auth.org_id_in(org_id),
        )
        return bool(rows and rows[0][0])

    async def set_organization_requirement(self, conn: Connection, org_id: Any, required: bool) -> bool:
        orgs = self.t.organizations
        if orgs is None:
            return False
        rows = await self._fetch(
            conn,
            ("org_set",),
            lambda: (
                sa.update(orgs)
                .where(orgs.c.id == sa.bindparam("org"))
                .values(require_two_factor=sa.bindparam("flag"))
                .returning(orgs.c.id)
            ),
            org=self.auth.org_id_in(org_id),
            flag=self._bool(required),
        )
        return bool(rows)
