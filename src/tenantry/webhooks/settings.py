"""Outbound webhook settings from the environment and ``.env`` (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebhookSettings(BaseSettings):
    """How endpoints are called. The defaults are Standard Webhooks' (and Svix's) conventions."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # Development and tests only (production refuses it): endpoints on loopback, private and
    # link-local addresses, such as a receiver on the developer's own machine.
    allow_private: bool = Field(False, alias="TENANTRY_WEBHOOKS_ALLOW_PRIVATE")
    # A delivery succeeds when the endpoint answers 2xx within this many seconds.
    timeout: float = Field(15.0, gt=0, le=60, alias="TENANTRY_WEBHOOKS_TIMEOUT")
    # After a secret is rotated, the old one keeps signing beside the new one this long.
    rotation_grace_hours: float = Field(24.0, ge=0, le=24 * 30, alias="TENANTRY_WEBHOOKS_ROTATION_GRACE_HOURS")
    # An endpoint whose deliveries all failed for this many days in a row is disabled.
    disable_after_days: float = Field(5.0, gt=0, le=365, alias="TENANTRY_WEBHOOKS_DISABLE_AFTER_DAYS")
    # Messages and their attempts are kept this long.
    retention_days: float = Field(30.0, gt=0, le=3650, alias="TENANTRY_WEBHOOKS_RETENTION_DAYS")
    # Endpoints called at once by one process (one at a time per endpoint, in event order).
    concurrency: int = Field(16, ge=1, le=256, alias="TENANTRY_WEBHOOKS_CONCURRENCY")
