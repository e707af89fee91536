"""Stripe webhooks: verified, stored by id, applied exactly once, newest state wins.

1. **Verify** ``Stripe-Signature`` with the official SDK (``stripe.WebhookSignature.verify_header``): the
   HMAC of ``t.payload``, a timestamp within the tolerance, any of several ``v1`` signatures, and
   each configured secret in turn (two secrets while one is rotated). Anything else is a 400 and
   changes nothing.
2. **Store** the event by its Stripe id in ``stripe_events`` (committed before applying).
3. **Apply** it in one transaction that locks the stored event and the organization, writes the
   subscription, the audit row and the domain event (the pipeline's write listeners), and sets
   ``applied_at``. A redelivered event finds ``applied_at`` set and changes nothing; an event stored
   but never applied (the process died in between) is applied by the next delivery of any event
   and at start-up (``apply_pending``).

Order: Stripe does not deliver in order. A subscription row remembers the Stripe time of the newest
event applied to it (``stripe_event_created``); an older event is recorded as ``stale`` and
changes nothing. Events of the same second are applied in arrival order.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from tenantry.billing.errors import invalid_signature
from tenantry.billing.plans import BillingConfig
from tenantry.billing.sdk import stripe_sdk
from tenantry.billing.store import BillingStore
from tenantry.context import SYSTEM_CONTEXT
from tenantry.db import Connection
from tenantry.db.actor import SYSTEM, acting_as
from tenantry.db.codecs import utc_now
from tenantry.db.ids import uuid7
from tenantry.events import DomainEvent
from tenantry.pipeline import WriteEvent

if TYPE_CHECKING:
    from tenantry.billing.service import Billing

log = logging.getLogger("tenantry.billing")

HANDLED = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
    }
)
# Stripe's statuses mapped onto the seed's enum(active, canceled, past_due, trialing).
_STATUS_FALLBACK = {
    "unpaid": "past_due",
    "incomplete": "past_due",
    "incomplete_expired": "canceled",
    "paused": "canceled",
}


def verify(payload: bytes, header: str | None, secrets: list[str], tolerance: int) -> dict[str, Any]:
    """The event in ``payload`` if ``header`` signs it with one of ``secrets``; else a 400 ``ApiError``."""
    if not header:
        raise invalid_signature("Missing Stripe-Signature header")
    if not secrets:
        raise invalid_signature("No webhook secret is configured")
    last: Exception | None = None
    text = payload.decode("utf-8", "replace")
    for secret in secrets:
        try:
            # The SDK's own check (what ``Webhook.construct_event`` runs before building an object).
            stripe_sdk().WebhookSignature.verify_header(text, header, secret, tolerance=tolerance)
        except stripe_sdk().SignatureVerificationError as exc:
            last = exc
            continue
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise invalid_signature("The payload is not a JSON event") from None
        if (
            not isinstance(event, dict)
            or not _stripe_id(event.get("id"))
            or not _stripe_id(event.get("type"))
            or not isinstance(event.get("created"), int)
            or isinstance(event.get("created"), bool)
            or not 0 <= event["created"] < 2**53
        ):
            raise invalid_signature("The payload is not a Stripe event")
        return event
    raise invalid_signature(f"Invalid signature: {last}")


@dataclass(frozen=True)
class SubscriptionState:
    """What a Stripe subscription object says, in the subscriptions row's terms."""

    stripe_id: str
    customer: str | None
    status: str
    price_id: str | None
    quantity: int | None
    current_period_end: dt.datetime | None
    trial_end: dt.datetime | None
    cancel_at_period_end: bool
    org_id: str | None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> SubscriptionState:
        items = ((obj.get("items") or {}).get("data")) or [{}]
        item = items[0] or {}
        price = item.get("price") or {}
        # Newer API versions keep the period on the item; older ones on the subscription.
        period_end = item.get("current_period_end") or obj.get("current_period_end")
        price_id = price.get("id") if isinstance(price, dict) else price
        quantity = item.get("quantity")
        if not _stripe_id(obj.get("id")) or not (price_id is None or _stripe_id(price_id)):
            raise ValueError("not a subscription")
        if quantity is not None and (not isinstance(quantity, int) or not 0 <= quantity <= 1_000_000):
            raise ValueError("quantity out of range")
        return cls(
            stripe_id=str(obj["id"]),
            customer=obj.get("customer") if _stripe_id(obj.get("customer")) else None,
            status=str(obj.get("status") or "active")[:32],
            price_id=price_id,
            quantity=quantity,
            current_period_end=_time(period_end),
            trial_end=_time(obj.get("trial_end")),
            cancel_at_period_end=bool(obj.get("cancel_at_period_end")) or obj.get("cancel_at") is not None,
            org_id=((obj.get("metadata") or {}).get("org_id")) or None,
        )


