"""Checkout routes: one-time prices of courses and paths, the caller's billing profile, coupons (billing
admins), checkout and orders, refunds (billing admins). docs/modules/checkout.md tells the saga.

``POST /checkout`` and ``POST /refunds`` take an ``Idempotency-Key`` (the platform's middleware: a repeat
gets the first answer, concurrent duplicates one order). The key also names the order, so a retry after a
503 (the payment provider did not answer: never stored) finds the pending order and charges it with the
same gateway key: never twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from elearning_core.billing.commands import ProfileInput
from elearning_core.billing.model import BillingProfile
from elearning_core.checkout.commands import Checkout, CreateCoupon, RefundOrder, SetPrices
from elearning_core.checkout.model import Coupon, CouponRefused, ItemKind, ItemPrices, Order
from elearning_core.checkout.service import CheckoutService
from elearning_core.enrollment.model import EnrollmentRefused
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem, problem_responses
from elearning_http.idempotency import IDEMPOTENCY_RESPONSES, REPLAYED_HEADER, IdempotencyKey, IdempotencyMiddleware
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged
from elearning_http.routes.enrollments import enrollment_refused

ERRORS = problem_responses(400, 401, 403, 404, 409, 422)
PAYING = problem_responses(400, 401, 403, 404, 409, 422, 503)
TAGS = ["checkout"]

Req = Request[Any, Any, Any]
Service = NamedDependency[CheckoutService]
Caller = NamedDependency[Principal]


@dataclass(frozen=True, slots=True)
class PriceOut:
    currency: str
    amount: int
    """Minor units."""


@dataclass(frozen=True, slots=True)
class PricesOut:
    item_kind: str
    item_id: str
    tax_inclusive: bool
    prices: list[PriceOut]


@dataclass(frozen=True, slots=True)
class EvidenceOut:
    kind: str
    country: str


@dataclass(frozen=True, slots=True)
class ProfileOut:
    name: str
    address: str
    country: str
    evidence: list[EvidenceOut]
    tax_id: str | None


@dataclass(frozen=True, slots=True)
class CouponOut:
    code: str
    percent_off: int | None
    amounts_off: list[PriceOut]
    expires_at: dt.datetime | None
    max_redemptions: int | None
    per_customer: int | None
    items: list[str]
    active: bool
    redeemed: int
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class OrderOut:
    id: str
    customer_id: str
    item_kind: str
    item_id: str
    course_ids: list[str]
    currency: str
    price: int
    discount: int
    net: int
    tax: int
    total: int
    """What is charged, in minor units (net + tax)."""
    tax_rate_bp: int
    tax_inclusive: bool
    coupon: str | None
    status: str
    """pending, requires_action, paid, failed, expired or refunded."""
    created_at: dt.datetime
    updated_at: dt.datetime
    hold_until: dt.datetime | None
    seat_held: bool
    payment_id: str | None
    client_secret: str | None
    """With requires_action: what the customer's browser needs for the authentication step."""
    next_action: str | None
    decline_code: str | None
    invoice_id: str | None
    refunded: int
    note: str


def order_out(o: Order) -> OrderOut:
    return OrderOut(
        str(o.id),
        str(o.customer_id),
        o.item_kind.value,
        str(o.item_id),
        [str(c) for c in o.course_ids],
        o.currency,
        o.price,
        o.discount,
        o.net,
        o.tax,
        o.total,
        o.tax_rate_bp,
        o.tax_inclusive,
        o.coupon_code,
        o.status.value,
        o.created_at,
        o.updated_at,
        o.hold_until,
        o.seat_held,
        o.payment_id,
        o.client_secret,
        o.next_action,
        o.decline_code,
        str(o.invoice_id) if o.invoice_id else None,
        o.refunded,
        o.note,
    )


def _prices(p: ItemPrices) -> PricesOut:
    items = [PriceOut(c, a) for c, a in sorted(p.amounts.items())]
    return PricesOut(p.kind.value, str(p.item_id), p.tax_inclusive, items)


def _profile(p: BillingProfile) -> ProfileOut:
    return ProfileOut(
        p.name, p.address, p.country, [EvidenceOut(e.kind.value, e.country) for e in p.evidence], p.tax_id
    )


