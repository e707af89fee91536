"""Who the database is working for: the identity row-level security checks on PostgreSQL.

The pipeline scopes every query to the caller's organization in the SQL it writes. On PostgreSQL
the database checks it a second time (``tenantry.tenancy.rls``): each tenant table has a policy
that shows and accepts only rows of organizations the acting user is a member of. The policy
reads the acting user from two settings of the connection, ``tenantry.user_id`` and
``tenantry.system``; ``PostgresDatabase`` puts them in place from ``current_actor`` whenever it
hands out a connection, and the app sets ``current_actor`` once per request, as soon as it knows
who is asking (``Tenantry.context``).

A ``ContextVar`` because the identity must follow the request's task through every await (hooks,
listeners, presenters) without being passed to each call, and must not leak into other tasks.
Code that runs outside a request (mail and event delivery, migrations, the CLI) acts as the
system, which policies let through: it is the application itself, not a user.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

# The role application connections take on PostgreSQL (``SET ROLE``): no superuser, no BYPASSRLS,
# not the owner of any table, so row-level security applies to everything it runs.
APP_ROLE = "tenantry_app"


@dataclass(frozen=True, slots=True)
class DbActor:
    """The identity behind a connection: a user (``user_id``), the system, or nobody."""

    user_id: str | None = None
    system: bool = False

    def settings(self) -> tuple[str, str]:
        """The values of ``tenantry.user_id`` and ``tenantry.system`` (empty text means unset)."""
        return (self.user_id or "", "on" if self.system else "")


SYSTEM = DbActor(system=True)
NOBODY = DbActor()

current_actor: ContextVar[DbActor] = ContextVar("tenantry_db_actor", default=SYSTEM)


def actor_columns(user_id: Any) -> list[Any]:
    """The two columns a statement that authenticates a request ends with on PostgreSQL
    (``PostgresDatabase.fetch_identifying``): ``set_config`` of ``tenantry.user_id`` to ``user_id``
    (a SQL expression) and of ``tenantry.system`` to nothing, so that its connection acts for that
    user from then on, with no round trip of its own."""
    # Constants written into the SQL, not bound: five fewer parameters to encode on every request.
    return [
        sa.func.set_config(sa.literal_column("'tenantry.user_id'"), sa.cast(user_id, sa.Text), sa.false()),
        sa.func.set_config(sa.literal_column("'tenantry.system'"), sa.literal_column("''"), sa.false()),
    ]


def user_actor(user_id: str) -> DbActor:
    """The actor for requests made by ``user_id``."""
    return DbActor(user_id=str(user_id))


@contextmanager
def acting_as(actor: DbActor) -> Iterator[None]:
    """Run a block with ``actor`` as the database's identity (``with acting_as(SYSTEM): …``)."""
    token = current_actor.set(actor)
    try:
        yield
    finally:
        current_actor.reset(token)
