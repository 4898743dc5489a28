"""Fresh per-scrape figures of the event backbone: the outbox lag, consumer lag, dead letters waiting.

With Kafka they come from the broker (every group's committed offsets and
the dead-letter topics); with the in-process transport, from the database
(unpublished outbox rows per topic are what its consumers have not handled
yet, and the ``dead_letters`` table). Every probe is bounded by ``timeout``
and a failing one only zeroes the ``*_up`` gauge: a scrape never fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy import func, select

from elearning_adapters import metrics
from elearning_adapters.events import Subscription
from elearning_adapters.kafka.lag import dead_letter_depth, group_lag
from elearning_adapters.settings import Settings
from elearning_adapters.sql.dead_letters import DeadLetterStore
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.outbox import outbox

log = logging.getLogger(__name__)


async def _pending_per_topic(database: Database) -> dict[str, int]:
    query = select(outbox.c.topic, func.count()).where(outbox.c.published_at.is_(None)).group_by(outbox.c.topic)
    async with database.read() as conn:
        return {topic: int(n) for topic, n in (await conn.execute(query)).all()}


def _broker_figures(
    bootstrap: str, subscriptions: Sequence[Subscription], timeout: float
) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    lags = {s.name: group_lag(bootstrap, s.name, s.topics, timeout) for s in subscriptions}
    topics = sorted({t for s in subscriptions for t in s.topics})
    return lags, dead_letter_depth(bootstrap, topics, timeout)


async def refresh_backbone_gauges(
    database: Database, settings: Settings, subscriptions: Sequence[Subscription], within_s: float = 2.0
) -> None:
    if not subscriptions:
        return
    try:
        if settings.events_in_process:
            pending = await asyncio.wait_for(_pending_per_topic(database), within_s)
            dead = await asyncio.wait_for(DeadLetterStore(database).counts(), within_s)
            lags = {s.name: {t: pending.get(t, 0) for t in s.topics} for s in subscriptions}
        else:
            assert settings.kafka_bootstrap_servers is not None
            lags, dead = await asyncio.wait_for(
                asyncio.to_thread(_broker_figures, settings.kafka_bootstrap_servers, subscriptions, within_s),
                within_s * 3,
            )
    except Exception as exc:  # a scrape must never fail because the broker or the database is slow
        log.debug("backbone figures unavailable for this scrape: %s", exc)
        metrics.BROKER_UP.set(0)
        return
    metrics.BROKER_UP.set(1)
    for group, per_topic in lags.items():
        for topic, lag in per_topic.items():
            metrics.CONSUMER_LAG.labels(group, topic).set(lag)
    for s in subscriptions:
        for topic in s.topics:
            metrics.DLQ_WAITING.labels(topic).set(dead.get(topic, 0))
