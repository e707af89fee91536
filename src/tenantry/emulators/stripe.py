"""A local Stripe: the part of Stripe's API Tenantry uses, spoken closely enough for the official SDK.

The ``stripe`` Python SDK works against it unchanged when its API base points here
(``StripeClient(key, base_addresses={"api": emulator.base_url})``):

- form-encoded requests with Stripe's bracket notation (``line_items[0][price]=…``), a secret key
  in ``Authorization: Bearer`` (401 ``authentication_error`` without one), Stripe's JSON objects
  and error shape (``{"error": {"type", "code", "message", "param"}}``, 404 ``resource_missing``);
- ``Idempotency-Key``: a repeated key answers the first response again (``Idempotent-Replayed``),
  the same key with other parameters is a 400 ``idempotency_error``;
- customers, prices, Checkout sessions (subscription mode), billing portal sessions, and
  subscriptions retrieve / list / update (quantity, price, ``cancel_at_period_end``) / cancel.

A hosted checkout page (``/checkout/<session>``) has a **Pay** button that creates the customer's
subscription (trialing when the session asked for a trial) and delivers ``checkout.session.completed``,
``customer.subscription.created`` and ``invoice.paid`` to the webhook endpoint, signed as Stripe
signs them (``Stripe-Signature: t=<unix time>,v1=<HMAC-SHA256 of "t.payload">``). The portal page
(``/portal/<session>``) and the control routes under ``/__emulator__`` renew a subscription by one
period, fail its next payment (``past_due``), or cancel it (now, or at the period's end). Every
event is kept (``events``) and can be delivered again (``redeliver``), which is how tests replay,
reorder and forge deliveries. Event ``created`` times strictly increase, as a real account's do
within one subscription's life.

With a ``state_file`` the objects and events are written to that JSON file after every change and
read back at start, so a restarted emulator still knows its customers and subscriptions (``tenantry
dev`` keeps one beside the development database). ``POST /__emulator__/prices`` creates prices with
chosen ids (a schema's plans), keeping those that exist.

Run it alone: ``python -m tenantry.emulators.stripe --port 12111 --webhook-url URL --webhook-secret whsec_…``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import html
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tenantry.emulators.server import RunningServer, bind_socket, format_base_url, run_in_thread

API_VERSION = "2026-10-28.endive"
CONTROL_PREFIX = "/__emulator__"
DAY = 86_400
PERIODS = {"day": DAY, "week": 7 * DAY, "month": 30 * DAY, "year": 365 * DAY}
_BRACKETS = re.compile(r"\[([^\]]*)\]")
STATE_VERSION = 1
log = logging.getLogger(__name__)


class StripeError(Exception):
    """An error answered in Stripe's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type, "message": message}
        if code:
            self.body["code"] = code
        if param:
            self.body["param"] = param

    def response(self) -> Response:
        return _json({"error": self.body}, self.status)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json", headers=headers)


