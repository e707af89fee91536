"""Keep secrets out of the audit log: fields named like passwords, tokens, keys or secrets are dropped.

The authentication tables (password hashes, session and OAuth tokens) never pass through the CRUD
pipeline, so their columns never reach the log; this guards everything else: a schema's own
``api_key`` or ``webhook_secret`` column, and the same names nested in JSON values. A name is
split into words (snake_case and camelCase alike) and dropped when a word, or a pair of words, is
a secret's name. Dropping one harmless field (``token_count``) costs an audit log little; keeping
one secret would leak it to every admin who reads or exports the log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from itertools import pairwise
from typing import Any

from tenantry.schema.naming import snake_case

_SECRET_WORDS = frozenset(
    {
        "password",
        "passwords",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "secrets",
        "token",
        "tokens",
        "jwt",
        "salt",
        "otp",
        "totp",
        "hotp",
        "apikey",
        "apikeys",
        "privatekey",
        "credential",
        "credentials",
        "cvv",
        "cvc",
    }
)
_SECRET_PAIRS = frozenset(
    {
        ("api", "key"),
        ("api", "keys"),
        ("private", "key"),
        ("secret", "key"),
        ("access", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("backup", "code"),
        ("backup", "codes"),
        ("recovery", "code"),
        ("recovery", "codes"),
        ("password", "hash"),
        ("card", "number"),
    }
)
_SPLIT = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=4096)
def is_secret(name: str) -> bool:
    """Whether a field called ``name`` may hold a secret (``password_hash``, ``apiKey``, ``x-api-token`` …)."""
    words = [w for w in _SPLIT.split(snake_case(name)) if w]
    if any(w in _SECRET_WORDS for w in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in pairwise(words))


def redact(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``values`` without secret-named fields, at any depth (nested objects and lists of them)."""
    if values is None:
        return None
    return {k: _clean(v) for k, v in values.items() if not is_secret(str(k))}


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items() if not is_secret(str(k))}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
