"""/ready with the optional services configured: Redis and Kafka are reported, only the database decides 503."""

from __future__ import annotations

from pathlib import Path

from elearning_adapters.settings import Settings
from tests.e2e.http_helpers import assert_problem, serve, settings_for

pytest_plugins = ["tests.integration.kafka_broker"]

CLOSED_PORT = "127.0.0.1:1"


def sqlite_settings(tmp_path: Path, **overrides: object) -> Settings:
    return settings_for(f"sqlite+aiosqlite:///{tmp_path / 'ready.db'}", tmp_path, **overrides)


async def test_ready_reports_redis_and_kafka_when_they_answer(tmp_path: Path, kafka_broker: str) -> None:
    settings = sqlite_settings(tmp_path, redis_url="redis://127.0.0.1:6379/0", kafka_bootstrap_servers=kafka_broker)
    async with serve(settings) as api:
        response = await api.client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok", "kafka": "ok"}}


async def test_ready_is_degraded_not_down_when_redis_and_kafka_are_unreachable(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path, redis_url=f"redis://{CLOSED_PORT}/0", kafka_bootstrap_servers=CLOSED_PORT)
    async with serve(settings) as api:
        response = await api.client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "degraded", "checks": {"database": "ok", "redis": "down", "kafka": "down"}}


async def test_an_unreachable_database_is_503_whatever_else_answers(tmp_path: Path) -> None:
    settings = settings_for(
        "postgresql+psycopg://postgres@127.0.0.1:1/nope", tmp_path, redis_url="redis://127.0.0.1:6379/0"
    )
    async with serve(settings, run_migrations=False) as api:
        response = await api.client.get("/ready")
    body = assert_problem(response, 503)
    assert body["checks"] == {"database": "down", "redis": "ok"}
