"""Mail in the outbox: a message is a ``$mail.requested`` event, its sending the ``mail`` subscriber's delivery.

This module knows how a message is carried (``mail_event``, ``outgoing``) and reads the dev outbox
back from the outbox tables: one ``OutboxRecord`` per message, its state the mail delivery's.
Statements are compiled once per dialect and kept with the events table.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson
import sqlalchemy as sa

from tenantry.db import Statement
from tenantry.db.codecs import id_to_db, timestamp_from_db, utc_now
from tenantry.db.compiler import compile_statement
from tenantry.db.database import Row, driver_dialect
from tenantry.db.ids import uuid7
from tenantry.db.tables import DialectName, TableSet
from tenantry.events import DONE as DELIVERED
from tenantry.events import FAILED as GIVEN_UP
from tenantry.events import DomainEvent, outbox_tables
from tenantry.mail.message import MailMessage, OutgoingMail

# The topic of a message to send; ``$``: no wildcard subscriber (realtime, webhooks) ever sees one.
MAIL_TOPIC: Final = "$mail.requested"
MAIL_ENTITY: Final = "mail"
# The subscriber that sends them, and so the name of their deliveries.
MAIL_SUBSCRIBER: Final = "mail"
# Dedupe keys are one namespace for the whole outbox: mail's are prefixed.
DEDUPE_PREFIX: Final = "mail:"

# A message's state as the dev outbox shows it (the mail delivery's, in mail's words).
PENDING: Final = "pending"
SENDING: Final = "sending"
SENT: Final = "sent"
FAILED: Final = "failed"

_CACHE_KEY = "tenantry.mail.sql"
_MESSAGE_FIELDS = ("to", "sender", "subject", "text", "html", "url", "template")
_RECORD_COLUMNS = (
    "id",
    "dedupe_key",
    "payload",
    "created_at",
    "status",
    "attempts",
    "next_attempt_at",
    "claim_id",
    "claimed_until",
    "done_at",
    "result",
    "last_error",
)


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One message as stored (for the dev outbox, the CLI and tests)."""

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


def mail_event(message: MailMessage) -> DomainEvent:
    """``message`` as the event that carries it (its id is the message's id, stable across retries)."""
    event_id = str(uuid7())
    return DomainEvent(
        id=event_id,
        topic=MAIL_TOPIC,
        entity=MAIL_ENTITY,
        row_id=event_id,
        org_id=None,
        data={f: getattr(message, f) for f in _MESSAGE_FIELDS},
        old=None,
        actor_id=None,
        created_at=utc_now(),
    )


def outgoing(event: DomainEvent, attempt: int) -> OutgoingMail:
    """The message a mail event carries, as a backend sends it."""
    data = event.data or {}
    return OutgoingMail(
        id=event.id,
        to=data["to"],
        sender=data["sender"],
        subject=data["subject"],
        text=data["text"],
        html=data["html"],
        url=data.get("url"),
        template=data.get("template"),
        attempt=attempt,
        created_at=event.created_at,
    )


class MailOutboxSQL:
    """The dev outbox's reads: mail events with their mail delivery, newest first."""

    def __init__(self, tables: TableSet) -> None:
        self.dialect: DialectName = tables.dialect
        e, d = outbox_tables(tables)
        dialect = driver_dialect(tables.dialect)

        def compile_(build: Callable[[], Any]) -> Statement:
            return compile_statement(build(), dialect)

        delivery = sa.and_(d.c.event_id == e.c.id, d.c.subscriber == MAIL_SUBSCRIBER)
        columns = (e.c.id, e.c.dedupe_key, e.c.payload, e.c.created_at, *(d.c[c] for c in _RECORD_COLUMNS[4:]))
        record = sa.select(*columns).select_from(e.outerjoin(d, delivery)).where(e.c.topic == MAIL_TOPIC)
        newest = (e.c.created_at.desc(), e.c.id.desc())
        if tables.dialect == "postgresql":
            data = e.c.payload.op("->")(sa.literal_column("'data'"))
            recipient: Any = data.op("->>", return_type=sa.Text())(sa.literal_column("'to'"))
        else:
            recipient = sa.func.json_extract(e.c.payload, sa.literal_column("'$.data.to'"))
        self.list_all = compile_(lambda: record.order_by(*newest).limit(sa.bindparam("limit")))
        to = sa.bindparam("to", type_=sa.Text())
        self.list_to = compile_(lambda: record.where(recipient == to).order_by(*newest).limit(sa.bindparam("limit")))
        self.get = compile_(lambda: record.where(e.c.id == sa.bindparam("id")))

    def id_param(self, value: str) -> Any:
        """A message id as the driver expects it (``ValueError`` when it is not a UUID)."""
        return id_to_db("uuid", self.dialect, uuid.UUID(str(value)))

    @staticmethod
    def record(row: Row) -> OutboxRecord:
        """A row of ``list_all``/``list_to``/``get`` as a record."""
        values = dict(zip(_RECORD_COLUMNS, row, strict=True))
        payload = values["payload"]
        body = orjson.loads(payload) if isinstance(payload, str | bytes) else payload
        data = body.get("data") or {}
        created_at = timestamp_from_db(values["created_at"])
        status = values["status"]
        done = status == DELIVERED
        return OutboxRecord(
            id=str(values["id"]),
            dedupe_key=str(values["dedupe_key"] or "").removeprefix(DEDUPE_PREFIX),
            to=data["to"],
            sender=data["sender"],
            subject=data["subject"],
            text=data["text"],
            html=data["html"],
            url=data.get("url"),
            template=data.get("template"),
            status=_status(status, values["claim_id"]),
            attempts=int(values["attempts"] or 0),
            # No delivery (no mail subscriber when it was written): due since it was written.
            next_attempt_at=_time(values["next_attempt_at"]) or created_at,
            claimed_until=_time(values["claimed_until"]),
            sent_at=_time(values["done_at"]) if done else None,
            provider_message_id=values["result"] if done else None,
            last_error=values["last_error"],
            created_at=created_at,
        )


def _status(delivery_status: str | None, claim_id: str | None) -> str:
    if delivery_status == DELIVERED:
        return SENT
    if delivery_status == GIVEN_UP:
        return FAILED
    # Pending: "sending" while a worker holds it (or held it when it died, until it is taken over).
    return SENDING if claim_id is not None else PENDING


def _time(value: Any) -> dt.datetime | None:
    return None if value is None else timestamp_from_db(value)


def mail_outbox_sql(tables: TableSet) -> MailOutboxSQL:
    """The dev outbox's statements for ``tables``, compiled on first use and kept with the events table."""
    events, _ = outbox_tables(tables)
    cached = events.info.get(_CACHE_KEY)
    if not isinstance(cached, MailOutboxSQL) or cached.dialect != tables.dialect:
        cached = MailOutboxSQL(tables)
        events.info[_CACHE_KEY] = cached
    return cached
