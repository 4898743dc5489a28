"""The ``PaymentGateway`` contract, on the fake gateway and on the Stripe adapter against localstripe.

Cards are Stripe's test numbers, so one scenario means the same on both. Where localstripe
departs from Stripe the suite keeps to what both do (see docs/modules/payment.md): a card
declined when saved is 4000000000000002, one that saves and then fails every charge is
4000000000000341; partial refunds name their amounts.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from elearning_adapters.payments.fake import FakePaymentGateway, card_token
from elearning_adapters.payments.stripe_gateway import StripePaymentGateway
from elearning_core.payment.model import Money, Payment, PaymentRequest, PaymentStatus
from elearning_core.payment.ports import GatewayRefused, GatewayUnavailable, PaymentGateway
from tests.stripe_test_server import API_KEY, localstripe  # noqa: F401

SUCCEEDS = "4242424242424242"
DECLINED = "4000000000000002"
DECLINED_ON_CHARGE = "4000000000000341"
REQUIRES_ACTION = "4000002500003155"


@dataclass
class Kit:
    gateway: PaymentGateway
    card: Callable[[str], Awaitable[str]]
    """A payment method token for a card number, as the provider's client-side form would give it."""
    authenticate: Callable[[Payment], Awaitable[None]]
    """The customer's authentication step (3-D Secure), done in their browser."""
    payment_count: Callable[[], Awaitable[int]]
    """How many payments the provider holds."""
    transient_failure: Callable[[PaymentRequest], Awaitable[Payment]]
    """A charge attempt whose network fails."""


def _closed_port() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(params=["fake", "stripe"])
async def kit(request: pytest.FixtureRequest) -> AsyncIterator[Kit]:
    if request.param == "fake":
        fake = FakePaymentGateway()

        async def fake_card(number: str) -> str:
            return card_token(number)

        async def fake_authenticate(payment: Payment) -> None:
            fake.authenticate(payment.id)

        async def fake_count() -> int:
            return len(await fake.payments_since(datetime(2000, 1, 1, tzinfo=UTC), limit=10_000))

        async def fake_network(req: PaymentRequest) -> Payment:
            return await fake.create_payment(
                PaymentRequest(req.amount, req.customer_id, card_token("4000000000000119"), req.idempotency_key)
            )

        yield Kit(fake, fake_card, fake_authenticate, fake_count, fake_network)
        return
    base: str = request.getfixturevalue("localstripe")
    gateway = StripePaymentGateway(API_KEY, api_base=base)
    broken = StripePaymentGateway(API_KEY, api_base=_closed_port(), max_network_retries=0)
    async with httpx.AsyncClient(base_url=base, auth=(API_KEY, ""), timeout=10) as http:

        async def stripe_card(number: str) -> str:
            form = {"type": "card", "card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2030"}
            response = await http.post("/v1/payment_methods", data={**form, "card[cvc]": "123"})
            response.raise_for_status()
            return str(response.json()["id"])

        async def stripe_authenticate(payment: Payment) -> None:
            form = {"client_secret": payment.client_secret or "", "success": "true"}
            (await http.post(f"/v1/payment_intents/{payment.id}/_authenticate", data=form)).raise_for_status()

        async def stripe_count() -> int:
            response = await http.get("/v1/payment_intents", params={"limit": 100})
            response.raise_for_status()
            return len(response.json()["data"])

        try:
            yield Kit(gateway, stripe_card, stripe_authenticate, stripe_count, broken.create_payment)
        finally:
            await gateway.aclose()
            await broken.aclose()


async def customer_with(kit: Kit, number: str) -> tuple[str, str]:
    customer = await kit.gateway.ensure_customer(f"user-{uuid.uuid4()}", email="ada@example.com", name="Ada")
    saved = await kit.gateway.save_payment_method(customer, await kit.card(number))
    assert saved.saved, saved
    return customer, saved.id


def a_charge(customer: str, method: str, amount: int = 4900, *, key: str | None = None) -> PaymentRequest:
    return PaymentRequest(
        Money(amount, "EUR"),
        customer,
        method,
        key or f"charge-{uuid.uuid4()}",
        off_session=True,
        metadata={"order_id": "ord_42"},
    )


