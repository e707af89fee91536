"""``App``: all a capability sees of the running application (PocketBase's ``core.App``, in Python).

Capabilities code against this interface, never against the concrete app in ``tenantry.app``:
the schema, the core settings, the database, the tables, the pipeline every read and write takes,
the outbox side effects leave through, the clock, who is asking (``context``), and the other
capabilities (``get``/``find``, by type).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from starlette.requests import Request

from tenantry.context import Principal, RequestContext

if TYPE_CHECKING:
    from tenantry.core.capability import Capabilities
    from tenantry.core.settings import CoreSettings
    from tenantry.db import Database, TableSet
    from tenantry.events import Events, Outbox
    from tenantry.pipeline import Pipeline
    from tenantry.schema import Schema

C = TypeVar("C")

# Names the principal of a request (a session, an API key …), or None to let the next one try.
Authenticator = Callable[[Request], Awaitable[Principal | None]]

# Told who a request acts as, once that is known (``App.context``): logs, traces and error reports
# label what follows with the user and organization. Runs in the request's task; must not block.
PrincipalListener = Callable[[Request, Principal], None]


class Worker(Protocol):
    """A background task of a capability (an outbox worker, a sweeper)."""

    def start(self) -> None:
        """Start in the background (from the running event loop)."""
        ...

    async def stop(self) -> None:
        """Finish the work in hand, then stop."""
        ...


@runtime_checkable
class Supervised(Protocol):
    """A worker that can tell whether it is still running (readiness probes ask it).

    Optional: a ``Worker`` without ``alive`` is taken to be alive. ``alive`` is False once its
    background task has ended, whether stopped or crashed; it must be cheap (no I/O).
    """

    @property
    def alive(self) -> bool:
        """Whether the background task is running."""
        ...


class App(Protocol):
    """The running application, as capabilities see it."""

    @property
    def schema(self) -> Schema: ...

    @property
    def settings(self) -> CoreSettings: ...

    @property
    def db(self) -> Database: ...

    @property
    def tables(self) -> TableSet: ...

    @property
    def pipeline(self) -> Pipeline: ...

    @property
    def outbox(self) -> Outbox:
        """Where side effects leave: events written in their change's transaction, delivered to subscribers."""
        ...

    @property
    def events(self) -> Events:
        """The pipeline's event writer, and ``subscribe`` for subscribers of one's own."""
        ...

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def workers(self) -> Sequence[Worker]:
        """The capabilities' background workers (the outbox's own are ``outbox.workers``)."""
        ...

    @property
    def authenticators(self) -> list[Authenticator]:
        """Tried in order for every request outside ``/api/auth``; the first to name a principal wins."""
        ...

    @property
    def principal_listeners(self) -> list[PrincipalListener]:
        """Called in order by ``context`` once a request's principal is known."""
        ...

    @property
    def draining(self) -> bool:
        """The server is stopping (SIGTERM): it takes no new connections and readiness says so."""
        ...

    def clock(self) -> dt.datetime:
        """Now, in UTC (one clock for every capability; tests may move it)."""
        ...

    def get(self, kind: type[C]) -> C:
        """The capability of type ``kind``; ``LookupError`` when the app has none."""
        ...

    def find(self, kind: type[C]) -> C | None:
        """The capability of type ``kind``, or None when the app has none."""
        ...

    async def context(self, request: Request, principal: Principal | None = None) -> RequestContext:
        """Who is asking (the first step of the pipeline), with the facts the audit log records."""
        ...
