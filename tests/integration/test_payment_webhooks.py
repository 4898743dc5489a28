"""The payment webhook endpoint on a real database (SQLite file, then PostgreSQL): signatures are checked
before anything is written, a repeated delivery (even five at once) has one effect, and deliveries out of
order end in the right state."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from elearning_adapters.payments.webhooks import sign
from elearning_adapters.settings import Settings
from elearning_adapters.sql.outbox import outbox
from elearning_adapters.sql.payment import payment_records, payment_webhook_events
from elearning_core.payment.model import PaymentStatus
from tests.e2e.http_helpers import BACKENDS, Api, assert_problem, backend_settings, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

FAKE_SECRET = "whsec_fake_test"
STRIPE_SECRETS = "whsec_stripe_old,whsec_stripe_new"
FAKE = "/api/v1/webhooks/payments/fake"
STRIPE = "/api/v1/webhooks/payments/stripe"


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(
        request,
        tmp_path_factory.mktemp("payments"),
        fake_webhook_secret=FAKE_SECRET,
        stripe_webhook_secret=STRIPE_SECRETS,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app
        await app.platform.database.dispose()


@pytest_asyncio.fixture(loop_scope="module")
async def api(running: Api) -> Api:
    return await running.reset()


def fake_event(event_id: str, kind: str, payment_id: str = "pay_1", **payment: Any) -> bytes:
    document = {
        "id": event_id,
        "type": kind,
        "data": {
            "payment": {
                "id": payment_id,
                "amount": 4900,
                "currency": "EUR",
                "metadata": {"order_id": "ord_1"},
                **payment,
            }
        },
    }
    return json.dumps(document).encode()


def stripe_event(event_id: str, kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": kind, "data": {"object": obj}}).encode()


async def deliver(api: Api, body: bytes, *, secret: str = FAKE_SECRET, at: int | None = None, path: str = FAKE) -> Any:
    header = "Stripe-Signature" if path == STRIPE else "Fake-Signature"
    signature = sign(body, secret, int(time.time()) if at is None else at)
    return await api.client.post(path, content=body, headers={header: signature, "Content-Type": "application/json"})


async def counts(api: Api) -> tuple[int, int, list[str]]:
    async with api.platform.database.read() as conn:
        inbox = (await conn.execute(select(func.count()).select_from(payment_webhook_events))).scalar_one()
        records = (await conn.execute(select(func.count()).select_from(payment_records))).scalar_one()
        types = list((await conn.execute(select(outbox.c.event_type).order_by(outbox.c.id))).scalars())
    return inbox, records, types


async def test_five_concurrent_deliveries_of_one_event_have_one_effect(api: Api) -> None:
    body = fake_event("evt_replayed", "payment.succeeded")
    responses = await asyncio.wait_for(asyncio.gather(*(deliver(api, body) for _ in range(5))), timeout=30)
    assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes == ["applied", "duplicate", "duplicate", "duplicate", "duplicate"]
    inbox, records, types = await counts(api)
    assert (inbox, records, types) == (1, 1, ["payment.succeeded.v1"])


async def test_a_success_delivered_after_a_failure_wins_and_a_late_failure_changes_nothing(api: Api) -> None:
    # pay_a: failed arrives first, then succeeded (a retry that succeeded, or reordering): succeeded wins.
    assert (await deliver(api, fake_event("evt_a1", "payment.failed", "pay_a", decline_code="card_declined"))).json()[
        "outcome"
    ] == "applied"
    assert (await deliver(api, fake_event("evt_a2", "payment.succeeded", "pay_a"))).json()["outcome"] == "applied"
    # pay_b: succeeded first, then a late failure and a late requires_action: both stored, neither applied.
    assert (await deliver(api, fake_event("evt_b1", "payment.succeeded", "pay_b"))).json()["outcome"] == "applied"
    assert (await deliver(api, fake_event("evt_b2", "payment.failed", "pay_b"))).json()["outcome"] == "no_effect"
    late = await deliver(api, fake_event("evt_b3", "payment.requires_action", "pay_b"))
    assert late.json()["outcome"] == "no_effect"
    for payment_id in ("pay_a", "pay_b"):
        record = await api.platform.payments.record_of("fake", payment_id)
        assert record is not None
        assert record.status is PaymentStatus.SUCCEEDED
    inbox, _, types = await counts(api)
    assert inbox == 5
    assert types == ["payment.failed.v1", "payment.succeeded.v1", "payment.succeeded.v1"]


async def test_refunds_accumulate_whatever_the_order_of_their_webhooks(api: Api) -> None:
    await deliver(api, fake_event("evt_r0", "payment.succeeded", "pay_r"))
    # Two partial refunds (1000, then 500 more): their webhooks carry the cumulative total, delivered reversed.
    assert (await deliver(api, fake_event("evt_r2", "payment.refunded", "pay_r", amount_refunded=1500))).json()[
        "outcome"
    ] == "applied"
    assert (await deliver(api, fake_event("evt_r1", "payment.refunded", "pay_r", amount_refunded=1000))).json()[
        "outcome"
    ] == "no_effect"
    record = await api.platform.payments.record_of("fake", "pay_r")
    assert record is not None
    assert (record.refunded, record.status) == (1500, PaymentStatus.SUCCEEDED)


async def test_stripe_events_with_a_rotated_secret_are_read_into_payment_events(api: Api) -> None:
    intent = {"id": "pi_123", "object": "payment_intent", "amount": 2500, "currency": "usd", "metadata": {}}
    failed = {**intent, "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds"}}
    response = await deliver(
        api, stripe_event("evt_s1", "payment_intent.payment_failed", failed), secret="whsec_stripe_old", path=STRIPE
    )
    assert response.status_code == 200, response.text
    response = await deliver(
        api, stripe_event("evt_s2", "customer.created", {"id": "cus_1"}), secret="whsec_stripe_new", path=STRIPE
    )
    assert response.json()["outcome"] == "no_effect"
    record = await api.platform.payments.record_of("stripe", "pi_123")
    assert record is not None
    assert (record.status, record.decline_code) == (PaymentStatus.FAILED, "insufficient_funds")
    assert record.amount.currency == "USD"


async def test_refusals_write_nothing(api: Api) -> None:
    body = fake_event("evt_refused", "payment.succeeded")
    assert_problem(await deliver(api, body, secret="not-the-secret"), 400)["type"].endswith("invalid-signature")
    stale = await deliver(api, body, at=int(time.time()) - 301)
    assert assert_problem(stale, 400)["type"].endswith("stale-signature")
    tampered = await api.client.post(
        FAKE,
        content=body.replace(b"4900", b"4901"),
        headers={"Fake-Signature": sign(body, FAKE_SECRET, int(time.time())), "Content-Type": "application/json"},
    )
    assert_problem(tampered, 400)
    unsigned = await api.client.post(FAKE, content=body, headers={"Content-Type": "application/json"})
    assert_problem(unsigned, 400)
    assert_problem(await deliver(api, body, path="/api/v1/webhooks/payments/paypal"), 404)
    garbage = b"[1, 2]"
    assert assert_problem(await deliver(api, garbage), 400)["type"].endswith("malformed-webhook")
    assert await counts(api) == (0, 0, [])
