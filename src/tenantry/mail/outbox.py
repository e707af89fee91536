"""The SQL of the outbox: built once per table and dialect with SQLAlchemy Core, run positionally.

Like ``tenantry.db.compiler``, statements are compiled once (they are cached in the table's
``info``) and each call only binds values, converted for the driver by ``tenantry.db.codecs``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from tenantry.db.codecs import UTC, id_to_db, to_db
from tenantry.db.database import Row
from tenantry.db.tables import DialectName, TableSet
from tenantry.mail.message import MailMessage, OutgoingMail
from tenantry.mail.tables import FAILED, PENDING, SENDING, SENT, outbox_table
from tenantry.schema import FieldType

_CACHE_KEY = "tenantry.mail.sql"
MAX_ERROR_LENGTH = 2000

RECORD_COLUMNS = (
    "id",
    "dedupe_key",
    "recipient",
    "sender",
    "subject",
    "text",
    "html",
    "url",
    "template",
    "status",
    "attempts",
    "next_attempt_at",
    "claimed_until",
    "sent_at",
    "provider_message_id",
    "last_error",
    "created_at",
)
_CLAIM_COLUMNS = ("id", "recipient", "sender", "subject", "text", "html", "url", "template", "attempts", "created_at")


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One outbox row as stored (for the dev outbox, the CLI and tests)."""

    id: str
    dedupe_key: str
    to: str
    sender: str
    subject: str
    text: str
    html: str
    url: str | None
    template: str | None
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    claimed_until: dt.datetime | None
    sent_at: dt.datetime | None
    provider_message_id: str | None
    last_error: str | None
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class _Sql:
    """Compiled SQL and the parameter names in positional order (literals keep their compiled value)."""

    sql: str
    names: tuple[str, ...]
    literals: Mapping[str, Any]

    def params(self, values: Mapping[str, Any]) -> list[Any]:
        return [values[n] if n in values else self.literals[n] for n in self.names]


def _compile(stmt: Any, dialect: Dialect, bound: set[str]) -> _Sql:
    compiled = stmt.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    literals = {k: v for k, v in compiled.params.items() if k not in bound}
    missing = {n for n in names if n not in bound and n not in literals}
    assert not missing, f"unbound parameters {missing}"
    return _Sql(compiled.string, names, literals)


def _sa_dialect(name: DialectName) -> Dialect:
    # The same dialects (and so the same paramstyles) as the executors in tenantry.db.
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import asyncpg

        return asyncpg.dialect()  # type: ignore[no-untyped-call]
    from sqlalchemy.dialects.sqlite import aiosqlite

    return aiosqlite.dialect()