def coupon_out(c: Coupon) -> CouponOut:
    return CouponOut(
        c.code,
        c.percent_off,
        [PriceOut(cur, a) for cur, a in sorted(c.amounts_off.items())],
        c.expires_at,
        c.max_redemptions,
        c.per_customer,
        [str(i) for i in c.items],
        c.active,
        c.redeemed,
        c.created_at,
    )


def coupon_refused(request: Req, exc: CouponRefused) -> Response[dict[str, Any]]:
    return problem(409, exc.detail, code=exc.reason, request=request)


# -- prices -------------------------------------------------------------------------------------


@get(
    "/api/v1/courses/{course_id:uuid}/prices",
    tags=TAGS,
    summary="A course's one-time prices",
    description="Empty when the course is not sold once (free, or by subscription only).",
    responses=ERRORS,
)
async def get_course_prices(checkout_service: Service, course_id: FromPath[uuid.UUID]) -> PricesOut:
    return _prices(await checkout_service.prices(ItemKind.COURSE, course_id))


@put(
    "/api/v1/courses/{course_id:uuid}/prices",
    tags=TAGS,
    summary="Set a course's one-time prices (staff with course.edit)",
    description="One price per currency in minor units. A price makes the course paid (its offer's `paid_since` "
    "is recorded the first time, so learners enrolled before keep their access).",
    responses=ERRORS,
)
async def put_course_prices(
    checkout_service: Service, principal: Caller, course_id: FromPath[uuid.UUID], data: JSONBody[SetPrices]
) -> PricesOut:
    return _prices(await checkout_service.set_prices(principal, ItemKind.COURSE, course_id, data))


@get(
    "/api/v1/learning-paths/{path_id:uuid}/prices",
    tags=TAGS,
    summary="A learning path's one-time prices",
    responses=ERRORS,
)
async def get_path_prices(checkout_service: Service, path_id: FromPath[uuid.UUID]) -> PricesOut:
    return _prices(await checkout_service.prices(ItemKind.PATH, path_id))


@put(
    "/api/v1/learning-paths/{path_id:uuid}/prices",
    tags=TAGS,
    summary="Set a learning path's one-time prices (course authors)",
    description="A purchase of the path grants every course of the path as it is at the time of purchase.",
    responses=ERRORS,
)
async def put_path_prices(
    checkout_service: Service, principal: Caller, path_id: FromPath[uuid.UUID], data: JSONBody[SetPrices]
) -> PricesOut:
    return _prices(await checkout_service.set_prices(principal, ItemKind.PATH, path_id, data))


# -- billing profile ----------------------------------------------------------------------------


@get("/api/v1/me/billing-profile", tags=TAGS, summary="The caller's billing profile", responses=ERRORS)
async def get_billing_profile(checkout_service: Service, principal: Caller) -> ProfileOut:
    return _profile(await checkout_service.profile(principal))


@put(
    "/api/v1/me/billing-profile",
    tags=TAGS,
    summary="Set the caller's billing profile",
    description="Name, address, country with the evidence of it, and a tax id for businesses: checkout decides "
    "the VAT from it and prints it on the invoice.",
    responses=ERRORS,
)
async def put_billing_profile(checkout_service: Service, principal: Caller, data: JSONBody[ProfileInput]) -> ProfileOut:
    return _profile(await checkout_service.set_profile(principal, data))


# -- coupons ------------------------------------------------------------------------------------


@post(
    "/api/v1/coupons",
    tags=TAGS,
    summary="Create a coupon (billing admins)",
    description="Percent (1-100) or a fixed amount per currency; optional expiry, total and per-customer limits, "
    "and the courses or paths it is restricted to.",
    responses=ERRORS,
    status_code=HTTP_201_CREATED,
)
async def create_coupon(checkout_service: Service, principal: Caller, data: JSONBody[CreateCoupon]) -> CouponOut:
    return coupon_out(await checkout_service.create_coupon(principal, data))


@get(
    "/api/v1/coupons",
    tags=TAGS,
    summary="Coupons (billing admins)",
    description="In code order; paged.",
    responses=ERRORS,
    response_headers=LINK,
)
async def list_coupons(
    request: Req, checkout_service: Service, principal: Caller, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
) -> Response[Paged[CouponOut]]:
    return paged(request, await checkout_service.coupons(principal, cursor=cursor, limit=limit), coupon_out)


@get("/api/v1/coupons/{code:str}", tags=TAGS, summary="A coupon (billing admins)", responses=ERRORS)
async def get_coupon(checkout_service: Service, principal: Caller, code: FromPath[str]) -> CouponOut:
    return coupon_out(await checkout_service.coupon(principal, code))


