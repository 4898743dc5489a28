"""The Stripe payment gateway, on the ``stripe`` SDK's async client (PaymentIntents; the platform owns plans).

Pinned to ``STRIPE_API_VERSION`` (the version the pinned SDK major speaks, which the test server,
localstripe, accepts: it ignores the header and serves the current shapes). Every call that
creates something sends an ``Idempotency-Key``: Stripe answers a repeat with the first answer,
so a call that failed on the network is retried with the same key and can never charge twice.

Outcomes: a declined card is a result (a ``Payment`` with status ``failed`` and the decline code
Stripe gives), never an exception; network failures, timeouts, rate limits and 5xx answers raise
``GatewayUnavailable`` (retry with the same key); a request Stripe refuses (an unknown id, a
refund above what is left, a key reused for another request) raises ``GatewayRefused``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import stripe

from elearning_core.payment.model import (
    Money,
    Payment,
    PaymentRequest,
    PaymentStatus,
    Refund,
    SavedPaymentMethod,
)
from elearning_core.payment.ports import GatewayRefused, GatewayUnavailable

STRIPE_API_VERSION = "2026-10-28.endive"
"""The API version every request names (``Stripe-Version``); the SDK's major is pinned to match in pyproject."""

MAX_LIST_PAGES = 1_000
"""A bound on one list walk (100 objects a page): reconciliation asks for windows far smaller."""
_TRANSIENT = (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)
_STATUSES = {
    "succeeded": PaymentStatus.SUCCEEDED,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "processing": PaymentStatus.PROCESSING,
    "requires_capture": PaymentStatus.PROCESSING,
    "requires_confirmation": PaymentStatus.PROCESSING,
}


