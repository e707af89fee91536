"""Writing the audit log: one row per change, in the transaction of the change.

``Auditor.record`` is the one way rows get in. The CRUD pipeline calls it through ``AuditWriter``
(a ``WriteListener``) for every create, update and delete, bulk ones row by row; authentication
and organizations call it through the hook the app hands them (``AuthContext.audit``), for events
that are not CRUD writes: sign-in and its failures, sign-out, password and e-mail changes,
session revocation, account deletion, memberships, roles, invitations.

What a row holds:

- ``user_id``: who acted (none for the system, or a sign-in attempt for an unknown address);
- ``org_id``: the organization the change belongs to: the row's own tenant column, the
  organization itself for changes to organizations, else the actor's active organization;
- ``action``: ``create``/``update``/``delete`` for CRUD writes, the event's name otherwise;
- ``resource_type``/``resource_id``: the entity and row (``session`` and its id for sessions);
- ``old_values``/``new_values``: for a create the new row, for a delete the old one, for an update
  only the fields that changed (before and after), each as the API shows it, secrets removed;
- ``ip_address``/``user_agent``: from the request; ``created_at``: now.

Values that would not fit their column (a long user agent) are cut to fit: an audit row must never
be the reason a change fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import sqlalchemy as sa

from tenantry.audit.redact import redact
from tenantry.audit.tables import LOGICAL_COLUMNS, AuditTables
from tenantry.db import Connection, SQLCompiler
from tenantry.db.codecs import field_to_db, id_to_db, to_db, utc_now
from tenantry.db.ids import uuid7
from tenantry.db.tables import string_length
from tenantry.pipeline import OrganizationChange, WriteEvent, organization_of
from tenantry.schema import Field, FieldType
from tenantry.schema.model import SERIAL_ID_TYPES

_TEXTUAL = (FieldType.STRING, FieldType.TEXT, FieldType.ENUM)


class Auditor:
    """Writes audit rows on the caller's connection, so they commit or roll back with the change."""

    def __init__(self, tables: AuditTables, sql: SQLCompiler) -> None:
        self.tables = tables
        self.entity_name = tables.entity.name
        self.sql = sql
        self.dialect = sql.dialect_name
        self.id_type = tables.entity.id_type
        # Bind parameter -> column; serial ids are the database's to assign.
        self._binds = {f"a_{k}": tables.columns[k] for k in LOGICAL_COLUMNS}
        if self.id_type not in SERIAL_ID_TYPES:
            self._binds["a_id"] = "id"

    def _insert(self) -> Any:
        table = self.tables.table
        return sa.insert(table).values({column: sa.bindparam(bind) for bind, column in self._binds.items()})

    async def record(
        self,
        conn: Connection,
        *,
        action: str,
        resource_type: str,
        user_id: Any = None,
        org_id: Any = None,
        resource_id: Any = None,
        old: Mapping[str, Any] | None = None,
        new: Mapping[str, Any] | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        """Add one row to the log on ``conn`` (call it inside the transaction of what it records)."""
        params = self.row(
            action=action,
            resource_type=resource_type,
            user_id=user_id,
            org_id=org_id,
            resource_id=resource_id,
            old=old,
            new=new,
            ip=ip,
            user_agent=user_agent,
        )
        stmt = self.sql.prepared(("audit", "insert", self.entity_name), self._insert)
        await conn.execute(stmt.sql, stmt.params(extras=params))

    def row(
        self,
        *,
        action: str,
        resource_type: str,
        user_id: Any = None,
        org_id: Any = None,
        resource_id: Any = None,
        old: Mapping[str, Any] | None = None,
        new: Mapping[str, Any] | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> dict[str, Any]:
        """The bind parameters of one row (``record``'s arguments), for ``insert_when`` or ``record``."""
        if not action or not resource_type:
            raise ValueError("an audit row needs an action and a resource type")
        values = {
            "user_id": user_id,
            "org_id": org_id,
            "action": action,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "old_values": redact(old),
            "new_values": redact(new),
            "ip_address": ip,
            "user_agent": user_agent,
            "created_at": utc_now(),
        }
        params = {f"a_{k}": self._param(self.tables.fields[k], v) for k, v in values.items()}
        if self.id_type not in SERIAL_ID_TYPES:
            new_id = uuid7()  # time-ordered: the log reads in the order it was written
            params["a_id"] = id_to_db(self.id_type, self.dialect, new_id if self.id_type == "uuid" else str(new_id))
        return params

    def insert_when(self, source: Any, taken: Mapping[str, Any] | None = None) -> Any:
        """``INSERT`` of one row (``row``'s parameters) if ``source`` (a CTE of the same statement)
        has a row: a change and its audit row in one statement, both or neither, with no
        transaction of their own (PostgreSQL, where a data-modifying CTE may do it).

        ``taken``: values read from ``source``'s row instead, by logical column (``user_id``,
        ``org_id``, ``resource_id`` …: what the statement itself finds, unknown when it is sent)."""
        table = self.tables.table
        taken = taken or {}
        binds = list(self._binds.items())
        columns = {self.tables.columns[name]: value for name, value in taken.items()}
        selected = [
            sa.cast(columns[column], table.c[column].type)
            if column in columns
            else sa.bindparam(bind, type_=table.c[column].type)
            for bind, column in binds
        ]
        query = sa.select(*selected)
        query = (
            query.select_from(source) if taken else query.where(sa.exists(sa.select(sa.literal(1)).select_from(source)))
        )
        return sa.insert(table).from_select([column for _, column in binds], query)

    def _param(self, f: Field, value: Any) -> Any:
        if value is None:
            return None
        if f.type is FieldType.JSON:
            # default=str: ids, times and decimals from callers other than the pipeline still fit.
            return orjson.dumps(value, default=str).decode()
        if f.type in _TEXTUAL:
            text = str(value)
            limit = string_length(f) if f.type is not FieldType.TEXT else None
            return text[:limit] if limit is not None else text
        if f.type is FieldType.UUID:
            return to_db(FieldType.UUID, self.dialect, str(value))
        return field_to_db(f, self.dialect, value)


class AuditWriter:
    """The pipeline's ``WriteListener``: one audit row per created, updated or deleted row."""

    def __init__(self, auditor: Auditor) -> None:
        self.auditor = auditor

    async def on_write(self, conn: Connection, event: WriteEvent) -> None:
        # The policy refuses every write to the log through the pipeline (AuditPolicy), so a
        # write reaching here would be a change to history recorded as if it were ordinary.
        assert event.entity.name != self.auditor.entity_name, "the audit log is never written through the pipeline"
        p = event.context.principal
        old, new = event.old, event.new
        if event.action == "update" and old is not None and new is not None:
            old, new = changed_fields(old, new)
        await self.auditor.record(
            conn,
            action=event.action,
            user_id=p.user_id,
            org_id=organization_of(event),
            resource_type=event.entity.name,
            resource_id=event.id,
            old=old,
            new=new,
            ip=event.context.ip_address,
            user_agent=event.context.user_agent,
        )


_INVITATION_OUTCOMES = {
    "accepted": "invitation_accept",
    "rejected": "invitation_reject",
    "canceled": "invitation_cancel",
}


def organization_action(change: OrganizationChange) -> str:
    """The audit action of an organization-plugin change: ``member_add``, ``role_change``, ``invitation_accept`` …"""
    kind, action = change.resource_type, change.action
    if kind == "member":
        if action == "create":
            return "member_add"
        if action == "update":
            return "role_change"
        left = change.old is not None and str(change.old.get("userId")) == str(change.actor_id)
        return "member_leave" if left else "member_remove"
    if kind == "invitation" and action == "update":
        status = (change.new or {}).get("status")
        # Still pending after an update: the invitation was sent again with a new expiry.
        return _INVITATION_OUTCOMES.get(str(status), "invitation_resend")
    return f"{kind}_{action}"


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields whose value differs, as they were and as they are."""
    keys = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]
    return {k: old.get(k) for k in keys}, {k: new.get(k) for k in keys}
