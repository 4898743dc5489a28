"""Static group membership: a consumer process killed with -9 and restarted takes its partitions back.

Real processes, as deployed: ``elearning worker relay`` publishes the outbox of a PostgreSQL database to a
Kafka-protocol broker of this test's own, and two ``elearning worker consume catalog-cache`` processes share the
course topic as static members (``ELEARNING_KAFKA_INSTANCE_ID``, worker indexes 0 and 1). Member 0 is killed
with SIGKILL (no offset commit, no leave) and started again with the same ``group.instance.id``. It must get the
same partitions back and handle the events published after its restart, exactly those on its partitions: none of
the events it had committed before it died comes back (no duplicate in its counters, the inbox holds each event
once), and the other member sees no rebalance at all.

No timing is asserted; every wait is bounded by ``WAIT`` (60 s) and the publishing loop by ``MAX_COURSES``. What the test broker (noida-db) cannot show is written
down in docs/overload.md, section "Consumers restart cleanly".
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from elearning_adapters import Platform, Settings
from elearning_adapters.events.subscriptions import CATALOG_CACHE
from elearning_adapters.kafka.lag import group_lag
from elearning_adapters.sql.outbox import outbox
from elearning_core.course.commands import CreateCourse
from elearning_core.shared.ports import SYSTEM
from tests.integration.test_backbone_e2e import (  # noqa: F401  (prefix, writer: fixtures)
    WAIT,
    Workers,
    _free_port,
    deployed,
    environment,
    inbox_ids,
    prefix,
    scrape,
    wait_for,
    writer,
)
from tests.integration.test_consumer import end_offsets
from tests.prometheus import metric

pytest_plugins = ["tests.integration.kafka_broker"]

pytestmark = pytest.mark.postgres

TOPIC = "elearning.course"
PARTITIONS = 3  # as deployed() creates the course topic
MAX_COURSES = 30  # the bound of the loop that publishes until member 0's partitions have new events
INSTANCE = f"restart-test-{uuid.uuid4().hex[:6]}"
ASSIGNED = re.compile(r"consumer \S+ (assigned|revoked|lost) (.*)$")


@pytest.fixture
def deployment(postgres_url: str, own_kafka_broker: str, prefix: str, tmp_path: Path) -> Settings:  # noqa: F811
    """A deployment on a broker of its own (the imported ``writer`` fixture builds on this one)."""
    return deployed(postgres_url, own_kafka_broker, prefix, tmp_path)


def membership(log: str) -> list[tuple[str, set[int]]]:
    """The consumer's assignment events in its log, in order: ("assigned" | "revoked" | "lost", partitions)."""
    events: list[tuple[str, set[int]]] = []
    for line in log.splitlines():
        found = ASSIGNED.search(line)
        if found:
            partitions = {int(p) for p in re.findall(rf"{re.escape(TOPIC)}\[(\d+)\]", found.group(2))}
            events.append((found.group(1), partitions))
    return events


def holding(log: str) -> set[int] | None:
    """The partitions the consumer holds according to its log (None before its first assignment)."""
    events = membership(log)
    if not events or events[-1][0] != "assigned":
        return None
    return events[-1][1]


def counter(port: int, outcome: str) -> float:
    return metric(scrape(port), "elearning_consumer_messages_total", consumer=CATALOG_CACHE, outcome=outcome) or 0.0


async def caught_up(bootstrap: str) -> bool:
    lag = await asyncio.to_thread(group_lag, bootstrap, CATALOG_CACHE, [TOPIC], 2.0)
    return bool(lag) and sum(lag.values()) == 0


