"""The shape every capability has, and the ordered set an app is made of.

A capability (authentication, organizations, the audit log, billing, the web pages …) is one
folder whose ``__init__.py`` exposes a ``Capability`` subclass. The app builds each from its part
of the settings, then walks them in one loop:

1. ``contribute`` — tables and columns, for the app and for migrations alike (no database needed);
2. ``install`` — wire into the running app through the ``App`` interface: pipeline policies and
   listeners, authenticators, services other capabilities look up (``App.get``);
3. collect what each offers: API ``routes``, ASGI ``middleware``, ``openapi`` parts, outbox
   ``subscribers``, background ``workers``, and ``startup``/``shutdown`` steps.

Order is declared by name, never by position: ``after``/``before`` name the capabilities this one
must follow or precede when they are present, ``requires`` those it cannot work without, and
``after = ("*",)`` puts a capability after every one that does not say the same (the CRUD API and
the pages, whose catch-all routes must come last). Capabilities extend each other through facets
the extended one defines (an authentication plugin implements ``tenantry.auth.AuthPlugin``,
pages come through ``tenantry.web.PageProvider``), so the core knows none of them.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from pydantic import BaseModel
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from tenantry.core.openapi import OpenApiPart

if TYPE_CHECKING:
    import typer

    from tenantry.core.app import App, Worker
    from tenantry.core.commands import CommandHost
    from tenantry.db.tables import TableSet
    from tenantry.events import Subscriber
    from tenantry.schema import Schema

C = TypeVar("C")


class Capability:
    """One capability of an app. Subclasses set ``name`` and override what they need.

    ``settings_model`` is the pydantic model of its part of the settings (read once with the
    rest, see ``tenantry.config``); the instance receives that part when it is built.
    """

    name: ClassVar[str]
    after: ClassVar[tuple[str, ...]] = ()
    before: ClassVar[tuple[str, ...]] = ()
    requires: ClassVar[tuple[str, ...]] = ()
    settings_model: ClassVar[type[BaseModel] | None] = None

    @classmethod
    def from_settings(cls, part: BaseModel | None) -> Self:
        """Built with its part of the settings: a subclass with a ``settings_model`` takes it as its
        one constructor argument, any other takes none."""
        if cls.settings_model is None:
            return cls()
        if not isinstance(part, cls.settings_model):
            raise CapabilityError(f"capability {cls.name!r} needs a {cls.settings_model.__name__}, got {part!r}")
        return cls(part)  # type: ignore[call-arg]  # the subclass's constructor takes its settings

    def enabled(self, schema: Schema) -> bool:
        """Whether this capability applies to ``schema`` (billing needs subscriptions, say)."""
        return True

    def contribute(self, ts: TableSet, schema: Schema, capabilities: Capabilities) -> None:
        """Add tables, or columns to tables contributed earlier (``ts.extensions`` holds their handles)."""

    def install(self, app: App) -> None:
        """Wire into the app: pipeline policies and listeners, authenticators, services to look up."""

    def routes(self) -> Sequence[BaseRoute]:
        """HTTP routes, in capability order (fixed paths before the catch-alls that would shadow them)."""
        return ()

    def middleware(self) -> Sequence[Middleware]:
        """ASGI middleware, outermost first; the app keeps its own innermost."""
        return ()

    def openapi(self, schema: Schema, tables: TableSet) -> OpenApiPart | None:
        """What this capability adds to ``/api/openapi.json``: its routes, each with its request
        body, parameters, every status it answers and the JSON it answers with (``tables``: what
        the capabilities contributed, for shapes that depend on them, such as the user's fields)."""
        return None

    def subscribers(self) -> Sequence[Subscriber]:
        """Named subscribers of the outbox: each gets every matching event, with its own retries."""
        return ()

    def workers(self) -> Sequence[Worker]:
        """Background workers, started after ``startup`` and stopped before ``shutdown``."""
        return ()

    async def startup(self) -> None:
        """Runs once the database is open, before the app serves (recover what was left unfinished)."""

    async def drain(self) -> None:
        """Runs when the server stops taking work (SIGTERM), while requests in flight finish: close
        long-lived connections (sockets) so their clients reconnect to another node."""

    async def shutdown(self) -> None:
        """Runs after the workers stopped, before the database closes."""

    @classmethod
    def commands(cls, host: CommandHost) -> typer.Typer | None:
        """A ``tenantry <name> …`` command group, or None. ``host`` opens the configured app."""
        return None


class CapabilityError(ValueError):
    """The capabilities of an app do not fit together (a missing requirement, an ordering cycle)."""


class Capabilities(Sequence[Capability]):
    """The capabilities of one app in the order their constraints give, with typed lookups."""

    def __init__(self, capabilities: Iterable[Capability]) -> None:
        self._items = _ordered(list(capabilities))

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Capability]:
        return iter(self._items)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self._items)

    def named(self, name: str) -> Capability | None:
        """The capability called ``name``, if present."""
        return next((c for c in self._items if c.name == name), None)

    def find(self, kind: type[C]) -> C | None:
        """The one capability (or facet) of type ``kind``, if present."""
        return next((c for c in self._items if isinstance(c, kind)), None)

    def get(self, kind: type[C]) -> C:
        """The one capability of type ``kind``; ``LookupError`` when the app has none."""
        found = self.find(kind)
        if found is None:
            raise LookupError(f"this app has no {kind.__name__} (capabilities: {', '.join(self.names)})")
        return found

    def of(self, kind: type[C]) -> list[C]:
        """Every capability that is a ``kind`` (the plugins of a facet), in order."""
        return [c for c in self._items if isinstance(c, kind)]


def _ordered(items: list[Capability]) -> list[Capability]:
    """``items`` sorted by their ``after``/``before`` constraints; ties keep the given order."""
    names = [c.name for c in items]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise CapabilityError(f"capability named twice: {', '.join(sorted(duplicates))}")
    present = set(names)
    for c in items:
        missing = [r for r in c.requires if r not in present]
        if missing:
            raise CapabilityError(f"capability {c.name!r} requires {', '.join(missing)}, which this app does not have")
    last = {c.name for c in items if "*" in c.after}
    graph: dict[str, set[str]] = {n: set() for n in names}
    for c in items:
        for other in c.after:
            if other == "*":
                graph[c.name] |= present - last
            elif other in present:
                graph[c.name].add(other)
        for other in c.before:
            if other in present:
                graph[other].add(c.name)
    # Kahn's algorithm, always taking the earliest-listed ready capability: stable and predictable.
    sorter = graphlib.TopologicalSorter(graph)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        raise CapabilityError(f"capabilities order each other in a cycle: {' -> '.join(exc.args[1])}") from None
    position = {n: i for i, n in enumerate(names)}
    by_name = {c.name: c for c in items}
    result: list[Capability] = []
    ready: list[str] = []
    while sorter.is_active():
        ready = sorted({*ready, *sorter.get_ready()}, key=position.__getitem__)
        chosen = ready.pop(0)
        result.append(by_name[chosen])
        sorter.done(chosen)
    return result
