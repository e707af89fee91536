"""Health settings from the environment and ``.env`` (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HealthSettings(BaseSettings):
    """How ``/readyz`` checks the app's dependencies."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # Each check (database, migrations, Redis) gives up after this long and reports ``timeout``: a
    # hanging dependency makes the probe answer 503 in time, never hang. Below the probe's own
    # timeout (Kubernetes: 1 s by default).
    timeout: float = Field(0.5, gt=0, le=30, alias="TENANTRY_HEALTH_TIMEOUT")
