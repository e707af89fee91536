"""Error tracking settings (``SENTRY_*``), read with the rest of the configuration."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SentrySettings(BaseSettings):
    """Where errors are reported, and what each report is labelled with.

    Names are the environment variables; ``.env`` in the working directory is read too.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    dsn: str | None = Field(
        None,
        alias="SENTRY_DSN",
        description="The project's DSN (https://KEY@o1.ingest.sentry.io/PROJECT); unset: nothing is sent.",
    )
    environment: str | None = Field(
        None, alias="SENTRY_ENVIRONMENT", description="The environment of each report; default TENANTRY_ENV."
    )
    release: str | None = Field(
        None, alias="SENTRY_RELEASE", description="The release of each report; default tenantry@<installed version>."
    )
    sample_rate: float = Field(
        1.0, ge=0.0, le=1.0, alias="SENTRY_SAMPLE_RATE", description="The share of errors reported (1.0: all)."
    )
    dev_errors: bool = Field(
        True,
        alias="TENANTRY_DEV_ERRORS",
        description="In development without SENTRY_DSN, keep errors in memory and list them at /dev/errors.",
    )

    @field_validator("dsn")
    @classmethod
    def _valid_dsn(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        value = value.strip()
        # The SDK's own rules (sentry_sdk.utils.Dsn), checked without importing the SDK: the command
        # line reads these settings on every call, and most processes have no DSN.
        parts = urlsplit(value)
        project = parts.path.rstrip("/").rpartition("/")[2]
        problem = (
            "its scheme must be http or https"
            if parts.scheme not in ("http", "https")
            else "it has no public key (KEY@)"
            if not parts.username
            else "it has no host"
            if not parts.hostname
            else "it does not end with a numeric project id"
            if not project.isdigit()
            else None
        )
        if problem:
            raise ValueError(f"SENTRY_DSN is not a Sentry DSN (https://KEY@HOST/PROJECT_ID): {problem}")
        return value

    @field_validator("environment", "release")
    @classmethod
    def _blank_is_default(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None
