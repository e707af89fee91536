"""``users.created``: a new user as a domain event, written in the transaction that creates the user.

Users are created by authentication (sign-up by password, magic link, social sign-in, an
administrator), outside the CRUD pipeline, so the pipeline's event writer never sees them. The
event's ``data`` is the user as the API returns it (``UserShapes.user_json``): no password hash,
token or secret is ever in it (those live in the account, session and plugin tables).
"""

from __future__ import annotations

from tenantry.auth.shapes import UserShapes
from tenantry.auth.store import UserRecord
from tenantry.core import App
from tenantry.db import Connection
from tenantry.db.codecs import utc_now
from tenantry.db.ids import uuid7
from tenantry.events import DomainEvent


class UserCreatedEvents:
    """Publishes ``<users entity>.created`` for each new user (``AuthStore.user_created``)."""

    def __init__(self, app: App, shapes: UserShapes) -> None:
        self.outbox = app.outbox
        self.shapes = shapes
        users = app.schema.system_entity("users")
        self.entity = users.name if users is not None else "users"

    async def __call__(self, conn: Connection, user: UserRecord) -> None:
        await self.outbox.publish(
            conn,
            DomainEvent(
                id=str(uuid7()),
                topic=f"{self.entity}.created",
                entity=self.entity,
                row_id=str(user.id),
                org_id=None,
                data=self.shapes.user_json(user),
                old=None,
                # The new user acts for themselves (an administrator's create is audited as theirs).
                actor_id=str(user.id),
                created_at=utc_now(),
            ),
        )
