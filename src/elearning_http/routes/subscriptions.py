"""``/api/v1/subscriptions`` and ``/api/v1/me/payment-methods``: subscribing to a plan (oneself, or an
organization with seats), the subscription's life (cancel, resume, change plan, confirm a payment that
needs the customer's authentication), seats, and the saved payment methods off-session renewals use.

A subscription the caller may not see (not theirs, not their organization's as its admin) is a 404. A rule
refusal is a 409 whose ``type`` names the rule (``payment-declined``, ``subscription-ended``,
``no-seat-left``, ...). Subscribing and assigning a seat take an ``Idempotency-Key`` (docs/idempotency.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, Page
from elearning_core.shared.ports import Principal
from elearning_core.subscription.commands import (
    AssignSeat,
    CancelSubscription,
    ChangePlan,
    SavePaymentMethod,
    Subscribe,
)
from elearning_core.subscription.model import Status, Subscription
from elearning_core.subscription.ports import SavedMethod
from elearning_core.subscription.service import SubscriptionService
from elearning_http.errors import problem_responses
from elearning_http.idempotency import IDEMPOTENCY_RESPONSES, REPLAYED_HEADER, IdempotencyKey, IdempotencyMiddleware
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged

ERRORS = problem_responses(400, 401, 403, 404, 409, 422, 503)
TAGS = ["subscriptions"]

Req = Request[Any, Any, Any]
Service = NamedDependency[SubscriptionService]
Caller = NamedDependency[Principal]
SubscriptionId = FromPath[uuid.UUID]


@dataclass(frozen=True, slots=True)
class PaymentMethodOut:
    id: str
    provider: str
    last4: str | None
    is_default: bool
    """The method off-session renewals charge (a subscription keeps the one it was taken with)."""
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class PaymentMethodsOut:
    """A customer's wallet: at most 10 saved methods (a bounded document, not a paged list)."""

    methods: list[PaymentMethodOut]


@dataclass(frozen=True, slots=True)
class SubscriptionOut:
    id: str
    user_id: str
    """Who pays (for an organization subscription: the admin who subscribed)."""
    organization_id: str | None
    plan_code: str
    status: str
    """incomplete, trialing, active, past_due, unpaid, canceled or expired (docs/modules/subscription.md)."""
    currency: str
    amount: int
    """The price of one period, every seat, in minor units."""
    seats: int
    current_period_start: dt.datetime
    current_period_end: dt.datetime
    paid_through: dt.datetime | None
    """Access lasts until then (the trial's end while trialing)."""
    cancel_at_period_end: bool
    ended_at: dt.datetime | None
    next_retry_at: dt.datetime | None
    """While past due: the next charge attempt."""
    payment_action_required: bool
    """A payment waits for the customer's authentication: complete it, then POST .../confirm-payment."""
    credit: int
    """Minor units a downgrade left, taken off the next renewals."""
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ProrationOut:
    credit: int
    """The unused part of the old price (rounded down), minor units."""
    charge: int
    """The new price's part for the rest of the period (rounded half up)."""
    charged_now: int
    """An upgrade's charge - credit, charged at once; 0 for a downgrade (its credit is kept)."""


@dataclass(frozen=True, slots=True)
class PlanChangeOut:
    subscription: SubscriptionOut
    proration: ProrationOut


@dataclass(frozen=True, slots=True)
class SeatOut:
    subscription_id: str
    user_id: str
    seats_taken: int
    """How many of the subscription's seats are assigned now, this one included."""


@dataclass(frozen=True, slots=True)
class SeatHolderOut:
    user_id: str


def subscription_out(sub: Subscription) -> SubscriptionOut:
    return SubscriptionOut(
        id=str(sub.id),
        user_id=str(sub.user_id),
        organization_id=str(sub.organization_id) if sub.organization_id else None,
        plan_code=sub.plan_code,
        status=sub.status.value,
        currency=sub.currency,
        amount=sub.amount,
        seats=sub.seats,
        current_period_start=sub.period_start,
        current_period_end=sub.period_end,
        paid_through=sub.paid_through,
        cancel_at_period_end=sub.cancel_at_period_end,
        ended_at=sub.ended_at,
        next_retry_at=sub.next_retry_at,
        payment_action_required=sub.pending_payment_id is not None,
        credit=sub.credit,
        created_at=sub.created_at,
    )


def method_out(method: SavedMethod) -> PaymentMethodOut:
    return PaymentMethodOut(method.id, method.provider, method.last4, method.is_default, method.created_at)


# -- saved payment methods ------------------------------------------------------------------------


