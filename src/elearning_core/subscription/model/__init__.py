"""The subscription module's model: the plan catalog (``_plan``), the subscription aggregate and its state
machine (``_subscription``), and the period and proration arithmetic (``_periods``)."""

from elearning_core.subscription.model._periods import Proration, add_months, period_boundary, prorate
from elearning_core.subscription.model._plan import (
    CODE_PATTERN,
    MAX_CODE,
    MAX_DESCRIPTION,
    MAX_INCLUDED,
    MAX_INTERVAL_COUNT,
    MAX_NAME,
    MAX_TRIAL_DAYS,
    Includes,
    Interval,
    Plan,
    PlanStatus,
    check_transition,
)
from elearning_core.subscription.model._subscription import (
    ENDED,
    Charge,
    ChargeKind,
    DunningPolicy,
    FinalAction,
    RuleBroken,
    Status,
    Subscription,
)

__all__ = [
    "CODE_PATTERN",
    "ENDED",
    "MAX_CODE",
    "MAX_DESCRIPTION",
    "MAX_INCLUDED",
    "MAX_INTERVAL_COUNT",
    "MAX_NAME",
    "MAX_TRIAL_DAYS",
    "Charge",
    "ChargeKind",
    "DunningPolicy",
    "FinalAction",
    "Includes",
    "Interval",
    "Plan",
    "PlanStatus",
    "Proration",
    "RuleBroken",
    "Status",
    "Subscription",
    "add_months",
    "check_transition",
    "period_boundary",
    "prorate",
]
