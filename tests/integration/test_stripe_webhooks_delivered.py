"""Webhooks as Stripe delivers them: localstripe signs and posts its events to ``elearning serve`` (a real
process on loopback) configured for Stripe, and the payments' recorded states follow."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import httpx
import pytest

from elearning_adapters.payments.stripe_gateway import StripePaymentGateway
from elearning_core.payment.model import Money, PaymentRequest, PaymentStatus
from tests.served import serve_env, serving, wait_for
from tests.stripe_test_server import API_KEY, localstripe  # noqa: F401

SECRET = "whsec_delivered_test"


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql))


async def charge(gateway: StripePaymentGateway, http: httpx.AsyncClient, number: str) -> str:
    form = {"type": "card", "card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2030"}
    method = (await http.post("/v1/payment_methods", data={**form, "card[cvc]": "123"})).json()["id"]
    customer = await gateway.ensure_customer(f"user-{uuid.uuid4()}")
    saved = await gateway.save_payment_method(customer, method)
    request = PaymentRequest(
        Money(4900, "EUR"), customer, saved.id, f"order-{uuid.uuid4()}", metadata={"order_id": "o"}
    )
    return (await gateway.create_payment(request)).id


def test_localstripe_webhooks_reach_the_server_and_move_the_payments(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    base: str = request.getfixturevalue("localstripe")
    env = serve_env(
        tmp_path,
        payments_provider="stripe",
        stripe_api_key=API_KEY,
        stripe_api_base=base,
        stripe_webhook_secret=SECRET,
    )
    db = tmp_path / "elearning.db"
    with serving(env, tmp_path / "serve.log") as served:
        hook = f"{served.base}/api/v1/webhooks/payments/stripe"
        registered = httpx.post(
            f"{base}/_config/webhooks/platform-{uuid.uuid4().hex[:8]}", data={"url": hook, "secret": SECRET}
        )
        assert registered.status_code == 200, registered.text

        async def pay() -> tuple[str, str]:
            gateway = StripePaymentGateway(API_KEY, api_base=base)
            try:
                async with httpx.AsyncClient(base_url=base, auth=(API_KEY, ""), timeout=10) as http:
                    return await charge(gateway, http, "4242424242424242"), await charge(
                        gateway, http, "4000000000000341"
                    )
            finally:
                await gateway.aclose()

        paid, declined = asyncio.run(pay())

        def recorded() -> dict[str, tuple[object, ...]]:
            found = {r[0]: r[1:] for r in rows(db, "SELECT payment_id, status, decline_code FROM payment_records")}
            return found if {paid, declined} <= found.keys() else {}

        states = wait_for(recorded, "localstripe's webhooks to be recorded", seconds=30)
        assert states[paid] == (PaymentStatus.SUCCEEDED.value, None)
        assert states[declined] == (PaymentStatus.FAILED.value, "card_declined")
        types = {r[0] for r in rows(db, "SELECT event_type FROM outbox WHERE event_type LIKE 'payment.%'")}
        assert types == {"payment.succeeded.v1", "payment.failed.v1"}
        inbox = rows(db, "SELECT type FROM payment_webhook_events")
        assert ("payment_intent.succeeded",) in inbox
