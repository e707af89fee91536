"""Product analytics: the app's product events sent to PostHog, and PostHog's browser snippet in pages.

With ``POSTHOG_API_KEY`` set, the ``analytics.posthog`` subscriber of the outbox turns domain events
(a user signed up, an organization created, a member invited or joined, a subscription started,
changed or canceled, a plan limit reached) into PostHog captures (``captures``) and uploads them
with the official SDK in sync mode (``sink``): a request never waits for PostHog, an event is
never lost across a restart, and a failed upload is retried with the outbox's backoff. Pages load
the vendored posthog-js (``static/``) and the content security policy allows the host.

In development ``/dev/analytics`` lists the product events kept in the outbox as PostHog receives
them (``dev``); without a key nothing leaves the machine.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import orjson
from starlette.routing import BaseRoute

from tenantry.analytics.captures import PLAN_LIMIT_TOPIC, Capture, Topics, Translator
from tenantry.analytics.dev import LocalEvents, dev_routes
from tenantry.analytics.settings import AnalyticsSettings
from tenantry.analytics.sink import PostHogSink
from tenantry.core import App, Capability
from tenantry.events import DomainEvent, RetryPolicy, Subscriber
from tenantry.schema import Schema
from tenantry.web import PageProvider, Web

__all__ = ["PLAN_LIMIT_TOPIC", "SUBSCRIBER", "Analytics", "AnalyticsSettings", "Capture", "Translator"]

# The subscriber's name keys its deliveries in the outbox: keep it stable.
SUBSCRIBER = "analytics.posthog"
STATIC = Path(__file__).parent / "static"


def topics_of(schema: Schema) -> Topics:
    """The topics of ``schema``'s users and organizations (named by the schema)."""
    users = schema.system_entity("users")
    organizations = schema.system_entity("organizations")
    return Topics(
        users=users.name if users is not None else "users",
        organizations=organizations.name if organizations is not None else "organizations",
    )


class Analytics(Capability, PageProvider):
    """PostHog product analytics (server-side events through the outbox, and the browser snippet)."""

    name = "analytics"
    settings_model = AnalyticsSettings
    static = STATIC

    translator: Translator

    def __init__(self, settings: AnalyticsSettings) -> None:
        self.settings = settings
        self.sink: PostHogSink | None = None
        self._routes: list[BaseRoute] = []

    def install(self, app: App) -> None:
        topics = topics_of(app.schema)
        self.translator = Translator(topics, personal_data=self.settings.send_personal_data)
        if self.settings.enabled:
            self.sink = PostHogSink(self.settings)
        if app.settings.is_development:
            local = LocalEvents(app.db, app.tables, topics.patterns, SUBSCRIBER)
            self._routes = dev_routes(local, self.translator, self.settings.host if self.sink else None)

    def routes(self) -> Sequence[BaseRoute]:
        return self._routes

    def subscribers(self) -> Sequence[Subscriber]:
        """``analytics.posthog``, only with a key: without one no delivery is written at all."""
        if self.sink is None:
            return []
        return [
            Subscriber(
                name=SUBSCRIBER,
                patterns=self.translator.topics.patterns,
                handler=self.deliver,
                # PostHog orders by timestamp and deduplicates by uuid: no ordering needed.
                ordering="none",
                concurrency=4,
                retry=RetryPolicy(max_attempts=12),
                handler_timeout=max(30.0, self.settings.timeout * 2),
                lease=max(120.0, self.settings.timeout * 8),
                close=self.sink.close,
            )
        ]

    async def deliver(self, event: DomainEvent) -> str | None:
        """Upload ``event``'s captures; returns when PostHog accepted them (raises to be retried)."""
        assert self.sink is not None
        captures = self.translator.captures(event)
        await self.sink.send(captures)
        return ", ".join(c.event for c in captures) or None

    def pages(self, web: Web) -> Sequence[BaseRoute]:
        """With a key (and ``TENANTRY_ANALYTICS_BROWSER``): posthog-js in every page, its host allowed."""
        if self.settings.api_key is not None and self.settings.browser:
            config = orjson.dumps({"key": self.settings.api_key, "host": self.settings.host}).decode()
            web.add_head(
                f'<meta name="tenantry-posthog" content="{html.escape(config)}">\n'
                '<script src="/static/analytics/vendor/posthog.js" defer></script>\n'
                '<script src="/static/analytics/init.js" defer></script>'
            )
            web.allow("connect-src", self.settings.host)
        return ()
