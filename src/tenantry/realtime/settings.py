"""Realtime settings from the environment and ``.env`` (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RealtimeSettings(BaseSettings):
    """How the Socket.IO server runs. ``REDIS_URL`` (the app's setting) chooses multi-node fan-out."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # How often each node checks the sessions of its sockets: revoked or expired ones are
    # disconnected, and a changed active organization or role moves the socket's rooms.
    recheck_interval: float = Field(10.0, gt=0, le=3600, alias="TENANTRY_REALTIME_RECHECK_SECONDS")
    # The Redis pub/sub channel the nodes of one app share (several apps may share a Redis).
    channel: str = Field("tenantry-socketio", min_length=1, alias="TENANTRY_REALTIME_CHANNEL")
    # At most this many missed notifications are replayed to a reconnecting socket (the rest: GET the API).
    replay_limit: int = Field(500, ge=1, le=10_000, alias="TENANTRY_REALTIME_REPLAY_LIMIT")
