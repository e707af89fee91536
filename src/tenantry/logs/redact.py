"""The redaction processor: no password, token, secret, cookie, API key or one-time code leaves in a log line.

Two nets, both cheap: values under a sensitive key are replaced whole (``password=…``,
``{"authorization": …}``), and every string is searched for the shapes secrets take inside text
(``Bearer …``, ``token=…`` in a URL or a cookie header, ``scheme://user:password@host`` in a DSN,
``"secret": "…"`` in JSON). Keys are checked by name, so nothing depends on where a value came from.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, MutableMapping
from typing import Any, Final

REDACTED: Final = "[redacted]"

# Key names (lowercased, with ``-`` and ``_`` removed) that are secret wherever they appear.
_SECRET_PARTS: Final = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "apikey",
    "otp",
    "credential",
    "signature",
    "privatekey",
    "dsn",
    "backupcode",
)
# Whole key names secret on their own, too generic to match inside longer names ("key" vs "ordering_key").
_SECRET_NAMES: Final = frozenset({"code", "key", "session", "auth", "pin", "totp"})

# Keys structlog and the access line use: never secrets, never searched by name. (The access line's
# ``route`` is a route template, never a path: it holds no value a client sent.)
_SAFE_KEYS: Final = frozenset(
    {"event", "level", "logger", "timestamp", "request_id", "user_id", "organization_id", "trace_id"}
)
_PLAIN_KEYS: Final = frozenset({"method", "route", "status", "duration_ms"})
# A line with only these keys has nothing to redact (``TenantryHandler.write_line``'s short way).
SAFE_LINE_KEYS: Final = _SAFE_KEYS | _PLAIN_KEYS

_NAME: Final = (
    r"[\w.\-]*(?:password|passwd|secret|token|api[_\-]?key|otp|credential|signature|session)[\w.\-]*|code|key"
)
_NAME_IN_TEXT: Final = _NAME.removesuffix("|code|key") + "|key"
_PATTERNS: Final = (
    # userinfo of a URL: postgresql://user:pw@host, https://publickey@sentry.example/1
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/@\s'\"]+@"), r"\1" + REDACTED + "@"),
    # Authorization header values
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=\-]{8,}"), r"\1 " + REDACTED),
    # name=value in query strings, cookie headers, form bodies
    (re.compile(rf"(?i)\b({_NAME})=([^&\s;,'\"]+)"), r"\1=" + REDACTED),
    # "name": "value" in JSON text, 'name': 'value' in a Python dict's repr ("code" only when it is
    # a one-time code's digits: error codes such as "INVALID_ORIGIN" say what went wrong)
    (re.compile(rf"(?i)([\"'](?:{_NAME_IN_TEXT})[\"']\s*:\s*)([\"'])[^\"']*[\"']"), r"\1\2" + REDACTED + r"\2"),
    (
        re.compile(r"(?i)([\"'](?:code|otp|pin)[\"']\s*:\s*)([\"']?)[0-9A-Za-z\-]{4,12}\b(?<![A-Z_]{4})\2"),
        r"\1\2" + REDACTED + r"\2",
    ),
)
# What every pattern above needs somewhere in the text: a text without any (most log lines) is
# returned as it is, without running the five substitutions.
_ANY_SHAPE: Final = re.compile(r"(?i)@|=|bearer|basic|token|[\"']\s*:")
_MAX_DEPTH: Final = 6


@functools.lru_cache(maxsize=1024)
def is_secret_key(key: str) -> bool:
    """Whether a value under ``key`` must never be logged."""
    name = key.lower().replace("-", "").replace("_", "")
    return name in _SECRET_NAMES or any(part in name for part in _SECRET_PARTS)


def redact_text(text: str) -> str:
    """``text`` with secrets in the shapes of ``_PATTERNS`` replaced."""
    if _ANY_SHAPE.search(text) is None:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and is_secret_key(k) else _redact(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v, depth + 1) for v in value]
    return value


def redact_secrets(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: replaces secret values in ``event_dict`` (the last step before rendering)."""
    for key, value in event_dict.items():
        if key in _SAFE_KEYS:
            if key == "event" and isinstance(value, str):
                event_dict[key] = redact_text(value)
            continue
        if key in _PLAIN_KEYS:
            continue
        if is_secret_key(key):
            event_dict[key] = REDACTED
        elif isinstance(value, str | Mapping | list | tuple):
            event_dict[key] = _redact(value, 0)
    return event_dict
