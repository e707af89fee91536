"""The whole configuration of an app: the core settings and every capability's part, read once.

``Settings()`` reads the environment and ``.env`` (the command line and ``app_from_env`` do it, and
nothing else); each capability receives its part (``settings.auth``, ``settings.mail`` …) when the
app is built, and never reads the environment itself. Variable names stay flat, as operators know
them (``TENANTRY_SESSION_EXPIRES_IN``, ``STRIPE_SECRET_KEY``): each part reads its own.

Tests and embedding code build the object directly, which reads nothing they do not pass::

    Settings(DATABASE_URL=url, auth=AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False))

A capability outside this list (a project's own) keeps its part in ``parts`` under its name, or
has it read from the environment with its own model when the app is built.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
)

from tenantry.analytics.settings import AnalyticsSettings
from tenantry.auth.plugins.admin.settings import AdminSettings
from tenantry.auth.plugins.api_key.settings import ApiKeySettings
from tenantry.auth.plugins.magic_link.settings import MagicLinkSettings
from tenantry.auth.plugins.passkey.settings import PasskeySettings
from tenantry.auth.settings import AuthSettings
from tenantry.billing.settings import BillingSettings
from tenantry.core.settings import DEV_SECRET, CoreSettings
from tenantry.events import OutboxSettings
from tenantry.health.settings import HealthSettings
from tenantry.logs.settings import LogSettings
from tenantry.mail.settings import MailSettings
from tenantry.metrics.settings import MetricsSettings
from tenantry.realtime.settings import RealtimeSettings
from tenantry.sentry.settings import SentrySettings
from tenantry.tracing.settings import TracingSettings
from tenantry.webhooks.settings import WebhookSettings

__all__ = ["DEV_SECRET", "Settings"]


class Settings(CoreSettings):
    """The core settings (``DATABASE_URL``, ``TENANTRY_ENV`` …) with every capability's part nested."""

    auth: AuthSettings = Field(default_factory=AuthSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    magic_link: MagicLinkSettings = Field(default_factory=MagicLinkSettings)
    passkey: PasskeySettings = Field(default_factory=PasskeySettings)
    api_key: ApiKeySettings = Field(default_factory=ApiKeySettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    logs: LogSettings = Field(default_factory=LogSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    sentry: SentrySettings = Field(default_factory=SentrySettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    # Parts of capabilities this list does not know, by capability name.
    parts: dict[str, BaseModel] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _mail_leaves_in_production(self) -> Settings:
        if self.env == "production" and self.mail.backend == "dev":
            raise ValueError("TENANTRY_MAIL_BACKEND=dev delivers no mail; set smtp, postmark or file in production")
        if self.env == "production" and self.webhooks.allow_private:
            raise ValueError("TENANTRY_WEBHOOKS_ALLOW_PRIVATE is for development and tests; production refuses it")
        return self

    def part(self, name: str, model: type[BaseModel]) -> BaseModel:
        """The part of capability ``name``: a nested field, an entry of ``parts``, or read now with ``model``."""
        value = getattr(self, name, None) if name in type(self).model_fields else self.parts.get(name)
        if isinstance(value, model):
            return value
        return model()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The parts read their own variables (their default factories run when this object is
        # built); the environment must not be searched for variables named after them (``MAIL``
        # is set on many systems, and would be parsed as the whole mail part).
        env = _FlatEnv(settings_cls)
        dotenv = _FlatDotEnv(settings_cls, env_file=cls.model_config.get("env_file"))
        return init_settings, env, dotenv, file_secret_settings


def _is_part(field: FieldInfo) -> bool:
    annotation = field.annotation
    return annotation is not None and (
        (isinstance(annotation, type) and issubclass(annotation, BaseModel)) or annotation == dict[str, BaseModel]
    )


class _FlatEnv(EnvSettingsSource):
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if _is_part(field):
            return None, field_name, False
        return super().get_field_value(field, field_name)


class _FlatDotEnv(DotEnvSettingsSource):
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if _is_part(field):
            return None, field_name, False
        return super().get_field_value(field, field_name)
