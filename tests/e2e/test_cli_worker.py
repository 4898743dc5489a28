"""The worker commands as an operator runs them: real processes that exec the worker runtime.

Without Kafka they fail in one line; with the broker they list their consumer groups and refuse unknown ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.contract.test_cache import REDIS_URL
from tests.e2e.cli_helpers import ok

# The broker fixtures (kafka_broker) and the operator environment (cli_env, autouse; kafka_env); loaded as
# plugins so pytest rewrites their asserts.
pytest_plugins = ["tests.integration.kafka_broker", "tests.e2e.ops_env"]


@pytest.fixture(autouse=True)
def _operator_env(cli_env: str) -> str:
    """Every test runs on its own SQLite file, with no stray configuration."""
    return cli_env


def run_worker_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "elearning"), "worker", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", ["relay", "consume"])
def test_worker_commands_without_kafka_fail_in_one_line(command: str) -> None:
    result = run_worker_cli(command, env={k: v for k, v in os.environ.items()})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("error: ELEARNING_KAFKA_BOOTSTRAP_SERVERS is not set")
    assert "Traceback" not in result.stderr + result.stdout


def test_worker_consume_lists_its_groups_and_refuses_unknown_ones(kafka_env: str) -> None:
    env = {k: v for k, v in os.environ.items()} | {"ELEARNING_REDIS_URL": REDIS_URL}
    listed = run_worker_cli("consume", "--list", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t")[:2] for line in listed.stdout.splitlines() if line.strip()]
    progress_topics = "elearning.assessment,elearning.course,elearning.enrollment,elearning.progress"
    notification_topics = (
        "elearning.assessment,elearning.certificate,elearning.course,elearning.discussion,elearning.enrollment,"
        "elearning.identity,elearning.payment,elearning.subscription"
    )
    analytics_topics = (
        "elearning.assessment,elearning.billing,elearning.certificate,elearning.checkout,elearning.discussion,"
        "elearning.enrollment,elearning.identity,elearning.progress"
    )
    assert rows == [
        ["catalog-cache", "elearning.course"],
        ["enrollment-completion", "elearning.progress"],
        ["video-processing", "elearning.video"],
        ["learning-path-enroller", "elearning.learning_path"],
        ["learning-path-progress", "elearning.learning_path,elearning.progress"],
        ["progress", progress_topics],
        ["certificates", "elearning.identity,elearning.learning_path,elearning.progress"],
        ["billing-documents", "elearning.billing"],
        ["checkout-payments", "elearning.payment"],
        ["checkout-invoicing", "elearning.checkout"],
        ["entitlement-cache", "elearning.entitlement"],
        ["subscription-payments", "elearning.payment"],
        ["subscription-billing", "elearning.subscription"],
        ["notifications", notification_topics],
        ["search", "elearning.course,elearning.discussion,elearning.entitlement"],
        ["analytics", analytics_topics],
    ]

    unknown = run_worker_cli("consume", "no-such-group", env=env)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "error: unknown consumer group no-such-group; known: analytics, billing-documents, catalog-cache, certificates, "
        "checkout-invoicing, checkout-payments, enrollment-completion, entitlement-cache, learning-path-enroller, "
        "learning-path-progress, notifications, progress, search, subscription-billing, subscription-payments, "
        "video-processing"
    )

    # Kafka but no Redis: no cache to invalidate, so no catalog-cache group; the video pipeline remains.
    no_cache = run_worker_cli("consume", "--list", env={k: v for k, v in os.environ.items()})
    assert no_cache.returncode == 0, no_cache.stderr
    assert [line.split("\t")[0] for line in no_cache.stdout.splitlines() if line.strip()] == [
        "enrollment-completion",
        "video-processing",
        "learning-path-enroller",
        "learning-path-progress",
        "progress",
        "certificates",
        "billing-documents",
        "checkout-payments",
        "checkout-invoicing",
        "subscription-payments",
        "subscription-billing",
        "notifications",
        "search",
        "analytics",
    ]


def test_worker_help_names_every_worker() -> None:
    result = ok("worker", "--help")
    for command in ("relay", "consume", "scheduler", "events"):
        assert command in result.stdout
    assert "--metrics-port" in ok("worker", "consume", "--help").stdout
    assert "ELEARNING_EVENTS_RELAY=worker" in ok("worker", "events", "--help").stdout


def test_worker_events_beside_kafka_fails_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items()} | {"ELEARNING_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}
    result = run_worker_cli("events", env=env)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "error: `events` relays the outbox without Kafka; with ELEARNING_KAFKA_BOOTSTRAP_SERVERS set, run `relay` "
        "and `consume` instead"
    ]