async def test_a_good_card_is_saved_and_charged_off_session(kit: Kit) -> None:
    customer, method = await customer_with(kit, SUCCEEDS)
    payment = await kit.gateway.create_payment(a_charge(customer, method))
    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.amount == Money(4900, "EUR")
    assert payment.metadata == {"order_id": "ord_42"}
    assert (payment.customer_id, payment.decline_code) == (customer, None)
    again = await kit.gateway.retrieve_payment(payment.id)
    assert (again.id, again.status, again.amount) == (payment.id, PaymentStatus.SUCCEEDED, payment.amount)


async def test_a_declined_card_is_not_saved_and_says_why(kit: Kit) -> None:
    customer = await kit.gateway.ensure_customer(f"user-{uuid.uuid4()}")
    saved = await kit.gateway.save_payment_method(customer, await kit.card(DECLINED))
    assert not saved.saved
    assert saved.decline_code == "card_declined"


async def test_a_declined_charge_is_a_failed_payment_not_an_error(kit: Kit) -> None:
    customer, method = await customer_with(kit, DECLINED_ON_CHARGE)
    payment = await kit.gateway.create_payment(a_charge(customer, method))
    assert payment.status is PaymentStatus.FAILED
    assert payment.decline_code == "card_declined"
    assert (await kit.gateway.retrieve_payment(payment.id)).status is PaymentStatus.FAILED


async def test_a_card_that_requires_authentication_succeeds_once_the_customer_authenticates(kit: Kit) -> None:
    customer, method = await customer_with(kit, REQUIRES_ACTION)
    payment = await kit.gateway.create_payment(a_charge(customer, method))
    assert payment.status is PaymentStatus.REQUIRES_ACTION
    assert payment.client_secret
    assert payment.next_action
    assert (await kit.gateway.confirm_payment(payment.id)).status is PaymentStatus.REQUIRES_ACTION
    await kit.authenticate(payment)
    confirmed = await kit.gateway.confirm_payment(payment.id)
    assert confirmed.status is PaymentStatus.SUCCEEDED


async def test_the_same_idempotency_key_twice_is_one_payment(kit: Kit) -> None:
    customer, method = await customer_with(kit, SUCCEEDS)
    before = await kit.payment_count()
    first = await kit.gateway.create_payment(a_charge(customer, method, key="order-7-attempt-1"))
    second = await kit.gateway.create_payment(a_charge(customer, method, key="order-7-attempt-1"))
    assert second.id == first.id
    assert await kit.payment_count() == before + 1


async def test_partial_refunds_accumulate_and_repeat_by_key(kit: Kit) -> None:
    customer, method = await customer_with(kit, SUCCEEDS)
    payment = await kit.gateway.create_payment(a_charge(customer, method))
    first = await kit.gateway.refund(payment.id, idempotency_key="refund-1", amount=Money(1000, "EUR"))
    repeat = await kit.gateway.refund(payment.id, idempotency_key="refund-1", amount=Money(1000, "EUR"))
    rest = await kit.gateway.refund(payment.id, idempotency_key="refund-2", amount=Money(3900, "EUR"))
    assert repeat.id == first.id
    assert (first.amount, rest.amount) == (Money(1000, "EUR"), Money(3900, "EUR"))
    assert first.payment_id == payment.id
    assert (await kit.gateway.retrieve_payment(payment.id)).amount_refunded == 4900


async def test_a_full_refund_takes_the_whole_amount(kit: Kit) -> None:
    customer, method = await customer_with(kit, SUCCEEDS)
    payment = await kit.gateway.create_payment(a_charge(customer, method, 2500))
    refund = await kit.gateway.refund(payment.id, idempotency_key=f"refund-{payment.id}")
    assert (refund.amount, refund.status) == (Money(2500, "EUR"), "succeeded")


async def test_a_network_failure_raises_the_transient_error(kit: Kit) -> None:
    customer, method = await customer_with(kit, SUCCEEDS)
    before = await kit.payment_count()
    with pytest.raises(GatewayUnavailable):
        await kit.transient_failure(a_charge(customer, method))
    assert await kit.payment_count() == before


async def test_an_unknown_payment_is_refused(kit: Kit) -> None:
    with pytest.raises(GatewayRefused):
        await kit.gateway.retrieve_payment("pi_doesnotexist0000")
