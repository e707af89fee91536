"""Schema mistakes, reported all at once as ``FILE:LINE: message``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

from tenantry.schema.model import Location


@dataclass(frozen=True)
class Problem:
    """One mistake in a schema file."""

    message: str
    location: Location | None = None

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class SchemaError(Exception):
    """Raised when a schema file has one or more mistakes; ``problems`` lists all of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: p.location.line if p.location else 0)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class ProblemList:
    """Collects problems while a loader keeps going, so the user sees every mistake in one run."""

    file: str
    problems: list[Problem] = field(default_factory=list)

    def add(self, message: str, line: int | None = None) -> None:
        loc = Location(self.file, line) if line is not None else None
        self.problems.append(Problem(message, loc))

    def at(self, message: str, location: Location | None) -> None:
        self.problems.append(Problem(message, location))

    def raise_if_any(self) -> None:
        if self.problems:
            raise SchemaError(self.problems)

    def fail(self, message: str, line: int | None = None) -> NoReturn:
        """Add a problem that makes going on pointless, and raise with everything collected."""
        self.add(message, line)
        raise SchemaError(self.problems)
