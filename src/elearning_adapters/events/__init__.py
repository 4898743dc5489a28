"""The event backbone's transport-neutral parts: dispatching to handlers, the subscriptions, the in-process transport."""

from elearning_adapters.events.after_commit import AfterCommit, CommitListener
from elearning_adapters.events.dispatch import Dispatched, DispatchStats, EventDispatcher, Handler, Outcome
from elearning_adapters.events.inprocess import InProcessEventTransport
from elearning_adapters.events.subscriptions import Subscription, catalog_cache_subscription

__all__ = [
    "AfterCommit",
    "CommitListener",
    "DispatchStats",
    "Dispatched",
    "EventDispatcher",
    "Handler",
    "InProcessEventTransport",
    "Outcome",
    "Subscription",
    "catalog_cache_subscription",
]
