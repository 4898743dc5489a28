"""How settings choose the event transport and the catalog cache, and what the container builds from them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from elearning_adapters.analytics.projection import ANALYTICS
from elearning_adapters.cache import CachedCatalogQueries, InMemoryCache
from elearning_adapters.container import build_container, close_adapters
from elearning_adapters.container._billing import BILLING_DOCUMENTS
from elearning_adapters.container._certificate import CERTIFICATES
from elearning_adapters.container._checkout import CHECKOUT_INVOICING, CHECKOUT_PAYMENTS
from elearning_adapters.container._entitlement import ENTITLEMENT_CACHE
from elearning_adapters.container._notification import NOTIFICATIONS
from elearning_adapters.container._subscription import SUBSCRIPTION_BILLING, SUBSCRIPTION_PAYMENTS
from elearning_adapters.enrollment_completion import ENROLLMENT_COMPLETION
from elearning_adapters.events import InProcessEventTransport
from elearning_adapters.events.subscriptions import CATALOG_CACHE
from elearning_adapters.learning_path_events import PATH_ENROLLER, PATH_PROGRESS
from elearning_adapters.media.processor import VIDEO_PROCESSING
from elearning_adapters.progress import PROGRESS
from elearning_adapters.redis.cache import RedisCache
from elearning_adapters.search.projection import SEARCH
from elearning_adapters.settings import Settings

EVERY_MODULE_CONSUMER = [
    ENROLLMENT_COMPLETION,
    VIDEO_PROCESSING,
    PATH_ENROLLER,
    PATH_PROGRESS,
    PROGRESS,
    CERTIFICATES,
    BILLING_DOCUMENTS,
    CHECKOUT_PAYMENTS,
    CHECKOUT_INVOICING,
]
"""The consumers that need no cache, in the order the modules' wirings declare them (up to the entitlement's)."""
AFTER_ENTITLEMENT = [SUBSCRIPTION_PAYMENTS, SUBSCRIPTION_BILLING, NOTIFICATIONS, SEARCH, ANALYTICS]
"""The consumers of the wirings declared after the entitlement's (which has a cache consumer)."""

