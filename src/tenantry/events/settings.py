"""Outbox settings from the environment and ``.env`` (pydantic-settings): how long finished work is kept."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OutboxSettings(BaseSettings):
    """The prune policy of the outbox. Names are the environment variables.

    A delivered (``done``) delivery is kept ``TENANTRY_OUTBOX_RETENTION_DAYS`` after it was made,
    a dead (``failed``) one ``TENANTRY_OUTBOX_FAILED_RETENTION_DAYS`` after it was given up (long
    enough to notice and replay it); an event goes with its last delivery (an event nobody
    subscribed to: the done retention after it was written). Pending deliveries are never pruned.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    retention_days: float = Field(7.0, gt=0, le=3650, alias="TENANTRY_OUTBOX_RETENTION_DAYS")
    failed_retention_days: float = Field(30.0, gt=0, le=3650, alias="TENANTRY_OUTBOX_FAILED_RETENTION_DAYS")
    # Overrides every subscriber's lease: how long a process that died mid-delivery holds its claims
    # before another process takes them over (each handler is then bounded by half of it).
    lease_seconds: float | None = Field(None, ge=1, le=86400, alias="TENANTRY_OUTBOX_LEASE_SECONDS")
    # How often each process prunes; the first pass comes one interval after start-up.
    prune_interval: float = Field(3600.0, gt=0, le=7 * 86400, alias="TENANTRY_OUTBOX_PRUNE_SECONDS")
