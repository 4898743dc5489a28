"""/ready with the optional services configured (only the database decides 503), and the outbox lag in /metrics."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from elearning_adapters.settings import Settings
from tests.contract.test_cache import REDIS_URL
from tests.e2e.http_helpers import ADMIN, assert_problem, serve, settings_for

pytest_plugins = ["tests.integration.kafka_broker"]

CLOSED_PORT = "127.0.0.1:1"


def sqlite_settings(tmp_path: Path, **overrides: object) -> Settings:
    return settings_for(f"sqlite+aiosqlite:///{tmp_path / 'ready.db'}", tmp_path, **overrides)


async def test_ready_reports_redis_and_kafka_when_they_answer(tmp_path: Path, kafka_broker: str) -> None:
    settings = sqlite_settings(tmp_path, redis_url=REDIS_URL, kafka_bootstrap_servers=kafka_broker)
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
    settings = settings_for("postgresql+psycopg://postgres@127.0.0.1:1/nope", tmp_path, redis_url=REDIS_URL)
    async with serve(settings, run_migrations=False) as api:
        response = await api.client.get("/ready")
    body = assert_problem(response, 503)
    assert body["checks"] == {"database": "down", "redis": "ok"}


def _sample(text: str, name: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} not in the metrics")


async def test_metrics_report_the_outbox_lag_read_fresh_for_each_scrape(tmp_path: Path) -> None:
    async with serve(sqlite_settings(tmp_path)) as api:
        empty = (await api.client.get("/metrics")).text
        assert _sample(empty, "elearning_outbox_pending") == 0
        assert _sample(empty, "elearning_outbox_oldest_pending_seconds") == 0
        assert _sample(empty, "elearning_outbox_stats_up") == 1
        created = await api.client.post("/api/v1/courses", json={"title": "Lag"}, headers=ADMIN)
        assert created.status_code == 201, created.text
        course_id = created.json()["id"]
        section = await api.client.post(f"/api/v1/courses/{course_id}/sections", json={"title": "S"}, headers=ADMIN)
        assert section.status_code == 201, section.text
        # No relay runs here: both events (created, section added) are still pending.
        lagging = (await api.client.get("/metrics")).text
        assert _sample(lagging, "elearning_outbox_pending") == 2
        assert _sample(lagging, "elearning_outbox_oldest_pending_seconds") >= 0


async def test_metrics_still_answer_when_the_database_is_down(tmp_path: Path) -> None:
    settings = settings_for("postgresql+psycopg://postgres@127.0.0.1:1/nope", tmp_path)
    async with serve(settings, run_migrations=False) as api:
        response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert _sample(response.text, "elearning_outbox_stats_up") == 0
