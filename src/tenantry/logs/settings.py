"""Logging settings from the environment and ``.env`` (pydantic-settings)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["json", "console"]


class LogSettings(BaseSettings):
    """How the process logs: its level, JSON lines or a readable console, and the access line."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    level: LogLevel = Field("INFO", alias="TENANTRY_LOG_LEVEL")
    # None: JSON lines in production (TENANTRY_ENV=production), the readable console otherwise.
    format: LogFormat | None = Field(None, alias="TENANTRY_LOG_FORMAT")
    # One line per HTTP request once it is answered (method, route template, status, duration, ids).
    access_log: bool = Field(True, alias="TENANTRY_ACCESS_LOG")
    # Seconds an access line may wait in memory to be written with others (one write for many):
    # None means 0.2 in production and 0 (each line at once) elsewhere. Warnings and errors never wait.
    flush_interval: float | None = Field(None, ge=0, le=10, alias="TENANTRY_LOG_FLUSH_INTERVAL")

    @field_validator("level", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        # ``info`` is as clear as ``INFO`` (uvicorn's --log-level takes it lower-cased).
        return value.upper() if isinstance(value, str) else value