class OutboxSQL:
    """Every statement the mail capability runs, for one outbox table on one dialect."""

    def __init__(self, table: sa.Table, dialect: DialectName) -> None:
        self.dialect = dialect
        sa_dialect = _sa_dialect(dialect)
        t = table
        p = sa.bindparam

        def compile_(stmt: Any, *names: str) -> _Sql:
            return _compile(stmt, sa_dialect, set(names))

        insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
        fields = ("id", "dedupe_key", "recipient", "sender", "subject", "text", "html", "url", "template")
        insert = (
            insert_fn(t)
            .values(
                {f: p(f) for f in fields}
                | {"status": p("status"), "attempts": 0, "next_attempt_at": p("now"), "created_at": p("now")}
            )
            # Both PostgreSQL and SQLite (>= 3.24) skip the row when the dedupe key exists.
            .on_conflict_do_nothing(index_elements=[t.c.dedupe_key])
            .returning(t.c.id)
        )
        self.insert = compile_(insert, *fields, "status", "now")

        due = sa.or_(
            sa.and_(t.c.status == p("pending"), t.c.next_attempt_at <= p("now")),
            # A crashed worker's claim: its lease ran out while the row was still "sending".
            sa.and_(t.c.status == p("sending"), t.c.claimed_until <= p("now")),
        )
        pick = sa.select(t.c.id).where(due).order_by(t.c.next_attempt_at, t.c.id).limit(p("limit"))
        if dialect == "postgresql":
            # Concurrent workers skip each other's rows instead of waiting for them or taking them too.
            pick = pick.with_for_update(skip_locked=True)
        claim = (
            sa.update(t)
            .where(t.c.id.in_(pick))
            .values(status=p("sending_new"), claimed_until=p("lease_until"), attempts=t.c.attempts + 1)
            .returning(*(t.c[c] for c in _CLAIM_COLUMNS))
        )
        self.claim = compile_(claim, "pending", "sending", "now", "limit", "sending_new", "lease_until")

        # Every mark is fenced by (status, attempts): a worker whose lease expired and whose row was
        # claimed again since changes nothing.
        fence = sa.and_(t.c.id == p("id"), t.c.status == p("sending"), t.c.attempts == p("attempt"))
        fenced = ("id", "sending", "attempt")
        self.mark_sent = compile_(
            sa.update(t)
            .where(fence)
            .values(
                status=p("sent"),
                sent_at=p("now"),
                provider_message_id=p("provider_id"),
                claimed_until=None,
                last_error=None,
            ),
            *fenced,
            "sent",
            "now",
            "provider_id",
        )
        self.mark_retry = compile_(
            sa.update(t)
            .where(fence)
            .values(status=p("pending"), next_attempt_at=p("next_at"), claimed_until=None, last_error=p("error")),
            *fenced,
            "pending",
            "next_at",
            "error",
        )
        self.mark_failed = compile_(
            sa.update(t).where(fence).values(status=p("failed"), claimed_until=None, last_error=p("error")),
            *fenced,
            "failed",
            "error",
        )

        record = sa.select(*(t.c[c] for c in RECORD_COLUMNS))
        newest = (t.c.created_at.desc(), t.c.id.desc())
        self.list_all = compile_(record.order_by(*newest).limit(p("limit")), "limit")
        self.list_to = compile_(
            record.where(t.c.recipient == p("to")).order_by(*newest).limit(p("limit")), "to", "limit"
        )
        self.get = compile_(record.where(t.c.id == p("id")), "id")

    # -- value conversion ------------------------------------------------------------------------

    def id_param(self, value: str | uuid.UUID) -> Any:
        """An outbox id as the driver expects it (``ValueError`` when it is not a UUID)."""
        return id_to_db("uuid", self.dialect, value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))

    def time_param(self, value: dt.datetime) -> Any:
        return to_db(FieldType.TIMESTAMP, self.dialect, value)

    # -- statements with their values --------------------------------------------------------------

    def insert_params(self, message: MailMessage, message_id: uuid.UUID, now: dt.datetime) -> list[Any]:
        return self.insert.params(
            {
                "id": self.id_param(message_id),
                "dedupe_key": message.dedupe_key,
                "recipient": message.to,
                "sender": message.sender,
                "subject": message.subject,
                "text": message.text,
                "html": message.html,
                "url": message.url,
                "template": message.template,
                "status": PENDING,
                "now": self.time_param(now),
            }
        )

    def claim_params(self, now: dt.datetime, lease_until: dt.datetime, limit: int) -> list[Any]:
        return self.claim.params(
            {
                "pending": PENDING,
                "sending": SENDING,
                "sending_new": SENDING,
                "now": self.time_param(now),
                "lease_until": self.time_param(lease_until),
                "limit": limit,
            }
        )

    def _fence(self, mail: OutgoingMail) -> dict[str, Any]:
        return {"id": self.id_param(mail.id), "sending": SENDING, "attempt": mail.attempt}

    def sent_params(self, mail: OutgoingMail, now: dt.datetime, provider_id: str) -> list[Any]:
        values = self._fence(mail) | {"sent": SENT, "now": self.time_param(now), "provider_id": provider_id[:255]}
        return self.mark_sent.params(values)

    def retry_params(self, mail: OutgoingMail, next_at: dt.datetime, error: str) -> list[Any]:
        values = self._fence(mail) | {
            "pending": PENDING,
            "next_at": self.time_param(next_at),
            "error": error[:MAX_ERROR_LENGTH],
        }
        return self.mark_retry.params(values)

    def failed_params(self, mail: OutgoingMail, error: str) -> list[Any]:
        return self.mark_failed.params(self._fence(mail) | {"failed": FAILED, "error": error[:MAX_ERROR_LENGTH]})

    # -- rows ----------------------------------------------------------------------------------------

    @staticmethod
    def outgoing(row: Row) -> OutgoingMail:
        """A claimed row (``_CLAIM_COLUMNS`` order) as the message a backend sends."""
        id_, to, sender, subject, text, html, url, template, attempts, created_at = row
        return OutgoingMail(
            id=str(id_),
            to=to,
            sender=sender,
            subject=subject,
            text=text,
            html=html,
            url=url,
            template=template,
            attempt=int(attempts),
            created_at=_as_datetime(created_at),
        )

    @staticmethod
    def record(row: Row) -> OutboxRecord:
        """A full row (``RECORD_COLUMNS`` order)."""
        values = dict(zip(RECORD_COLUMNS, row, strict=True))
        return OutboxRecord(
            id=str(values["id"]),
            dedupe_key=values["dedupe_key"],
            to=values["recipient"],
            sender=values["sender"],
            subject=values["subject"],
            text=values["text"],
            html=values["html"],
            url=values["url"],
            template=values["template"],
            status=values["status"],
            attempts=int(values["attempts"]),
            next_attempt_at=_as_datetime(values["next_attempt_at"]),
            claimed_until=_maybe_datetime(values["claimed_until"]),
            sent_at=_maybe_datetime(values["sent_at"]),
            provider_message_id=values["provider_message_id"],
            last_error=values["last_error"],
            created_at=_as_datetime(values["created_at"]),
        )


def _as_datetime(value: Any) -> dt.datetime:
    # PostgreSQL returns aware datetimes; SQLite the ISO text written by tenantry.db.codecs.
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _maybe_datetime(value: Any) -> dt.datetime | None:
    return None if value is None else _as_datetime(value)


def outbox_sql(tables: TableSet) -> OutboxSQL:
    """The statements for ``tables``' outbox, compiled on first use and kept with the table."""
    table = outbox_table(tables)
    cached = table.info.get(_CACHE_KEY)
    if not isinstance(cached, OutboxSQL) or cached.dialect != tables.dialect:
        cached = OutboxSQL(table, tables.dialect)
        table.info[_CACHE_KEY] = cached
    return cached


def rows_of(rows: Sequence[Row]) -> list[OutboxRecord]:
    """Full rows as records."""
    return [OutboxSQL.record(r) for r in rows]
