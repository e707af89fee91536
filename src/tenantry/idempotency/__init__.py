"""Idempotent writes: ``Idempotency-Key`` on the CRUD API's creates, updates and deletes, and on
billing's checkout (see ``tenantry.idempotency.keys`` for the rules).

Public face:
- ``Idempotency``: the capability: the ``idempotency_keys`` table (row-level security on
  PostgreSQL: a request reaches only its own user's keys), the hourly sweep of keys past 24 hours,
  and ``keys``, the service the CRUD API and billing run keyed writes through;
- ``IdempotencyKeys``/``Claim``: that service, and a key held by one request (``Claim.seal`` stores
  the answer inside the write's transaction);
- ``IDEMPOTENCY_HEADER``, ``REPLAYED_HEADER``, ``idempotency_parameter`` (the OpenAPI header).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tenantry.core import App, Capabilities, Capability, Worker
from tenantry.db.tables import TableSet
from tenantry.idempotency.keys import (
    IDEMPOTENCY_HEADER,
    KEY_TTL,
    LEASE_SECONDS,
    REPLAYED_HEADER,
    Claim,
    IdempotencyKeys,
    check_key,
)
from tenantry.idempotency.store import KeyStore
from tenantry.idempotency.sweeper import KeySweeper
from tenantry.idempotency.tables import KEYS_TABLE, MAX_KEY_LENGTH, idempotency_tables
from tenantry.schema import Schema

__all__ = [
    "IDEMPOTENCY_HEADER",
    "KEYS_TABLE",
    "KEY_TTL",
    "LEASE_SECONDS",
    "REPLAYED_HEADER",
    "Claim",
    "Idempotency",
    "IdempotencyKeys",
    "KeySweeper",
    "check_key",
    "idempotency_parameter",
]


class Idempotency(Capability):
    """``Idempotency-Key`` for the writes of the API. Before the API and billing, which run keyed
    writes through ``keys`` (looked up when they install and build their routes)."""

    name = "idempotency"
    before = ("api", "billing")

    def contribute(self, ts: TableSet, schema: Schema, capabilities: Capabilities) -> None:
        idempotency_tables(ts, schema)

    def install(self, app: App) -> None:
        store = KeyStore(app.db, app.tables.extensions["idempotency"], app.pipeline.sql)
        self.keys = IdempotencyKeys(app.db, store, app.clock)
        self.sweeper = KeySweeper(app.db, self.keys)

    def workers(self) -> Sequence[Worker]:
        return [self.sweeper]


def idempotency_parameter() -> dict[str, Any]:
    """The ``Idempotency-Key`` header as an OpenAPI parameter of a write operation."""
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
        "description": (
            "A key of the client's choosing (a UUID) that makes a retry safe: the same key with the same "
            "request within 24 hours replays the first answer (header `Idempotent-Replayed: true`) without "
            "writing again; with another request it is a 422 `IDEMPOTENCY_KEY_REUSED`; while the first is "
            "still running, a 409 `IDEMPOTENCY_KEY_IN_USE`. Only answers of writes that happened are kept: "
            "after an error answer the key may be used again."
        ),
    }
