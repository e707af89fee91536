"""A key's scopes: Better Auth's ``permissions`` shape, ``{"projects": ["read", "create"]}``.

Resources are the schema's entities, actions the CRUD ones (read, create, update, delete). Given
scopes deny everything they do not name (``{}`` allows nothing); a key without scopes has all the
rights its user's role gives. Scopes only ever narrow the role: a viewer's key scoped to
``create`` still cannot create.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from tenantry.auth.errors import AuthError
from tenantry.schema import Action

ACTIONS: tuple[str, ...] = tuple(a.value for a in Action)
Scopes = dict[str, list[str]]


def invalid(message: str) -> AuthError:
    return AuthError(400, "INVALID_PERMISSIONS", message)


def check_scopes(value: Any, entities: Iterable[str]) -> Scopes:
    """``value`` as scopes (entity -> actions in CRUD order), or 400 INVALID_PERMISSIONS."""
    if not isinstance(value, dict):
        raise invalid("permissions must be an object of entity names to lists of actions")
    known = set(entities)
    scopes: Scopes = {}
    for entity, actions in value.items():
        if entity not in known:
            raise invalid(f"permissions: unknown entity '{entity}'")
        if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            raise invalid(f"permissions.{entity} must be a list of actions")
        unknown = [a for a in actions if a not in ACTIONS]
        if unknown:
            raise invalid(f"permissions.{entity}: unknown action(s) {', '.join(unknown)}; use {', '.join(ACTIONS)}")
        scopes[entity] = [a for a in ACTIONS if a in actions]
    return scopes


def dump_scopes(scopes: Scopes | None) -> str | None:
    """The column text of ``scopes`` (Better Auth stores the JSON string)."""
    return None if scopes is None else orjson.dumps(scopes).decode()


def load_scopes(text: str | None) -> Scopes | None:
    """Scopes from the column (unreadable text counts as no rights at all, never as all rights)."""
    if text is None:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): [str(a) for a in v] for k, v in value.items() if isinstance(v, list)}


def principal_scopes(scopes: Scopes | None) -> Mapping[str, frozenset[str]] | None:
    """The scopes as a principal carries them."""
    return None if scopes is None else {entity: frozenset(actions) for entity, actions in scopes.items()}