@post(
    "/api/v1/me/payment-methods",
    tags=TAGS,
    summary="Save a payment method for off-session renewals",
    description="`token` comes from the provider's client-side form. A card the issuer refuses is a 409 "
    "`payment-declined` naming the decline code. The new method becomes the default unless `make_default` is false.",
    status_code=HTTP_201_CREATED,
    responses=ERRORS,
)
async def save_payment_method(
    subscription_service: Service, principal: Caller, data: JSONBody[SavePaymentMethod]
) -> PaymentMethodOut:
    return method_out(await subscription_service.save_payment_method(principal, data))


@get(
    "/api/v1/me/payment-methods",
    tags=TAGS,
    summary="My saved payment methods",
    description="Oldest first; a customer keeps at most 10.",
    responses=ERRORS,
)
async def list_payment_methods(subscription_service: Service, principal: Caller) -> PaymentMethodsOut:
    return PaymentMethodsOut([method_out(m) for m in await subscription_service.payment_methods(principal)])


@delete(
    "/api/v1/me/payment-methods/{method_id:str}",
    tags=TAGS,
    summary="Forget a saved payment method",
    description="409 `payment-method-in-use` while a live subscription renews with it; 404 for one not yours.",
    status_code=HTTP_204_NO_CONTENT,
    responses=ERRORS,
)
async def delete_payment_method(subscription_service: Service, principal: Caller, method_id: FromPath[str]) -> None:
    await subscription_service.delete_payment_method(principal, method_id)


# -- subscriptions --------------------------------------------------------------------------------


@post(
    "/api/v1/subscriptions",
    tags=TAGS,
    summary="Subscribe to a plan",
    description="Yourself, or an organization you administer (`organization_id`, `seats`). A plan with a trial "
    "starts `trialing` with nothing charged; otherwise the first period is charged now with the payment method "
    "(your default one when omitted): declined is a 409 `payment-declined` and nothing is kept; a card that needs "
    "authentication leaves it `incomplete` with `payment_action_required` (authenticate, then POST "
    "`.../confirm-payment`). Takes an `Idempotency-Key` (docs/idempotency.md).",
    status_code=HTTP_201_CREATED,
    responses={**ERRORS, **IDEMPOTENCY_RESPONSES},
    middleware=[IdempotencyMiddleware],
    response_headers=[REPLAYED_HEADER],
)
async def subscribe(
    subscription_service: Service,
    principal: Caller,
    data: JSONBody[Subscribe],
    idempotency_key: IdempotencyKey = None,
) -> SubscriptionOut:
    del idempotency_key  # handled by IdempotencyMiddleware; declared for validation and the schema
    return subscription_out(await subscription_service.subscribe(principal, data))


