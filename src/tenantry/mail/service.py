"""Put mail in the outbox (inside the caller's transaction) and read it back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tenantry.db.database import Connection, Database
from tenantry.db.tables import TableSet
from tenantry.events import Outbox
from tenantry.mail.message import MailMessage
from tenantry.mail.outbox import DEDUPE_PREFIX, OutboxRecord, mail_event, mail_outbox_sql
from tenantry.mail.settings import MailSettings
from tenantry.mail.templates import render


def compose(
    template: str,
    *,
    to: str,
    url: str,
    dedupe_key: str,
    settings: MailSettings,
    context: Mapping[str, Any] | None = None,
) -> MailMessage:
    """Render ``template`` for ``to`` and wrap it as a message from ``settings.mail_from``.

    ``context`` adds the template's own values (``name``, ``new_email``, ``organization_name`` …);
    ``url`` and ``email`` (the recipient) are filled in here.
    """
    values: dict[str, Any] = {"email": to, **(context or {}), "url": url}
    subject, text, html = render(template, values, settings)
    return MailMessage(
        dedupe_key=dedupe_key,
        to=to,
        sender=settings.mail_from,
        subject=subject,
        text=text,
        html=html,
        url=url,
        template=template,
    )


async def enqueue(conn: Connection, outbox: Outbox, message: MailMessage) -> bool:
    """Publish ``message`` to ``outbox`` on ``conn``; False when its ``dedupe_key`` is already there.

    Call it inside the transaction of the action that causes the mail (``async with
    db.transaction() as conn``): the message then exists exactly when the action committed, and
    the mail subscriber's worker in this process is woken once it has.
    """
    return await outbox.publish(conn, mail_event(message), dedupe_key=DEDUPE_PREFIX + message.dedupe_key)


async def list_outbox(db: Database, tables: TableSet, *, to: str | None = None, limit: int = 100) -> list[OutboxRecord]:
    """The newest ``limit`` messages, optionally only those to ``to`` (exact address as enqueued)."""
    sql = mail_outbox_sql(tables)
    if to is None:
        rows = await db.fetch(sql.list_all.sql, sql.list_all.params(extras={"limit": limit}))
    else:
        rows = await db.fetch(sql.list_to.sql, sql.list_to.params(extras={"to": to, "limit": limit}))
    return [sql.record(r) for r in rows]


async def get_outbox_message(db: Database, tables: TableSet, message_id: str) -> OutboxRecord | None:
    """One message by id; None when there is none (or ``message_id`` is not a UUID)."""
    sql = mail_outbox_sql(tables)
    try:
        key = sql.id_param(message_id)
    except ValueError:
        return None
    row = await db.fetchrow(sql.get.sql, sql.get.params(extras={"id": key}))
    return None if row is None else sql.record(row)


class OutboxMailer:
    """Sends templated mail through the outbox: what other capabilities call to e-mail someone.

    ``send`` renders and publishes inside the caller's transaction; the mail subscriber sends it
    once that transaction commits, so the message leaves right away and only if the action happened.
    """

    def __init__(self, outbox: Outbox, settings: MailSettings) -> None:
        self.outbox = outbox
        self.settings = settings

    async def send(
        self, conn: Connection, *, template: str, to: str, url: str, context: dict[str, Any], dedupe_key: str
    ) -> None:
        message = compose(template, to=to, url=url, dedupe_key=dedupe_key, settings=self.settings, context=context)
        await enqueue(conn, self.outbox, message)
