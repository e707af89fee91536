"""User hooks: project code that runs before and after actions on entities.

A project's ``hooks.py`` decorates async functions::

    from tenantry.hooks import Deny, HookEvent, hook

    @hook("projects", "before_create")
    async def default_description(event: HookEvent) -> None:
        event.data.setdefault("description", "New project")

``before_*`` hooks run inside the write's transaction, after validation and before the row is
written: they may change ``event.data`` or raise ``Deny`` to refuse the action (nothing is
written). ``after_*`` hooks run after the transaction committed; their errors are logged and do
not change the response. Hooks for ``"*"`` run for every entity.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from tenantry.context import RequestContext

log = logging.getLogger("tenantry.hooks")

When = Literal[
    "before_create",
    "after_create",
    "before_update",
    "after_update",
    "before_delete",
    "after_delete",
]
WHENS: tuple[When, ...] = (
    "before_create",
    "after_create",
    "before_update",
    "after_update",
    "before_delete",
    "after_delete",
)


Reader = Callable[[str, dict[str, Any]], Awaitable[list[dict[str, Any]]]]


@dataclass
class HookEvent:
    """What a hook sees. ``data`` is the validated input (mutable in ``before_*`` hooks)."""

    entity: str
    action: Literal["create", "update", "delete"]
    context: RequestContext
    data: dict[str, Any] = field(default_factory=dict)
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None
    reader: Reader | None = None

    async def find(self, entity: str, **lookups: Any) -> list[dict[str, Any]]:
        """Rows of ``entity`` matching ``lookups``, read in this action's transaction and within the
        caller's organization. Lookups: ``field=value``, ``field__ne=…``, ``field__in=[…]``,
        ``field__ilike=…`` (equal ignoring case). At most 100 rows. ``before_*`` hooks only."""
        if self.reader is None:
            raise RuntimeError("find() is available in before_* hooks, inside the transaction")
        return await self.reader(entity, lookups)

    async def exists(self, entity: str, **lookups: Any) -> bool:
        """Whether any row of ``entity`` matches ``lookups`` (see ``find``); ``None`` values are ignored."""
        return bool(await self.find(entity, **{k: v for k, v in lookups.items() if v is not None}))


HookFn = Callable[[HookEvent], Awaitable[None]]


class Deny(Exception):
    """Raised by a ``before_*`` hook to refuse an action with a message for the client."""

    def __init__(self, message: str, *, status: int = 400, code: str = "REJECTED_BY_HOOK") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


def hook(entity: str, when: When) -> Callable[[HookFn], HookFn]:
    """Mark an async function as a hook for ``entity`` (or ``"*"``) at ``when``."""
    if when not in WHENS:
        raise ValueError(f"unknown hook point {when!r}; expected one of {', '.join(WHENS)}")

    def mark(fn: HookFn) -> HookFn:
        marks: list[tuple[str, str]] = getattr(fn, "__tenantry_hooks__", [])
        marks.append((entity, when))
        fn.__tenantry_hooks__ = marks  # type: ignore[attr-defined]
        return fn

    return mark


class Hooks:
    """The hook chain of one application, in registration order."""

    def __init__(self) -> None:
        self._chain: dict[tuple[str, str], list[HookFn]] = {}

    def add(self, entity: str, when: When, fn: HookFn) -> None:
        self._chain.setdefault((entity, when), []).append(fn)

    def add_module(self, module: ModuleType) -> int:
        """Register every function the module marked with ``@hook``; returns how many."""
        count = 0
        for value in vars(module).values():
            for entity, when in getattr(value, "__tenantry_hooks__", []):
                self.add(entity, when, value)
                count += 1
        return count

    def has(self, entity: str, when: When) -> bool:
        return (entity, when) in self._chain or ("*", when) in self._chain

    async def run_before(self, when: When, event: HookEvent) -> None:
        """Run ``before_*`` hooks in order; a ``Deny`` propagates to abort the action."""
        for fn in self._chain.get((event.entity, when), []) + self._chain.get(("*", when), []):
            await fn(event)

    async def run_after(self, when: When, event: HookEvent) -> None:
        """Run ``after_*`` hooks; failures are logged, never raised (the write already committed)."""
        for fn in self._chain.get((event.entity, when), []) + self._chain.get(("*", when), []):
            try:
                await fn(event)
            except Exception:
                log.exception("hook %s for %s %s failed", getattr(fn, "__name__", fn), when, event.entity)


def load_hooks_file(path: Path) -> Hooks:
    """Import a project's ``hooks.py`` (if it exists) and collect its hooks."""
    hooks = Hooks()
    if not path.is_file():
        return hooks
    name = f"tenantry_project_hooks_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load hooks from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    hooks.add_module(module)
    return hooks
