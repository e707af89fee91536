"""Driver-neutral database errors, so callers never import asyncpg or sqlite3 exceptions."""

from __future__ import annotations

from typing import Literal

ViolationKind = Literal["unique", "foreign_key", "not_null", "check"]


class DatabaseError(Exception):
    """Base class for errors raised by ``tenantry.db`` executors."""


class IntegrityViolation(DatabaseError):
    """A constraint rejected a write. ``constraint``/``columns`` are filled when the driver says which."""

    def __init__(
        self,
        kind: ViolationKind,
        message: str,
        *,
        constraint: str | None = None,
        table: str | None = None,
        columns: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.constraint = constraint
        self.table = table
        self.columns = columns


class DataRejected(DatabaseError):
    """The database refused a value (out of range, too long, wrong representation)."""


class DatabaseUnavailable(DatabaseError):
    """The database could not be reached or refused the connection."""