@post(
    "/api/v1/coupons/{code:str}/deactivate",
    tags=TAGS,
    summary="Deactivate a coupon (billing admins)",
    description="Orders that redeemed it keep their discount.",
    responses=ERRORS,
    status_code=HTTP_200_OK,
)
async def deactivate_coupon(checkout_service: Service, principal: Caller, code: FromPath[str]) -> CouponOut:
    return coupon_out(await checkout_service.deactivate_coupon(principal, code))


# -- checkout and orders ------------------------------------------------------------------------


@post(
    "/api/v1/checkout",
    tags=TAGS,
    summary="Buy a course or a learning path",
    description="Prices the item (coupon, tax from the billing profile: 409 without one), creates the order, "
    "holds a seat of a course with a capacity, and charges the payment method. 201 with the order: `paid`, "
    "`requires_action` (with `client_secret`/`next_action`; then `POST /orders/{id}/confirm`) or `failed`. "
    "503 when the payment provider did not answer: the order stays pending and a retry with the same "
    "`Idempotency-Key` charges it (never twice). Takes an `Idempotency-Key` (docs/idempotency.md).",
    responses={**PAYING, **IDEMPOTENCY_RESPONSES},
    middleware=[IdempotencyMiddleware],
    response_headers=[REPLAYED_HEADER],
    status_code=HTTP_201_CREATED,
    exception_handlers={CouponRefused: coupon_refused, EnrollmentRefused: enrollment_refused},
)
async def checkout(
    checkout_service: Service, principal: Caller, data: JSONBody[Checkout], idempotency_key: IdempotencyKey = None
) -> OrderOut:
    return order_out(await checkout_service.checkout(principal, data, idempotency_key))


@post(
    "/api/v1/orders/{order_id:uuid}/confirm",
    tags=TAGS,
    summary="Settle an order after the customer's authentication step",
    description="Asks the payment provider for the payment's outcome and settles the order by it.",
    responses=PAYING,
    status_code=HTTP_200_OK,
)
async def confirm_order(checkout_service: Service, principal: Caller, order_id: FromPath[uuid.UUID]) -> OrderOut:
    return order_out(await checkout_service.confirm(principal, order_id))


@get(
    "/api/v1/orders",
    tags=TAGS,
    summary="The caller's orders",
    description="Newest first; paged.",
    responses=ERRORS,
    response_headers=LINK,
)
async def my_orders(
    request: Req, checkout_service: Service, principal: Caller, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
) -> Response[Paged[OrderOut]]:
    return paged(request, await checkout_service.my_orders(principal, cursor=cursor, limit=limit), order_out)


@get(
    "/api/v1/orders/{order_id:uuid}",
    tags=TAGS,
    summary="An order (its customer, billing admins)",
    responses=ERRORS,
)
async def get_order(checkout_service: Service, principal: Caller, order_id: FromPath[uuid.UUID]) -> OrderOut:
    return order_out(await checkout_service.order(principal, order_id))


@post(
    "/api/v1/refunds",
    tags=TAGS,
    summary="Refund an order, fully or partly (billing admins)",
    description="Refunds through the payment provider, credits the invoice (a credit note) and books it. A full "
    "refund ends the purchase's access (progress stays); a partial one keeps it. Returns the order. Takes an "
    "`Idempotency-Key` (docs/idempotency.md).",
    responses={**PAYING, **IDEMPOTENCY_RESPONSES},
    middleware=[IdempotencyMiddleware],
    response_headers=[REPLAYED_HEADER],
    status_code=HTTP_201_CREATED,
)
async def refund(
    checkout_service: Service, principal: Caller, data: JSONBody[RefundOrder], idempotency_key: IdempotencyKey = None
) -> OrderOut:
    del idempotency_key  # handled by IdempotencyMiddleware; declared for validation and the schema
    return order_out(await checkout_service.refund(principal, data))


CHECKOUT_HANDLERS = [
    get_course_prices,
    put_course_prices,
    get_path_prices,
    put_path_prices,
    get_billing_profile,
    put_billing_profile,
    create_coupon,
    list_coupons,
    get_coupon,
    deactivate_coupon,
    checkout,
    confirm_order,
    my_orders,
    get_order,
    refund,
]
