"""Static group membership: every consumer a worker starts carries a group.instance.id that a restart reuses."""

from __future__ import annotations

import socket

from elearning_adapters.settings import Settings
from elearning_adapters.sql.engine import Database
from elearning_workers.consumer import ConsumerRunner
from elearning_workers.main import static_instance_id


def _runner(instance_id: str | None) -> ConsumerRunner:
    return ConsumerRunner(
        "catalog-cache",
        "127.0.0.1:9",
        ["elearning.course"],
        {},
        Database("sqlite+aiosqlite:///:memory:"),
        instance_id=instance_id,
    )


def test_the_instance_id_is_the_same_on_every_start_and_differs_per_group_and_index() -> None:
    settings = Settings.in_memory(kafka_instance_id="api-host-7")
    assert static_instance_id(settings, "catalog-cache") == "api-host-7-catalog-cache-0"
    assert static_instance_id(settings, "catalog-cache") == static_instance_id(
        Settings.in_memory(kafka_instance_id="api-host-7"), "catalog-cache"
    )
    assert static_instance_id(settings, "video-pipeline") != static_instance_id(settings, "catalog-cache")
    second = Settings.in_memory(kafka_instance_id="api-host-7", kafka_worker_index=1)
    assert static_instance_id(second, "catalog-cache") == "api-host-7-catalog-cache-1"


def test_the_default_instance_id_names_the_host() -> None:
    assert static_instance_id(Settings.in_memory(), "catalog-cache") == f"{socket.gethostname()}-catalog-cache-0"


def test_the_instance_id_reaches_the_librdkafka_configuration() -> None:
    assert _runner("host-a-catalog-cache-0")._consumer_config["group.instance.id"] == "host-a-catalog-cache-0"
    assert "group.instance.id" not in _runner(None)._consumer_config  # dynamic membership when not given
