"""The checkout use cases: prices, billing profiles, coupons, checkout and the order's payment saga, refunds.

The saga (docs/modules/checkout.md):

1. ``checkout`` prices the item (coupon, tax from the buyer's billing profile), and in one transaction
   creates the order, takes the coupon's redemption (a conditional update under the coupon's row lock) and
   holds a seat when the course has a capacity (the enrollment module's ``hold_seat``). Then, outside any
   transaction, it charges the gateway with the order's idempotency key and ``metadata.order_id``.
2. A success (at once, after ``confirm``, or by the ``payment.succeeded.v1`` event) completes the order in
   ONE transaction: paid, ``purchased`` grants, the enrollment (the held seat becomes it), the hold released,
   and ``checkout.order_paid.v1`` in the outbox. A repeat finds the order paid and does nothing. The
   invoice and the payment's ledger postings follow in one transaction of their own (``invoice_order``,
   the ``checkout-invoicing`` subscription, or a refund that comes first), keyed by the order and the
   payment so they happen once: an invoice takes its series' gapless number, whose lock would otherwise
   be held across the whole completion and serialise every checkout (measured: p50 2.7 s at 20/s).
3. A decline, a ``payment.failed.v1`` or the hold's expiry (``expire_holds``) fails or expires the order and
   gives back the seat and the coupon. A success after that takes a free seat if one is left; when the
   course filled meanwhile the payment is refunded automatically (the order ends ``refunded``).
4. ``refund`` (admins) and ``payment.refunded.v1`` (a refund made at the provider) credit the invoice; a
   full refund sets the order's grants ``refunded``. Each refunded total is booked once.

Re-exported from its parts: ``_base`` (wiring, errors, shared helpers), ``_catalog`` (prices, billing
profiles, coupons), ``_saga`` (the order's outcomes), ``_checkout`` (checkout, confirm, reads of orders) and
``_refunds`` (refunds and the hold-expiry job).
"""

from __future__ import annotations

from elearning_core.checkout.service._base import CheckoutConfig, PaymentUnavailable, ProfileRequired
from elearning_core.checkout.service._catalog import _Catalog
from elearning_core.checkout.service._checkout import _Checkout
from elearning_core.checkout.service._refunds import _Refunds


class CheckoutService(_Catalog, _Checkout, _Refunds):
    """The checkout module's use cases (see the parts for each group)."""


__all__ = ["CheckoutConfig", "CheckoutService", "PaymentUnavailable", "ProfileRequired"]
