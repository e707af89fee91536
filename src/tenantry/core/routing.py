"""A Starlette router that tries only the routes a path can match.

Starlette's router tries every route in order, a regular expression each, until one matches. An
app of every capability has about a hundred routes, and the API's own (``/api/{resource}/{id}``)
come after the authentication, billing and webhook ones, so a row read paid some thirty failed
matches before its own. ``IndexedRouter`` keeps the same order and the same answers (first full
match wins, else the first partial one answers 405, else the slash redirect, else the default) but
tries only the routes whose literal start (their path up to the first ``{``) agrees with the
request's first two path segments. Which routes those are is worked out once per distinct pair of
segments and kept (a bounded number of them, so a scanner's made-up paths cannot grow it).
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Mount, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

# Distinct first-two-segment prefixes whose candidates are kept: an app's real ones are a few dozen.
_KEPT = 512


def literal_start(route: BaseRoute) -> str:
    """What every path ``route`` matches starts with: its path up to the first parameter ("" when
    the route's kind is not known to match by path prefix, so it is tried for every request)."""
    if isinstance(route, (Route, WebSocketRoute, Mount)):
        return route.path.split("{", 1)[0]
    return ""


def segments_key(path: str) -> str:
    """A path's first two segments (``/api/projects`` of ``/api/projects/7/recover``)."""
    end = path.find("/", 1)
    if end == -1:
        return path
    second = path.find("/", end + 1)
    return path if second == -1 else path[:second]


def may_match(start: str, key: str) -> bool:
    """Whether a route whose paths start with ``start`` can match a path whose first two segments
    are ``key`` (the path is ``key`` itself or ``key`` followed by ``/``)."""
    if len(start) <= len(key):
        return key.startswith(start)
    return start.startswith(key + "/")


def route_path(scope: Scope) -> str:
    """The path routes match: the request's, without the ``root_path`` the server mounts it under (as
    Starlette's routes see it)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root) :] if path[len(root)] == "/" else path


class IndexedRouter(Router):
    """``Router`` trying, for each request, only the routes its path can match (see the module)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._candidates: dict[str, list[BaseRoute]] = {}
        self._indexed: list[BaseRoute] = []

    def candidates(self, path: str) -> Sequence[BaseRoute]:
        """The routes, in order, that may match ``path``."""
        if self._indexed != self.routes:  # routes added after construction (``add_route``, mounts)
            self._indexed = list(self.routes)
            self._candidates.clear()
        key = segments_key(path)
        found = self._candidates.get(key)
        if found is None:
            found = [route for route in self.routes if may_match(literal_start(route), key)]
            if len(self._candidates) < _KEPT:
                self._candidates[key] = found
        return found

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await super().app(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = self
        partial = None
        partial_scope: MutableMapping[str, Any] = {}
        for route in self.candidates(route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial, partial_scope = route, child_scope
        if partial is not None:
            # An endpoint that could answer with another method: its 405.
            scope["route"] = partial
            scope.update(partial_scope)
            await partial.handle(scope, receive, send)
            return
        # Nothing matched: Starlette's own path (the trailing-slash redirect over every route, then
        # the default), which finds no match again on the way.
        await super().app(scope, receive, send)
