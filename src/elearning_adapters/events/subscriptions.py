"""The platform's consumers: which handlers react to which events, under which consumer name.

A subscription's name is both its Kafka consumer group and its inbox
consumer name, so ``elearning worker consume NAME`` and the in-process
transport dedupe against the same inbox rows. A module declares its
subscriptions in its own wiring (``elearning_adapters/container/_<module>.py``),
which builds them with its adapters; the container gathers them.

Both transports hand a subscription its events in batches (one transaction
and, under Kafka, one offset commit per batch; see ``dispatch``). A
subscription may cap its batches with ``batch_size`` (1 = one event per
transaction) and may give a ``batch_handler`` that takes a whole batch at once
(see ``EventDispatcher``); docs/projections.md tells the whole story.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

import elearning_core.course.events  # noqa: F401  (registers the course event types)
from elearning_adapters.cache import CachedCatalogQueries
from elearning_adapters.events.dispatch import BatchHandler, Handler
from elearning_adapters.sql.outbox import topic_for_type
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent, registered_event_types

CATALOG_CACHE = "catalog-cache"


@dataclass(frozen=True)
class Subscription:
    name: str
    description: str
    handlers: Mapping[str, Handler]
    batch_size: int | None = None
    """Most events per transaction for this subscription; None: the transport's (``ELEARNING_CONSUMER_BATCH_SIZE``)."""
    batch_handler: BatchHandler | None = field(default=None, compare=False)
    """Optional: takes every new event of a batch at once instead of the per-type ``handlers`` (same effect)."""

    def __post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"subscription {self.name}: batch_size must be at least 1")

    def batch_size_within(self, transport_batch: int) -> int:
        """The batch size this subscription gets from a transport whose own batch size is ``transport_batch``."""
        return min(self.batch_size, transport_batch) if self.batch_size is not None else transport_batch

    @property
    def topics(self) -> list[str]:
        return sorted({topic_for_type(t) for t in self.handlers})


def catalog_cache_subscription(catalog: CachedCatalogQueries) -> Subscription:
    """Every course event drops what the catalog cache holds about that course (and every list page)."""

    async def invalidate(event: DomainEvent, _envelope: EventEnvelope, _conn: AsyncConnection) -> None:
        await catalog.invalidate_for(event)

    course_types = [t for t in registered_event_types() if t.startswith("course.")]
    return Subscription(
        name=CATALOG_CACHE,
        description="invalidates the cached catalog reads on every course event",
        handlers=dict.fromkeys(course_types, invalidate),
    )