class StripePaymentGateway:
    provider = "stripe"

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        http_client: stripe.HTTPClient | None = None,
        max_network_retries: int = 1,
    ) -> None:
        self._http = http_client or stripe.HTTPXClient(timeout=20)
        self._client = stripe.StripeClient(
            api_key,
            stripe_version=STRIPE_API_VERSION,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def ensure_customer(self, reference: str, *, email: str | None = None, name: str | None = None) -> str:
        # The key makes concurrent first calls create one customer; Stripe keeps keys 24 h, so the caller
        # (the billing profile) stores the id and calls this only when it has none.
        params: Any = {"metadata": {"platform_reference": reference}}
        if email:
            params["email"] = email
        if name:
            params["name"] = name
        customer = await self._call(
            self._client.v1.customers.create_async(params, {"idempotency_key": f"elearning-customer-{reference}"})
        )
        return str(customer["id"])

    async def save_payment_method(self, customer_id: str, payment_method: str) -> SavedPaymentMethod:
        try:
            method = await self._call(
                self._client.v1.payment_methods.attach_async(payment_method, {"customer": customer_id})
            )
        except stripe.CardError as exc:
            return SavedPaymentMethod(payment_method, customer_id, decline_code=_decline_code(exc))
        card = method.get("card") or {}
        return SavedPaymentMethod(str(method["id"]), customer_id, last4=card.get("last4"))

    async def create_payment(self, request: PaymentRequest) -> Payment:
        params: Any = {
            "amount": request.amount.amount,
            "currency": request.amount.currency.lower(),
            "customer": request.customer_id,
            "payment_method": request.payment_method_id,
            "confirm": True,
            "metadata": dict(request.metadata),
        }
        if request.off_session:
            params["off_session"] = True
        try:
            intent = await self._call(
                self._client.v1.payment_intents.create_async(params, {"idempotency_key": request.idempotency_key})
            )
        except stripe.CardError as exc:
            # The intent exists and failed: Stripe names it in the error; a server that names only the charge
            # (localstripe) is asked for the charge's intent.
            intent_id = await self._intent_of_error(exc)
            if intent_id is None:
                raise GatewayRefused(f"the card was declined and no payment was named: {_decline_code(exc)}") from None
            return await self.retrieve_payment(intent_id)
        return _payment(intent)

    async def _intent_of_error(self, exc: stripe.CardError) -> str | None:
        error = exc.error
        intent = getattr(error, "payment_intent", None) if error is not None else None
        if intent is not None:
            return str(intent["id"] if isinstance(intent, dict) else intent.id)
        charge_id = _error_body(exc).get("charge")
        if not charge_id:
            return None
        charge = await self._call(self._client.v1.charges.retrieve_async(charge_id))
        return str(charge["payment_intent"]) if charge.get("payment_intent") else None

    async def confirm_payment(self, payment_id: str) -> Payment:
        intent = await self._call(self._client.v1.payment_intents.retrieve_async(payment_id))
        if intent["status"] == "requires_confirmation":
            intent = await self._call(
                self._client.v1.payment_intents.confirm_async(
                    payment_id, {}, {"idempotency_key": f"confirm-{payment_id}"}
                )
            )
        return _payment(intent)

    async def retrieve_payment(self, payment_id: str) -> Payment:
        # The latest charge, expanded, carries what has been refunded.
        params: Any = {"expand": ["latest_charge"]}
        return _payment(await self._call(self._client.v1.payment_intents.retrieve_async(payment_id, params)))

    async def refund(self, payment_id: str, *, idempotency_key: str, amount: Money | None = None) -> Refund:
        params: Any = {"payment_intent": payment_id}
        if amount is not None:
            params["amount"] = amount.amount
        refund = await self._call(self._client.v1.refunds.create_async(params, {"idempotency_key": idempotency_key}))
        return _refund(refund, payment_id)

    async def payments_since(self, since: datetime, *, limit: int = 100) -> list[Payment]:
        intents = await self._list(self._client.v1.payment_intents.list_async, since)
        return sorted((_payment(i) for i in intents), key=lambda p: (p.created_at, p.id))[:limit]

    async def refunds_since(self, since: datetime, *, limit: int = 100) -> list[Refund]:
        refunds = await self._list(self._client.v1.refunds.list_async, since)
        return sorted((_refund(r) for r in refunds), key=lambda r: (r.created_at, r.id))[:limit]

    async def _list(self, list_async: Any, since: datetime) -> list[Any]:
        """Every object created at or after ``since``, page by page. Stripe lists newest first, so the
        oldest ``limit`` the port promises are known only at the end of the list: the walk goes there
        (bounded by ``MAX_LIST_PAGES``) before the caller keeps the oldest."""
        params: Any = {"created": {"gte": int(since.timestamp())}, "limit": 100}
        found: list[Any] = []
        for _ in range(MAX_LIST_PAGES):
            page = await self._call(list_async(params))
            found.extend(page["data"])
            if not page.get("has_more") or not page["data"]:
                return found
            params = {**params, "starting_after": page["data"][-1]["id"]}
        raise GatewayRefused(
            f"more than {MAX_LIST_PAGES * 100} objects since {since.isoformat()}; ask from a later time"
        )

    @staticmethod
    async def _call(awaitable: Any) -> dict[str, Any]:
        try:
            answer = await awaitable
        except stripe.CardError:
            raise
        except _TRANSIENT as exc:
            raise GatewayUnavailable(f"Stripe did not answer: {exc.user_message or exc}") from None
        except stripe.StripeError as exc:
            raise GatewayRefused(f"Stripe refused the request: {exc.user_message or exc}") from None
        # Plain data from here on: the SDK's objects are not dicts, and the mapping below reads optional fields.
        return answer.to_dict() if isinstance(answer, stripe.StripeObject) else answer


def _decline_code(exc: stripe.CardError) -> str:
    """Stripe's ``decline_code`` (``insufficient_funds``), else the error code (``card_declined``)."""
    body = _error_body(exc)
    return str(body.get("decline_code") or body.get("code") or exc.code or "card_declined")


def _error_body(exc: stripe.CardError) -> dict[str, Any]:
    body: Any = exc.json_body or {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _when(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


def _payment(intent: dict[str, Any]) -> Payment:
    status = _STATUSES.get(intent["status"])
    decline: str | None = None
    if status is None:  # requires_payment_method after a failed attempt, or canceled
        status = PaymentStatus.FAILED
        error = intent.get("last_payment_error") or {}
        decline = error.get("decline_code") or error.get("code") or intent["status"]
    next_action = intent.get("next_action") or {}
    charge = intent.get("latest_charge")
    refunded = charge.get("amount_refunded", 0) if isinstance(charge, dict) else 0
    return Payment(
        id=str(intent["id"]),
        amount=Money(int(intent["amount"]), str(intent["currency"]).upper()),
        status=status,
        customer_id=intent.get("customer"),
        payment_method_id=intent.get("payment_method"),
        created_at=_when(intent["created"]),
        metadata={str(k): str(v) for k, v in (intent.get("metadata") or {}).items()},
        decline_code=decline,
        client_secret=intent.get("client_secret") if status is PaymentStatus.REQUIRES_ACTION else None,
        next_action=next_action.get("type") if status is PaymentStatus.REQUIRES_ACTION else None,
        amount_refunded=int(refunded or 0),
    )


def _refund(refund: dict[str, Any], payment_id: str | None = None) -> Refund:
    return Refund(
        id=str(refund["id"]),
        payment_id=str(payment_id or refund.get("payment_intent") or refund.get("charge")),
        amount=Money(int(refund["amount"]), str(refund["currency"]).upper()),
        status=str(refund["status"]),
        created_at=_when(refund["created"]),
    )
