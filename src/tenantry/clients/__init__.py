"""Typed clients generated from the schema: ``tenantry client typescript|python -o DIR``.

Each language's generator turns the schema model into the files of a package (``render``); this
module writes them, leaving files whose content is already right untouched, so that regenerating
on every reload of ``tenantry dev`` does not wake the file watcher again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from tenantry.schema import Schema

log = logging.getLogger("tenantry.clients")

Language = Literal["typescript", "python"]
LANGUAGES: tuple[Language, ...] = ("typescript", "python")


def render(schema: Schema, language: Language) -> dict[str, str]:
    """The files of ``language``'s client for ``schema``, by path relative to the package directory."""
    from tenantry.clients import python, typescript

    renderers: dict[str, Callable[[Schema], dict[str, str]]] = {
        "typescript": typescript.render,
        "python": python.render,
    }
    if language not in renderers:
        raise ValueError(f"unknown client language {language!r}; expected one of: {', '.join(LANGUAGES)}")
    return renderers[language](schema)


def typescript_module(schema: Schema) -> str:
    """The TypeScript client as one module (what ``/api/client.ts`` serves in development)."""
    from tenantry.clients.typescript import render_module

    return render_module(schema)


def write_client(schema: Schema, language: Language, directory: Path) -> list[Path]:
    """Write ``language``'s client for ``schema`` into ``directory``; the files that changed."""
    changed: list[Path] = []
    for relative, content in render(schema, language).items():
        target = directory / relative
        try:
            if target.read_text(encoding="utf-8") == content:
                continue
        except (FileNotFoundError, UnicodeDecodeError):
            pass
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        changed.append(target)
    return changed


def parse_client_specs(specs: str) -> list[tuple[Language, Path]]:
    """``typescript:DIR;python:DIR`` (what ``tenantry dev --client`` hands its workers) as pairs.

    Raises ``ValueError`` naming the spec that is not ``LANGUAGE:DIR`` with a known language.
    """
    pairs: list[tuple[Language, Path]] = []
    for spec in filter(None, (s.strip() for s in specs.split(";"))):
        language, sep, directory = spec.partition(":")
        if not sep or not directory or language not in LANGUAGES:
            raise ValueError(f"{spec!r} is not LANGUAGE:DIR with LANGUAGE one of {', '.join(LANGUAGES)}")
        pairs.append((language, Path(directory)))
    return pairs


def write_dev_clients(schema: Schema, specs: str) -> None:
    """Write every client ``specs`` names; a problem is logged, never stops the server."""
    try:
        for language, directory in parse_client_specs(specs):
            for path in write_client(schema, language, directory):
                log.warning("typed client updated: %s", path)
    except (OSError, ValueError) as exc:
        log.error("could not write the typed clients: %s", exc)


__all__ = [
    "LANGUAGES",
    "Language",
    "parse_client_specs",
    "render",
    "typescript_module",
    "write_client",
    "write_dev_clients",
]
