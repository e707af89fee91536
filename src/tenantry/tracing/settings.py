"""Tracing settings: OpenTelemetry's own variable names where it has them, Tenantry's for the rest."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class TracingSettings(BaseSettings):
    """Where traces go and how many are kept. Without an endpoint tracing is off: nothing is loaded."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # The collector's base URL; traces are sent to <endpoint>/v1/traces (OTLP over HTTP).
    endpoint: str | None = Field(
        None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", "TENANTRY_OTLP_ENDPOINT", "endpoint")
    )
    # The full URL for traces alone, as OpenTelemetry names it (wins over ``endpoint``).
    traces_endpoint: str | None = Field(
        None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "traces_endpoint")
    )
    # "key=value,key2=value2" sent with every export (a vendor's API key: Honeycomb's x-honeycomb-team).
    headers: SecretStr | None = Field(None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_HEADERS", "headers"))
    # None by default, as OpenTelemetry's own default: the exporter's gzip runs at level 9 on the
    # process's cores; worth it only when the collector is far (a vendor's endpoint, not a sidecar).
    compression: Literal["gzip", "none"] = Field(
        "none", validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_COMPRESSION", "compression")
    )
    service_name: str = Field(
        "tenantry", min_length=1, validation_alias=AliasChoices("OTEL_SERVICE_NAME", "service_name")
    )
    # Share of new traces kept (a request's; a delivery follows its request's choice). None: 0.1 in
    # production, every trace in development.
    sample_rate: float | None = Field(
        None, ge=0.0, le=1.0, validation_alias=AliasChoices("TENANTRY_TRACES_SAMPLE_RATE", "sample_rate")
    )

    @property
    def enabled(self) -> bool:
        """Whether an endpoint is configured."""
        return bool(self.traces_endpoint or self.endpoint)

    @property
    def url(self) -> str:
        """Where the exporter posts spans."""
        if self.traces_endpoint:
            return self.traces_endpoint
        return f"{(self.endpoint or '').rstrip('/')}/v1/traces"

    def header_map(self) -> dict[str, str]:
        """``headers`` as a mapping (values URL-decoded, as OpenTelemetry's own parser does)."""
        from urllib.parse import unquote

        found: dict[str, str] = {}
        raw = self.headers.get_secret_value() if self.headers is not None else ""
        for pair in raw.split(","):
            name, sep, value = pair.partition("=")
            if sep and name.strip():
                found[unquote(name.strip()).lower()] = unquote(value.strip())
        return found