class WebhookProcessor:
    """Stores and applies Stripe events for one app."""

    def __init__(self, billing: Billing, store: BillingStore, config: BillingConfig) -> None:
        self.billing = billing
        self.store = store
        self.config = config
        status_field = store.entity.field("status")
        self.statuses = frozenset(status_field.enum_values) if status_field is not None else frozenset()

    async def receive(self, event: dict[str, Any]) -> str:
        """Store a verified event and apply it (and any earlier one left unapplied); its outcome."""
        with acting_as(SYSTEM):
            await self.store.store_event(event)
            outcome = await self.apply(event["id"])
            # Events a crash left stored but unapplied: whichever delivery comes next finishes them.
            await self.apply_pending()
        return outcome

    async def apply_pending(self) -> int:
        """Apply every stored, unapplied event (at start-up, and after each delivery); how many.

        One event failing (the database briefly unavailable) does not stop the others, nor the
        app's start: it stays unapplied and is tried again next time.
        """
        count = 0
        with acting_as(SYSTEM):
            for event_id in await self.store.unapplied_events():
                try:
                    await self.apply(event_id)
                except Exception:
                    log.exception("stripe event %s could not be applied; it will be tried again", event_id)
                    continue
                count += 1
        return count

    async def apply(self, event_id: str) -> str:
        """Apply one stored event in one transaction, unless it already was; its outcome."""
        with acting_as(SYSTEM):
            async with self.billing.app.db.transaction() as conn:
                stored = await self.store.lock_event(conn, event_id)
                if stored is None:
                    return "missing"
                if stored.applied:
                    return "duplicate"
                outcome, org_id = await self._apply(conn, stored.type, stored.created, stored.payload)
                await self.store.mark_applied(conn, event_id, outcome, org_id)
        log.info("stripe event %s (%s): %s", event_id, stored.type, outcome)
        return outcome

    # -- per type --------------------------------------------------------------------------------

    async def _apply(self, conn: Connection, kind: str, created: int, event: dict[str, Any]) -> tuple[str, Any]:
        obj = (event.get("data") or {}).get("object") or {}
        if kind not in HANDLED or not isinstance(obj, dict):
            return "ignored", None
        if kind == "checkout.session.completed":
            return await self._checkout_completed(conn, obj)
        if kind.startswith("customer.subscription."):
            try:
                state = SubscriptionState.parse(obj)
            except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
                # Signed by Stripe yet not a subscription we can read: kept, marked, never retried.
                return "invalid", None
            return await self._subscription_changed(conn, created, state, kind)
        return await self._invoice(conn, created, obj, paid=kind == "invoice.paid")

    async def _resolve_org(self, conn: Connection, org_id: str | None, customer: str | None) -> str | None:
        if isinstance(org_id, str) and org_id and await self.store.lock_organization(conn, org_id) is not None:
            return org_id
        if customer:
            found = await self.store.org_by_customer(conn, customer)
            if found is not None and await self.store.lock_organization(conn, found) is not None:
                return found
        return None

    async def _checkout_completed(self, conn: Connection, session: dict[str, Any]) -> tuple[str, Any]:
        raw_metadata = session.get("metadata")
        metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
        customer = session.get("customer") if _stripe_id(session.get("customer")) else None
        org_id = await self._resolve_org(conn, metadata.get("org_id") or session.get("client_reference_id"), customer)
        if org_id is None:
            return "unmatched", None
        org = await self.store.lock_organization(conn, org_id)
        if org is not None and customer and not org.get("stripe_customer_id"):
            await self.store.set_customer(conn, org_id, customer)
        await self.billing.audit.record(
            conn,
            action="checkout_completed",
            resource_type="billing",
            org_id=org_id,
            resource_id=session.get("id"),
            new={"customer": customer, "subscription": session.get("subscription")},
        )
        await self._domain_event(conn, "billing.checkout_completed", org_id, session.get("id"), session)
        return "applied", org_id

    async def _subscription_changed(
        self, conn: Connection, created: int, state: SubscriptionState, kind: str
    ) -> tuple[str, Any]:
        org_id = await self._resolve_org(conn, state.org_id, state.customer)
        if org_id is None:
            return "unmatched", None
        current = await self.store.subscription(conn, org_id=org_id)
        status = "canceled" if kind == "customer.subscription.deleted" else state.status
        if current is not None:
            row, extras = current
            if (extras.get("stripe_event_created") or 0) > created:
                return "stale", org_id
            if (
                row.get("stripe_subscription_id") != state.stripe_id
                and row.get("status") != "canceled"
                and status == "canceled"
            ):
                # The organization already has another live subscription: an event about an ended
                # one must not replace it.
                return "stale", org_id
        plan = self.config.plan_for_price(state.price_id)
        values = {
            "org_id": org_id,
            "stripe_subscription_id": state.stripe_id,
            "plan_id": plan.key if plan is not None else (state.price_id or self.config.free_plan),
            "status": self._status(status),
            "current_period_end": state.current_period_end,
        }
        extras_new = {
            "cancel_at_period_end": state.cancel_at_period_end,
            "trial_end": state.trial_end,
            "stripe_price_id": state.price_id,
            "quantity": state.quantity,
            "stripe_event_created": created,
            "past_due_since": _past_due_since(current, values["status"], created),
        }
        await self._write(conn, current, values, extras_new)
        return "applied", org_id

    async def _invoice(self, conn: Connection, created: int, invoice: dict[str, Any], *, paid: bool) -> tuple[str, Any]:
        sub_id = _invoice_subscription(invoice)
        found = await self.store.subscription(conn, stripe_id=sub_id, lock=False) if sub_id else None
        current = None
        if found is not None:
            # The organization's lock first, then the row's (the order every billing change takes).
            await self.store.lock_organization(conn, found[0]["org_id"])
            current = await self.store.subscription(conn, stripe_id=sub_id)
        if current is None:
            customer = invoice.get("customer")
            org_id = await self._resolve_org(conn, None, customer if _stripe_id(customer) else None)
            if org_id is None:
                return "unmatched", None
            if not paid:
                await self._domain_event(conn, "billing.payment_failed", org_id, invoice.get("id"), invoice)
            return "ignored", org_id
        row, extras = current
        org_id = row["org_id"]
        if not paid:
            await self._domain_event(conn, "billing.payment_failed", org_id, invoice.get("id"), invoice)
        if (extras.get("stripe_event_created") or 0) > created:
            return "stale", org_id
        status = row.get("status")
        if paid and status == "past_due":
            status = "active"
        elif not paid and status in ("active", "trialing"):
            status = self._status("past_due")
        if status == row.get("status"):
            # Nothing to change, but this is now the newest word on the subscription.
            await self.store.set_extras(conn, row["id"], {"stripe_event_created": created})
            return "applied", org_id
        since = _past_due_since(current, status, created)
        await self._write(conn, current, {"status": status}, {"stripe_event_created": created, "past_due_since": since})
        return "applied", org_id

    # -- writing -------------------------------------------------------------------------------

    def _status(self, status: str) -> str:
        if not self.statuses or status in self.statuses:
            return status
        fallback = _STATUS_FALLBACK.get(status, "canceled")
        return fallback if fallback in self.statuses else next(iter(sorted(self.statuses)))

    async def _write(
        self, conn: Connection, current: Any, values: dict[str, Any], extras: dict[str, Any]
    ) -> dict[str, Any]:
        """Insert or update the organization's row; its audit row and domain event go with it."""
        entity = self.store.entity
        if current is None:
            new = await self.store.insert_subscription(conn, values)
            await self.store.set_extras(conn, new["id"], extras)
            await self._notify(conn, WriteEvent(entity, "create", new["id"], None, new, SYSTEM_CONTEXT))
            return new
        old, _ = current
        changed = {k: v for k, v in values.items() if _differs(old.get(k), v)}
        await self.store.set_extras(conn, old["id"], extras)
        if not changed:
            return dict(old)
        new = await self.store.update_subscription(conn, old["id"], changed)
        await self._notify(conn, WriteEvent(entity, "update", new["id"], old, new, SYSTEM_CONTEXT))
        return new

    async def _notify(self, conn: Connection, event: WriteEvent) -> None:
        # The same listeners as every CRUD write: audit row, outbox event (and tenancy's, which ignore it).
        for listener in self.billing.app.pipeline.listeners:
            await listener.on_write(conn, event)

    async def _domain_event(self, conn: Connection, topic: str, org_id: Any, row_id: Any, data: dict[str, Any]) -> None:
        await self.billing.events.writer.record(
            conn,
            DomainEvent(
                id=str(uuid7()),
                topic=topic,
                entity="billing",
                row_id=str(row_id or "")[:64],
                org_id=str(org_id),
                data=data,
                old=None,
                actor_id=None,
                created_at=utc_now(),
            ),
        )


