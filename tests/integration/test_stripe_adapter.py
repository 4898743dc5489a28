"""The Stripe adapter beyond the shared contract: the calls localstripe cannot serve (listing payments and
refunds since a time, Stripe's card error naming its PaymentIntent) against recorded answers, and the
idempotency of charges against the local server process."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe

from elearning_adapters.payments.stripe_gateway import STRIPE_API_VERSION, StripePaymentGateway
from elearning_core.payment.model import Money, PaymentRequest, PaymentStatus
from elearning_core.payment.ports import GatewayUnavailable
from tests.stripe_test_server import API_KEY, localstripe  # noqa: F401

RECORDED = Path(__file__).with_name("recorded") / "stripe_lists.json"


class RecordedStripe(stripe.HTTPClient):
    """Answers the SDK from recorded responses (by method and path, pages in order) and keeps every request."""

    name = "recorded"

    def __init__(self, answers: dict[str, list[dict[str, Any]]]) -> None:
        super().__init__()
        self._answers = {key: list(pages) for key, pages in answers.items() if not key.startswith("_")}
        self.requests: list[tuple[str, str, dict[str, list[str]], Mapping[str, str]]] = []

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        parts = urlsplit(url)
        query = parse_qs(parts.query or (post_data.decode() if isinstance(post_data, bytes) else post_data or ""))
        self.requests.append((method.upper(), parts.path, query, dict(headers)))
        answer = dict(self._answers[f"{method.upper()} {parts.path}"].pop(0))
        status = answer.pop("_status", 200)
        return json.dumps(answer).encode(), status, {"request-id": "req_recorded"}

    async def close_async(self) -> None:
        return None


def recorded() -> tuple[StripePaymentGateway, RecordedStripe]:
    client = RecordedStripe(json.loads(RECORDED.read_text()))
    return StripePaymentGateway("sk_test_recorded", http_client=client, max_network_retries=0), client


async def test_payments_since_pages_through_the_list_oldest_first() -> None:
    gateway, client = recorded()
    since = datetime(2026, 12, 6, tzinfo=UTC)
    payments = await gateway.payments_since(since)
    assert [p.id for p in payments] == ["pi_3QolderBBB", "pi_3QnewerAAA"]
    assert (payments[0].status, payments[0].amount) == (PaymentStatus.SUCCEEDED, Money(4900, "EUR"))
    assert (payments[1].status, payments[1].decline_code) == (PaymentStatus.FAILED, "insufficient_funds")
    first, second = client.requests
    assert first[2]["created[gte]"] == [str(int(since.timestamp()))]
    assert second[2]["starting_after"] == ["pi_3QnewerAAA"]
    assert all(headers["Stripe-Version"] == STRIPE_API_VERSION for *_, headers in client.requests)


async def test_payments_since_keeps_the_oldest_when_more_than_the_limit_were_created() -> None:
    gateway, client = recorded()
    payments = await gateway.payments_since(datetime(2026, 12, 6, tzinfo=UTC), limit=1)
    assert [p.id for p in payments] == ["pi_3QolderBBB"]
    assert len(client.requests) == 2  # Stripe lists newest first: the oldest is on the last page


async def test_refunds_since_read_amounts_in_minor_units() -> None:
    gateway, client = recorded()
    refunds = await gateway.refunds_since(datetime(2026, 12, 6, tzinfo=UTC))
    assert [(r.id, r.amount, r.payment_id) for r in refunds] == [
        ("re_3QR1", Money(1000, "EUR"), "pi_3QolderBBB"),
        ("re_3QR2", Money(900, "EUR"), "pi_3QolderBBB"),
    ]
    assert client.requests[0][2]["created[gte]"]


async def test_a_card_error_naming_its_payment_intent_is_a_failed_payment() -> None:
    gateway, client = recorded()
    request = PaymentRequest(Money(1500, "GBP"), "cus_R1", "pm_R1", "order-9", off_session=True)
    payment = await gateway.create_payment(request)
    assert (payment.id, payment.status, payment.decline_code) == (
        "pi_3QdeclinedCCC",
        PaymentStatus.FAILED,
        "insufficient_funds",
    )
    method, path, form, headers = client.requests[0]
    assert (method, path, headers["Idempotency-Key"]) == ("POST", "/v1/payment_intents", "order-9")
    assert (form["amount"], form["currency"], form["off_session"]) == (["1500"], ["gbp"], ["true"])


async def test_a_stripe_outage_is_the_transient_error() -> None:
    gateway, _ = recorded()
    with pytest.raises(GatewayUnavailable):
        await gateway.retrieve_payment("pi_busy")


async def test_concurrent_charges_with_one_key_make_one_payment_intent_on_the_server(
    request: pytest.FixtureRequest,
) -> None:
    base: str = request.getfixturevalue("localstripe")
    gateway = StripePaymentGateway(API_KEY, api_base=base)
    try:
        async with httpx.AsyncClient(base_url=base, auth=(API_KEY, ""), timeout=10) as http:
            form = {"type": "card", "card[number]": "4242424242424242", "card[exp_month]": "12"}
            method = await http.post("/v1/payment_methods", data={**form, "card[exp_year]": "2030", "card[cvc]": "123"})
            customer = await gateway.ensure_customer(f"user-{uuid.uuid4()}")
            saved = await gateway.save_payment_method(customer, method.json()["id"])
            key = f"order-{uuid.uuid4()}"
            request = PaymentRequest(Money(4900, "EUR"), customer, saved.id, key, metadata={"order_id": key})
            payments = await asyncio.wait_for(
                asyncio.gather(*(gateway.create_payment(request) for _ in range(5))), timeout=30
            )
            assert len({p.id for p in payments}) == 1
            intents = (await http.get("/v1/payment_intents", params={"limit": 100})).json()["data"]
            assert [i["id"] for i in intents if i["metadata"].get("order_id") == key] == [payments[0].id]
            charges = (await http.get("/v1/charges", params={"customer": customer})).json()["data"]
            assert len(charges) == 1
    finally:
        await gateway.aclose()