async def test_a_member_killed_with_sigkill_and_restarted_with_its_instance_id_gets_its_partitions_back(
    deployment: Settings,
    writer: Platform,  # noqa: F811  (the imported fixture)
    own_kafka_broker: str,
    tmp_path: Path,
) -> None:
    env = environment(deployment) | {"ELEARNING_KAFKA_INSTANCE_ID": INSTANCE}
    first = Workers(env | {"ELEARNING_KAFKA_WORKER_INDEX": "0"}, tmp_path)
    other = Workers(env | {"ELEARNING_KAFKA_WORKER_INDEX": "1"}, tmp_path)
    ports = {"a": _free_port(), "again": _free_port(), "b": _free_port()}
    all_partitions = set(range(PARTITIONS))
    codes: dict[str, int | None] = {}
    try:
        await first.start("relay", "relay", "--idle-sleep", "0.05")
        await first.start("consume-a", "consume", CATALOG_CACHE, "--metrics-port", str(ports["a"]))
        await wait_for(
            _now(lambda: holding(first.output("consume-a")) == all_partitions), "member 0 to hold every partition"
        )
        await other.start("consume-b", "consume", CATALOG_CACHE, "--metrics-port", str(ports["b"]))

        def shared() -> tuple[set[int], set[int]] | None:
            a, b = holding(first.output("consume-a")), holding(other.output("consume-b"))
            if a and b and not a & b and a | b == all_partitions:
                return a, b
            return None

        a_partitions, b_partitions = await wait_for(_now(shared), "the two members to share the partitions")

        # Events before the kill: handled and committed by both members.
        for i in range(6):
            await writer.courses.create(SYSTEM, CreateCourse(title=f"Before {i}"))
        await wait_for(lambda: _relayed_all(writer, own_kafka_broker), "the relay to publish every event")
        await wait_for(lambda: caught_up(own_kafka_broker), "the group to commit every event before the kill")
        handled_before = await inbox_ids(writer.database, CATALOG_CACHE)
        b_handled = counter(ports["b"], "handled")
        b_log_at_kill = len(other.output("consume-b"))
        ends_at_kill = await asyncio.to_thread(end_offsets, own_kafka_broker, TOPIC)

        process, _log = first.processes["consume-a"]
        process.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(process.wait(), WAIT) == -signal.SIGKILL

        restarted = time.monotonic()
        await first.start("consume-again", "consume", CATALOG_CACHE, "--metrics-port", str(ports["again"]))
        got_back = await wait_for(
            _now(lambda: holding(first.output("consume-again"))), "the restarted member 0 to be assigned"
        )
        assigned_after = time.monotonic() - restarted
        assert got_back == a_partitions, first.output("consume-again")

        # Publish until member 0's partitions have new events (the key decides the partition; bounded).
        for i in range(MAX_COURSES):
            await writer.courses.create(SYSTEM, CreateCourse(title=f"After {i}"))
            ends = await asyncio.to_thread(end_offsets, own_kafka_broker, TOPIC)
            if sum(ends[p] - ends_at_kill[p] for p in a_partitions) >= 2:
                break
        await wait_for(
            lambda: _relayed_all(writer, own_kafka_broker),
            "the relay to publish every new event",
        )
        await wait_for(lambda: caught_up(own_kafka_broker), "the group to commit every new event")
        ends = await asyncio.to_thread(end_offsets, own_kafka_broker, TOPIC)
        new_on = {p: ends[p] - ends_at_kill[p] for p in all_partitions}
        assert sum(new_on[p] for p in a_partitions) >= 1, new_on

        # The restarted member handled exactly the new events on its partitions: it started at the committed
        # offsets (nothing before them came again, so no duplicate), and the other member exactly the rest.
        assert counter(ports["again"], "handled") == sum(new_on[p] for p in a_partitions)
        assert counter(ports["again"], "duplicate") == 0
        assert counter(ports["b"], "handled") - b_handled == sum(new_on[p] for p in b_partitions)
        assert counter(ports["b"], "duplicate") == 0
        handled_after = await inbox_ids(writer.database, CATALOG_CACHE)
        assert handled_before < handled_after
        assert len(handled_after) == sum(ends.values())  # one inbox row per message on the topic, ever

        # The other member saw no rebalance: neither the kill nor the rejoin moved its partitions.
        assert membership(other.output("consume-b")[b_log_at_kill:]) == []
        assert holding(other.output("consume-b")) == b_partitions
        print(f"restarted member 0 assigned {sorted(got_back)} {assigned_after * 1000:.0f} ms after its start")
    finally:
        codes = await first.stop_all()
        codes |= await other.stop_all()
    assert codes == {"relay": 0, "consume-a": -signal.SIGKILL, "consume-again": 0, "consume-b": 0}, first.output(
        "consume-again"
    ) + other.output("consume-b")


T = TypeVar("T")


def _now(condition: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    async def check() -> T:
        return condition()

    return check


async def _relayed_all(platform: Platform, bootstrap: str) -> bool:
    """Every outbox row of the course topic is on the broker (its topic holds nothing but this test's events)."""
    ends = await asyncio.to_thread(end_offsets, bootstrap, TOPIC)
    async with platform.database.read() as conn:
        rows = (await conn.execute(select(func.count()).where(outbox.c.topic == TOPIC))).scalar_one()
    return sum(ends.values()) >= int(rows)
