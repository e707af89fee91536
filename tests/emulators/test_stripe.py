"""The Stripe emulator through the official ``stripe`` SDK, unchanged: objects, errors, idempotency, signatures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tenantry.emulators.server import RunningServer, run_in_thread
from tenantry.emulators.stripe import StripeEmulator, decode_form, start_stripe_emulator

SECRET = "whsec_emulator_test"


@pytest.fixture
def running() -> Iterator[tuple[StripeEmulator, RunningServer]]:
    emulator, server = start_stripe_emulator(prices={"price_basic": 900})
    with server:
        yield emulator, server


def client(server: RunningServer, key: str = "sk_test_123") -> stripe.StripeClient:
    return stripe.StripeClient(
        key, base_addresses={"api": server.base_url}, http_client=stripe.HTTPXClient(), max_network_retries=0
    )


def test_bracket_notation_decodes_to_nested_values() -> None:
    pairs = [
        ("line_items[0][price]", "p"),
        ("line_items[0][quantity]", "2"),
        ("metadata[org_id]", "o"),
        ("expand[]", "a"),
        ("expand[]", "b"),
        ("mode", "subscription"),
    ]
    assert decode_form(pairs) == {
        "line_items": [{"price": "p", "quantity": "2"}],
        "metadata": {"org_id": "o"},
        "expand": ["a", "b"],
        "mode": "subscription",
    }


async def test_customers_checkout_and_subscriptions_through_the_sdk(
    running: tuple[StripeEmulator, RunningServer],
) -> None:
    emulator, server = running
    sdk = client(server)
    customer = await sdk.v1.customers.create_async({"email": "a@example.com", "metadata": {"org_id": "org_1"}})
    assert customer.id.startswith("cus_") and customer.metadata["org_id"] == "org_1"
    assert (await sdk.v1.customers.retrieve_async(customer.id)).email == "a@example.com"
    session = await sdk.v1.checkout.sessions.create_async(
        {
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": "price_basic", "quantity": 3}],
            "success_url": "http://app.test/ok?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": "http://app.test/cancel",
            "subscription_data": {"metadata": {"org_id": "org_1"}},
        }
    )
    assert session.status == "open" and session.url.startswith(server.base_url + "/checkout/")
    async with httpx.AsyncClient() as http:
        page = await http.get(session.url)
        assert page.status_code == 200 and "price_basic" in page.text
        paid = await http.post(session.url + "/pay")
    assert paid.status_code == 303 and paid.headers["location"] == f"http://app.test/ok?session_id={session.id}"
    done = await sdk.v1.checkout.sessions.retrieve_async(session.id)
    assert done.status == "complete" and done.subscription
    sub = await sdk.v1.subscriptions.retrieve_async(done.subscription)
    assert sub.status == "active" and sub["items"].data[0].quantity == 3
    assert sub.metadata["org_id"] == "org_1"
    listed = await sdk.v1.subscriptions.list_async({"customer": customer.id})
    assert [s.id for s in listed.data] == [sub.id]

    updated = await sdk.v1.subscriptions.update_async(
        sub.id, {"items": [{"id": sub["items"].data[0].id, "quantity": 5}], "cancel_at_period_end": True}
    )
    assert updated["items"].data[0].quantity == 5 and updated.cancel_at_period_end is True
    canceled = await sdk.v1.subscriptions.cancel_async(sub.id)
    assert canceled.status == "canceled"
    portal = await sdk.v1.billing_portal.sessions.create_async({"customer": customer.id, "return_url": "http://a"})
    assert portal.url.startswith(server.base_url + "/portal/")
    kinds = [e["type"] for e in emulator.events]
    assert kinds == [
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.paid",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    ]
    created = [e["created"] for e in emulator.events]
    assert created == sorted(created) and len(set(created)) == len(created)


async def test_errors_have_stripes_shape(running: tuple[StripeEmulator, RunningServer]) -> None:
    _, server = running
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await client(server).v1.customers.retrieve_async("cus_nope")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    with pytest.raises(stripe.AuthenticationError):
        await client(server, key="pk_live_wrong").v1.customers.create_async({})
    with pytest.raises(stripe.InvalidRequestError) as bad_price:
        await client(server).v1.checkout.sessions.create_async(
            {"mode": "subscription", "line_items": [{"price": "price_nope"}], "success_url": "http://a"}
        )
    assert bad_price.value.param == "line_items[0][price]"
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{server.base_url}/v1/customers/cus_x")
    assert r.status_code == 401 and r.json()["error"]["type"] == "invalid_request_error"


async def test_idempotency_keys_replay_and_refuse_other_parameters(
    running: tuple[StripeEmulator, RunningServer],
) -> None:
    emulator, server = running
    sdk = client(server)
    first = await sdk.v1.customers.create_async({"email": "x@example.com"}, {"idempotency_key": "k1"})
    again = await sdk.v1.customers.create_async({"email": "x@example.com"}, {"idempotency_key": "k1"})
    assert first.id == again.id and len(emulator.objects("customer")) == 1
    with pytest.raises(stripe.IdempotencyError):
        await sdk.v1.customers.create_async({"email": "other@example.com"}, {"idempotency_key": "k1"})


async def test_webhooks_are_signed_as_stripe_signs_them() -> None:
    received: list[tuple[bytes, str]] = []

    async def endpoint(request: Request) -> Response:
        received.append((await request.body(), request.headers["stripe-signature"]))
        return Response("{}", media_type="application/json")

    with run_in_thread(Starlette(routes=[Route("/hook", endpoint, methods=["POST"])])) as app:
        emulator, server = start_stripe_emulator(
            webhook_url=f"{app.base_url}/hook", webhook_secret=SECRET, prices={"price_basic": 900}
        )
        with server:
            sdk = client(server)
            customer = await sdk.v1.customers.create_async({})
            session = await sdk.v1.checkout.sessions.create_async(
                {
                    "mode": "subscription",
                    "customer": customer.id,
                    "line_items": [{"price": "price_basic"}],
                    "success_url": "http://a",
                }
            )
            async with httpx.AsyncClient() as http:
                await http.post(f"{server.base_url}/__emulator__/checkout/{session.id}/pay")
            sub_id = emulator.objects("subscription")[0]["id"]
            async with httpx.AsyncClient() as http:
                for action in ("fail_payment", "renew", "cancel_at_period_end", "renew"):
                    r = await http.post(f"{server.base_url}/__emulator__/subscriptions/{sub_id}/{action}")
                    assert r.status_code == 200, r.text
                # Stripe's retries and the dashboard's "Resend": the same event, signed anew.
                first = emulator.events[0]["id"]
                r = await http.post(f"{server.base_url}/__emulator__/events/{first}/resend")
                assert r.status_code == 200 and r.json()["status"] == 200
    kinds = []
    for body, header in received:
        event = stripe.Webhook.construct_event(body, header, SECRET)  # the SDK's own verification
        kinds.append(event["type"])
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(body, header, "whsec_someone_else")
    assert kinds == [
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.paid",
        "invoice.payment_failed",
        "customer.subscription.updated",
        "invoice.paid",
        "customer.subscription.updated",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "checkout.session.completed",
    ]
    assert orjson.loads(received[-1][0])["id"] == orjson.loads(received[0][0])["id"]
    final = orjson.loads(received[-2][0])["data"]["object"]
    assert final["status"] == "canceled"
    assert all(d.status == 200 for d in emulator.deliveries)


async def test_prices_and_customer_updates_through_the_sdk(running: tuple[StripeEmulator, RunningServer]) -> None:
    _, server = running
    sdk = client(server)
    assert (await sdk.v1.prices.retrieve_async("price_basic")).unit_amount == 900
    made = await sdk.v1.prices.create_async(
        {"unit_amount": 4900, "currency": "usd", "recurring": {"interval": "year"}, "product": "prod_x"}
    )
    assert made.recurring.interval == "year" and made.type == "recurring"
    listed = await sdk.v1.prices.list_async()
    assert {p.id for p in listed.data} == {"price_basic", made.id}
    named = await sdk.v1.prices.create_async(
        {"unit_amount": 1900, "currency": "usd", "recurring": {"interval": "month"}, "product_data": {"name": "Team"}}
    )
    assert running[0].price_label(named.to_dict()) == ("Team", "$19.00 per month")
    customer = await sdk.v1.customers.create_async({"name": "Acme"})
    updated = await sdk.v1.customers.update_async(customer.id, {"email": "billing@acme.test", "metadata": {"k": "v"}})
    assert (updated.name, updated.email, updated.metadata["k"]) == ("Acme", "billing@acme.test", "v")


async def test_the_state_file_keeps_objects_and_events_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / ".tenantry" / "stripe-emulator.json"
    emulator, server = start_stripe_emulator(prices={"price_basic": 900}, state_file=state)
    with server:
        sdk = client(server)
        customer = await sdk.v1.customers.create_async({"email": "a@example.com", "metadata": {"org_id": "o"}})
        session = await sdk.v1.checkout.sessions.create_async(
            {
                "mode": "subscription",
                "customer": customer.id,
                "success_url": "http://app/ok",
                "line_items": [{"price": "price_basic", "quantity": 1}],
            }
        )
        async with httpx.AsyncClient() as http:
            assert (await http.post(f"{server.base_url}/checkout/{session.id}/pay")).status_code == 303
        events = [e["id"] for e in emulator.events]
    assert state.is_file() and not state.with_name(state.name + ".partial").exists()

    # A new emulator (another process, another port) on the same file: the same customer, subscription and events.
    again, server = start_stripe_emulator(prices={"price_basic": 100}, state_file=state)
    with server:
        sdk = client(server)
        assert (await sdk.v1.customers.retrieve_async(customer.id)).metadata["org_id"] == "o"
        subs = await sdk.v1.subscriptions.list_async({"customer": customer.id})
        assert [s.status for s in subs.data] == ["active"]
        assert (await sdk.v1.prices.retrieve_async("price_basic")).unit_amount == 900  # kept, not made again
        assert [e["id"] for e in again.events] == events
        later = await sdk.v1.customers.create_async({"email": "b@example.com"})
        assert later.created > max(e["created"] for e in again.events)  # times go on increasing


def test_an_unreadable_state_file_is_set_aside(tmp_path: Path) -> None:
    state = tmp_path / "stripe.json"
    state.write_text("{not json")
    emulator = StripeEmulator(state_file=state)
    assert emulator.objects("customer") == [] and emulator.events == []
    assert state.with_name("stripe.json.bad").read_text() == "{not json"
    emulator.add_price("price_x", 500, name="X")
    assert orjson.loads(state.read_bytes())["objects"]["price_x"]["unit_amount"] == 500


def test_prices_created_on_request_and_the_checkout_page_shows_the_plan(
    running: tuple[StripeEmulator, RunningServer],
) -> None:
    emulator, server = running
    specs = [
        {"id": "price_team_monthly", "unit_amount": 1900, "interval": "month", "name": "Team"},
        {"id": "price_basic", "unit_amount": 1, "interval": "month", "name": "Renamed"},
    ]
    made = httpx.post(f"{server.base_url}/__emulator__/prices", json={"prices": specs})
    assert made.status_code == 200 and made.json() == {"created": ["price_team_monthly"]}
    again = httpx.post(f"{server.base_url}/__emulator__/prices", json={"prices": specs})
    assert again.json() == {"created": []}
    bad = httpx.post(f"{server.base_url}/__emulator__/prices", json={"prices": [{"id": "p", "interval": "fortnight"}]})
    assert bad.status_code == 400 and "fortnight" in bad.json()["error"]["message"]
    assert emulator.price_label(emulator.ensure_price("price_basic")[0]) == ("price_basic", "$9.00 per month")

    form = {
        "mode": "subscription",
        "success_url": "http://app/ok",
        "line_items[0][price]": "price_team_monthly",
        "line_items[0][quantity]": "3",
        "subscription_data[trial_period_days]": "7",
    }
    made = httpx.post(
        f"{server.base_url}/v1/checkout/sessions", data=form, headers={"authorization": "Bearer sk_test_1"}
    )
    assert made.status_code == 200, made.text
    page = httpx.get(made.json()["url"])
    assert page.status_code == 200
    text = page.text
    assert "<h1 id=product>Team</h1>" in text and "7-day free trial" in text and "Then $57.00 per month" in text
    assert "3 seats at $19.00 per month each" in text and "price_team_monthly" not in text
    assert "style=" not in text and "<style" not in text and "<script" not in text
    policy = page.headers["content-security-policy"]
    assert "style-src 'self'" in policy and "script-src" not in policy and "form-action" not in policy
    css = httpx.get(f"{server.base_url}/static/checkout.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css") and ".checkout" in css.text
