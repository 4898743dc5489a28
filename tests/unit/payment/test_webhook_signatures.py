"""Stripe's webhook signature scheme as the adapter checks it (the fake provider uses the same)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from elearning_adapters.payments.webhooks import (
    InvalidSignature,
    MalformedWebhook,
    WebhookEndpoint,
    parse_stripe_event,
    sign,
    split_secrets,
    verify_signature,
)
from elearning_core.payment.model import Money, WebhookKind

NOW = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
T = int(NOW.timestamp())
SECRET = "whsec_test_secret"
BODY = b'{"id":"evt_1","type":"payment_intent.succeeded"}'


def check(header: str | None, body: bytes = BODY, secrets: tuple[str, ...] = (SECRET,), at: datetime = NOW) -> None:
    verify_signature(header, body, secrets, now=at, tolerance=300)


def test_a_valid_signature_passes() -> None:
    check(sign(BODY, SECRET, T))


def test_the_documented_recipe_passes() -> None:
    # The digest computed here from the documented recipe, not with ``sign``; a v0 (legacy scheme) is ignored.
    import hashlib
    import hmac

    digest = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    check(f"t={T},v1={digest},v0=deadbeef")


def test_a_tampered_body_is_refused() -> None:
    with pytest.raises(InvalidSignature) as refused:
        check(sign(BODY, SECRET, T), body=BODY.replace(b"evt_1", b"evt_2"))
    assert refused.value.code == "invalid-signature"


def test_a_wrong_secret_is_refused() -> None:
    with pytest.raises(InvalidSignature, match="no signature matches"):
        check(sign(BODY, "whsec_other", T))


@pytest.mark.parametrize("offset", [-301, 301, -86_400])
def test_a_timestamp_outside_the_tolerance_is_stale_either_side(offset: int) -> None:
    with pytest.raises(InvalidSignature) as refused:
        check(sign(BODY, SECRET, T + offset))
    assert refused.value.code == "stale-signature"


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_a_timestamp_within_the_tolerance_passes(offset: int) -> None:
    check(sign(BODY, SECRET, T + offset))


def test_the_timestamp_is_signed_too() -> None:
    signature = sign(BODY, SECRET, T - 1000).split(",")[1]  # a captured old signature, replayed with a fresh t
    with pytest.raises(InvalidSignature, match="no signature matches"):
        check(f"t={T},{signature}")


def test_any_of_several_v1_signatures_may_match_while_the_provider_rolls_its_secret() -> None:
    old = sign(BODY, "whsec_old", T).split(",")[1]
    new = sign(BODY, SECRET, T).split(",")[1]
    check(f"t={T},{old},{new}")


def test_any_of_our_secrets_may_match_while_we_roll_ours() -> None:
    secrets = split_secrets(f"whsec_new, {SECRET}")
    assert secrets == ("whsec_new", SECRET)
    check(sign(BODY, SECRET, T), secrets=secrets)


@pytest.mark.parametrize("header", [None, "", "v1=abc", f"t={T}", f"t=soon,v1={'0' * 64}", "garbage"])
def test_a_missing_or_malformed_header_is_refused(header: str | None) -> None:
    with pytest.raises(InvalidSignature) as refused:
        check(header)
    assert refused.value.code == "invalid-signature"


def endpoint() -> WebhookEndpoint:
    return WebhookEndpoint("stripe", "stripe-signature", (SECRET,), parse_stripe_event)


def test_a_verified_stripe_event_is_read_in_minor_units_and_upper_case_currency() -> None:
    body = json.dumps(
        {
            "id": "evt_9",
            "type": "charge.refunded",
            "data": {"object": {"payment_intent": "pi_9", "amount": 4900, "currency": "eur", "amount_refunded": 1000}},
        }
    ).encode()
    event = endpoint().read({"stripe-signature": sign(body, SECRET, T)}, body, NOW + timedelta(seconds=5))
    assert (event.kind, event.payment_id, event.amount, event.refunded_total) == (
        WebhookKind.REFUNDED,
        "pi_9",
        Money(4900, "EUR"),
        1000,
    )


def test_an_authentic_but_unreadable_event_is_malformed() -> None:
    body = b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1", "amount": 1.5}}}'
    with pytest.raises(MalformedWebhook):
        endpoint().read({"stripe-signature": sign(body, SECRET, T)}, body, NOW)