def _past_due_since(current: Any, status: Any, created: int) -> dt.datetime | None:
    """When the subscription became past due: kept while it stays so, the event's time when it turns so."""
    if status != "past_due":
        return None
    if current is not None:
        row, extras = current
        if row.get("status") == "past_due" and extras.get("past_due_since") is not None:
            return _as_time(extras["past_due_since"])
    return _time(created)


def _as_time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _stripe_id(value: Any) -> bool:
    """Whether ``value`` looks like a Stripe object id (text that fits the columns ids go in)."""
    return isinstance(value, str) and 0 < len(value) <= 255


def _invoice_subscription(invoice: dict[str, Any]) -> str | None:
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") if isinstance(parent, dict) else None
    sub = details.get("subscription") if isinstance(details, dict) else None
    sub = sub or invoice.get("subscription")
    return sub if _stripe_id(sub) else None


def _time(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    return dt.datetime.fromtimestamp(int(value), dt.UTC)


def _differs(old: Any, new: Any) -> bool:
    """Whether a value changed, comparing timestamps whatever their JSON form."""
    if isinstance(new, dt.datetime):
        if old is None:
            return True
        if isinstance(old, str):
            try:
                old = dt.datetime.fromisoformat(old.replace("Z", "+00:00"))
            except ValueError:
                return True
        if isinstance(old, dt.datetime):
            return abs((old - new).total_seconds()) >= 1
    return bool(old != new)
