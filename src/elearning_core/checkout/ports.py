"""What checkout needs: its stores, the billing profile store, one transaction across modules, and narrow
ports onto the enrollment and billing use cases (which the services satisfy; checkout never copies their rules).

A payment's success changes four modules at once (the order, the grants, the enrollment, the invoice and
its ledger postings). ``Transactions.run`` gives the work one database transaction: every unit of work the
factory it passes opens is a savepoint of it, so the other modules' use cases run joined (their
``joined(uow)``) and everything commits together, or nothing does. An event handler runs the same work in
the dispatcher's transaction, with the event's inbox row.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol, TypeVar

from elearning_core.billing.commands import Capture, IssueInvoice, Refund
from elearning_core.billing.model import BillingProfile, Invoice, TaxDecision
from elearning_core.billing.ports import BillingProfiles, BillingUnitOfWork
from elearning_core.checkout.model import Coupon, ItemKind, ItemPrices, Order
from elearning_core.enrollment.model import Enrollment
from elearning_core.enrollment.ports import EnrollmentUnitOfWork
from elearning_core.entitlement.ports import EntitlementUnitOfWork
from elearning_core.learning_path.ports import LearningPathUnitOfWork
from elearning_core.shared.events import DomainEvent, RecordsEvents
from elearning_core.shared.ports import Principal

T = TypeVar("T")

OrderKey = tuple[datetime, uuid.UUID]


class PriceStore(Protocol):
    async def get(self, kind: ItemKind, item_id: uuid.UUID) -> ItemPrices | None: ...

    async def save(self, prices: ItemPrices) -> None:
        """Replace the item's prices (none: it is no longer sold once)."""
        ...


class CouponStore(Protocol):
    async def add(self, coupon: Coupon) -> None:
        """``Conflict`` when the code exists."""
        ...

    async def get(self, code: str) -> Coupon | None: ...

    async def lock(self, code: str) -> Coupon | None:
        """The coupon, its row locked until the unit of work ends (redemptions of one coupon queue)."""
        ...

    async def list(self, after: str | None, limit: int) -> list[Coupon]:
        """In code order."""
        ...

    async def deactivate(self, code: str) -> bool: ...

    async def used_by(self, code: str, customer_id: uuid.UUID) -> int:
        """The customer's redemptions of the coupon still standing."""
        ...

    async def redeem(self, code: str, customer_id: uuid.UUID, order_id: uuid.UUID) -> bool:
        """Take one redemption with a conditional update (``redeemed < max_redemptions``); False when used up."""
        ...

    async def give_back(self, code: str, order_id: uuid.UUID) -> bool:
        """Undo the order's redemption (its payment failed or its hold expired); False when there was none."""
        ...


class OrderStore(Protocol):
    async def add(self, order: Order) -> None: ...

    async def get(self, order_id: uuid.UUID) -> Order | None: ...

    async def lock(self, order_id: uuid.UUID) -> Order | None:
        """The order, its row locked until the unit of work ends (its completions run one at a time)."""
        ...

    async def by_request(self, customer_id: uuid.UUID, request_key: str) -> Order | None: ...

    async def save(self, order: Order) -> None: ...

    async def of_customer(self, customer_id: uuid.UUID, after: OrderKey | None, limit: int) -> list[Order]:
        """Newest first."""
        ...

    async def listing(self, after: OrderKey | None, limit: int) -> list[Order]:
        """Every order, newest first (admins)."""
        ...

    async def expired_holds(self, at: datetime, limit: int) -> list[uuid.UUID]:
        """Open orders whose hold ran out at ``at``."""
        ...

    async def owed_refunds(self, limit: int) -> list[uuid.UUID]:
        """Orders refunded automatically whose gateway refund has not been made yet."""
        ...

    def record(self, event: DomainEvent) -> None:
        """An order's event, written to the outbox with the unit of work's commit."""
        ...

    def seen(self) -> list[RecordsEvents]: ...


class CheckoutUnitOfWork(
    EnrollmentUnitOfWork, LearningPathUnitOfWork, BillingUnitOfWork, EntitlementUnitOfWork, Protocol
):
    prices: PriceStore
    billing_profiles: BillingProfiles
    coupons: CouponStore
    orders: OrderStore


JoinedWork = Callable[[Callable[[], CheckoutUnitOfWork]], Awaitable[T]]


class Transactions(Protocol):
    async def run(self, work: JoinedWork[T]) -> T:
        """Run ``work`` in one transaction (see the module doc): committed when it returns, rolled back if it raises."""
        ...


class SeatKeeper(Protocol):
    """The enrollment module's use cases checkout takes part in (``EnrollmentService``)."""

    def joined(self, uow: Callable[[], EnrollmentUnitOfWork]) -> SeatKeeper: ...

    async def hold_seat(self, course_id: uuid.UUID, reference: str, user_id: uuid.UUID, until: datetime) -> bool: ...

    async def release_seat(self, reference: str) -> bool: ...

    async def enroll_purchased(self, user_id: uuid.UUID, course_id: uuid.UUID, reference: str) -> Enrollment: ...


class Invoicing(Protocol):
    """The billing module's use cases checkout books through (``BillingService``)."""

    def joined(self, uow: Callable[[], BillingUnitOfWork]) -> Invoicing: ...

    async def issue_invoice(self, actor: Principal, cmd: IssueInvoice, payment: Capture | None = None) -> Invoice:
        """Issue once per order; with ``payment``, book the capture that paid it in the same transaction."""
        ...

    async def refund(self, actor: Principal, cmd: Refund) -> object: ...


class TaxDecider(Protocol):
    def decide(self, seller_country: str, profile: BillingProfile) -> TaxDecision: ...
