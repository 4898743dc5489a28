"""Checkout events: the ``elearning.checkout`` topic's contract (the aggregate is the order)."""

from __future__ import annotations

import uuid
from typing import ClassVar

from elearning_core.shared.events import DomainEvent


class OrderPaid(DomainEvent):
    """An order was paid and its access granted. The ``checkout-invoicing`` subscription issues its invoice and
    books its payment (once: the invoice is keyed by the order, the posting by the payment)."""

    type: ClassVar[str] = "checkout.order_paid.v1"
    customer_id: uuid.UUID
    payment_id: str | None
    currency: str
    total: int
    """Minor units."""
