"""The platform's consumers: which handlers react to which events, under which consumer name.

A subscription's name is both its Kafka consumer group and its inbox
consumer name, so ``elearning worker consume NAME`` and the in-process
transport dedupe against the same inbox rows. A module declares its
subscriptions in its own wiring (``elearning_adapters/container/_<module>.py``),
which builds them with its adapters; the container gathers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

import elearning_core.course.events  # noqa: F401  (registers the course event types)
from elearning_adapters.cache import CachedCatalogQueries
from elearning_adapters.events.dispatch import Handler
from elearning_adapters.sql.outbox import topic_for_type
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent, registered_event_types

CATALOG_CACHE = "catalog-cache"


@dataclass(frozen=True)
class Subscription:
    name: str
    description: str
    handlers: Mapping[str, Handler]

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
