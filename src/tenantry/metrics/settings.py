"""Metrics settings from the environment and ``.env`` (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class MetricsSettings(BaseSettings):
    """Where ``/metrics`` is served and who may read it.

    - ``TENANTRY_METRICS_TOKEN``: scrapers send ``Authorization: Bearer <token>``; others get 401.
    - ``TENANTRY_METRICS_PORT``: serve ``/metrics`` on this port (``TENANTRY_METRICS_HOST``) instead
      of the public one, which then has none. With ``--workers N`` every worker listens on it
      (``SO_REUSEPORT``) and any of them answers for all.
    - Neither, in production: ``/metrics`` is not served at all (404), never open by accident. In
      development it is open on the public port.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    token: SecretStr | None = Field(None, alias="TENANTRY_METRICS_TOKEN")
    port: int | None = Field(None, ge=1, le=65535, alias="TENANTRY_METRICS_PORT")
    # Loopback by default: a scraper on the same host (or a sidecar); 0.0.0.0 in a container.
    host: str = Field("127.0.0.1", alias="TENANTRY_METRICS_HOST")
    # How often each process copies its pool's numbers into the shared metrics.
    sample_interval: float = Field(5.0, gt=0, le=3600, alias="TENANTRY_METRICS_SAMPLE_SECONDS")
    # The outbox backlog is read once per scrape, given at most this long.
    query_timeout: float = Field(2.0, gt=0, le=60, alias="TENANTRY_METRICS_QUERY_TIMEOUT")

    def token_value(self) -> str | None:
        return self.token.get_secret_value() if self.token is not None and self.token.get_secret_value() else None
