"""Checkout over HTTP with the fake gateway, on SQLite and PostgreSQL: prices, the billing profile, coupons,
the payment saga's paths (success, decline, network error then retry, customer authentication, webhooks
before and after the answer and repeated, hold expiry, a late payment after the course filled), refunds,
and the concurrency promises (one order and one charge for 50 duplicates; a coupon's limit under 50 uses).
After each test the ledger balances per currency and no payment is booked twice."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from dependency_injector import providers
from sqlalchemy import func, select

from elearning_adapters.payments.fake import (
    DECLINED,
    NETWORK_ERROR,
    REQUIRES_ACTION,
    SUCCEEDS,
    FakePaymentGateway,
    card_token,
)
from elearning_adapters.payments.webhooks import sign
from elearning_adapters.settings import Settings
from elearning_adapters.sql.billing import ledger_transactions
from elearning_adapters.sql.checkout import orders
from elearning_core.enrollment.commands import EnrollmentSettings
from elearning_core.payment.model import PaymentRequest
from elearning_core.payment.ports import GatewayUnavailable
from elearning_core.shared.ports import SYSTEM
from tests.e2e.assessment_helpers import Person, course, person
from tests.e2e.http_helpers import ADMIN, BACKENDS, Api, assert_problem, backend_settings, open_read_pool, serve
from tests.fakes import SettableClock

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = "whsec_checkout_test"
PROFILE = {
    "name": "Ada Learner",
    "address": "1 Main St, Berlin",
    "country": "DE",
    "evidence": [{"kind": "billing_address", "country": "DE"}],
}
CLOCK = SettableClock(datetime.now(UTC))


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("checkout"), fake_webhook_secret=SECRET)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(settings: Settings) -> AsyncIterator[Api]:
    def frozen(platform: Any) -> None:
        platform.container.adapters.clock.override(providers.Object(CLOCK))

    async with serve(settings, before_app=frozen) as app:
        await open_read_pool(app)
        yield app
        await app.platform.database.dispose()


@pytest_asyncio.fixture(loop_scope="module", autouse=True)
async def books_balance(api: Api) -> AsyncIterator[None]:
    """Every test leaves the ledger balanced per currency, each payment booked once (after the paid orders'
    invoicing, which follows their ``checkout.order_paid.v1``)."""
    yield
    await drain(api)
    sums: dict[str, int] = defaultdict(int)
    for balance in await api.platform.billing.balances(SYSTEM):
        sums[balance.currency] += balance.amount
    assert all(v == 0 for v in sums.values()), sums
    async with api.platform.database.read() as conn:
        keys = (await conn.execute(select(ledger_transactions.c.key))).scalars().all()
    assert len(keys) == len(set(keys))


async def drain(api: Api) -> None:
    assert api.platform.events is not None, "the tests run the in-process transport"
    await api.platform.events.drain()


async def order_of(api: Api, who: Person, order_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/api/v1/orders/{order_id}", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def gateway(api: Api) -> FakePaymentGateway:
    found = api.platform.container.payment.gateway()
    assert isinstance(found, FakePaymentGateway)
    return found


async def buyer(api: Api) -> Person:
    who = await person(api)
    response = await api.client.put("/api/v1/me/billing-profile", json=PROFILE, headers=who.headers)
    assert response.status_code == 200, response.text
    return who


async def priced_course(api: Api, amount: int = 4900, capacity: int | None = None) -> str:
    course_id = await course(api)
    body = {"prices": [{"currency": "EUR", "amount": amount}], "tax_inclusive": True}
    response = await api.client.put(f"/api/v1/courses/{course_id}/prices", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    if capacity is not None:
        rules = EnrollmentSettings(capacity=capacity)
        await api.platform.enrollments.update_settings(SYSTEM, uuid.UUID(course_id), rules)
    return course_id


async def buy(api: Api, who: Person, course_id: str, card: str = SUCCEEDS, **extra: Any) -> Any:
    body = {"item_id": course_id, "currency": "EUR", "payment_method": card_token(card), **extra}
    key = extra.pop("key", None) or str(uuid.uuid4())
    body.pop("key", None)
    return await api.client.post("/api/v1/checkout", json=body, headers={**who.headers, "Idempotency-Key": key})


async def verdict(api: Api, who: Person, course_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/api/v1/courses/{course_id}/entitlement", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def enrolled(api: Api, who: Person, course_id: str) -> bool:
    return await api.platform.enrollments.is_enrolled(uuid.UUID(who.id), uuid.UUID(course_id))


async def deliver(api: Api, payment_id: str, kind: str, event_id: str | None = None) -> None:
    body = gateway(api).webhook_body(payment_id, kind, event_id)
    headers = {"Fake-Signature": sign(body, SECRET, int(CLOCK.now().timestamp())), "Content-Type": "application/json"}
    response = await api.client.post("/api/v1/webhooks/payments/fake", content=body, headers=headers)
    assert response.status_code in (200, 202), response.text
    await drain(api)


async def test_a_purchase_is_paid_enrolled_granted_and_invoiced(api: Api) -> None:
    who = await buyer(api)
    course_id = await priced_course(api)
    assert (await verdict(api, who, course_id))["refusal"] == "payment-required"
    response = await buy(api, who, course_id)
    assert response.status_code == 201, response.text
    order = response.json()
    assert (order["status"], order["total"], order["tax"], order["currency"]) == ("paid", 4900, 782, "EUR")
    assert order["payment_id"] is not None
    assert (await verdict(api, who, course_id))["source"] == "purchased"
    assert await enrolled(api, who, course_id)
    await drain(api)  # the invoice follows the order's checkout.order_paid.v1
    invoiced = await order_of(api, who, order["id"])
    invoices = await api.client.get("/api/v1/me/invoices", headers=who.headers)
    assert [(i["id"], i["gross"], i["tax"]) for i in invoices.json()["items"]] == [(invoiced["invoice_id"], 4900, 782)]
    mine = await api.client.get("/api/v1/orders", headers=who.headers)
    assert [o["id"] for o in mine.json()["items"]] == [order["id"]]
    assert_problem(await api.client.get(f"/api/v1/orders/{order['id']}", headers=(await person(api)).headers), 404)
    assert (await api.client.get(f"/api/v1/orders/{order['id']}", headers=ADMIN)).status_code == 200
    assert_problem(await buy(api, who, course_id), 409)


async def test_checkout_without_a_billing_profile_is_a_409_saying_so(api: Api) -> None:
    who = await person(api)
    problem = assert_problem(await buy(api, who, await priced_course(api)), 409)
    assert "billing profile" in problem["detail"]


async def test_a_decline_fails_the_order_and_gives_the_seat_back(api: Api) -> None:
    course_id = await priced_course(api, capacity=1)
    declined = await buy(api, await buyer(api), course_id, DECLINED)
    assert declined.status_code == 201, declined.text
    assert (declined.json()["status"], declined.json()["decline_code"]) == ("failed", "card_declined")
    other = await buyer(api)
    assert (await buy(api, other, course_id)).json()["status"] == "paid"
    assert await enrolled(api, other, course_id)


async def test_a_network_error_leaves_the_order_pending_and_a_retry_charges_once(api: Api) -> None:
    who = await buyer(api)
    course_id = await priced_course(api)
    fake = gateway(api)
    before = fake.charges
    key = str(uuid.uuid4())
    failed = await buy(api, who, course_id, NETWORK_ERROR, key=key)
    assert_problem(failed, 503)
    pending = (await api.client.get("/api/v1/orders", headers=who.headers)).json()["items"]
    assert [o["status"] for o in pending] == ["pending"]
    real_create = fake.create_payment
    seen: list[str] = []

    async def network_back(request: PaymentRequest) -> Any:
        """The network is back: the same card now reaches the card network (same gateway key)."""
        seen.append(request.idempotency_key)
        return await real_create(
            PaymentRequest(
                request.amount,
                request.customer_id,
                card_token(SUCCEEDS),
                request.idempotency_key,
                request.off_session,
                request.metadata,
            )
        )

    fake.create_payment = network_back  # type: ignore[method-assign]
    try:
        retried = await buy(api, who, course_id, NETWORK_ERROR, key=key)
        again = await buy(api, who, course_id, NETWORK_ERROR, key=key)
    finally:
        del fake.create_payment
    assert retried.status_code == 201, retried.text
    assert retried.json()["id"] == pending[0]["id"]
    assert retried.json()["status"] == "paid"
    assert again.json() == retried.json()
    assert seen == [f"order-{pending[0]['id']}"]
    assert fake.charges - before == 1


async def test_requires_action_then_confirm_pays_once_whatever_the_webhooks_do(api: Api) -> None:
    who = await buyer(api)
    course_id = await priced_course(api)
    started = await buy(api, who, course_id, REQUIRES_ACTION)
    order = started.json()
    assert (order["status"], order["next_action"]) == ("requires_action", "use_stripe_sdk")
    assert order["client_secret"]
    fake = gateway(api)
    fake.authenticate(order["payment_id"])
    await fake.confirm_payment(order["payment_id"])  # the provider completes it: the webhook arrives first
    await deliver(api, order["payment_id"], "payment.succeeded", "evt-" + order["id"])
    await deliver(api, order["payment_id"], "payment.succeeded", "evt-" + order["id"])  # repeated
    await deliver(api, order["payment_id"], "payment.succeeded")  # another event, same outcome
    confirmed = await api.client.post(f"/api/v1/orders/{order['id']}/confirm", headers=who.headers)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "paid"
    assert (await verdict(api, who, course_id))["source"] == "purchased"
    async with api.platform.database.read() as conn:
        payments = await conn.execute(
            select(func.count()).where(ledger_transactions.c.key == f"payment:{order['payment_id']}")
        )
        assert payments.scalar_one() == 1


async def test_a_webhook_after_the_answer_changes_nothing(api: Api) -> None:
    who = await buyer(api)
    order = (await buy(api, who, await priced_course(api))).json()
    await drain(api)
    invoiced = await order_of(api, who, order["id"])
    await deliver(api, order["payment_id"], "payment.succeeded")
    after = await order_of(api, who, order["id"])
    assert after["status"] == "paid"
    assert after["invoice_id"] == invoiced["invoice_id"] is not None


async def test_hold_expiry_gives_the_seat_back_and_a_late_payment_is_refunded_when_the_course_filled(api: Api) -> None:
    course_id = await priced_course(api, capacity=1)
    first = await buyer(api)
    waiting = (await buy(api, first, course_id, REQUIRES_ACTION)).json()
    assert waiting["seat_held"] is True
    second = await buyer(api)
    full = assert_problem(await buy(api, second, course_id), 409)  # the held seat counts
    assert full["type"] == "urn:elearning:problem:course-full"
    CLOCK.advance(timedelta(minutes=16))
    expired, _ = await api.platform.checkout.expire_holds()
    assert expired >= 1
    state = (await api.client.get(f"/api/v1/orders/{waiting['id']}", headers=first.headers)).json()
    assert state["status"] == "expired"
    assert (await buy(api, second, course_id)).json()["status"] == "paid"  # the seat was given back
    fake = gateway(api)
    fake.authenticate(waiting["payment_id"])
    late = await api.client.post(f"/api/v1/orders/{waiting['id']}/confirm", headers=first.headers)
    assert late.status_code == 200, late.text
    assert late.json()["status"] == "refunded"
    assert late.json()["refunded"] == waiting["total"]
    assert not await enrolled(api, first, course_id)
    assert (await fake.retrieve_payment(waiting["payment_id"])).amount_refunded == waiting["total"]


async def test_partial_then_full_refund(api: Api) -> None:
    who = await buyer(api)
    course_id = await priced_course(api)
    order = (await buy(api, who, course_id)).json()
    body = {"order_id": order["id"], "amount": 900, "reason": "goodwill"}
    partial = await api.client.post(
        "/api/v1/refunds", json=body, headers={**ADMIN, "Idempotency-Key": "r1" + order["id"]}
    )
    assert partial.status_code == 201, partial.text
    assert (partial.json()["status"], partial.json()["refunded"]) == ("paid", 900)
    assert (await verdict(api, who, course_id))["allowed"] is True
    assert_problem(await api.client.post("/api/v1/refunds", json=body, headers=who.headers), 403)
    await deliver(api, order["payment_id"], "payment.refunded")  # the provider reports our own refund: no news
    rest = {"order_id": order["id"], "reason": "changed their mind"}
    full = await api.client.post("/api/v1/refunds", json=rest, headers={**ADMIN, "Idempotency-Key": "r2" + order["id"]})
    assert (full.json()["status"], full.json()["refunded"]) == ("refunded", 4900)
    assert (await verdict(api, who, course_id))["refusal"] == "refunded"
    assert await enrolled(api, who, course_id)  # progress and enrollment stay; access ends


async def test_a_refund_made_at_the_provider_is_booked_once(api: Api) -> None:
    who = await buyer(api)
    course_id = await priced_course(api)
    order = (await buy(api, who, course_id)).json()
    await gateway(api).refund(order["payment_id"], idempotency_key="dashboard-" + order["id"])
    await deliver(api, order["payment_id"], "payment.refunded", "evt-refund-" + order["id"])
    await deliver(api, order["payment_id"], "payment.refunded")
    after = (await api.client.get(f"/api/v1/orders/{order['id']}", headers=who.headers)).json()
    assert (after["status"], after["refunded"]) == ("refunded", 4900)
    assert (await verdict(api, who, course_id))["refusal"] == "refunded"


async def test_fifty_concurrent_duplicates_make_one_order_and_one_charge(api: Api) -> None:
    who = await buyer(api)
    course_id = await priced_course(api)
    fake = gateway(api)
    before = fake.charges
    key = str(uuid.uuid4())
    answers = await asyncio.gather(*(buy(api, who, course_id, key=key) for _ in range(50)))
    assert {a.status_code for a in answers} <= {201, 409}
    assert any(a.status_code == 201 for a in answers)
    assert len({a.json()["id"] for a in answers if a.status_code == 201}) == 1
    async with api.platform.database.read() as conn:
        count = await conn.execute(select(func.count()).where(orders.c.customer_id == uuid.UUID(who.id)))
        assert count.scalar_one() == 1
    assert fake.charges - before == 1


async def test_a_coupon_of_ten_redemptions_gives_exactly_ten_of_fifty_concurrent_checkouts(api: Api) -> None:
    course_id = await priced_course(api)
    code = f"TEN{uuid.uuid4().hex[:8].upper()}"
    made = await api.client.post(
        "/api/v1/coupons", json={"code": code, "percent_off": 20, "max_redemptions": 10}, headers=ADMIN
    )
    assert made.status_code == 201, made.text
    buyers = [await buyer(api) for _ in range(50)]
    answers = await asyncio.gather(*(buy(api, b, course_id, coupon=code) for b in buyers))
    paid = [a.json() for a in answers if a.status_code == 201]
    refused = [a.json() for a in answers if a.status_code == 409]
    assert [a.text for a in answers if a.status_code not in (201, 409)] == []
    assert (len(paid), len(refused)) == (10, 40)
    assert {p["total"] for p in paid} == {3920}
    assert {r["type"] for r in refused} == {"urn:elearning:problem:coupon-used-up"}
    coupon = (await api.client.get(f"/api/v1/coupons/{code}", headers=ADMIN)).json()
    assert coupon["redeemed"] == 10


async def test_a_free_order_skips_the_gateway_and_bad_input_is_refused(api: Api) -> None:
    course_id = await priced_course(api)
    code = f"FREE{uuid.uuid4().hex[:6].upper()}"
    await api.client.post("/api/v1/coupons", json={"code": code, "percent_off": 100}, headers=ADMIN)
    who = await buyer(api)
    free = await api.client.post(
        "/api/v1/checkout", json={"item_id": course_id, "currency": "EUR", "coupon": code}, headers=who.headers
    )
    assert free.status_code == 201, free.text
    assert (free.json()["status"], free.json()["total"], free.json()["payment_id"]) == ("paid", 0, None)
    assert_problem(await buy(api, await buyer(api), course_id, currency="USD"), 409)
    assert_problem(await api.client.post("/api/v1/checkout", json={"item_id": "x"}, headers=who.headers), 422)
    assert_problem(
        await api.client.post("/api/v1/coupons", json={"code": "bad code", "percent_off": 5}, headers=ADMIN), 422
    )
    assert_problem(
        await api.client.post("/api/v1/coupons", json={"code": "ZZ", "percent_off": 5}, headers=who.headers), 403
    )
    assert GatewayUnavailable  # the network error's type, named in the saga's docs
