"""Payment webhooks: ``POST /api/v1/webhooks/payments/{provider}``, where providers report outcomes.

No credentials: the provider proves itself by signing the raw body (``elearning_adapters.payments.webhooks``).
The body is read as bytes and verified before anything parses it; a refusal (unknown provider, bad
or stale signature, unreadable event) writes nothing. An accepted event goes through the payment
service: stored once in the webhook inbox, and when it moves its payment forward, a domain event
in the outbox in the same transaction. A repeat is answered 200 as well (the provider stops
retrying) and has no effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK

from elearning_adapters.payments.webhooks import InvalidSignature, MalformedWebhook, WebhookEndpoints
from elearning_core.payment.service import PaymentService
from elearning_http.errors import problem, problem_responses

WEBHOOK_MAX_BYTES = 1_048_576
"""A provider's event is a few KiB; Stripe's largest stay far below this."""

_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "The provider's event, exactly as it signed it (Stripe: an Event object)",
            },
            "example": {
                "id": "evt_1QxExample",
                "object": "event",
                "type": "payment_intent.succeeded",
                "data": {"object": {"id": "pi_1QxExample", "amount": 4900, "currency": "eur", "metadata": {}}},
            },
        }
    },
}
_SIGNATURE = {
    "name": "Stripe-Signature",
    "in": "header",
    "required": False,
    "description": 'provider stripe: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">[,v1=...]`; the fake '
    "provider sends the same scheme in `Fake-Signature`",
    "schema": {"type": "string", "maxLength": 2000},
}


@dataclass(frozen=True, slots=True)
class WebhookReceipt:
    received: bool
    outcome: str
    """``applied`` (moved the payment forward), ``no_effect`` (stale or not acted on) or ``duplicate``."""


@post(
    "/api/v1/webhooks/payments/{provider:str}",
    status_code=HTTP_200_OK,
    summary="Receive a payment provider's signed webhook",
    tags=["payments"],
    opt={"public_write": True, "request_body": _BODY, "header_parameters": [_SIGNATURE]},
    request_max_body_size=WEBHOOK_MAX_BYTES,
    responses=problem_responses(400, 404, 413),
    description="The provider signs the raw body (Stripe's scheme: `Stripe-Signature`; the fake provider: "
    "`Fake-Signature`), within a tolerance of now (default 300 s). 400 `invalid-signature`, "
    "`stale-signature` or `malformed-webhook` and 404 for a provider without a configured secret write "
    "nothing. A repeated event is answered 200 with `outcome: duplicate` and has no effect.",
)
async def payment_webhook(
    request: Request[Any, Any, Any],
    provider: FromPath[str],
    payment_service: NamedDependency[PaymentService],
    webhook_endpoints: NamedDependency[WebhookEndpoints],
) -> Response[WebhookReceipt]:
    endpoint = webhook_endpoints.get(provider)
    if endpoint is None:
        return problem(404, f"no payment provider {provider[:40]!r} takes webhooks here", request=request)  # type: ignore[return-value]
    try:
        event = endpoint.read(request.headers, await request.body(), webhook_endpoints.now())
    except InvalidSignature as exc:
        return problem(400, exc.detail, code=exc.code, request=request)  # type: ignore[return-value]
    except MalformedWebhook as exc:
        return problem(400, str(exc), code="malformed-webhook", request=request)  # type: ignore[return-value]
    outcome = await payment_service.record_webhook(event)
    return Response(WebhookReceipt(received=True, outcome=outcome.value))


PAYMENT_HANDLERS = [payment_webhook]
