"""Typed clients generated from the schema: ``tenantry client typescript|python -o DIR``.

Each language's generator turns the schema model into the files of a package (``render``); this
module writes them, leaving files whose content is already right untouched, so that regenerating
on every reload of ``tenantry dev`` does not wake the file watcher again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from tenantry.schema import Schema

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


__all__ = ["LANGUAGES", "Language", "render", "typescript_module", "write_client"]