def _missing(kind: str, ident: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{ident}'", code="resource_missing", param=param)


def decode_form(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracket notation as nested values: ``a[b][0][c]=v`` -> ``{"a": {"b": [{"c": "v"}]}}``."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        path: list[str] = [head, *_BRACKETS.findall(key[len(head) :])]
        node: Any = root
        for i, part in enumerate(path):
            last = i == len(path) - 1
            nxt: Any = value if last else ({} if not path[i + 1].isdigit() and path[i + 1] != "" else [])
            if isinstance(node, list):
                index = len(node) if part == "" else int(part)
                while len(node) <= index:
                    node.append(None)
                if node[index] is None or last:
                    node[index] = nxt
                node = node[index]
            else:
                if part not in node or last:
                    node[part] = nxt
                node = node[part]
    return root


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload``: ``t=<time>,v1=<hex HMAC-SHA256 of "t.payload">``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("true", "1", "yes")


@dataclass
class Delivery:
    """One attempt to deliver an event to the webhook endpoint."""

    event_id: str
    status: int | None
    error: str | None = None


@dataclass
class _Idempotent:
    fingerprint: tuple[str, str, bytes]
    status: int
    body: bytes


@dataclass
class _State:
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    idempotency: dict[tuple[str, str], _Idempotent] = field(default_factory=dict)


class StripeEmulator:
    """An ASGI app emulating Stripe; objects are kept in memory."""

    def __init__(
        self,
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        api_keys: Sequence[str] | None = None,
        prices: dict[str, int] | None = None,
        base_url: str = "http://127.0.0.1:12111",
        state_file: Path | None = None,
    ) -> None:
        """``api_keys``: accepted secret keys (any ``sk_test_…`` when None); ``prices``: id -> cents a month
        (created unless the state file has them); ``state_file``: where objects and events are kept."""
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.api_keys = set(api_keys) if api_keys is not None else None
        self.base_url = base_url.rstrip("/")
        self.deliveries: list[Delivery] = []
        self.auto_deliver = True
        self._lock = threading.RLock()
        self._state = _State()
        self._clock = 0
        # Events created by the action in progress, delivered once it has answered (``_flush``).
        self._pending: list[dict[str, Any]] = []
        self.state_file = state_file
        if state_file is not None:
            self._load(state_file)
        for price_id, amount in (prices or {}).items():
            if price_id not in self._state.objects:
                self.add_price(price_id, amount)
        routes = [
            Route("/v1/customers", self._create_customer, methods=["POST"]),
            Route("/v1/customers/{id}", self._customer, methods=["GET", "POST", "DELETE"]),
            Route("/v1/prices", self._prices, methods=["GET", "POST"]),
            Route("/v1/prices/{id}", self._price, methods=["GET"]),
            Route("/v1/checkout/sessions", self._create_checkout, methods=["POST"]),
            Route("/v1/checkout/sessions/{id}", self._checkout_session, methods=["GET"]),
            Route("/v1/billing_portal/sessions", self._create_portal, methods=["POST"]),
            Route("/v1/subscriptions", self._subscriptions, methods=["GET"]),
            Route("/v1/subscriptions/{id}", self._subscription, methods=["GET", "POST", "DELETE"]),
            Route("/v1/events/{id}", self._event, methods=["GET"]),
            Route("/checkout/{id}", self._checkout_page, methods=["GET"]),
            Route("/checkout/{id}/pay", self._checkout_pay, methods=["POST"]),
            Route("/checkout/{id}/cancel", self._checkout_cancel, methods=["POST"]),
            Route("/portal/{id}", self._portal_page, methods=["GET"]),
            Route("/portal/{id}/{action}/{sub}", self._portal_action, methods=["POST"]),
            Route(CONTROL_PREFIX + "/subscriptions/{id}/{action}", self._control, methods=["POST"]),
            Route(CONTROL_PREFIX + "/checkout/{id}/pay", self._control_pay, methods=["POST"]),
            Route(CONTROL_PREFIX + "/events", self._control_events, methods=["GET"]),
            Route(CONTROL_PREFIX + "/events/{id}/resend", self._control_resend, methods=["POST"]),
            Route(CONTROL_PREFIX + "/prices", self._control_prices, methods=["POST"]),
            Route("/static/checkout.css", self._stylesheet, methods=["GET"]),
            Route("/favicon.ico", lambda request: Response(status_code=204), methods=["GET"]),
        ]
        self._app = Starlette(routes=routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    # -- objects ----------------------------------------------------------------------------------

    def _now(self) -> int:
        """Unix time, strictly increasing across calls (event and object times never tie)."""
        with self._lock:
            self._clock = max(int(time.time()), self._clock + 1)
            return self._clock

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"

    def _get(self, kind: str, ident: str, param: str = "id") -> dict[str, Any]:
        obj = self._state.objects.get(ident)
        if obj is None or obj.get("object") != kind:
            raise _missing(kind, ident, param)
        return obj

    def add_price(
        self, price_id: str, amount: int = 1000, interval: str = "month", name: str | None = None
    ) -> dict[str, Any]:
        """A recurring price with a chosen id (the ids a schema's plans name), of a product called ``name``."""
        product_id = f"prod_{price_id}"
        product: dict[str, Any] = {
            "id": product_id,
            "object": "product",
            "active": True,
            "name": name or price_id,
            "livemode": False,
            "metadata": {},
            "created": self._now(),
        }
        price = {
            "id": price_id,
            "object": "price",
            "active": True,
            "currency": "usd",
            "unit_amount": amount,
            "nickname": name,
            "type": "recurring",
            "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"},
            "product": product_id,
            "livemode": False,
            "metadata": {},
            "created": self._now(),
        }
        with self._lock:
            self._state.objects[product_id] = product
            self._state.objects[price_id] = price
        self._save()
        return price

    def ensure_price(
        self, price_id: str, amount: int = 1000, interval: str = "month", name: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """The price ``price_id``, created as described unless it exists; and whether it was created."""
        with self._lock:
            found = self._state.objects.get(price_id)
            if found is not None and found.get("object") == "price":
                return found, False
            return self.add_price(price_id, amount, interval, name), True

    def price_label(self, price: dict[str, Any]) -> tuple[str, str]:
        """What a customer reads for ``price``: its product's name and ``$19.00 per month``."""
        product = self._state.objects.get(str(price.get("product")))
        name = str((product or {}).get("name") or price.get("nickname") or price["id"])
        amount = int(price.get("unit_amount") or 0)
        money = f"{'€' if price.get('currency') == 'eur' else '$'}{amount / 100:,.2f}"
        return name, f"{money} per {price['recurring']['interval']}"

    # -- the state file -----------------------------------------------------------------------------

    def _load(self, path: Path) -> None:
        """Objects, events and the clock from ``path``; a missing file is a first start, an unreadable one
        is set aside (``.bad``) so that a bad write never stops the emulator from starting."""
        try:
            raw = orjson.loads(path.read_bytes())
            if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
                raise ValueError("not a state file of this version")
            objects, events = raw["objects"], raw["events"]
            if not isinstance(objects, dict) or not isinstance(events, list):
                raise ValueError("objects must be a mapping and events a list")
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError) as exc:
            log.warning("Stripe emulator: %s is unreadable (%s); starting empty and keeping it as .bad", path, exc)
            with contextlib.suppress(OSError):
                path.replace(path.with_name(path.name + ".bad"))
            return
        self._state.objects = objects
        self._state.events = events
        self._clock = int(raw.get("clock") or 0)

    def _save(self) -> None:
        """Write the state file (a new file renamed over the old one: a crash leaves one or the other)."""
        if self.state_file is None:
            return
        with self._lock:
            body = orjson.dumps(
                {
                    "version": STATE_VERSION,
                    "clock": self._clock,
                    "objects": self._state.objects,
                    "events": self._state.events,
                },
                option=orjson.OPT_INDENT_2,
            )
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            partial = self.state_file.with_name(self.state_file.name + ".partial")
            partial.write_bytes(body)
            os.replace(partial, self.state_file)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event created so far, oldest first."""
        with self._lock:
            return list(self._state.events)

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Every object of ``kind`` (``customer``, ``subscription`` …)."""
        with self._lock:
            return [o for o in self._state.objects.values() if o.get("object") == kind]

    # -- requests -----------------------------------------------------------------------------------

    async def _params(self, request: Request) -> dict[str, Any]:
        pairs = list(parse_qsl(request.url.query, keep_blank_values=True))
        if request.method in ("POST", "DELETE"):
            body = (await request.body()).decode("utf-8", "replace")
            pairs += parse_qsl(body, keep_blank_values=True)
        return decode_form(pairs)

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        key = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not key:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
                type="invalid_request_error",
            )
        if (self.api_keys is not None and key not in self.api_keys) or not key.startswith(("sk_test_", "rk_test_")):
            raise StripeError(401, f"Invalid API Key provided: {key[:8]}****", type="invalid_request_error")

    async def _api(self, request: Request, handler: Any) -> Response:
        """Authenticate, replay idempotent requests, run ``handler(params)`` and answer in Stripe's shape."""
        try:
            self._authenticate(request)
            params = await self._params(request)
            key = request.headers.get("idempotency-key")
            fingerprint = (request.method, request.url.path, orjson.dumps(params, option=orjson.OPT_SORT_KEYS))
            if key and request.method == "POST":
                with self._lock:
                    seen = self._state.idempotency.get((request.headers.get("authorization", ""), key))
                if seen is not None:
                    if seen.fingerprint != fingerprint:
                        raise StripeError(
                            400,
                            "Keys for idempotent requests can only be used with the same parameters they were first "
                            f"used with. Try using a key other than '{key}' if you meant to execute a different "
                            "request.",
                            type="idempotency_error",
                        )
                    return Response(
                        seen.body, seen.status, media_type="application/json", headers={"Idempotent-Replayed": "true"}
                    )
            with self._lock:
                result = handler(params)
            body = orjson.dumps(result)
            if key and request.method == "POST":
                with self._lock:
                    auth = request.headers.get("authorization", "")
                    self._state.idempotency[(auth, key)] = _Idempotent(fingerprint, 200, body)
            if request.method != "GET":
                self._save()
            await self._flush()
            return Response(body, 200, media_type="application/json", headers={"Request-Id": self._new_id("req")})
        except StripeError as exc:
            return exc.response()

    # -- customers -------------------------------------------------------------------------------

    async def _create_customer(self, request: Request) -> Response:
        def create(p: dict[str, Any]) -> dict[str, Any]:
            customer: dict[str, Any] = {
                "id": self._new_id("cus"),
                "object": "customer",
                "created": self._now(),
                "email": p.get("email"),
                "name": p.get("name"),
                "metadata": dict(p.get("metadata") or {}),
                "livemode": False,
                "deleted": False,
            }
            self._state.objects[customer["id"]] = customer
            return customer

        return await self._api(request, create)

    async def _customer(self, request: Request) -> Response:
        ident = request.path_params["id"]

        def handle(p: dict[str, Any]) -> dict[str, Any]:
            customer = self._get("customer", ident)
            if request.method == "POST":
                for name in ("email", "name"):
                    if name in p:
                        customer[name] = p[name]
                if isinstance(p.get("metadata"), dict):
                    customer["metadata"].update(p["metadata"])
            elif request.method == "DELETE":
                del self._state.objects[ident]
                return {"id": ident, "object": "customer", "deleted": True}
            return customer

        return await self._api(request, handle)

    # -- prices ---------------------------------------------------------------------------------

    async def _prices(self, request: Request) -> Response:
        def handle(p: dict[str, Any]) -> dict[str, Any]:
            if request.method == "POST":
                recurring = p.get("recurring") or {}
                amount = p.get("unit_amount")
                if amount is None or not str(amount).isdigit():
                    raise StripeError(400, "Missing required param: unit_amount.", param="unit_amount")
                product: dict[str, Any] = p["product_data"] if isinstance(p.get("product_data"), dict) else {}
                price = self.add_price(
                    str(p.get("lookup_key") or self._new_id("price")),
                    int(amount),
                    recurring.get("interval", "month"),
                    name=p.get("nickname") or product.get("name"),
                )
                return price
            prices = [o for o in self._state.objects.values() if o["object"] == "price"]
            return _list("/v1/prices", prices)

        return await self._api(request, handle)

    async def _price(self, request: Request) -> Response:
        return await self._api(request, lambda p: self._get("price", request.path_params["id"]))

    # -- checkout -------------------------------------------------------------------------------

    async def _create_checkout(self, request: Request) -> Response:
        def create(p: dict[str, Any]) -> dict[str, Any]:
            mode = p.get("mode")
            if mode != "subscription":
                raise StripeError(400, "This emulator supports mode=subscription only.", param="mode")
            for name in ("success_url",):
                if not p.get(name):
                    raise StripeError(400, f"Missing required param: {name}.", param=name)
            items = p.get("line_items") or []
            if not isinstance(items, list) or not items or not isinstance(items[0], dict):
                raise StripeError(400, "Missing required param: line_items.", param="line_items")
            price_id = str(items[0].get("price") or "")
            self._get("price", price_id, "line_items[0][price]")
            quantity = int(items[0].get("quantity") or 1)
            customer = p.get("customer")
            if customer:
                self._get("customer", customer, "customer")
            session_id = self._new_id("cs_test")
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": "subscription",
                "status": "open",
                "payment_status": "unpaid",
                "customer": customer,
                "customer_email": p.get("customer_email"),
                "client_reference_id": p.get("client_reference_id"),
                "success_url": p["success_url"],
                "cancel_url": p.get("cancel_url"),
                "metadata": dict(p.get("metadata") or {}),
                "subscription": None,
                "url": f"{self.base_url}/checkout/{session_id}",
                "created": self._now(),
                "expires_at": self._clock + DAY,
                "livemode": False,
                "_line": {"price": price_id, "quantity": quantity},
                "_subscription_data": dict(p.get("subscription_data") or {}),
            }
            self._state.objects[session_id] = session
            return _public(session)

        return await self._api(request, create)

    async def _checkout_session(self, request: Request) -> Response:
        return await self._api(request, lambda p: _public(self._get("checkout.session", request.path_params["id"])))

    def pay(self, session_id: str) -> dict[str, Any]:
        """Complete a Checkout session as if the customer paid: the subscription and its events."""
        with self._lock:
            session = self._get("checkout.session", session_id)
            if session["status"] != "open":
                raise StripeError(400, "This Checkout Session is no longer open.", code="checkout_session_closed")
            if not session["customer"]:
                customer: dict[str, Any] = {
                    "id": self._new_id("cus"),
                    "object": "customer",
                    "created": self._now(),
                    "email": session.get("customer_email"),
                    "name": None,
                    "metadata": {},
                    "livemode": False,
                    "deleted": False,
                }
                self._state.objects[customer["id"]] = customer
                session["customer"] = customer["id"]
            data = session["_subscription_data"]
            trial_days = int(data.get("trial_period_days") or 0)
            line = session["_line"]
            subscription = self._new_subscription(
                session["customer"], line["price"], line["quantity"], trial_days, dict(data.get("metadata") or {})
            )
            session.update(status="complete", payment_status="paid", subscription=subscription["id"])
            self._emit("checkout.session.completed", _public(session))
            self._emit("customer.subscription.created", subscription)
            self._emit("invoice.paid", self._invoice(subscription, paid=True))
            return subscription

    def _new_subscription(
        self, customer: str, price_id: str, quantity: int, trial_days: int, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        now = self._now()
        price = self._get("price", price_id)
        period = PERIODS.get(price["recurring"]["interval"], 30 * DAY)
        trial_end = now + trial_days * DAY if trial_days else None
        end = trial_end or now + period
        sub_id = self._new_id("sub")
        subscription = {
            "id": sub_id,
            "object": "subscription",
            "customer": customer,
            "status": "trialing" if trial_end else "active",
            "created": now,
            "start_date": now,
            "trial_start": now if trial_end else None,
            "trial_end": trial_end,
            "cancel_at_period_end": False,
            "cancel_at": None,
            "canceled_at": None,
            "ended_at": None,
            "metadata": metadata,
            "livemode": False,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": self._new_id("si"),
                        "object": "subscription_item",
                        "price": price,
                        "quantity": quantity,
                        "subscription": sub_id,
                        "current_period_start": now,
                        "current_period_end": end,
                    }
                ],
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={sub_id}",
            },
            "latest_invoice": None,
        }
        self._state.objects[sub_id] = subscription
        return subscription

    def _invoice(self, subscription: dict[str, Any], *, paid: bool) -> dict[str, Any]:
        item = subscription["items"]["data"][0]
        invoice = {
            "id": self._new_id("in"),
            "object": "invoice",
            "customer": subscription["customer"],
            "status": "paid" if paid else "open",
            "paid": paid,
            "amount_due": int(item["price"]["unit_amount"]) * int(item["quantity"]),
            "amount_paid": int(item["price"]["unit_amount"]) * int(item["quantity"]) if paid else 0,
            "currency": "usd",
            "created": self._now(),
            "period_start": item["current_period_start"],
            "period_end": item["current_period_end"],
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": subscription["id"], "metadata": subscription["metadata"]},
            },
            "livemode": False,
        }
        self._state.objects[invoice["id"]] = invoice
        subscription["latest_invoice"] = invoice["id"]
        return invoice

    # -- billing portal ----------------------------------------------------------------------------

    async def _create_portal(self, request: Request) -> Response:
        def create(p: dict[str, Any]) -> dict[str, Any]:
            if not p.get("customer"):
                raise StripeError(400, "Missing required param: customer.", param="customer")
            self._get("customer", p["customer"], "customer")
            session_id = self._new_id("bps")
            session = {
                "id": session_id,
                "object": "billing_portal.session",
                "customer": p["customer"],
                "return_url": p.get("return_url"),
                "created": self._now(),
                "livemode": False,
                "url": f"{self.base_url}/portal/{session_id}",
            }
            self._state.objects[session_id] = session
            return session

        return await self._api(request, create)

    # -- subscriptions ---------------------------------------------------------------------------

    async def _subscriptions(self, request: Request) -> Response:
        def handle(p: dict[str, Any]) -> dict[str, Any]:
            subs = [o for o in self._state.objects.values() if o["object"] == "subscription"]
            if p.get("customer"):
                subs = [s for s in subs if s["customer"] == p["customer"]]
            if p.get("status") and p["status"] != "all":
                subs = [s for s in subs if s["status"] == p["status"]]
            return _list("/v1/subscriptions", subs)

        return await self._api(request, handle)

    async def _subscription(self, request: Request) -> Response:
        ident = request.path_params["id"]

        def handle(p: dict[str, Any]) -> dict[str, Any]:
            sub = self._get("subscription", ident)
            if request.method == "GET":
                return sub
            if request.method == "DELETE":
                return self.cancel(ident)
            return self._update(sub, p)

        return await self._api(request, handle)

    def _update(self, sub: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        if sub["status"] == "canceled":
            raise StripeError(
                400, "A canceled subscription can only update its cancellation_details and metadata.", param="status"
            )
        previous: dict[str, Any] = {}
        item = sub["items"]["data"][0]
        items = p.get("items")
        if isinstance(items, list) and items and isinstance(items[0], dict):
            change = items[0]
            if "quantity" in change:
                if not str(change["quantity"]).isdigit():
                    raise StripeError(400, "Invalid integer: quantity", param="items[0][quantity]")
                previous.setdefault("items", {"object": "list", "data": [dict(item)]})
                item["quantity"] = int(change["quantity"])
            if change.get("price"):
                previous.setdefault("items", {"object": "list", "data": [dict(item)]})
                item["price"] = self._get("price", change["price"], "items[0][price]")
        if "quantity" in p:
            previous.setdefault("items", {"object": "list", "data": [dict(item)]})
            item["quantity"] = int(p["quantity"])
        if "cancel_at_period_end" in p:
            previous["cancel_at_period_end"] = sub["cancel_at_period_end"]
            sub["cancel_at_period_end"] = _truthy(p["cancel_at_period_end"])
            sub["cancel_at"] = item["current_period_end"] if sub["cancel_at_period_end"] else None
        if isinstance(p.get("metadata"), dict):
            previous["metadata"] = dict(sub["metadata"])
            sub["metadata"].update(p["metadata"])
        if previous:
            self._emit("customer.subscription.updated", sub, previous)
        return sub

    def cancel(self, sub_id: str) -> dict[str, Any]:
        """Cancel a subscription now: ``customer.subscription.deleted``."""
        with self._lock:
            sub = self._get("subscription", sub_id)
            if sub["status"] == "canceled":
                raise StripeError(400, f"No such subscription: '{sub_id}'", code="resource_missing")
            now = self._now()
            sub.update(status="canceled", canceled_at=now, ended_at=now)
            self._emit("customer.subscription.deleted", sub, {"status": "active"})
            return sub

    def cancel_at_period_end(self, sub_id: str, value: bool = True) -> dict[str, Any]:
        """Ask for the subscription to end when its period does (``customer.subscription.updated``)."""
        with self._lock:
            return self._update(self._get("subscription", sub_id), {"cancel_at_period_end": str(value).lower()})

    def renew(self, sub_id: str) -> dict[str, Any]:
        """The next period begins and is paid: ends a trial, clears past_due, or ends a subscription set to cancel."""
        with self._lock:
            sub = self._get("subscription", sub_id)
            if sub["cancel_at_period_end"]:
                return self.cancel(sub_id)
            item = sub["items"]["data"][0]
            period = PERIODS.get(item["price"]["recurring"]["interval"], 30 * DAY)
            previous = {"status": sub["status"], "items": {"object": "list", "data": [dict(item)]}}
            start = item["current_period_end"]
            item.update(current_period_start=start, current_period_end=start + period)
            sub["status"] = "active"
            self._emit("invoice.paid", self._invoice(sub, paid=True))
            self._emit("customer.subscription.updated", sub, previous)
            return sub

    def fail_payment(self, sub_id: str) -> dict[str, Any]:
        """The renewal payment fails: ``invoice.payment_failed`` and the subscription goes ``past_due``."""
        with self._lock:
            sub = self._get("subscription", sub_id)
            previous = {"status": sub["status"]}
            sub["status"] = "past_due"
            self._emit("invoice.payment_failed", self._invoice(sub, paid=False))
            self._emit("customer.subscription.updated", sub, previous)
            return sub

    async def _event(self, request: Request) -> Response:
        def handle(p: dict[str, Any]) -> dict[str, Any]:
            for event in self._state.events:
                if event["id"] == request.path_params["id"]:
                    return event
            raise _missing("event", request.path_params["id"])

        return await self._api(request, handle)

    # -- events and webhooks ------------------------------------------------------------------

    def _emit(self, kind: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"object": orjson.loads(orjson.dumps(obj))}
        if previous is not None:
            data["previous_attributes"] = orjson.loads(orjson.dumps(previous))
        event = {
            "id": self._new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self._now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1 if self.webhook_url else 0,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
        self._state.events.append(event)
        self._pending.append(event)
        return event

    def signed(
        self, event: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None
    ) -> tuple[bytes, str]:
        """The body and ``Stripe-Signature`` header Stripe would send for ``event``."""
        body = orjson.dumps(event)
        key = secret or self.webhook_secret
        if not key:
            raise RuntimeError("the emulator has no webhook secret")
        return body, sign_payload(body, key, timestamp)

    async def _flush(self) -> None:
        """Deliver the events created by the last action, in order (after the action answered its caller)."""
        with self._lock:
            pending, self._pending[:] = list(self._pending), []
        if not self.auto_deliver:
            return
        for event in pending:
            await self.deliver(event)

    async def deliver(self, event: dict[str, Any]) -> Delivery:
        """POST ``event`` to the webhook endpoint, signed; the outcome is kept in ``deliveries``."""
        if not self.webhook_url or not self.webhook_secret:
            delivery = Delivery(event["id"], None, "no webhook endpoint")
        else:
            body, header = self.signed(event)
            try:
                async with httpx.AsyncClient(timeout=30) as client:
                    r = await client.post(
                        self.webhook_url,
                        content=body,
                        headers={"content-type": "application/json; charset=utf-8", "stripe-signature": header},
                    )
                delivery = Delivery(event["id"], r.status_code, None if r.is_success else r.text[:500])
            except httpx.HTTPError as exc:
                delivery = Delivery(event["id"], None, str(exc) or type(exc).__name__)
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    async def redeliver(self, event_id: str) -> Delivery:
        """Deliver a stored event again (Stripe retries and the dashboard's "Resend")."""
        for event in self.events:
            if event["id"] == event_id:
                return await self.deliver(event)
        raise KeyError(event_id)

    # -- hosted pages ---------------------------------------------------------------------------

    async def _checkout_page(self, request: Request) -> Response:
        try:
            session = self._get("checkout.session", request.path_params["id"])
        except StripeError as exc:
            return _html(_message("Not found", exc), 404)
        return _html(self._checkout_html(session))

    def _checkout_html(self, session: dict[str, Any]) -> str:
        """Stripe's hosted Checkout, in small: what is bought and for how much on one side, Pay on the other."""
        price = self._get("price", session["_line"]["price"])
        name, each = self.price_label(price)
        quantity = int(session["_line"]["quantity"])
        amount = self.price_label({**price, "unit_amount": int(price.get("unit_amount") or 0) * quantity})[1]
        trial = int(session["_subscription_data"].get("trial_period_days") or 0)
        email = session.get("customer_email") or (self._state.objects.get(str(session.get("customer"))) or {}).get(
            "email"
        )
        then = f"Then {amount}" if trial else amount
        seats = f"<p class=muted>{quantity} seats at {html.escape(each)} each</p>" if quantity > 1 else ""
        summary = (
            f'<section class=summary aria-label="Order summary"><p class=muted>Subscribe to</p>'
            f"<h1 id=product>{html.escape(name)}</h1>"
            + (f"<p class=headline id=trial>{trial}-day free trial</p>" if trial else "")
            + f"<p class={'muted' if trial else 'headline'} id=amount>{html.escape(then)}</p>{seats}</section>"
        )
        if session["status"] == "open":
            action = (
                f'<form method=post action="/checkout/{session["id"]}/pay">'
                + (f"<p class=muted>Paying as {html.escape(str(email))}</p>" if email else "")
                + "<p class=card>Test card <span class=mono>4242 4242 4242 4242</span></p>"
                + "<button id=pay class=primary>Pay</button>"
                + "<p class=muted><small>A local Stripe emulator: nothing is charged.</small></p></form>"
                f'<form method=post action="/checkout/{session["id"]}/cancel">'
                "<button id=cancel class=link>Cancel</button></form>"
            )
        else:
            action = f"<p>Status: <span id=status>{html.escape(str(session['status']))}</span></p>"
        return _page(
            f"Subscribe to {name}", f"<div class=checkout>{summary}<section class=pay>{action}</section></div>"
        )

    async def _checkout_pay(self, request: Request) -> Response:
        session_id = request.path_params["id"]
        try:
            self.pay(session_id)
        except StripeError as exc:
            return _html(_message("Checkout", exc), exc.status)
        self._save()
        await self._flush()
        url = str(self._state.objects[session_id]["success_url"]).replace("{CHECKOUT_SESSION_ID}", session_id)
        return RedirectResponse(url, 303)

    async def _checkout_cancel(self, request: Request) -> Response:
        try:
            session = self._get("checkout.session", request.path_params["id"])
        except StripeError as exc:
            return _html(_message("Checkout", exc), 404)
        return RedirectResponse(session.get("cancel_url") or session["success_url"], 303)

    async def _portal_page(self, request: Request) -> Response:
        try:
            session = self._get("billing_portal.session", request.path_params["id"])
        except StripeError as exc:
            return _html(_message("Not found", exc), 404)
        rows = []
        for sub in self.objects("subscription"):
            if sub["customer"] != session["customer"]:
                continue
            item = sub["items"]["data"][0]
            actions = "".join(
                f'<form method=post action="/portal/{session["id"]}/{a}/{sub["id"]}" class=inline>'
                f"<button name={a}>{label}</button></form>"
                for a, label in (
                    ("renew", "Renew (pay next period)"),
                    ("fail", "Fail next payment"),
                    ("cancel_at_period_end", "Cancel at period end"),
                    ("cancel", "Cancel now"),
                )
                if sub["status"] != "canceled"
            )
            name, amount = self.price_label(item["price"])
            rows.append(
                f"<tr><td>{sub['id']}</td><td>{html.escape(name)}<br><small>{html.escape(amount)}</small></td>"
                f"<td>{item['quantity']}</td>"
                f"<td class=status>{sub['status']}</td><td>{sub['cancel_at_period_end']}</td>"
                f"<td>{item['current_period_end']}</td><td>{actions}</td></tr>"
            )
        back = session.get("return_url")
        body = (
            "<div class='box table'><table><tr><th>Subscription</th><th>Plan</th><th>Seats</th><th>Status</th>"
            "<th>Cancels at period end</th><th>Period end</th><th></th></tr>" + "".join(rows) + "</table></div>"
        ) + (f'<p><a href="{html.escape(back)}">Return</a></p>' if back else "")
        return _html(_page("Billing portal (Stripe emulator)", "<h1>Billing portal</h1>" + body))

    async def _portal_action(self, request: Request) -> Response:
        session_id, action, sub_id = (request.path_params[k] for k in ("id", "action", "sub"))
        try:
            session = self._get("billing_portal.session", session_id)
            sub = self._get("subscription", sub_id)
            if sub["customer"] != session["customer"]:
                raise _missing("subscription", sub_id)
            self._act(action, sub_id)
        except StripeError as exc:
            return _html(
                _message("Billing portal", exc),
                exc.status,
            )
        self._save()
        await self._flush()
        return RedirectResponse(f"/portal/{session_id}", 303)

    def _act(self, action: str, sub_id: str) -> dict[str, Any]:
        if action == "renew":
            return self.renew(sub_id)
        if action in ("fail", "fail_payment"):
            return self.fail_payment(sub_id)
        if action == "cancel":
            return self.cancel(sub_id)
        if action == "cancel_at_period_end":
            return self.cancel_at_period_end(sub_id)
        raise StripeError(404, f"Unknown action: {action}")

    # -- control (another process steering the emulator) ------------------------------------------

    async def _control(self, request: Request) -> Response:
        try:
            sub = self._act(request.path_params["action"], request.path_params["id"])
        except StripeError as exc:
            return exc.response()
        self._save()
        await self._flush()
        return _json(sub)

    async def _control_pay(self, request: Request) -> Response:
        try:
            sub = self.pay(request.path_params["id"])
        except StripeError as exc:
            return exc.response()
        self._save()
        await self._flush()
        return _json(sub)

    async def _control_events(self, request: Request) -> Response:
        return _json({"events": self.events, "deliveries": [d.__dict__ for d in self.deliveries]})

    async def _control_prices(self, request: Request) -> Response:
        """Create the prices a JSON body lists (``{"prices": [{"id", "unit_amount", "interval", "name"}]}``)
        unless they exist: how ``tenantry dev`` adds a plan declared while it runs."""
        try:
            body = orjson.loads(await request.body())
            wanted = body["prices"]
            if not isinstance(wanted, list):
                raise TypeError("'prices' must be a list")
            created = []
            for spec in wanted:
                interval = str(spec.get("interval") or "month")
                if interval not in PERIODS:
                    raise ValueError(f"unknown interval {interval!r}")
                _, new = self.ensure_price(
                    str(spec["id"]), int(spec.get("unit_amount", 1000)), interval, spec.get("name")
                )
                if new:
                    created.append(str(spec["id"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            return StripeError(400, f"Invalid prices: {exc}").response()
        return _json({"created": created})

    async def _stylesheet(self, request: Request) -> Response:
        return Response(_CSS, media_type="text/css", headers={"cache-control": "public, max-age=3600"})

    async def _control_resend(self, request: Request) -> Response:
        try:
            delivery = await self.redeliver(request.path_params["id"])
        except KeyError:
            return _missing("event", request.path_params["id"]).response()
        return _json(delivery.__dict__)


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without the emulator's private bookkeeping (keys starting with ``_``)."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _list(url: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(items, key=lambda o: o.get("created", 0), reverse=True)
    return {"object": "list", "data": ordered, "has_more": False, "url": url}


# The hosted pages' own style sheet, served from the emulator (no inline style: its pages' policy
# allows styles from itself only), in the manner of Stripe's hosted Checkout.
_CSS = """
:root{color-scheme:light dark;--bg:#f6f8fa;--card:#fff;--text:#1a1f36;--muted:#6a7383;--line:#e3e8ee;
--accent:#635bff;--accent-text:#fff;--link:#4f46e5}
@media (prefers-color-scheme:dark){:root{--bg:#0f1320;--card:#171c2c;--text:#e6e9f0;--muted:#9aa3b5;
--line:#2a3146;--link:#a5a0ff}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--text)}
header{padding:1rem 1.5rem;border-bottom:1px solid var(--line);background:var(--card);font-weight:600}
header span{color:var(--muted);font-weight:400;margin-left:.5rem;font-size:.85rem}
main{max-width:60rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.4rem;margin:.1rem 0 .6rem}
.checkout{display:grid;grid-template-columns:1fr 1fr;gap:1.5rem}
@media (max-width:40rem){.checkout{grid-template-columns:1fr}}
section,.box{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:1.5rem}
.headline{font-size:1.8rem;font-weight:700;margin:.2rem 0}
.muted{color:var(--muted);margin:.2rem 0}
.card{border:1px solid var(--line);border-radius:8px;padding:.7rem .9rem;margin:.8rem 0}
.mono{font-family:ui-monospace,monospace;letter-spacing:.05em}
button{font:inherit;cursor:pointer;border-radius:8px;padding:.55rem 1rem;border:1px solid var(--line);
background:var(--card);color:var(--text);margin:.2rem .2rem .2rem 0}
button.primary{width:100%;background:var(--accent);border-color:var(--accent);color:var(--accent-text);
font-weight:600;padding:.75rem 1rem;margin:.4rem 0}
button.link{border:0;background:none;color:var(--muted);text-decoration:underline;padding:.3rem 0}
button:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
table{width:100%;border-collapse:collapse}
td,th{padding:.45rem .6rem;text-align:left;border-bottom:1px solid var(--line);vertical-align:top}
.table{overflow-x:auto}
a{color:var(--link)}
.inline{display:inline}
"""
_POLICY = "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"


def _html(text: str, status: int = 200) -> HTMLResponse:
    """A hosted page, under a policy that allows nothing but the emulator's own style sheet."""
    return HTMLResponse(text, status, headers={"content-security-policy": _POLICY})


def _message(title: str, exc: Exception) -> str:
    """A hosted page that only says what went wrong."""
    return _page(title, f"<div class=box><h1>{html.escape(title)}</h1><p>{html.escape(str(exc))}</p></div>")


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        '<link rel=stylesheet href="/static/checkout.css">'
        "</head><body><header>Stripe<span>local emulator · test mode</span></header>"
        f"<main>{body}</main></body></html>"
    )


def start_stripe_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    prices: dict[str, int] | None = None,
    state_file: Path | None = None,
) -> tuple[StripeEmulator, RunningServer]:
    """Serve a new emulator on ``host:port`` (``0``: any free port) in a background thread.

    The socket is bound first so the emulator knows its own URL (the pages it links to).
    """
    sock = bind_socket(host, port)
    try:
        emulator = StripeEmulator(
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            prices=prices,
            base_url=format_base_url(host, sock.getsockname()[1]),
            state_file=state_file,
        )
    except BaseException:
        sock.close()
        raise
    return emulator, run_in_thread(emulator, sock=sock)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the emulator on a port (``python -m tenantry.emulators.stripe``)."""
    import uvicorn

    parser = argparse.ArgumentParser(description="A local Stripe for development and tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--webhook-secret", default=None)
    parser.add_argument("--price", action="append", default=[], help="a price id to create (repeatable)")
    parser.add_argument("--state-file", type=Path, default=None, help="keep objects and events in this JSON file")
    args = parser.parse_args(argv)
    emulator = StripeEmulator(
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        prices=dict.fromkeys(args.price, 1000),
        base_url=f"http://{args.host}:{args.port}",
        state_file=args.state_file,
    )
    uvicorn.run(emulator, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