@get(
    "/api/v1/subscriptions",
    tags=TAGS,
    summary="Subscriptions: mine, or an organization's",
    description="Newest first, paged (docs/pagination.md). `organization_id`: that organization's, for its admins "
    "(404 for others); `status` filters.",
    responses=ERRORS,
    response_headers=LINK,
)
async def list_subscriptions(
    request: Req,
    subscription_service: Service,
    principal: Caller,
    organization_id: Annotated[uuid.UUID | None, QueryParameter()] = None,
    status: Annotated[Status | None, QueryParameter()] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response[Paged[SubscriptionOut]]:
    page: Page[Subscription] = await subscription_service.subscriptions(
        principal, organization_id=organization_id, status=status, cursor=cursor, limit=limit
    )
    return paged(request, page, subscription_out)


@get(
    "/api/v1/subscriptions/{subscription_id:uuid}",
    tags=TAGS,
    summary="A subscription",
    description="404 unless it is yours or your organization's (as its admin).",
    responses=ERRORS,
)
async def get_subscription(
    subscription_service: Service, principal: Caller, subscription_id: SubscriptionId
) -> SubscriptionOut:
    return subscription_out(await subscription_service.subscription(principal, subscription_id))


@post(
    "/api/v1/subscriptions/{subscription_id:uuid}/cancel",
    tags=TAGS,
    summary="Cancel at the period's end, or now",
    description="`at_period_end` (default true): access runs until the paid period ends, then it expires "
    "(`resume` undoes it until then); false: canceled now, access ends now. 409 `subscription-ended` once ended.",
    status_code=HTTP_200_OK,
    responses=ERRORS,
)
async def cancel_subscription(
    subscription_service: Service,
    principal: Caller,
    subscription_id: SubscriptionId,
    data: JSONBody[CancelSubscription | None] = None,
) -> SubscriptionOut:
    at_period_end = data.at_period_end if data is not None else True
    return subscription_out(await subscription_service.cancel(principal, subscription_id, at_period_end=at_period_end))


@post(
    "/api/v1/subscriptions/{subscription_id:uuid}/resume",
    tags=TAGS,
    summary="Undo a pending cancel at period end",
    description="409 `not-pending-cancel` when none is pending; 409 `subscription-ended` for an ended one "
    "(subscribe anew).",
    status_code=HTTP_200_OK,
    responses=ERRORS,
)
async def resume_subscription(
    subscription_service: Service, principal: Caller, subscription_id: SubscriptionId
) -> SubscriptionOut:
    return subscription_out(await subscription_service.resume(principal, subscription_id))


@post(
    "/api/v1/subscriptions/{subscription_id:uuid}/change-plan",
    tags=TAGS,
    summary="Switch to another plan or seat count now, with proration",
    description="`plan_code`, `seats` (organization subscriptions) or both; same interval and currency. An "
    "upgrade's prorated difference (a dearer plan, more seats) is charged now (declined: 409 `payment-declined`, "
    "nothing changes); a downgrade's is kept as credit for the next renewals. During a trial nothing is "
    "prorated. 409 `subscription-not-active` unless trialing or active, `seats-in-use` below the assigned "
    "seats, `not-an-organization-subscription` for seats on a personal one.",
    status_code=HTTP_200_OK,
    responses=ERRORS,
)
async def change_plan(
    subscription_service: Service, principal: Caller, subscription_id: SubscriptionId, data: JSONBody[ChangePlan]
) -> PlanChangeOut:
    result = await subscription_service.change_plan(principal, subscription_id, data)
    proration = ProrationOut(result.proration.credit, result.proration.charge, result.charged)
    return PlanChangeOut(subscription_out(result.subscription), proration)


@post(
    "/api/v1/subscriptions/{subscription_id:uuid}/confirm-payment",
    tags=TAGS,
    summary="Complete a payment after the customer's authentication",
    description="Asks the provider for the outcome of the payment that waited for authentication: paid "
    "(active), failed (past due, or still incomplete), or 409 `payment-action-required` while it still waits; "
    "409 `no-payment-pending` when none waits.",
    status_code=HTTP_200_OK,
    responses=ERRORS,
)
async def confirm_payment(
    subscription_service: Service, principal: Caller, subscription_id: SubscriptionId
) -> SubscriptionOut:
    return subscription_out(await subscription_service.confirm_payment(principal, subscription_id))


# -- seats ----------------------------------------------------------------------------------------


@get(
    "/api/v1/subscriptions/{subscription_id:uuid}/seats",
    tags=TAGS,
    summary="An organization subscription's seat holders",
    description="In user id order, paged (docs/pagination.md). The organization's admins; 404 for others.",
    responses=ERRORS,
    response_headers=LINK,
)
async def list_seats(
    request: Req,
    subscription_service: Service,
    principal: Caller,
    subscription_id: SubscriptionId,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response[Paged[SeatHolderOut]]:
    page = await subscription_service.seats(principal, subscription_id, cursor=cursor, limit=limit)
    return paged(request, page, lambda user_id: SeatHolderOut(str(user_id)))


@post(
    "/api/v1/subscriptions/{subscription_id:uuid}/seats",
    tags=TAGS,
    summary="Assign a seat to a member of the organization",
    description="The organization's admins. 409 `not-a-member` for a user outside the organization, "
    "`no-seat-left` when every seat is taken (this holds under concurrent requests); assigning a holder again "
    "changes nothing. Takes an `Idempotency-Key` (docs/idempotency.md).",
    status_code=HTTP_201_CREATED,
    responses={**ERRORS, **IDEMPOTENCY_RESPONSES},
    middleware=[IdempotencyMiddleware],
    response_headers=[REPLAYED_HEADER],
)
async def assign_seat(
    subscription_service: Service,
    principal: Caller,
    subscription_id: SubscriptionId,
    data: JSONBody[AssignSeat],
    idempotency_key: IdempotencyKey = None,
) -> SeatOut:
    del idempotency_key  # handled by IdempotencyMiddleware; declared for validation and the schema
    holders = await subscription_service.assign_seat(principal, subscription_id, data)
    return SeatOut(str(subscription_id), str(data.user_id), len(holders))


@delete(
    "/api/v1/subscriptions/{subscription_id:uuid}/seats/{user_id:uuid}",
    tags=TAGS,
    summary="Take a seat back",
    description="The holder's access from the seat is revoked; 404 for a user without a seat.",
    status_code=HTTP_204_NO_CONTENT,
    responses=ERRORS,
)
async def revoke_seat(
    subscription_service: Service, principal: Caller, subscription_id: SubscriptionId, user_id: FromPath[uuid.UUID]
) -> None:
    await subscription_service.revoke_seat(principal, subscription_id, user_id)


SUBSCRIPTION_HANDLERS = [
    save_payment_method,
    list_payment_methods,
    delete_payment_method,
    subscribe,
    list_subscriptions,
    get_subscription,
    cancel_subscription,
    resume_subscription,
    change_plan,
    confirm_payment,
    list_seats,
    assign_seat,
    revoke_seat,
]
