"""Billing's service functions: entitlements, plan limits, Checkout, the portal, seat sync.

Routes (``routes.py``), the web UI and internal callers use these; none of them talks to Stripe or
the database on its own. Stripe is reached through the official SDK (``stripe.StripeClient``),
pointed at the local emulator in development and tests and at Stripe in production.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute

from tenantry.audit import Audit
from tenantry.billing.errors import (
    billing_unavailable,
    feature_not_available,
    plan_limit_reached,
    plan_read_only,
    stripe_failed,
)
from tenantry.billing.limit_events import LimitEvents
from tenantry.billing.openapi import billing_openapi
from tenantry.billing.plans import LIVE_STATUSES, BillingConfig, Plan, billing_config
from tenantry.billing.routes import billing_routes
from tenantry.billing.sdk import stripe_sdk
from tenantry.billing.settings import BillingSettings
from tenantry.billing.store import BillingStore
from tenantry.billing.tables import SUBSCRIPTIONS, BillingTables, billing_tables
from tenantry.billing.webhooks import WebhookProcessor
from tenantry.context import RequestContext
from tenantry.core import App, Capabilities, Capability, OpenApiPart
from tenantry.db import Connection
from tenantry.db.actor import SYSTEM, acting_as
from tenantry.db.query import Node
from tenantry.errors import ApiError, FieldError, bad_request, conflict, forbidden, unauthorized, validation_failed
from tenantry.events import DomainEvent, Events, Subscriber
from tenantry.pipeline import Grant, Policy, Scope, WriteEvent
from tenantry.schema import Action, Entity
from tenantry.tenancy import Tenancy

if TYPE_CHECKING:
    import stripe

    from tenantry.db.tables import TableSet
    from tenantry.schema import Schema

log = logging.getLogger("tenantry.billing")


@dataclass(frozen=True)
class Entitlements:
    """What an organization may do now: its effective plan, and whether it is read-only."""

    plan: Plan
    subscribed_plan: Plan | None
    status: str | None
    read_only: bool
    subscription: dict[str, Any] | None
    extras: dict[str, Any]

    def has(self, feature: str) -> bool:
        return feature in self.plan.features

    def limit(self, entity: str) -> int | None:
        return self.plan.limits.get(entity)


class Billing(Capability):
    """Stripe billing of an app whose schema has organizations with subscriptions.

    Plan limits and the server-only customer id in the pipeline, the webhook processor, seat sync
    (a subscriber of membership events), ``/api/billing``. Installed after tenancy (seats) and the
    audit log (billing's own changes are audited in their transaction).
    """

    name = "billing"
    after = ("tenancy", "audit")
    requires = ("tenancy", "audit")
    settings_model = BillingSettings

    app: App
    audit: Audit
    events: Events
    tenancy: Tenancy
    config: BillingConfig
    tables: BillingTables

    def __init__(self, settings: BillingSettings) -> None:
        self.settings = settings

    def enabled(self, schema: Schema) -> bool:
        """Only a subscriptions entity that belongs to organizations is billed."""
        entity = schema.entities.get(SUBSCRIPTIONS)
        return (
            entity is not None
            and schema.system_entity("organizations") is not None
            and entity.field("org_id") is not None
        )

    def contribute(self, ts: TableSet, schema: Schema, capabilities: Capabilities) -> None:
        billing_tables(ts, schema)

    def routes(self) -> Sequence[BaseRoute]:
        return billing_routes(self)

    def openapi(self, schema: Schema, tables: TableSet) -> OpenApiPart:
        return billing_openapi()

    def subscribers(self) -> Sequence[Subscriber]:
        """Membership changes resize per-seat subscriptions (``billing.seats``): retried with backoff
        while Stripe fails, one organization's changes in order."""
        if not self.config.per_seat:
            return []
        return [Subscriber(name="billing.seats", patterns=("members.*",), handler=self.sync_seats, key=_organization)]

    async def startup(self) -> None:
        # Stripe events stored but not applied when the last process stopped.
        await self.webhooks.apply_pending()
        if self.settings.dev_emulator and self.settings.api_base and self.app.settings.is_development:
            # `tenantry dev`: a plan added to the schema since the emulator started gets its prices now.
            from tenantry.billing.dev_prices import create_emulator_prices

            await create_emulator_prices(self.settings.api_base, self.config)

    async def shutdown(self) -> None:
        # Limit events still being written when the server stops.
        await self.limit_events.drain()

    def install(self, app: App) -> None:
        self.app = app
        self.audit = app.get(Audit)
        self.events = app.events
        self.tenancy = app.get(Tenancy)
        self.config = billing_config(app.schema)
        tables: BillingTables = app.tables.extensions["billing"]
        self.tables = tables
        self.store = BillingStore(app.db, tables, app.pipeline)
        self.limit_events = LimitEvents(app)
        self.webhooks = WebhookProcessor(self, self.store, self.config)
        self.top_role = app.schema.roles[0]
        self._client: stripe.StripeClient | None = None
        self._price_labels: dict[str, str] = {}
        self.limited = frozenset(name for plan in self.config.plans.values() for name in plan.limits)
        pipeline = app.pipeline
        pipeline.listeners.append(PlanLimits(self))
        pipeline.scope = CustomerIdServerOnly(pipeline.scope, tables.organization_entity.name)
        # Whether or not the schema declares its plans, /api/billing reads the subscriptions
        # entity as the truth about what an organization paid for: only Stripe's webhooks write it.
        pipeline.policy = SubscriptionsReadOnly(pipeline.policy, tables.subscription_entity.name)

    # -- Stripe --------------------------------------------------------------------------------

    @property
    def client(self) -> stripe.StripeClient:
        """The SDK client (the emulator's address in development), or 503 when no key is set."""
        if self._client is None:
            key = self.settings.secret_key
            if key is None:
                raise billing_unavailable("Stripe is not configured (set STRIPE_SECRET_KEY)")
            base: Any = {"api": self.settings.api_base} if self.settings.api_base else None
            self._client = stripe_sdk().StripeClient(
                key.get_secret_value(),
                base_addresses=base,
                http_client=stripe_sdk().HTTPXClient(),
                max_network_retries=2,
            )
        return self._client

    # -- entitlements -------------------------------------------------------------------------

    async def entitlements(self, conn: Connection, org_id: Any) -> Entitlements:
        """The organization's effective plan, following the past-due and cancellation settings."""
        found = await self.store.subscription(conn, org_id=org_id)
        free = self.config.free
        if found is None:
            return Entitlements(free, None, None, False, None, {})
        row, extras = found
        subscribed = self.config.plans.get(str(row.get("plan_id")))
        status = str(row.get("status") or "")
        plan, read_only = free, False
        if subscribed is not None and status in ("active", "trialing"):
            plan = subscribed
        elif subscribed is not None and status == "past_due":
            if self.config.past_due == "grace":
                if self._within_grace(row, extras):
                    plan = subscribed
            elif self.config.past_due == "read_only":
                plan, read_only = subscribed, True
        elif status == "canceled" and self.config.canceled == "read_only":
            read_only = True
        return Entitlements(plan, subscribed, status, read_only, row, extras)

    def _within_grace(self, row: dict[str, Any], extras: dict[str, Any]) -> bool:
        # From when it became past due (Stripe starts the next period when its payment fails).
        since = _parse_time(extras.get("past_due_since")) or _parse_time(row.get("current_period_end"))
        if since is None:
            return True
        return dt.datetime.now(dt.UTC) <= since + dt.timedelta(days=self.config.grace_days)

    async def check_write(self, conn: Connection, event: WriteEvent) -> None:
        """Refuse (402) a create beyond the plan's limit, or any change while read-only; in the write's transaction."""
        entity = event.entity
        if event.context.principal.kind == "system" or entity.name == self.tables.subscription_entity.name:
            return
        if entity.tenant_field is None or entity.system is not None:
            return
        row = event.new if event.new is not None else event.old
        org_id = row.get(entity.tenant_field) if row else None
        if org_id is None:
            return
        limited = event.action == "create" and entity.name in self.limited
        if not limited and self.config.past_due != "read_only" and self.config.canceled != "read_only":
            return
        # Locking the organization makes concurrent creates in it take turns, so two cannot both
        # count the same free slot (SQLite's single writer does the same there).
        await self.store.lock_organization(conn, org_id)
        ent = await self.entitlements(conn, org_id)
        if ent.read_only:
            raise plan_read_only(ent.plan.key, ent.status or "inactive")
        allowed = ent.limit(entity.name)
        if limited and allowed is not None:
            used = await self.store.count_rows(conn, entity.name, org_id)
            if used > allowed:
                self.limit_events.reached(org_id, entity.name, allowed, ent.plan.key, event.context.principal.user_id)
                raise plan_limit_reached(entity.name, allowed, ent.plan.key)

    async def require_feature(self, org_id: Any, feature: str) -> None:
        """Refuse (402 ``FEATURE_NOT_AVAILABLE``) unless the organization's plan includes ``feature``.

        The one check the API, the UI and project hooks use for feature flags.
        """
        with acting_as(SYSTEM):
            async with self.app.db.connection() as conn:
                ent = await self.entitlements(conn, org_id)
        if not ent.has(feature):
            raise feature_not_available(feature, ent.plan.key)

    # -- endpoints' service functions ---------------------------------------------------------

    def _member_org(self, ctx: RequestContext) -> str:
        p = ctx.principal
        if p.kind != "user":
            # Billing belongs to an organization, which only a signed-in user has (even in development).
            raise unauthorized("Sign in to manage billing")
        if p.org_id is None:
            raise bad_request("NO_ACTIVE_ORGANIZATION", "Choose an active organization first")
        return p.org_id

    def _admin_org(self, ctx: RequestContext) -> str:
        org_id = self._member_org(ctx)
        if ctx.principal.role != self.top_role:
            raise forbidden(f"Only the organization's {self.top_role}s manage billing", "BILLING_ADMIN_ONLY")
        return org_id

    def _price_for(self, body: Any) -> tuple[Plan, str]:
        if not isinstance(body, dict):
            raise validation_failed([FieldError("", "must be an object with plan or priceId", "INVALID_TYPE")])
        price_id, plan_key = body.get("priceId"), body.get("plan")
        if price_id is not None:
            plan = self.config.plan_for_price(str(price_id))
            if plan is None:
                raise validation_failed([FieldError("priceId", "is not the price of any plan", "UNKNOWN_PRICE")])
            return plan, str(price_id)
        if not isinstance(plan_key, str) or not plan_key:
            raise validation_failed([FieldError("plan", "plan or priceId is required", "REQUIRED")])
        plan = self.config.plans.get(plan_key)
        if plan is None or not plan.prices:
            raise validation_failed([FieldError("plan", "is not a plan that can be bought", "UNKNOWN_PLAN")])
        interval = body.get("interval", "monthly")
        if interval not in ("monthly", "yearly"):
            raise validation_failed([FieldError("interval", "must be monthly or yearly", "INVALID_VALUE")])
        price = plan.price_yearly if interval == "yearly" else plan.price_monthly
        price = price or plan.prices[0]
        return plan, price

    async def checkout(self, ctx: RequestContext, body: Any, *, stripe_key: str | None = None) -> dict[str, Any]:
        """A subscription Checkout session for the active organization: ``{"url", "id"}``.

        ``stripe_key``: Stripe's idempotency key for the session (a client's ``Idempotency-Key``, scoped)."""
        org_id = self._admin_org(ctx)
        plan, price = self._price_for(body)
        with acting_as(SYSTEM):
            async with self.app.db.connection() as conn:
                ent = await self.entitlements(conn, org_id)
        if ent.subscription is not None and ent.status in LIVE_STATUSES:
            raise conflict(
                "ALREADY_SUBSCRIBED", "The organization already has a subscription; change it in the billing portal"
            )
        customer = await self._customer(ctx, org_id)
        seats = await self.seats(org_id) if self._per_seat else 1
        base = self.app.settings.base_url.rstrip("/")
        params: dict[str, Any] = {
            "mode": "subscription",
            "customer": customer,
            "line_items": [{"price": price, "quantity": max(seats, 1)}],
            "success_url": f"{base}/settings/billing?checkout=success&session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{base}/settings/billing?checkout=canceled",
            "client_reference_id": org_id,
            "metadata": {"org_id": org_id, "plan": plan.key},
            "subscription_data": {"metadata": {"org_id": org_id, "plan": plan.key}},
        }
        if plan.trial_days and ent.subscription is None:
            # One trial per organization: only before its first subscription.
            params["subscription_data"]["trial_period_days"] = plan.trial_days
        try:
            options: dict[str, Any] = {"idempotency_key": stripe_key} if stripe_key else {}
            session = await self.client.v1.checkout.sessions.create_async(params, options)  # type: ignore[arg-type]
        except stripe_sdk().StripeError as exc:
            raise stripe_failed(f"Stripe refused the checkout: {exc.user_message or exc}") from None
        return {"url": session.url, "id": session.id}

    async def seats(self, org_id: Any) -> int:
        """The organization's member count (what a per-seat subscription is billed for)."""
        return await self.store.member_count(self.tenancy.tables.members, org_id)

    @property
    def _per_seat(self) -> bool:
        return self.config.per_seat

    async def _customer(self, ctx: RequestContext, org_id: str) -> str:
        """The organization's Stripe customer, created (once, whoever asks at the same time) when missing."""
        with acting_as(SYSTEM):
            async with self.app.db.connection() as conn:
                existing = await self.store.customer_id(conn, org_id)
        if existing:
            return existing
        try:
            # The idempotency key makes two concurrent first checkouts get the same customer.
            customer = await self.client.v1.customers.create_async(
                {"metadata": {"org_id": org_id}, "description": f"organization {org_id}"},
                {"idempotency_key": f"tenantry-customer-{org_id}"},
            )
        except stripe_sdk().StripeError as exc:
            raise stripe_failed(f"Stripe refused the customer: {exc.user_message or exc}") from None
        with acting_as(SYSTEM):
            async with self.app.db.transaction() as conn:
                org = await self.store.lock_organization(conn, org_id)
                if org is None:
                    raise ApiError(404, "NOT_FOUND", "Organization not found")
                if org.get("stripe_customer_id"):
                    return str(org["stripe_customer_id"])
                await self.store.set_customer(conn, org_id, customer.id)
                await self.audit.record(
                    conn,
                    action="stripe_customer_created",
                    resource_type="billing",
                    user_id=ctx.principal.user_id,
                    org_id=org_id,
                    resource_id=customer.id,
                    new={"stripe_customer_id": customer.id},
                    ip=ctx.ip_address,
                    user_agent=ctx.user_agent,
                )
        return str(customer.id)

    async def portal(self, ctx: RequestContext) -> dict[str, Any]:
        """A Billing Portal session for the active organization's customer: ``{"url"}``."""
        org_id = self._admin_org(ctx)
        with acting_as(SYSTEM):
            async with self.app.db.connection() as conn:
                customer = await self.store.customer_id(conn, org_id)
        if not customer:
            raise conflict("NO_BILLING_ACCOUNT", "The organization has no billing account yet; subscribe first")
        base = self.app.settings.base_url.rstrip("/")
        try:
            session = await self.client.v1.billing_portal.sessions.create_async(
                {"customer": customer, "return_url": f"{base}/settings/billing"}
            )
        except stripe_sdk().StripeError as exc:
            raise stripe_failed(f"Stripe refused the portal session: {exc.user_message or exc}") from None
        return {"url": session.url}

    async def price_labels(self) -> dict[str, str]:
        """``$15.00 / month`` for each Stripe price of the plans that Stripe could tell. A price's
        amount never changes in Stripe (a new amount is a new price), so one read per process is
        enough; without a key, or while Stripe cannot be reached, the plans show no price."""
        if self.settings.secret_key is None:
            return {}
        for plan in self.config.plans.values():
            for price_id in plan.prices:
                if price_id in self._price_labels:
                    continue
                try:
                    price = await self.client.v1.prices.retrieve_async(price_id)
                except stripe.StripeError:
                    continue
                if price.unit_amount is not None:
                    self._price_labels[price_id] = price_label(
                        price.unit_amount, price.currency, price.recurring.interval if price.recurring else None
                    )
        return dict(self._price_labels)

    async def summary(self, ctx: RequestContext) -> dict[str, Any]:
        """The active organization's plan, status, period, trial and usage against every limit."""
        org_id = self._member_org(ctx)
        with acting_as(SYSTEM):
            async with self.app.db.connection() as conn:
                ent = await self.entitlements(conn, org_id)
                usage = {}
                for name in sorted(self.limited):
                    usage[name] = {"used": await self.store.count_rows(conn, name, org_id), "limit": ent.limit(name)}
        row = ent.subscription or {}
        return {
            "plan": ent.plan.to_dict(),
            "subscribedPlan": ent.subscribed_plan.key if ent.subscribed_plan else None,
            "status": ent.status,
            "readOnly": ent.read_only,
            "currentPeriodEnd": row.get("current_period_end"),
            "trialEnd": ent.extras.get("trial_end"),
            "cancelAtPeriodEnd": bool(ent.extras.get("cancel_at_period_end")),
            "quantity": ent.extras.get("quantity"),
            "pastDueSince": ent.extras.get("past_due_since"),
            "stripeSubscriptionId": row.get("stripe_subscription_id"),
            "usage": usage,
            "features": sorted(ent.plan.features),
            "plans": [p.to_dict() for p in self.config.plans.values()],
        }

    # -- seats ------------------------------------------------------------------------------

    async def sync_seats(self, event: DomainEvent) -> None:
        """After a membership change: the subscription's quantity becomes the member count."""
        if not self._per_seat or event.org_id is None or self.settings.secret_key is None:
            return
        with acting_as(SYSTEM):
            async with self.app.db.connection() as conn:
                ent = await self.entitlements(conn, event.org_id)
            seats = max(await self.seats(event.org_id), 1)
        row = ent.subscription
        if row is None or ent.status not in LIVE_STATUSES or ent.extras.get("quantity") == seats:
            return
        sub_id = str(row["stripe_subscription_id"])
        try:
            sub = await self.client.v1.subscriptions.retrieve_async(sub_id)
            item = sub["items"].data[0]
            if item.quantity == seats:
                return
            await self.client.v1.subscriptions.update_async(
                sub_id,
                {"items": [{"id": item.id, "quantity": seats}]},
                {"idempotency_key": f"tenantry-seats-{sub_id}-{event.id}"},
            )
        except stripe_sdk().StripeError:
            log.exception("could not sync seats of %s to %s", sub_id, seats)
            raise  # the outbox keeps the delivery and retries it with backoff


class PlanLimits:
    """The pipeline's write listener enforcing plan limits inside each write's transaction."""

    def __init__(self, billing: Billing) -> None:
        self.billing = billing

    async def on_write(self, conn: Connection, event: WriteEvent) -> None:
        await self.billing.check_write(conn, event)


class SubscriptionsReadOnly:
    """Subscriptions change only through Stripe's webhooks: no client writes them through the API."""

    def __init__(self, inner: Policy, entity_name: str) -> None:
        self.inner = inner
        self.entity_name = entity_name

    def authorize(self, ctx: RequestContext, entity: Entity, action: Action) -> Grant:
        if entity.name == self.entity_name and action != Action.READ and ctx.principal.kind == "user":
            raise forbidden("Subscriptions are changed by Stripe only", "SUBSCRIPTION_READ_ONLY")
        return self.inner.authorize(ctx, entity, action)


class CustomerIdServerOnly:
    """An organization's ``stripe_customer_id`` is set by billing only.

    A user who could point their organization at another organization's Stripe customer would get
    that customer's billing portal.
    """

    def __init__(self, inner: Scope, organizations: str) -> None:
        self.inner = inner
        self.organizations = organizations

    def read_filter(
        self, ctx: RequestContext, entity: Entity, action: Action = Action.READ, where: Node | None = None
    ) -> Node | None:
        return self.inner.read_filter(ctx, entity, action, where)

    def check_write(
        self, ctx: RequestContext, entity: Entity, values: dict[str, Any], old: dict[str, Any] | None
    ) -> dict[str, Any]:
        if (
            entity.name == self.organizations
            and ctx.principal.kind == "user"
            and "stripe_customer_id" in values
            and (old is None or values["stripe_customer_id"] != old.get("stripe_customer_id"))
        ):
            raise validation_failed(
                [FieldError("stripe_customer_id", "is set by billing, not by clients", "FIELD_NOT_ALLOWED")]
            )
        return self.inner.check_write(ctx, entity, values, old)


def _parse_time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _organization(event: DomainEvent) -> str:
    # Seats are counted per organization: its membership changes are synced one after the other.
    return f"org:{event.org_id}"


CURRENCY_SIGNS = {"usd": "$", "eur": "€", "gbp": "£"}


def price_label(amount: int, currency: str, interval: str | None) -> str:
    """``$15.00 / month`` from Stripe's amount in cents, its currency and its interval."""
    sign = CURRENCY_SIGNS.get(currency.lower())
    money = f"{sign}{amount / 100:,.2f}" if sign else f"{amount / 100:,.2f} {currency.upper()}"
    return f"{money} / {interval}" if interval else money
