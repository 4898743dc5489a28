"""Fixtures shared by the integration tests of the outbox, the relays and the event transports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from elearning_adapters import Platform, Settings, bootstrap
from tests.conftest import migrated_sqlite, truncate_all
from tests.e2e.http_helpers import SLACK_DEADLINES

COURSE_TOPIC = "elearning.course"
COURSE_TOPIC_PARTITIONS = 3


@pytest.fixture(autouse=True)
def _postgres_created_outside_the_event_loop(request: pytest.FixtureRequest) -> None:
    """``postgres_url`` runs ``asyncio.run``: request it from sync code before the async fixtures."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and "postgres" in (callspec.params.get("platform"), callspec.params.get("database")):
        request.getfixturevalue("postgres_url")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def platform(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Platform]:
    """The platform on a migrated SQLite file, then on the session's emptied PostgreSQL database."""
    if request.param == "sqlite":
        settings = Settings(database_url=migrated_sqlite(tmp_path / "platform.db"), data_dir=tmp_path)
        platform = await bootstrap(settings, run_migrations=False, start_keys=True)
    else:
        settings = Settings(database_url=request.getfixturevalue("postgres_url"), data_dir=tmp_path, **SLACK_DEADLINES)
        platform = await bootstrap(settings, run_migrations=False)
        await truncate_all(platform.database)
    try:
        yield platform
    finally:
        await platform.aclose()


@pytest.fixture(scope="session")
def course_topic(kafka_broker: str) -> str:
    """The course topic with several partitions, so per-key order is tested across partitions."""
    from elearning_adapters.kafka import KafkaEventPublisher

    KafkaEventPublisher(kafka_broker).ensure_topics([COURSE_TOPIC], partitions=COURSE_TOPIC_PARTITIONS)
    return COURSE_TOPIC
