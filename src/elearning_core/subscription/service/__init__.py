"""The subscription module's use cases: the plan catalog (``_plans``) and subscriptions with their seats
and saved payment methods (``_subscriptions``)."""

from elearning_core.subscription.service._plans import EVERY_STATUS, MANAGE, PUBLIC, ImportResult, PlanService
from elearning_core.subscription.service._subscriptions import (
    ChangeResult,
    PaymentDeclined,
    SubscriptionInvoice,
    SubscriptionService,
)

__all__ = [
    "EVERY_STATUS",
    "MANAGE",
    "PUBLIC",
    "ChangeResult",
    "ImportResult",
    "PaymentDeclined",
    "PlanService",
    "SubscriptionInvoice",
    "SubscriptionService",
]
