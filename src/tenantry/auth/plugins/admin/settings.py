"""The admin plugin's settings, named after Better Auth's ``admin({...})`` options."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Better Auth's impersonationSessionDuration: one hour.
DEFAULT_IMPERSONATION_DURATION = 60 * 60


class AdminSettings(BaseSettings):
    """The admin plugin's settings, from the environment."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    impersonation_duration: int = Field(
        DEFAULT_IMPERSONATION_DURATION, ge=60, le=60 * 60 * 24, alias="TENANTRY_IMPERSONATION_DURATION"
    )
