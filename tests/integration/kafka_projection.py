"""A projection's subscription under Kafka, for the projection tests: the platform's outbox relayed to
the broker, then the subscription's handlers consuming in a ``ConsumerRunner`` (as ``elearning worker
consume NAME`` runs them) for as long as the ``async with`` lasts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from elearning_adapters import Platform
from elearning_adapters.events import Subscription
from elearning_adapters.kafka import KafkaEventPublisher
from elearning_workers.consumer import ConsumerRunner
from elearning_workers.relay import OutboxRelay

WAIT = 60.0  # the bound of every wait: generous, the machine may be busy; no timing is asserted


@asynccontextmanager
async def consuming(platform: Platform, subscription: Subscription, broker: str) -> AsyncIterator[None]:
    publisher = KafkaEventPublisher(broker)
    publisher.ensure_topics(subscription.topics)
    relay = OutboxRelay(platform.database, publisher)
    for _ in range(100):  # bounded: the outbox holds a handful of rows
        if await relay.relay_once() == 0:
            break
    runner = ConsumerRunner(
        f"{subscription.name}-{uuid.uuid4().hex[:8]}",
        broker,
        subscription.topics,
        subscription.handlers,
        platform.database,
        consumer_name=subscription.name,
    )
    task = asyncio.create_task(runner.run())
    try:
        yield
    finally:
        runner.stop()
        await asyncio.wait_for(task, WAIT)
