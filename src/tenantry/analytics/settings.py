"""Product analytics settings from the environment and ``.env`` (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOST = "https://us.i.posthog.com"


class AnalyticsSettings(BaseSettings):
    """PostHog: the project key turns server-side events (and, optionally, the browser snippet) on."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    api_key: str | None = Field(
        None,
        alias="POSTHOG_API_KEY",
        description="The project API key (phc_…): public by design, it only writes events.",
    )
    host: str = Field(
        DEFAULT_HOST,
        alias="POSTHOG_HOST",
        description="PostHog's ingestion host: https://eu.i.posthog.com, or a self-hosted instance.",
    )
    browser: bool = Field(
        True,
        alias="TENANTRY_ANALYTICS_BROWSER",
        description="With a key, pages load the vendored posthog-js and send page views.",
    )
    send_personal_data: bool = Field(
        False,
        alias="TENANTRY_ANALYTICS_PERSONAL_DATA",
        description="Send the user's e-mail and name as person properties on sign-up (off: ids only).",
    )
    timeout: float = Field(
        10.0, gt=0, le=60, alias="TENANTRY_ANALYTICS_TIMEOUT", description="Seconds one upload to PostHog may take."
    )

    @field_validator("api_key")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        host = value.strip().rstrip("/")
        if not host.startswith(("https://", "http://")):
            raise ValueError("POSTHOG_HOST must be an http(s) URL, such as https://eu.i.posthog.com")
        return host

    @property
    def enabled(self) -> bool:
        """Whether events are sent to PostHog."""
        return self.api_key is not None
