"""The forwarder's and retention's wiring: the destination the settings name, the two scheduled jobs, and
the lag they report (a log line per run and Prometheus gauges).

``analytics.forward-statements`` forwards up to ``FORWARD_MAX_BATCHES`` batches per period (what is left
waits for the next one); ``elearning worker forward-statements`` runs the same forwarder in a loop for a
lower latency. Run one or the other: two forwarders to one destination only send batches twice (the
checkpoint never moves back, and the destination absorbs repeated ids), but gain nothing.
``analytics.prune-statements`` deletes raw statements past ``ELEARNING_ANALYTICS_RETENTION_DAYS``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol

from prometheus_client import Counter, Gauge

from elearning_adapters.analytics.forwarder_kafka import KafkaStatementDestination
from elearning_adapters.analytics.forwarder_lrs import LrsDestination
from elearning_adapters.settings import Settings
from elearning_core.analytics.forwarder import (
    ForwardReport,
    RetryPolicy,
    StatementDestination,
    StatementFeed,
    StatementForwarder,
    StatementRetention,
)
from elearning_core.scheduling.model import Job, Period, Schedule
from elearning_core.shared.clock import Clock

FORWARD = "analytics.forward-statements"
PRUNE = "analytics.prune-statements"
FORWARD_MAX_BATCHES = 100
PRUNE_BATCH = 1_000
PRUNE_MAX_BATCHES = 100

log = logging.getLogger("elearning.analytics.forwarder")

FORWARDED = Counter("elearning_analytics_forwarded_statements", "Statements forwarded", ["destination"])
LAG_STATEMENTS = Gauge(
    "elearning_analytics_forward_lag_statements",
    "Statements stored after the destination's checkpoint (counted up to a million)",
    ["destination"],
)
LAG_SECONDS = Gauge(
    "elearning_analytics_forward_lag_seconds",
    "Age of the oldest statement the destination has not received (0: caught up)",
    ["destination"],
)
PRUNED = Counter("elearning_analytics_pruned_statements", "Raw statements deleted by retention")


class ClosableDestination(StatementDestination, Protocol):
    async def aclose(self) -> None: ...


def destination_from_settings(settings: Settings) -> ClosableDestination | None:
    timeout = settings.analytics_forward_timeout_seconds
    if settings.analytics_forward_to == "lrs":
        assert settings.analytics_forward_endpoint is not None  # the settings' own check
        password = settings.analytics_forward_password
        return LrsDestination(
            settings.analytics_forward_endpoint,
            username=settings.analytics_forward_username,
            password=password.get_secret_value() if password is not None else None,
            timeout=timeout,
        )
    if settings.analytics_forward_to == "kafka":
        assert settings.forward_bootstrap_servers is not None  # the settings' own check
        return KafkaStatementDestination(
            settings.forward_bootstrap_servers, settings.analytics_forward_topic, timeout=timeout
        )
    return None


def forwarder_of(
    feed: StatementFeed, destination: StatementDestination | None, clock: Clock, settings: Settings
) -> StatementForwarder | None:
    if destination is None:
        return None
    return StatementForwarder(
        feed,
        destination,
        clock,
        batch_size=settings.analytics_forward_batch_size,
        retry=RetryPolicy(budget=settings.analytics_forward_retry_seconds),
    )


async def forward_once(forwarder: StatementForwarder, clock: Clock, *, max_batches: int) -> ForwardReport:
    """One run, its lag logged and exported."""
    report = await forwarder.run(max_batches=max_batches)
    name = forwarder.destination
    now = clock.now()
    FORWARDED.labels(name).inc(report.forwarded)
    LAG_STATEMENTS.labels(name).set(report.lag.statements)
    oldest = report.lag.oldest_stored
    LAG_SECONDS.labels(name).set(max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)
    log.info(
        "statement forwarding: %s",
        report.line(now),
        extra={"destination": name, "forwarded": report.forwarded, "lag_statements": report.lag.statements},
    )
    return report


def analytics_jobs(
    feed: StatementFeed, forwarder: StatementForwarder | None, clock: Clock, settings: Settings
) -> list[Job]:
    jobs: list[Job] = []
    if forwarder is not None:

        async def forward(period: Period) -> str:
            del period  # by state: whatever is after the checkpoint now
            report = await forward_once(forwarder, clock, max_batches=FORWARD_MAX_BATCHES)
            return report.line(clock.now())

        seconds = settings.analytics_forward_seconds
        jobs.append(
            Job(
                FORWARD,
                Schedule(timedelta(seconds=seconds or 60)),
                forward,
                description=f"forwards stored xAPI statements to {forwarder.destination} in stored order",
                timeout=timedelta(minutes=15),
                automatic=seconds > 0,
            )
        )
    days = settings.analytics_retention_days
    if days is not None:
        retention = StatementRetention(
            feed, clock, days=days, destination=forwarder.destination if forwarder else None, batch_size=PRUNE_BATCH
        )

        async def prune(period: Period) -> str:
            del period
            report = await retention.prune(max_batches=PRUNE_MAX_BATCHES)
            PRUNED.inc(report.deleted)
            return report.line()

        jobs.append(
            Job(
                PRUNE,
                Schedule(timedelta(hours=1)),
                prune,
                description=f"deletes raw statements stored more than {days} day(s) ago (aggregates stay)",
            )
        )
    return jobs


def closers_of(destination: ClosableDestination | None) -> list[Callable[[], Awaitable[None]]]:
    return [] if destination is None else [destination.aclose]
