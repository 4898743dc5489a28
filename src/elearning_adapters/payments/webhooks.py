"""Signed payment webhooks: Stripe's signature scheme, and reading each provider's events into the platform's terms.

The scheme (Stripe's, used for the fake provider too, with its own secret): the signature header
is ``t=<unix seconds>,v1=<hex>[,v1=<hex>...]`` where each ``v1`` is the HMAC-SHA256 of
``"<t>.<raw body>"`` under the endpoint secret. A delivery is authentic when any ``v1`` matches
any of the endpoint's secrets (several ``v1`` while the provider rolls its secret, several
secrets while we roll ours), compared in constant time, and ``t`` lies within the tolerance of
now (either side: a replayed old delivery and a clock far ahead are both refused). The body is
verified byte for byte before it is parsed: nothing unverified is ever read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elearning_core.payment.model import GatewayEvent, Money, WebhookKind
from elearning_core.shared.clock import Clock, SystemClock

DEFAULT_TOLERANCE_SECONDS = 300


class InvalidSignature(Exception):
    """The delivery is not provably from the provider; ``code`` names why (a problem type's last part)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class MalformedWebhook(Exception):
    """An authentic delivery whose body is not an event this adapter can read."""


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The signature header value a provider sends with ``body`` (for the fake provider and tests)."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def _digest(secret: str, timestamp: int | str, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_signature(
    header: str | None, body: bytes, secrets: tuple[str, ...], *, now: datetime, tolerance: int
) -> None:
    """Return when the delivery is authentic and fresh; raise ``InvalidSignature`` saying why otherwise."""
    if not header:
        raise InvalidSignature("invalid-signature", "the signature header is missing")
    timestamp: str | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not timestamp.isdigit() or not candidates:
        raise InvalidSignature("invalid-signature", "the signature header has no timestamp or no v1 signature")
    expected = [_digest(secret, timestamp, body) for secret in secrets]
    # Every pair is compared (no early exit on a match) so the time taken says nothing about which one matched.
    matched = False
    for candidate in candidates:
        for digest in expected:
            matched |= hmac.compare_digest(candidate.encode(), digest.encode())
    if not matched:
        raise InvalidSignature("invalid-signature", "no signature matches the body under the endpoint's secret")
    if abs(now.timestamp() - int(timestamp)) > tolerance:
        raise InvalidSignature("stale-signature", f"the signature's timestamp is more than {tolerance} s away from now")


Parser = Callable[[str, Mapping[str, Any]], GatewayEvent]


@dataclass(frozen=True)
class WebhookEndpoint:
    """One provider's webhook endpoint: its signature header, its secrets and its event reader."""

    provider: str
    header: str
    secrets: tuple[str, ...]
    parse: Parser
    tolerance: int = DEFAULT_TOLERANCE_SECONDS

    def read(self, headers: Mapping[str, str], body: bytes, now: datetime) -> GatewayEvent:
        """The verified delivery as a ``GatewayEvent``; ``InvalidSignature`` or ``MalformedWebhook`` otherwise."""
        verify_signature(headers.get(self.header), body, self.secrets, now=now, tolerance=self.tolerance)
        try:
            document = json.loads(body)
            if not isinstance(document, dict):
                raise MalformedWebhook("the event is not a JSON object")
            return self.parse(self.provider, document)
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedWebhook(f"the event cannot be read: {exc}") from None


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedWebhook(f"{what} is missing")
    return value


def _metadata(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _money(amount: Any, currency: Any) -> Money:
    if isinstance(amount, bool) or not isinstance(amount, int) or not isinstance(currency, str):
        raise MalformedWebhook("the payment's amount or currency is missing")
    return Money(amount, currency.upper())


_STRIPE_KINDS = {
    "payment_intent.succeeded": WebhookKind.SUCCEEDED,
    "payment_intent.payment_failed": WebhookKind.FAILED,
    "payment_intent.requires_action": WebhookKind.REQUIRES_ACTION,
    "charge.refunded": WebhookKind.REFUNDED,
}


def _read(
    provider: str,
    document: Mapping[str, Any],
    kinds: Mapping[str, WebhookKind],
    obj: Any,
    payment_id_field: str,
    decline_code: Callable[[dict[str, Any]], Any],
) -> GatewayEvent:
    """The event in the platform's terms: ``obj`` is the payment (or refunded charge) the event is about."""
    event_id = _text(document.get("id"), "the event id")
    event_type = _text(document.get("type"), "the event type")
    kind = kinds.get(event_type)
    if kind is None or not isinstance(obj, dict):
        return GatewayEvent(provider, event_id, event_type, None, None, None, dict(document))
    refunded = obj.get("amount_refunded", 0)
    return GatewayEvent(
        provider,
        event_id,
        event_type,
        kind,
        _text(obj.get(payment_id_field), f"the payment's {payment_id_field}"),
        _money(obj.get("amount"), obj.get("currency")),
        dict(document),
        metadata=_metadata(obj.get("metadata")),
        decline_code=decline_code(obj) if kind is WebhookKind.FAILED else None,
        refunded_total=refunded if kind is WebhookKind.REFUNDED and isinstance(refunded, int) else 0,
    )


def _stripe_decline(intent: dict[str, Any]) -> Any:
    error = intent.get("last_payment_error") or {}
    return error.get("decline_code") or error.get("code")


def parse_stripe_event(provider: str, document: Mapping[str, Any]) -> GatewayEvent:
    """A Stripe ``Event``: PaymentIntent outcomes (the decline code from ``last_payment_error``), and
    ``charge.refunded`` (the charge's cumulative ``amount_refunded``, keyed by its ``payment_intent``)."""
    obj = document.get("data", {}).get("object")
    field = "payment_intent" if document.get("type") == "charge.refunded" else "id"
    return _read(provider, document, _STRIPE_KINDS, obj, field, _stripe_decline)


_FAKE_KINDS = {kind.value: kind for kind in WebhookKind}


def parse_fake_event(provider: str, document: Mapping[str, Any]) -> GatewayEvent:
    """The fake provider's event: ``{"id", "type": "payment.succeeded"|..., "data": {"payment": {...}}}``."""
    obj = document.get("data", {}).get("payment")
    return _read(provider, document, _FAKE_KINDS, obj, "id", lambda payment: payment.get("decline_code"))


STRIPE_SIGNATURE_HEADER = "stripe-signature"
FAKE_SIGNATURE_HEADER = "fake-signature"


class WebhookEndpoints:
    """The configured providers' endpoints, by provider name (a provider without a secret has none),
    and the clock their signatures' timestamps are checked against."""

    def __init__(self, endpoints: list[WebhookEndpoint], clock: Clock | None = None) -> None:
        self._by_provider = {e.provider: e for e in endpoints}
        self._clock = clock or SystemClock()

    def now(self) -> datetime:
        return self._clock.now()

    def get(self, provider: str) -> WebhookEndpoint | None:
        return self._by_provider.get(provider)

    @property
    def providers(self) -> list[str]:
        return sorted(self._by_provider)


def split_secrets(value: str) -> tuple[str, ...]:
    """``a,b``: several secrets accepted at once while one is rolled."""
    return tuple(s.strip() for s in value.split(",") if s.strip())
