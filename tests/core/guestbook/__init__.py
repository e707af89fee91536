"""A capability made for the tests, in the shape every capability has: one folder, one list entry.

It has a setting (the greeting), a table of its own, a route, an outbox subscriber (a new project
signs the book) and a background worker; the test beside it adds it to an app's list and sees each
part work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tenantry.core import App, Capabilities, Capability, Worker
from tenantry.db import TableSet
from tenantry.db.types import UTCTimestamp
from tenantry.errors import ApiError
from tenantry.events import DomainEvent, Subscriber
from tenantry.schema import Schema

TABLE = "guestbook_entries"


class GuestbookSettings(BaseSettings):
    """Its part of the settings; ``GUESTBOOK_GREETING`` in the environment."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    greeting: str = Field("Hello", alias="GUESTBOOK_GREETING")


class Janitor:
    """A worker: counts its starts and stops, so the test sees the app run it."""

    def __init__(self) -> None:
        self.started = 0
        self.stopped = 0

    def start(self) -> None:
        self.started += 1

    async def stop(self) -> None:
        self.stopped += 1


class Guestbook(Capability):
    """Signed messages at ``/api/guestbook``, after authentication (whose principal it reads)."""

    name = "guestbook"
    after = ("auth",)
    before = ("api",)
    settings_model = GuestbookSettings

    def __init__(self, settings: GuestbookSettings) -> None:
        self.settings = settings
        self.janitor = Janitor()

    def contribute(self, ts: TableSet, schema: Schema, capabilities: Capabilities) -> None:
        ts.tables[TABLE] = sa.Table(
            TABLE,
            ts.metadata,
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("message", sa.Text(), nullable=False),
            sa.Column("author", sa.String(64), nullable=True),
            sa.Column("created_at", UTCTimestamp(), nullable=False),
        )

    def install(self, app: App) -> None:
        self.app = app
        table = app.tables.tables[TABLE]
        sql = app.pipeline.sql
        self.insert = sql.prepared(
            ("guestbook", "insert"),
            lambda: sa.insert(table).values(
                message=sa.bindparam("message"), author=sa.bindparam("author"), created_at=sa.bindparam("at")
            ),
        )
        self.read = sql.prepared(
            ("guestbook", "read"), lambda: sa.select(table.c.message, table.c.author).order_by(table.c.id)
        )

    def routes(self) -> Sequence[BaseRoute]:
        return [Route("/api/guestbook", self.endpoint, methods=["GET", "POST"])]

    def subscribers(self) -> Sequence[Subscriber]:
        return [Subscriber(name="guestbook.projects", patterns=("projects.created",), handler=self.project_created)]

    def workers(self) -> Sequence[Worker]:
        return [self.janitor]

    async def project_created(self, event: DomainEvent) -> None:
        """A new project signs the book (delivered once, after its transaction committed)."""
        name = (event.data or {}).get("name")
        async with self.app.db.transaction() as conn:
            params = {"message": f"project {name} created", "author": event.actor_id, "at": self.app.clock()}
            await conn.execute(self.insert.sql, self.insert.params(extras=_db_values(self.app, params)))

    async def endpoint(self, request: Request) -> Response:
        ctx = await self.app.context(request)
        if not ctx.principal.is_authenticated:
            raise ApiError(401, "UNAUTHORIZED", "Sign in to use the guestbook")
        if request.method == "POST":
            body: Any = await request.json()
            async with self.app.db.transaction() as conn:
                params = {"message": str(body["message"]), "author": ctx.principal.user_id, "at": self.app.clock()}
                await conn.execute(self.insert.sql, self.insert.params(extras=_db_values(self.app, params)))
            return JSONResponse({"ok": True}, status_code=201)
        rows = await self.app.db.fetch(self.read.sql, self.read.params())
        return JSONResponse({"greeting": self.settings.greeting, "entries": [list(r) for r in rows]})


def _db_values(app: App, values: dict[str, Any]) -> dict[str, Any]:
    from tenantry.db.codecs import to_db
    from tenantry.schema import FieldType

    return values | {"at": to_db(FieldType.TIMESTAMP, app.db.dialect_name, values["at"])}
