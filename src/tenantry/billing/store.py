"""Billing's reads and writes: subscription rows, the event log, organizations' Stripe customers.

Statements are SQLAlchemy Core compiled once (``SQLCompiler.prepared``); entity rows go through
the pipeline's compiler and shapers so they come out exactly as the CRUD API shows them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from tenantry.billing.tables import EXTRA_COLUMNS, BillingTables
from tenantry.db import Connection, Database, SQLCompiler, Statement
from tenantry.db.codecs import id_to_db, output_converter, to_db, utc_now
from tenantry.db.errors import IntegrityViolation
from tenantry.db.ids import uuid7
from tenantry.db.query import Condition, values_of
from tenantry.pipeline import Pipeline
from tenantry.schema import FieldType

_EXTRA_TYPES = {
    "cancel_at_period_end": FieldType.BOOLEAN,
    "trial_end": FieldType.TIMESTAMP,
    "stripe_price_id": FieldType.STRING,
    "quantity": FieldType.INTEGER,
    "stripe_event_created": FieldType.BIGINT,
    "past_due_since": FieldType.TIMESTAMP,
}


@dataclass(frozen=True)
class StoredEvent:
    """A webhook event as stored: its id, type, Stripe time and body."""

    id: str
    type: str
    created: int
    payload: dict[str, Any]
    applied: bool


class BillingStore:
    """Every statement billing runs, for one app's tables."""

    def __init__(self, db: Database, tables: BillingTables, pipeline: Pipeline) -> None:
        self.db = db
        self.t = tables
        self.pipeline = pipeline
        self.sql: SQLCompiler = pipeline.sql
        self.dialect = self.sql.dialect_name
        self.entity = tables.subscription_entity
        self.org_entity = tables.organization_entity

    def _stmt(self, name: str, build: Any) -> Statement:
        return self.sql.prepared(("billing", self.t.events.name, name), build)

    def org_key(self, org_id: Any) -> Any:
        return id_to_db(self.org_entity.id_type, self.dialect, org_id)

    # -- the event log ---------------------------------------------------------------------------

    async def store_event(self, event: dict[str, Any]) -> bool:
        """Keep a verified event by its id; False when it was already stored (a redelivery)."""
        e = self.t.events
        find = self._stmt("event_exists", lambda: sa.select(e.c.id).where(e.c.id == sa.bindparam("id")))
        insert = self._stmt(
            "event_insert",
            lambda: sa.insert(e).values(
                {n: sa.bindparam(n) for n in ("id", "type", "created", "payload", "received_at")}
            ),
        )
        try:
            async with self.db.transaction() as conn:
                if await conn.fetchrow(find.sql, find.params(extras={"id": event["id"]})) is not None:
                    return False
                values = {
                    "id": event["id"],
                    "type": str(event.get("type") or ""),
                    "created": int(event.get("created") or 0),
                    "payload": orjson.dumps(event).decode(),
                    "received_at": self.time(utc_now()),
                }
                await conn.execute(insert.sql, insert.params(extras=values))
        except IntegrityViolation:
            return False  # the same event arriving twice at once: the other delivery stored it
        return True

    async def lock_event(self, conn: Connection, event_id: str) -> StoredEvent | None:
        """The stored event, locked for this transaction (None if it was never stored)."""
        e = self.t.events

        def build() -> Any:
            stmt = sa.select(e.c.id, e.c.type, e.c.created, e.c.payload, e.c.applied_at).where(
                e.c.id == sa.bindparam("id")
            )
            return stmt.with_for_update() if self.dialect == "postgresql" else stmt

        stmt = self._stmt("event_lock", build)
        row = await conn.fetchrow(stmt.sql, stmt.params(extras={"id": event_id}))
        if row is None:
            return None
        payload = row[3]
        if isinstance(payload, (str, bytes)):
            payload = orjson.loads(payload)
        return StoredEvent(str(row[0]), str(row[1]), int(row[2]), payload, row[4] is not None)

    async def mark_applied(self, conn: Connection, event_id: str, outcome: str, org_id: Any) -> None:
        e = self.t.events
        stmt = self._stmt(
            "event_applied",
            lambda: (
                sa.update(e)
                .where(e.c.id == sa.bindparam("id"))
                .values(applied_at=sa.bindparam("now"), outcome=sa.bindparam("outcome"), org_id=sa.bindparam("org"))
            ),
        )
        extras = {"id": event_id, "now": self.time(utc_now()), "outcome": outcome, "org": _text(org_id)}
        await conn.execute(stmt.sql, stmt.params(extras=extras))

    async def unapplied_events(self) -> list[str]:
        """Ids of events stored but not applied, oldest (by Stripe's time) first."""
        e = self.t.events
        stmt = self._stmt(
            "event_unapplied",
            lambda: sa.select(e.c.id).where(e.c.applied_at.is_(None)).order_by(e.c.created, e.c.received_at),
        )
        return [str(r[0]) for r in await self.db.fetch(stmt.sql, stmt.params())]

    async def event_outcomes(self) -> dict[str, str | None]:
        """Every stored event's outcome (None: not applied yet), for operators and tests."""
        e = self.t.events
        stmt = self._stmt("event_outcomes", lambda: sa.select(e.c.id, e.c.outcome))
        return {str(r[0]): r[1] for r in await self.db.fetch(stmt.sql, stmt.params())}

    # -- organizations ---------------------------------------------------------------------------

    async def lock_organization(self, conn: Connection, org_id: Any) -> dict[str, Any] | None:
        """The organization, locked (PostgreSQL) so one organization's billing changes run one at a time."""
        o = self.t.organizations
        has_customer = "stripe_customer_id" in o.c

        def build() -> Any:
            cols = [o.c.id] + ([o.c.stripe_customer_id] if has_customer else [])
            stmt = sa.select(*cols).where(o.c.id == sa.bindparam("id"))
            # FOR NO KEY UPDATE: inserting a row that references the organization takes a key-share
            # lock on it, which this must not conflict with (two creates would deadlock).
            return stmt.with_for_update(key_share=True) if self.dialect == "postgresql" else stmt

        stmt = self._stmt("org_lock", build)
        try:
            key = self.org_key(org_id)
        except (ValueError, TypeError):
            return None
        row = await conn.fetchrow(stmt.sql, stmt.params(extras={"id": key}))
        if row is None:
            return None
        return {"id": str(row[0]), "stripe_customer_id": row[1] if has_customer else None}

    async def org_by_customer(self, conn: Connection, customer_id: str) -> str | None:
        o = self.t.organizations
        if "stripe_customer_id" not in o.c:
            return None
        stmt = self._stmt(
            "org_by_customer", lambda: sa.select(o.c.id).where(o.c.stripe_customer_id == sa.bindparam("c"))
        )
        row = await conn.fetchrow(stmt.sql, stmt.params(extras={"c": customer_id}))
        return str(row[0]) if row is not None else None

    async def set_customer(self, conn: Connection, org_id: Any, customer_id: str) -> None:
        o = self.t.organizations
        stmt = self._stmt(
            "org_set_customer",
            lambda: sa.update(o).where(o.c.id == sa.bindparam("id")).values(stripe_customer_id=sa.bindparam("c")),
        )
        await conn.execute(stmt.sql, stmt.params(extras={"id": self.org_key(org_id), "c": customer_id}))

    async def customer_id(self, conn: Connection, org_id: Any) -> str | None:
        """The organization's Stripe customer id, if it has one."""
        o = self.t.organizations
        if "stripe_customer_id" not in o.c:
            return None
        stmt = self._stmt("org_customer", lambda: sa.select(o.c.stripe_customer_id).where(o.c.id == sa.bindparam("id")))
        try:
            key = self.org_key(org_id)
        except (ValueError, TypeError):
            return None
        row = await conn.fetchrow(stmt.sql, stmt.params(extras={"id": key}))
        return str(row[0]) if row is not None and row[0] else None

    # -- subscriptions --------------------------------------------------------------------------

    async def subscription(
        self, conn: Connection, *, org_id: Any = None, stripe_id: str | None = None, lock: bool = True
    ) -> Any:
        """``(row as the API shows it, extra columns)`` for an organization or a Stripe subscription, or None.

        ``lock``: the row is locked for the transaction (PostgreSQL). Lock the organization first:
        every billing change takes the organization's lock before the subscription's, so two never
        wait for each other.
        """
        entity = self.entity
        columns = entity.columns
        cond = (
            Condition("org_id", "eq", str(org_id))
            if org_id is not None
            else Condition("stripe_subscription_id", "eq", stripe_id)
        )
        stmt, values = self.sql.select(entity, columns, cond, for_update=lock)
        row = await conn.fetchrow(stmt.sql, stmt.params(values))
        if row is None:
            return None
        shaped = self.pipeline.shaper(entity, columns)(row)
        return shaped, await self._extras(conn, shaped["id"])

    async def _extras(self, conn: Connection, row_id: Any) -> dict[str, Any]:
        t = self.t.subscriptions
        stmt = self._stmt(
            "sub_extras",
            lambda: sa.select(*(t.c[c] for c in EXTRA_COLUMNS)).where(t.c.id == sa.bindparam("id")),
        )
        row = await conn.fetchrow(stmt.sql, stmt.params(extras={"id": self._sub_key(row_id)}))
        if row is None:
            return {}
        out: dict[str, Any] = {}
        for name, value in zip(EXTRA_COLUMNS, row, strict=True):
            convert = output_converter(_EXTRA_TYPES[name], self.dialect)
            out[name] = convert(value) if convert is not None and value is not None else value
        if out.get("stripe_event_created") is not None:
            out["stripe_event_created"] = int(out["stripe_event_created"])
        if out.get("cancel_at_period_end") is not None:
            out["cancel_at_period_end"] = bool(out["cancel_at_period_end"])
        return out

    def _sub_key(self, row_id: Any) -> Any:
        return id_to_db(self.entity.id_type, self.dialect, row_id)

    async def insert_subscription(self, conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
        entity = self.entity
        now = utc_now()
        row: dict[str, Any] = {}
        if not entity.serial_id:
            row["id"] = str(uuid7())
        for f in entity.fields:
            if f.auto:
                row[f.name] = now
            elif f.name in values:
                row[f.name] = values[f.name]
            elif f.has_default:
                row[f.name] = f.default
        names = tuple(row)
        stmt = self.sql.insert(entity, names, entity.columns)
        result = await conn.fetchrow(stmt.sql, stmt.params([row[n] for n in names]))
        assert result is not None
        return self.pipeline.shaper(entity, entity.columns)(result)

    async def update_subscription(self, conn: Connection, row_id: Any, values: dict[str, Any]) -> dict[str, Any]:
        entity = self.entity
        now = utc_now()
        values = dict(values)
        for f in entity.fields:
            if f.auto == "update":
                values[f.name] = now
        names = tuple(values)
        where = Condition("id", "eq", str(row_id))
        stmt, _ = self.sql.update(entity, names, where, entity.columns)
        result = await conn.fetchrow(stmt.sql, stmt.params([values[n] for n in names] + values_of(where)))
        assert result is not None
        return self.pipeline.shaper(entity, entity.columns)(result)

    async def set_extras(self, conn: Connection, row_id: Any, extras: dict[str, Any]) -> None:
        """Write the given billing columns (any of ``EXTRA_COLUMNS``) of a subscription row."""
        t = self.t.subscriptions
        names = tuple(c for c in EXTRA_COLUMNS if c in extras)
        if not names:
            return
        stmt = self._stmt(
            "sub_set_extras:" + ",".join(names),
            lambda: sa.update(t).where(t.c.id == sa.bindparam("id")).values({c: sa.bindparam(c) for c in names}),
        )
        params: dict[str, Any] = {c: to_db(_EXTRA_TYPES[c], self.dialect, extras[c]) for c in names}
        await conn.execute(stmt.sql, stmt.params(extras={"id": self._sub_key(row_id), **params}))

    # -- usage ---------------------------------------------------------------------------------

    async def count_rows(self, conn: Connection, entity_name: str, org_id: Any) -> int:
        """Rows of ``entity_name`` belonging to the organization (soft-deleted ones not counted)."""
        entity = self.pipeline.schema.entities[entity_name]
        table = self.pipeline.tables.table(entity)
        tenant = entity.tenant_field or "org_id"

        def build() -> Any:
            stmt = sa.select(sa.func.count()).select_from(table).where(table.c[tenant] == sa.bindparam("org"))
            if entity.soft_delete and "deleted_at" in table.c:
                stmt = stmt.where(table.c.deleted_at.is_(None))
            return stmt

        stmt = self._stmt(f"count:{entity_name}", build)
        org_type = entity.field(tenant)
        key = to_db(org_type.type if org_type else FieldType.UUID, self.dialect, str(org_id))
        row = await conn.fetchrow(stmt.sql, stmt.params(extras={"org": key}))
        return int(row[0]) if row is not None else 0

    async def member_count(self, members: sa.Table, org_id: Any) -> int:
        stmt = self._stmt(
            "members_count",
            lambda: (
                sa.select(sa.func.count()).select_from(members).where(members.c.organization_id == sa.bindparam("org"))
            ),
        )
        row = await self.db.fetchrow(stmt.sql, stmt.params(extras={"org": self.org_key(org_id)}))
        return int(row[0]) if row is not None else 0

    def time(self, value: dt.datetime) -> Any:
        return to_db(FieldType.TIMESTAMP, self.dialect, value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