KAFKA = "127.0.0.1:9092"
REDIS = "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("values", "cache", "in_process"),
    [
        ({}, "memory", True),
        ({"workers": 2}, "none", True),  # a process-local cache cannot see the other processes' commits
        ({"redis_url": REDIS}, "redis", True),
        ({"redis_url": REDIS, "workers": 4}, "redis", True),
        ({"kafka_bootstrap_servers": KAFKA}, "none", False),  # Kafka consumers cannot reach a process's memory
        ({"kafka_bootstrap_servers": KAFKA, "redis_url": REDIS}, "redis", False),
        ({"kafka_bootstrap_servers": "  "}, "memory", True),
        ({"cache": "none"}, "none", True),
        ({"cache": "memory", "workers": 2}, "memory", True),  # asked for explicitly
        ({"events_relay": "worker"}, "none", True),  # `elearning worker events` handles them: not this process
        ({"events_relay": "worker", "redis_url": REDIS}, "redis", True),
    ],
)
def test_auto_settings_pick_the_transport_and_a_cache_that_can_be_invalidated(
    values: dict[str, Any], cache: str, in_process: bool
) -> None:
    settings = Settings.in_memory(**values)
    assert settings.resolved_cache == cache
    assert settings.events_in_process is in_process
    relayed_here = in_process and values.get("events_relay", "serve") == "serve"
    assert settings.events_relayed_in_serve is relayed_here
    assert settings.scheduler_in_serve is relayed_here  # auto: where the events are relayed without Kafka


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"cache": "memory", "kafka_bootstrap_servers": KAFKA}, "cannot be invalidated by event handlers"),
        ({"cache": "memory", "events_relay": "worker"}, "cannot be invalidated by event handlers"),
        ({"events_relay": "worker", "kafka_bootstrap_servers": KAFKA}, "relays the outbox without Kafka"),
        ({"events_relay": "elsewhere"}, "Input should be 'serve' or 'worker'"),
        ({"cache": "redis"}, "needs ELEARNING_REDIS_URL"),
        ({"cache": "disk"}, "Input should be"),
        ({"consumer_max_attempts": 0}, "greater than or equal to 1"),
        ({"outbox_retention_hours": -1}, "greater than or equal to 0"),
        ({"consumer_batch_size": 0}, "greater than or equal to 1"),
        ({"consumer_batch_size": 10_001}, "less than or equal to 10000"),
        ({"consumer_batch_max_wait_ms": -1}, "greater than or equal to 0"),
    ],
)
def test_contradictory_event_settings_are_refused_with_the_reason(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings.in_memory(**values)


def test_the_environment_configures_the_backbone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELEARNING_CACHE", "none")
    monkeypatch.setenv("ELEARNING_OUTBOX_RETENTION_HOURS", "24")
    monkeypatch.setenv("ELEARNING_CONSUMER_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("ELEARNING_REDIS_KEY_PREFIX", "tenant-a:")
    monkeypatch.setenv("ELEARNING_CONSUMER_BATCH_SIZE", "64")
    monkeypatch.setenv("ELEARNING_CONSUMER_BATCH_MAX_WAIT_MS", "10")
    settings = Settings()
    assert (settings.cache, settings.outbox_retention_hours, settings.consumer_max_attempts) == ("none", 24.0, 7)
    assert (settings.consumer_batch_size, settings.consumer_batch_max_wait_ms) == (64, 10.0)
    assert settings.redis_key_prefix == "tenant-a:"


async def test_the_container_builds_the_cached_catalog_the_subscription_and_the_transport() -> None:
    container = build_container(Settings.in_memory())
    try:
        catalog = container.course.catalog_queries()
        assert isinstance(catalog, CachedCatalogQueries)
        assert isinstance(container.adapters.cache(), InMemoryCache)
        subscriptions = container.adapters.subscriptions()
        assert [s.name for s in subscriptions] == [
            CATALOG_CACHE,
            *EVERY_MODULE_CONSUMER,
            ENTITLEMENT_CACHE,
            *AFTER_ENTITLEMENT,
        ]
        subscription = subscriptions[0]
        assert subscription.topics == ["elearning.course"]
        assert "course.published.v1" in subscription.handlers
        transport = container.adapters.event_transport()
        assert isinstance(transport, InProcessEventTransport)
        assert transport.subscriptions == subscriptions
    finally:
        await close_adapters(container)


async def test_with_kafka_the_api_runs_no_transport_and_redis_backs_the_cache() -> None:
    container = build_container(Settings.in_memory(kafka_bootstrap_servers=KAFKA, redis_url=REDIS))
    try:
        assert container.adapters.event_transport() is None
        assert isinstance(container.adapters.cache(), RedisCache)
        assert [s.name for s in container.adapters.subscriptions()] == [
            CATALOG_CACHE,
            *EVERY_MODULE_CONSUMER,
            ENTITLEMENT_CACHE,
            *AFTER_ENTITLEMENT,
        ]
    finally:
        await close_adapters(container)


async def test_without_a_cache_there_is_nothing_to_invalidate() -> None:
    container = build_container(Settings.in_memory(cache="none"))
    try:
        assert not isinstance(container.course.catalog_queries(), CachedCatalogQueries)
        assert [s.name for s in container.adapters.subscriptions()] == [*EVERY_MODULE_CONSUMER, *AFTER_ENTITLEMENT]
    finally:
        await close_adapters(container)


@pytest.mark.parametrize(("relay", "relays_here"), [("serve", True), ("worker", False)])
def test_the_api_relays_the_outbox_unless_a_worker_does(relay: str, relays_here: bool, tmp_path: Any) -> None:
    from litestar.testing import TestClient

    from elearning_http.app import create_app

    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}", events_relay=relay)
    container = build_container(settings)
    transport = container.adapters.event_transport()
    assert isinstance(transport, InProcessEventTransport)  # built either way: `drain()` serves scripts and tests
    with TestClient(create_app(settings, container)) as client:
        assert client.get("/health").status_code == 200
        assert transport.running is relays_here
    assert not transport.running
