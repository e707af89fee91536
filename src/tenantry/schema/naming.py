"""Name conversions shared by the schema loaders (plural/singular, snake/camel/Pascal case)."""

from __future__ import annotations

import re
from functools import lru_cache

import inflection

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_identifier(name: str) -> bool:
    """Whether ``name`` is safe as a table, column and URL segment."""
    return bool(_IDENT.match(name)) and len(name) <= 63


@lru_cache(maxsize=1024)
def pluralize(word: str) -> str:
    """English plural, Rails/npm-``pluralize`` style as Apso uses (``WorkspaceUser`` -> ``WorkspaceUsers``).

    Words that are already plural stay as they are (``members``, ``Settings``).
    """
    return str(inflection.pluralize(word))


@lru_cache(maxsize=1024)
def singularize(word: str) -> str:
    """English singular (``audit_logs`` -> ``audit_log``, ``people`` -> ``person``)."""
    return str(inflection.singularize(word))


def snake_case(name: str) -> str:
    """``WorkspaceUser`` -> ``workspace_user``; already-snake names pass through."""
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    s = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", s)
    return s.replace("-", "_").lower()


def camel_case(name: str) -> str:
    """``workspace_user`` or ``WorkspaceUser`` -> ``workspaceUser``."""
    pascal = pascal_case(name)
    return pascal[:1].lower() + pascal[1:]


def pascal_case(name: str) -> str:
    """``audit_logs`` -> ``AuditLogs``; ``WorkspaceUser`` stays."""
    if "_" not in name and "-" not in name:
        return name[:1].upper() + name[1:]
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_\-]+", name) if part)


def humanize(name: str) -> str:
    """``billing_email`` -> ``Billing email``; ``createdAt`` -> ``Created at``."""
    words = snake_case(name).replace("_", " ").strip()
    return words[:1].upper() + words[1:]


# Words a slug spells in lower case that people write otherwise.
_WORDS = {"api": "API", "saas": "SaaS", "crm": "CRM", "erp": "ERP", "hr": "HR", "ai": "AI", "io": "IO", "ui": "UI"}


def readable_title(title: str) -> str:
    """A slug as people would write it (``my-saas-api`` -> ``My SaaS API``); a title already
    written with spaces or capitals is kept as it is."""
    if " " in title or title != title.lower():
        return title
    words = [w for w in re.split(r"[-_.]+", title) if w]
    return " ".join(_WORDS.get(w, w[:1].upper() + w[1:]) for w in words) or title
