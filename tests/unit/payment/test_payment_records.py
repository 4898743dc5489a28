"""A payment's recorded state only moves forward, whatever order its webhooks arrive in; money stays integral."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elearning_core.payment.events import PaymentFailed, PaymentRefunded, PaymentSucceeded
from elearning_core.payment.model import (
    GatewayEvent,
    Money,
    PaymentRecord,
    PaymentRequest,
    PaymentStatus,
    WebhookKind,
    moves_forward,
    payment_aggregate_id,
)

AT = datetime(2026, 12, 6, tzinfo=UTC)
AMOUNT = Money(4900, "EUR")


def event(kind: WebhookKind | None, n: int = 1, *, refunded: int = 0, decline: str | None = None) -> GatewayEvent:
    return GatewayEvent(
        "fake", f"evt_{kind}_{n}", str(kind), kind, "pay_1", AMOUNT, {}, {"order_id": "o1"}, decline, refunded
    )


def record() -> PaymentRecord:
    return PaymentRecord("fake", "pay_1", AMOUNT)


def test_failed_then_succeeded_ends_succeeded_with_both_events() -> None:
    r = record()
    assert r.apply(event(WebhookKind.FAILED, decline="card_declined"), AT)
    assert r.apply(event(WebhookKind.SUCCEEDED), AT)
    assert r.status is PaymentStatus.SUCCEEDED
    assert [type(e) for e in r.pull_events()] == [PaymentFailed, PaymentSucceeded]


def test_succeeded_then_failed_stays_succeeded_and_records_nothing_more() -> None:
    r = record()
    r.apply(event(WebhookKind.SUCCEEDED), AT)
    assert not r.apply(event(WebhookKind.FAILED), AT)
    assert not r.apply(event(WebhookKind.REQUIRES_ACTION), AT)
    assert r.status is PaymentStatus.SUCCEEDED
    assert len(r.pull_events()) == 1


def test_an_event_the_platform_does_not_act_on_changes_nothing() -> None:
    r = record()
    assert not r.apply(event(None), AT)
    assert r.status is None
    assert r.pending_events == []


def test_refunds_keep_the_largest_cumulative_total_and_count_nothing_twice() -> None:
    r = record()
    assert r.apply(event(WebhookKind.REFUNDED, 2, refunded=1500), AT)
    assert not r.apply(event(WebhookKind.REFUNDED, 1, refunded=1000), AT)
    assert not r.apply(event(WebhookKind.REFUNDED, 2, refunded=1500), AT)
    assert r.apply(event(WebhookKind.REFUNDED, 3, refunded=9999), AT)  # capped at the amount
    refunds = [e for e in r.pull_events() if isinstance(e, PaymentRefunded)]
    assert [(e.refunded_total, e.refunded_now) for e in refunds] == [(1500, 1500), (4900, 3400)]
    assert r.refunded == 4900


KINDS = [WebhookKind.REQUIRES_ACTION, WebhookKind.SUCCEEDED, WebhookKind.FAILED, WebhookKind.REFUNDED]


@given(st.lists(st.sampled_from(KINDS), max_size=8), st.randoms())
def test_any_order_of_the_same_webhooks_ends_in_the_same_state(kinds: list[WebhookKind], rnd: object) -> None:
    events = [event(k, i, refunded=(i + 1) * 100) for i, k in enumerate(kinds)]
    shuffled = events[:]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    one, other = record(), record()
    for e in events:
        one.apply(e, AT)
    for e in shuffled:
        other.apply(e, AT)
    assert (one.status, one.refunded) == (other.status, other.refunded)
    if WebhookKind.SUCCEEDED in kinds:
        assert one.status is PaymentStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("current", "reported", "forward"),
    [
        (None, PaymentStatus.REQUIRES_ACTION, True),
        (PaymentStatus.REQUIRES_ACTION, PaymentStatus.PROCESSING, True),
        (PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_ACTION, False),
        (PaymentStatus.PROCESSING, PaymentStatus.FAILED, True),
        (PaymentStatus.FAILED, PaymentStatus.SUCCEEDED, True),
        (PaymentStatus.FAILED, PaymentStatus.PROCESSING, False),
        (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, False),
        (PaymentStatus.SUCCEEDED, PaymentStatus.SUCCEEDED, False),
    ],
)
def test_the_order_of_statuses(current: PaymentStatus | None, reported: PaymentStatus, forward: bool) -> None:
    assert moves_forward(current, reported) is forward


@pytest.mark.parametrize(
    ("amount", "currency"), [(1.5, "EUR"), (-1, "EUR"), (True, "EUR"), (100, "eur"), (100, "EURO"), (100, "")]
)
def test_money_is_integral_minor_units_in_an_iso_currency(amount: object, currency: str) -> None:
    with pytest.raises(ValueError, match=r"amount|currency"):
        Money(amount, currency)  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [0, 100_000_000])
def test_a_payment_is_for_more_than_nothing_and_within_the_limit(amount: int) -> None:
    with pytest.raises(ValueError, match="between 1 and"):
        PaymentRequest(Money(amount, "EUR"), "cus", "pm", "key")


def test_a_payments_events_share_one_aggregate_id() -> None:
    assert payment_aggregate_id("fake", "pay_1") == record().aggregate_id != payment_aggregate_id("stripe", "pay_1")
