"""The progress projection under Kafka: a lesson view committed to the outbox is relayed to a real
Kafka-protocol broker, consumed by the ``progress`` subscription's handlers in a ``ConsumerRunner`` (as
``elearning worker consume progress`` runs them), and shows in the learner's progress read."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from elearning_adapters import Settings, bootstrap
from elearning_adapters.progress import progress_subscription
from elearning_core.shared.ports import SYSTEM
from tests.integration.kafka_projection import WAIT, consuming
from tests.integration.test_progress_projection import seeded

pytest_plugins = ["tests.integration.kafka_broker"]


async def test_a_lesson_completion_flows_through_kafka_into_the_progress_read(
    kafka_broker: str, tmp_path: Path
) -> None:
    platform = await bootstrap(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'kafka.db'}", data_dir=tmp_path))
    try:
        course_id, lessons, learner = await seeded(platform, lessons=1)
        assert learner.user_id is not None
        await platform.progress.view(learner, course_id, lessons[0])

        subscription = progress_subscription(platform.container.progress.projector())
        async with consuming(platform, subscription, kafka_broker):
            deadline = time.monotonic() + WAIT
            state = None
            while time.monotonic() < deadline:
                state = await platform.progress.learner_progress(SYSTEM, course_id, learner.user_id)
                if state.completed:
                    break
                await asyncio.sleep(0.1)
            assert state is not None
            assert state.completed, "the completion never reached the progress read through Kafka"
            assert state.completed_lesson_ids == {lessons[0]}
    finally:
        await platform.aclose()
