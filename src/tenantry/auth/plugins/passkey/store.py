"""SQL for the passkey table: insert, read by id / credential / user, rename, delete, counter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tenantry.auth.crypto import generate_id
from tenantry.auth.plugins.passkey.tables import PasskeyTables
from tenantry.auth.store import AuthStore, iso
from tenantry.db import Connection

COLUMNS = (
    "id",
    "name",
    "public_key",
    "user_id",
    "credential_id",
    "counter",
    "device_type",
    "backed_up",
    "transports",
    "created_at",
    "aaguid",
)


@dataclass
class Passkey:
    """One registered credential, as read from its row."""

    id: str
    name: str | None
    public_key: str
    user_id: Any
    credential_id: str
    counter: int
    device_type: str
    backed_up: bool
    transports: str | None
    created_at: dt.datetime | None
    aaguid: str | None

    def json(self) -> dict[str, Any]:
        """Better Auth's JSON for a passkey row (its field names, dates in its format)."""
        return {
            "id": self.id,
            "name": self.name,
            "publicKey": self.public_key,
            "userId": self.user_id,
            "credentialID": self.credential_id,
            "counter": self.counter,
            "deviceType": self.device_type,
            "backedUp": self.backed_up,
            "transports": self.transports,
            "createdAt": iso(self.created_at),
            "aaguid": self.aaguid,
        }

    def audit_summary(self) -> dict[str, Any]:
        """What the audit log keeps of a passkey added or removed (never its key material)."""
        return {"name": self.name, "deviceType": self.device_type, "aaguid": self.aaguid}


class PasskeyStore:
    """Reads and writes passkeys with the auth store's conversions (ids, timestamps, booleans)."""

    def __init__(self, auth: AuthStore, tables: PasskeyTables) -> None:
        self.auth = auth
        self.t = tables.passkeys
        self._columns = [self.t.c[k] for k in COLUMNS]

    def _row(self, row: Sequence[Any]) -> Passkey:
        values = dict(zip(COLUMNS, row, strict=True))
        values["user_id"] = self.auth.user_id_out(values["user_id"])
        values["backed_up"] = bool(values["backed_up"])
        values["counter"] = int(values["counter"])
        values["created_at"] = self.auth.ts_out(values["created_at"])
        return Passkey(**values)

    async def _fetch(self, conn: Connection | None, key: str, build: Any, **params: Any) -> list[Any]:
        stmt = self.auth.sql.prepared(("passkey", key), build)
        args = stmt.params(extras=params)
        if conn is None:
            return await self.auth.db.fetch(stmt.sql, args)
        return await conn.fetch(stmt.sql, args)

    async def create(
        self,
        conn: Connection,
        *,
        user_id: Any,
        name: str | None,
        public_key: str,
        credential_id: str,
        counter: int,
        device_type: str,
        backed_up: bool,
        transports: str,
        aaguid: str | None,
    ) -> Passkey:
        """Insert a passkey and return it as stored."""
        values: dict[str, Any] = {
            "id": generate_id(),
            "name": name,
            "public_key": public_key,
            "user_id": self.auth.user_id_in(user_id),
            "credential_id": credential_id,
            "counter": counter,
            "device_type": device_type,
            # SQLite keeps booleans as integers.
            "backed_up": backed_up if self.auth.dialect == "postgresql" else int(backed_up),
            "transports": transports,
            "created_at": self.auth.ts_in(dt.datetime.now(dt.UTC)),
            "aaguid": aaguid,
        }
        rows = await self._fetch(
            conn,
            "create",
            lambda: sa.insert(self.t).values({k: sa.bindparam(k) for k in COLUMNS}).returning(*self._columns),
            **values,
        )
        return self._row(rows[0])

    async def by_id(self, passkey_id: str, conn: Connection | None = None) -> Passkey | None:
        rows = await self._fetch(
            conn, "by_id", lambda: sa.select(*self._columns).where(self.t.c.id == sa.bindparam("id")), id=passkey_id
        )
        return self._row(rows[0]) if rows else None

    async def by_credential(self, credential_id: str, conn: Connection | None = None) -> Passkey | None:
        rows = await self._fetch(
            conn,
            "by_credential",
            lambda: sa.select(*self._columns).where(self.t.c.credential_id == sa.bindparam("cid")).limit(1),
            cid=credential_id,
        )
        return self._row(rows[0]) if rows else None

    async def of_user(self, user_id: Any, conn: Connection | None = None) -> list[Passkey]:
        """A user's passkeys, oldest first."""
        rows = await self._fetch(
            conn,
            "of_user",
            lambda: (
                sa.select(*self._columns)
                .where(self.t.c.user_id == sa.bindparam("uid"))
                .order_by(self.t.c.created_at, self.t.c.id)
            ),
            uid=self.auth.user_id_in(user_id),
        )
        return [self._row(r) for r in rows]

    async def rename(self, conn: Connection, passkey_id: str, name: str) -> Passkey | None:
        rows = await self._fetch(
            conn,
            "rename",
            lambda: (
                sa.update(self.t)
                .where(self.t.c.id == sa.bindparam("id"))
                .values(name=sa.bindparam("name"))
                .returning(*self._columns)
            ),
            id=passkey_id,
            name=name,
        )
        return self._row(rows[0]) if rows else None

    async def delete(self, conn: Connection, passkey_id: str, user_id: Any) -> bool:
        """Delete a passkey of ``user_id`` (never another user's); whether a row went."""
        rows = await self._fetch(
            conn,
            "delete",
            lambda: (
                sa.delete(self.t)
                .where(self.t.c.id == sa.bindparam("id"), self.t.c.user_id == sa.bindparam("uid"))
                .returning(self.t.c.id)
            ),
            id=passkey_id,
            uid=self.auth.user_id_in(user_id),
        )
        return bool(rows)

    async def advance_counter(self, conn: Connection, passkey_id: str, expected: int, new: int) -> bool:
        """Move the counter from ``expected`` to ``new``; False when another sign-in moved it first."""
        rows = await self._fetch(
            conn,
            "advance_counter",
            lambda: (
                sa.update(self.t)
                .where(self.t.c.id == sa.bindparam("id"), self.t.c.counter == sa.bindparam("expected"))
                .values(counter=sa.bindparam("new"))
                .returning(self.t.c.id)
            ),
            id=passkey_id,
            expected=expected,
            new=new,
        )
        return bool(rows)
