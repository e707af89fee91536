"""The api-key plugin's options, named after Better Auth's ``apiKey({...})`` options."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiKeySettings(BaseSettings):
    """Better Auth's ``rateLimit``, ``defaultPrefix``, ``enableMetadata`` and ``keyExpiration``, from
    the environment.

    The per-key rate limit defaults differ from Better Auth's (10 requests a day, meant for an
    occasional ``verifyApiKey``): here a key authenticates every request of an API client.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    rate_limit_enabled: bool = Field(
        True,
        alias="TENANTRY_API_KEY_RATE_LIMIT",
        description="Count each key's requests and refuse those over its limit (429 RATE_LIMITED).",
    )
    rate_limit_window: int = Field(
        60,
        ge=1,
        le=60 * 60 * 24 * 30,
        alias="TENANTRY_API_KEY_RATE_LIMIT_WINDOW",
        description="Seconds of a new key's rate-limit window (stored on the key in milliseconds).",
    )
    rate_limit_max: int = Field(
        600,
        ge=1,
        alias="TENANTRY_API_KEY_RATE_LIMIT_MAX",
        description="Requests a new key may make in one window.",
    )
    default_prefix: str | None = Field(
        None,
        alias="TENANTRY_API_KEY_PREFIX",
        pattern=r"^[a-zA-Z0-9_-]{1,32}$",
        description="Prefix of keys created without one (Better Auth's defaultPrefix).",
    )
    enable_metadata: bool = Field(
        False,
        alias="TENANTRY_API_KEY_METADATA",
        description="Accept a metadata object on create and update (Better Auth's enableMetadata).",
    )
    min_expires_in_days: float = Field(1, ge=0, alias="TENANTRY_API_KEY_MIN_EXPIRES_IN_DAYS")
    max_expires_in_days: float = Field(365, ge=0, alias="TENANTRY_API_KEY_MAX_EXPIRES_IN_DAYS")
    audit_use: bool = Field(
        True,
        alias="TENANTRY_API_KEY_AUDIT_USE",
        description="Write an audit row for every request made with a key (who, which key, method, path).",
    )
