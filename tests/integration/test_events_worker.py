"""``python -m elearning_workers events`` (``elearning worker events``): the outbox relayed to every handler
in a worker process of its own, without Kafka, while the API process only writes it
(``ELEARNING_EVENTS_RELAY=worker``). On PostgreSQL, with the real course service writing events in this
process and the real subscriptions (the search projection among them) handling them in the worker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from elearning_adapters import Platform, Settings, bootstrap
from elearning_adapters.sql.search._tables import search_documents
from tests.integration.test_relay import drained, wait_until, write_course_events
from tests.integration.test_scheduler_replicas import _stop as stop_worker

pytestmark = pytest.mark.postgres

SRC = Path(__file__).parents[2] / "src"
WAIT = 30.0


def _worker_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELEARNING_")}
    return env | {
        "ELEARNING_DATABASE_URL": url,
        "ELEARNING_EVENTS_RELAY": "worker",
        "ELEARNING_EVENTS_POLL_SECONDS": "0.05",
        "PYTHONPATH": os.pathsep.join([str(SRC), str(SRC.parent)]),
        **extra,
    }


def _events_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "elearning_workers", "events"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


@pytest.fixture
async def api_side(postgres_url: str) -> AsyncIterator[Platform]:
    """The API's side: a platform that writes the outbox and relays nothing itself."""
    platform = await bootstrap(Settings(database_url=postgres_url, events_relay="worker", cache="none"))
    try:
        yield platform
    finally:
        await platform.aclose()


async def test_the_events_worker_relays_what_the_api_writes_and_stops_cleanly(
    api_side: Platform, postgres_url: str
) -> None:
    assert not api_side.settings.events_relayed_in_serve
    assert api_side.settings.resolved_cache == "none"
    worker = _events_worker(_worker_env(postgres_url))
    try:
        ids = await write_course_events(api_side, 3, title="Relayed by the worker")

        async def indexed() -> bool:
            async with api_side.database.read() as conn:
                found = await conn.execute(
                    select(search_documents.c.course_id).where(
                        search_documents.c.course_id.in_(ids), search_documents.c.kind == "course"
                    )
                )
                return set(found.scalars()) == set(ids)

        # The worker's search projection indexed the published courses, and every outbox row is marked.
        await wait_until(indexed, "the published courses indexed by the events worker's handlers", WAIT)
        await wait_until(lambda: drained(api_side.database), "the outbox relayed by the events worker", WAIT)
        assert worker.poll() is None, "the events worker exited while relaying"
    finally:
        code, text = stop_worker(worker)
    assert code == 0, text
    assert "events worker:" in text, text
    assert "events delivered" in text, text
    assert "Traceback" not in text, text


def test_the_events_worker_refuses_to_run_beside_kafka(postgres_url: str) -> None:
    env = _worker_env(postgres_url, ELEARNING_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9", ELEARNING_EVENTS_RELAY="serve")
    done = subprocess.run(
        [sys.executable, "-m", "elearning_workers", "events"], env=env, capture_output=True, text=True, timeout=WAIT
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: `events` relays the outbox without Kafka"), done.stderr
