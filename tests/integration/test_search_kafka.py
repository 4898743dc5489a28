"""The search projection under Kafka: a course published to the outbox is relayed to a real
Kafka-protocol broker, consumed by the ``search`` subscription's handlers in a ``ConsumerRunner`` (as
``elearning worker consume search`` runs them), and answers a search."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from elearning_adapters import Settings, bootstrap
from elearning_adapters.search.projection import search_subscription
from elearning_core.course.commands import CourseRef
from elearning_core.search.service import SearchRequest
from elearning_core.shared.ports import ANONYMOUS, SYSTEM
from tests.integration.kafka_projection import WAIT, consuming
from tests.integration.test_search_projection import a_course

pytest_plugins = ["tests.integration.kafka_broker"]


async def test_a_published_course_flows_through_kafka_into_the_index(kafka_broker: str, tmp_path: Path) -> None:
    platform = await bootstrap(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'kafka.db'}", data_dir=tmp_path))
    try:
        course_id = await a_course(platform, "Orbital mechanics", "Kepler's laws")
        await platform.courses.publish(SYSTEM, CourseRef(course_id=course_id))
        async with consuming(platform, search_subscription(platform.container.search.index()), kafka_broker):
            deadline = time.monotonic() + WAIT
            found = 0
            while time.monotonic() < deadline:
                found = (await platform.search.search(ANONYMOUS, SearchRequest(q="orbital"))).result.total
                if found:
                    break
                await asyncio.sleep(0.1)
            assert found == 1, "the published course never reached the index through Kafka"
            assert (await platform.search.search(SYSTEM, SearchRequest(q="kepler"))).result.total == 1
    finally:
        await platform.aclose()
