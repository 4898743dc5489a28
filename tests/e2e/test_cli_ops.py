"""The operator commands as an operator uses them: the outbox on SQLite, dead letters and tails on a real broker.

Dead letters are made the way production makes them: a real ``ConsumerRunner``
whose handler always fails (and one message it cannot decode) writes them to
``<topic>.dlq``; the CLI then lists, shows and replays them, and the replay is
checked by reading the original topic back.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters import Settings, bootstrap
from elearning_adapters.kafka import KafkaEventPublisher
from elearning_adapters.sql import migrate
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.outbox import outbox
from elearning_adapters.sql.outbox_store import OutboxRecord
from elearning_cli import _kafka
from elearning_cli import outbox as outbox_cli
from elearning_core.course import events as ev
from elearning_core.course.commands import CreateCourse
from elearning_core.course.model import Course
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ports import SYSTEM
from elearning_workers.consumer import ConsumerRunner
from tests.conftest import truncate_all
from tests.contract.test_cache import REDIS_URL
from tests.e2e.cli_helpers import error_lines, invoke, make_in_process_dead_letters, ok
from tests.fakes import T0

# The broker fixtures (kafka_broker); loaded as a plugin so pytest rewrites its asserts.
pytest_plugins = ["tests.integration.kafka_broker"]

WAIT = 20.0  # the bound of every wait in this module, in seconds


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> str:
    """Every test runs on its own SQLite file, with wide tables and no stray configuration."""
    for name in list(os.environ):
        if name.startswith("ELEARNING_") and not name.startswith("ELEARNING_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ELEARNING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ELEARNING_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COLUMNS", "260")
    return sqlite_url


@pytest.fixture
def kafka_env(monkeypatch: pytest.MonkeyPatch, kafka_broker: str) -> str:
    monkeypatch.setenv("ELEARNING_KAFKA_BOOTSTRAP_SERVERS", kafka_broker)
    return kafka_broker


def table_rows(output: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in output.splitlines() if "│" in line]


def value_of(output: str, label: str) -> str:
    for row in table_rows(output):
        if row and row[0] == label:
            return row[1]
    raise AssertionError(f"no row {label!r} in\n{output}")


# -- help ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["outbox", "events"]),
        (["outbox"], ["status", "prune"]),
        (["outbox", "prune"], ["--older-than", "--yes", "never deleted"]),
        (["events"], ["dlq", "tail", "ELEARNING_KAFKA_BOOTSTRAP_SERVERS"]),
        (["events", "dlq"], ["list", "show", "replay"]),
        (["events", "dlq", "replay"], ["--offset", "--all", "--yes", "append-only", "replayed-from"]),
        (["events", "tail"], ["--from-beginning", "--limit", "--timeout"]),
    ],
)
def test_help_describes_the_operator_commands(args: list[str], expected: list[str]) -> None:
    result = ok(*args, "--help")
    for word in expected:
        assert word in result.stdout


# -- outbox --------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> str:
    """The migrated database the CLI is pointed at: the SQLite file, then an emptied PostgreSQL database."""
    if request.param == "sqlite":
        asyncio.run(migrate_sqlite(sqlite_url))
        return sqlite_url
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(empty(url))
    monkeypatch.setenv("ELEARNING_DATABASE_URL", url)
    return url


async def migrate_sqlite(url: str) -> None:
    db = Database(url)
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()


async def empty(url: str) -> None:
    db = Database(url)
    try:
        await truncate_all(db)
    finally:
        await db.dispose()


def seed_outbox(url: str, courses: int) -> list[int]:
    """Courses created through the real service: each commit writes outbox rows; returns their ids."""

    async def seed() -> list[int]:
        async with await bootstrap(Settings(database_url=url)) as platform:
            for i in range(courses):
                await platform.courses.create(SYSTEM, CreateCourse(title=f"Outbox {i}"))
            async with platform.database.read() as conn:
                return list((await conn.execute(select(outbox.c.id).order_by(outbox.c.id))).scalars())

    return asyncio.run(seed())


def set_published(url: str, ids: list[int], at: datetime) -> None:
    async def mark() -> None:
        db = Database(url)
        try:
            async with db.write() as conn:
                await conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(published_at=at))
                await conn.commit()
        finally:
            await db.dispose()

    asyncio.run(mark())


def outbox_ids(url: str) -> set[int]:
    async def read() -> set[int]:
        db = Database(url)
        try:
            async with db.read() as conn:
                return set((await conn.execute(select(outbox.c.id))).scalars())
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_outbox_status_counts_pending_and_recently_published_rows(db_url: str) -> None:
    ids = seed_outbox(db_url, 4)
    assert len(ids) >= 4
    set_published(db_url, ids[:2], datetime.now(UTC) - timedelta(seconds=5))
    set_published(db_url, ids[2:3], datetime.now(UTC) - timedelta(hours=1))

    out = ok("outbox", "status").stdout
    assert value_of(out, "Pending") == str(len(ids) - 3)
    assert value_of(out, "Published in the last minute") == "2"
    assert value_of(out, "Published/s (last minute)") == "0.03"
    assert value_of(out, "Total rows") == str(len(ids))
    assert value_of(out, "Pending after a failed attempt") == "0"
    assert re.fullmatch(r"\d+s", value_of(out, "Oldest pending age")), out

    set_published(db_url, ids, datetime.now(UTC) - timedelta(hours=1))
    out = ok("outbox", "status").stdout
    assert value_of(out, "Pending") == "0"
    assert value_of(out, "Oldest pending age") == "-"


def test_outbox_status_on_an_unmigrated_database_is_one_line() -> None:
    result = invoke("outbox", "status")
    assert result.exit_code == 1
    lines = error_lines(result)
    assert len(lines) == 1
    assert "elearning db upgrade" in lines[0]


def test_outbox_prune_deletes_only_rows_published_before_the_retention(db_url: str) -> None:
    ids = seed_outbox(db_url, 4)
    old, recent, pending = ids[:2], ids[2:3], ids[3:]
    set_published(db_url, old, datetime.now(UTC) - timedelta(days=10))
    set_published(db_url, recent, datetime.now(UTC) - timedelta(days=1))

    refused = invoke("outbox", "prune", "--older-than", "7d", input="n\n")
    assert refused.exit_code == 1
    assert "Delete 2 published outbox rows" in refused.output
    assert outbox_ids(db_url) == set(ids)

    assert "Deleted 2 published outbox rows older than 7d" in ok("outbox", "prune", "--older-than", "7d", "-y").stderr
    assert outbox_ids(db_url) == set(recent + pending)
    assert "nothing to prune" in ok("outbox", "prune", "--older-than", "7d", "--yes").stderr

    assert "Deleted 1 published outbox row " in ok("outbox", "prune", "--older-than", "12h", "--yes").stderr
    assert outbox_ids(db_url) == set(pending)  # unpublished rows are never pruned

    assert invoke("outbox", "prune", "--older-than", "soon").exit_code == 2


def test_duration_parsing() -> None:
    assert outbox_cli.parse_duration("7d") == timedelta(days=7)
    assert outbox_cli.parse_duration(" 90s ") == timedelta(seconds=90)
    assert outbox_cli.parse_duration("2w") == timedelta(weeks=2)
    assert outbox_cli.format_age(timedelta(days=1, hours=2, minutes=3, seconds=4)) == "1d 2h 3m"
    assert outbox_cli.format_age(timedelta(seconds=42)) == "42s"


# -- Kafka helpers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n == name]
        return values[-1].decode() if values and values[-1] is not None else None


def read_topic(bootstrap_servers: str, topic: str) -> list[Message]:
    """Every message on the topic up to its end as of now (bounded in time), in (partition, offset) order."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"test-cli-ops-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=5).topics[topic].partitions
        ends = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
            if high > low:
                ends[p] = (low, high)
        consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in ends.items()])
        messages: list[Message] = []
        deadline = time.monotonic() + WAIT
        while len(messages) < sum(high - low for low, high in ends.values()):
            assert time.monotonic() < deadline, f"timed out reading {topic}"
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            raw = msg.headers() or []
            pairs = raw.items() if isinstance(raw, dict) else raw
            headers = [(name, value.encode() if isinstance(value, str) else value) for name, value in pairs]
            messages.append(Message(msg.partition() or 0, msg.offset() or 0, msg.key(), msg.value(), headers))
        return sorted(messages, key=lambda m: (m.partition, m.offset))
    finally:
        consumer.close()


def a_topic(bootstrap_servers: str, partitions: int) -> str:
    name = f"test.cliops.{uuid.uuid4().hex[:10]}"
    KafkaEventPublisher(bootstrap_servers).ensure_topics([name], partitions=partitions)
    return name


def course_events(count: int) -> list[DomainEvent]:
    events: list[DomainEvent] = []
    for i in range(count):
        events.extend(Course.create(title=f"Dead {i}", slug=f"dead-{i}-{uuid.uuid4().hex[:6]}", at=T0).pull_events())
    return events


async def publish(bootstrap_servers: str, topic: str, events: list[DomainEvent]) -> None:
    publisher = KafkaEventPublisher(bootstrap_servers, delivery_timeout=5.0)
    records = [
        OutboxRecord(
            id=0,
            event_id=e.event_id,
            topic=topic,
            message_key=str(e.aggregate_id),
            event_type=e.type,
            payload=e.payload(),
            occurred_at=e.occurred_at,
            created_at=datetime.now(UTC),
            attempts=0,
        )
        for e in events
    ]
    try:
        await publisher.publish(records)
    finally:
        await publisher.aclose()


def produce_raw(bootstrap_servers: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap_servers})
    for key, value in messages:
        producer.produce(topic, key=key, value=value, headers=[("origin", b"test")])
    assert producer.flush(5.0) == 0


@dataclass(frozen=True)
class DeadLetters:
    topic: str
    dlq: str
    events: list[DomainEvent]
    letters: list[Message]  # what the DLQ holds

    def decodable(self) -> Message:
        return next(m for m in self.letters if m.header("event-type"))

    def undecodable(self) -> Message:
        return next(m for m in self.letters if not m.header("event-type"))


async def always_fails(event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
    raise RuntimeError(f"projection refused {event.event_id}")


async def dead_letter_everything(bootstrap_servers: str, topic: str, db_path: Path, expected: int) -> None:
    """A real consumer runner whose handler always fails: it dead-letters every message it reads."""
    db = Database(f"sqlite+aiosqlite:///{db_path}")
    await migrate.upgrade(db)
    consumer = ConsumerRunner(
        f"cli-ops-{uuid.uuid4().hex[:8]}",
        bootstrap_servers,
        [topic],
        {ev.CourseCreated.type: always_fails},
        db,
        consumer_name="projector",
        max_attempts=2,
        initial_backoff=0.01,
        max_backoff=0.02,
        poll_timeout=0.1,
        config={"session.timeout.ms": 6000},
    )
    task = asyncio.create_task(consumer.run())
    try:
        deadline = time.monotonic() + WAIT
        while consumer.stats.dead_lettered < expected:
            if task.done():
                await task
                raise AssertionError(f"the consumer stopped early: {consumer.stats}")
            assert time.monotonic() < deadline, f"timed out waiting for dead letters: {consumer.stats}"
            await asyncio.sleep(0.05)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, WAIT)
        await db.dispose()


@pytest.fixture(scope="module")
def dead_letters(kafka_broker: str, tmp_path_factory: pytest.TempPathFactory) -> DeadLetters:
    """Three course events the handler rejects (2 attempts each) and one message no one can decode."""
    topic = a_topic(kafka_broker, partitions=2)
    events = course_events(3)
    asyncio.run(publish(kafka_broker, topic, events))
    produce_raw(kafka_broker, topic, [(b"raw-key", b"not json at all")])
    db_path = tmp_path_factory.mktemp("cli-ops") / "consumer.db"
    asyncio.run(dead_letter_everything(kafka_broker, topic, db_path, expected=4))
    letters = read_topic(kafka_broker, f"{topic}.dlq")
    assert len(letters) == 4
    return DeadLetters(topic, f"{topic}.dlq", events, letters)


# -- events dlq ----------------------------------------------------------------------------------


def test_dlq_list_shows_every_dead_letter_with_its_origin(kafka_env: str, dead_letters: DeadLetters) -> None:
    result = ok("events", "dlq", "list", dead_letters.dlq)
    rows = [row for row in table_rows(result.stdout) if row[0] == dead_letters.dlq]
    assert len(rows) == 4
    by_where = {row[1]: row for row in rows}
    for letter in dead_letters.letters:
        row = by_where[f"{letter.partition}/{letter.offset}"]
        original = (
            f"{dead_letters.topic} {letter.header('dlq-original-partition')}/{letter.header('dlq-original-offset')}"
        )
        assert row[2] == original
        if letter.header("event-type"):
            assert row[3] == ev.CourseCreated.type
            assert row[4] == letter.header("event-id")
            assert row[5] == "2"
            assert row[6].startswith("RuntimeError: projection refused")
        else:
            assert (row[3], row[4], row[5]) == ("?", "?", "1")
            assert row[6].startswith("UndecodableEvent")
    assert {row[4] for row in rows} >= {str(e.event_id) for e in dead_letters.events}
    assert "Showing 4 of 4 dead letters in 1 topic" in result.stderr

    # The original topic's name means its DLQ; `all` finds it among every *.dlq topic; --limit keeps the newest.
    assert (
        len([r for r in table_rows(ok("events", "dlq", "list", dead_letters.topic).stdout) if r[0] == dead_letters.dlq])
        == 4
    )
    everything = ok("events", "dlq", "list", "--limit", "10000").stdout
    assert len([r for r in table_rows(everything) if r[0] == dead_letters.dlq]) == 4
    limited = ok("events", "dlq", "list", dead_letters.dlq, "--limit", "2")
    assert len([r for r in table_rows(limited.stdout) if r[0] == dead_letters.dlq]) == 2
    assert "Showing 2 of 4 dead letters" in limited.stderr


def test_dlq_list_as_json_and_csv_carries_every_dead_letter_whole(kafka_env: str, dead_letters: DeadLetters) -> None:
    rows = json.loads(ok("events", "dlq", "list", dead_letters.dlq, "-o", "json").stdout)
    assert len(rows) == 4
    by_position = {(row["partition"], row["offset"]): row for row in rows}
    for letter in dead_letters.letters:
        row = by_position[(letter.partition, letter.offset)]
        assert row["topic"] == dead_letters.dlq
        assert row["original_topic"] == dead_letters.topic
        assert row["original_offset"] == int(letter.header("dlq-original-offset") or "-1")
        assert row["error"] == letter.header("dlq-error")  # whole: the table shortens it
        assert row["event_id"] == letter.header("event-id")  # null for the undecodable one
        assert row["attempts"] == int(letter.header("dlq-attempts") or "-1")
    text = ok("events", "dlq", "list", dead_letters.dlq, "-o", "csv").stdout_bytes.decode()
    header, *records = list(csv.reader(io.StringIO(text, newline="")))
    assert header == list(rows[0])
    assert sorted(record[header.index("offset")] for record in records) == sorted(str(row["offset"]) for row in rows)


def test_dlq_list_of_a_missing_topic_is_one_line(kafka_env: str) -> None:
    result = invoke("events", "dlq", "list", "no.such.topic")
    assert result.exit_code == 1
    assert error_lines(result) == [f"error: there is no topic no.such.topic.dlq on Kafka at {kafka_env}"]


def test_dlq_show_prints_one_dead_letter_whole(kafka_env: str, dead_letters: DeadLetters) -> None:
    letter = dead_letters.decodable()
    out = ok("events", "dlq", "show", dead_letters.dlq, str(letter.partition), str(letter.offset)).stdout
    assert value_of(out, "Attempts") == "2"
    assert value_of(out, "Consumer") == "projector"
    assert value_of(out, "Error").startswith("RuntimeError: projection refused")
    assert value_of(out, "header event-id") == letter.header("event-id")
    assert value_of(out, "header dlq-original-topic") == dead_letters.topic
    assert "Event envelope:" in out
    assert f'"event_id": "{letter.header("event-id")}"' in out
    assert f'"type": "{ev.CourseCreated.type}"' in out

    raw = dead_letters.undecodable()
    out = ok("events", "dlq", "show", dead_letters.dlq, str(raw.partition), str(raw.offset)).stdout
    assert "Undecodable value (invalid envelope" in out
    assert "not json at all" in out
    assert value_of(out, "Key") == "raw-key"

    missing = invoke("events", "dlq", "show", dead_letters.dlq, "0", "999")
    assert missing.exit_code == 1
    assert error_lines(missing) == [
        f"error: there is no message at {dead_letters.dlq} 0/999 (partition 0 holds offsets 0 to 3)"
    ]


def test_dlq_replay_puts_dead_letters_back_on_their_original_topic(kafka_env: str, dead_letters: DeadLetters) -> None:
    before = read_topic(kafka_env, dead_letters.topic)

    assert invoke("events", "dlq", "replay", dead_letters.dlq).exit_code == 2  # --offset or --all is required
    refused = invoke("events", "dlq", "replay", dead_letters.dlq, "--all", input="n\n")
    assert refused.exit_code == 1
    assert "Replay 4 dead letters" in refused.output
    assert len(read_topic(kafka_env, dead_letters.topic)) == len(before)

    result = ok("events", "dlq", "replay", dead_letters.dlq, "--all", "--yes")
    assert f"Replayed 4 dead letters from {dead_letters.dlq} to {dead_letters.topic}" in result.stderr
    assert "append-only" in result.stderr

    replayed = {
        m.header("replayed-from"): m for m in read_topic(kafka_env, dead_letters.topic) if m.header("replayed-from")
    }
    assert len(replayed) == 4
    for letter in dead_letters.letters:
        again = replayed[f"{dead_letters.dlq}/{letter.partition}/{letter.offset}"]
        assert (again.key, again.value) == (letter.key, letter.value)
        assert not [name for name, _ in again.headers if name.startswith("dlq-")]
        original_headers = [(n, v) for n, v in letter.headers if not n.startswith("dlq-")]
        where = f"{dead_letters.dlq}/{letter.partition}/{letter.offset}".encode()
        assert again.headers == [*original_headers, ("replayed-from", where)]
    assert len(read_topic(kafka_env, dead_letters.dlq)) == 4  # replaying removes nothing from the DLQ

    one = dead_letters.decodable()
    result = ok("events", "dlq", "replay", dead_letters.dlq, "--offset", f"{one.partition}:{one.offset}", "-y")
    assert "Replayed 1 dead letter " in result.stderr
    assert len(read_topic(kafka_env, dead_letters.topic)) == len(before) + 5
    assert invoke("events", "dlq", "replay", dead_letters.dlq, "--offset", "zero").exit_code == 2


# -- events tail ---------------------------------------------------------------------------------


def test_events_tail_prints_one_line_per_message_and_stops(kafka_env: str) -> None:
    topic = a_topic(kafka_env, partitions=1)
    events = course_events(3)
    asyncio.run(publish(kafka_env, topic, events))
    produce_raw(kafka_env, topic, [(b"k1", b"\xff not an envelope"), (b"k2", b"{}")])

    result = ok("events", "tail", topic, "--from-beginning", "--limit", "5", "--timeout", "10")
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    for offset, (line, event) in enumerate(zip(lines[:3], events, strict=True)):
        assert line.startswith(f"0/{offset}  key={event.aggregate_id}  event-type={event.type}  type={event.type}")
        assert f"aggregate={event.aggregate_id}" in line
        assert f"occurred_at={event.occurred_at.isoformat()}" in line
    assert lines[3] == "0/3  key=k1  event-type=-  undecodable"
    assert lines[4] == "0/4  key=k2  event-type=-  undecodable"
    assert "5 messages from" in result.stderr

    assert len(ok("events", "tail", topic, "--from-beginning", "--limit", "2").stdout.splitlines()) == 2

    idle = ok("events", "tail", topic, "--timeout", "0.5")  # from the end: nothing new arrives
    assert idle.stdout == ""
    assert "0 messages from" in idle.stderr


# -- configuration and reachability ----------------------------------------------------------


KAFKA_COMMANDS = [
    ["events", "dlq", "list"],
    ["events", "dlq", "show", "t.dlq", "0", "0"],
    ["events", "dlq", "replay", "t.dlq", "--all", "--yes"],
    ["events", "tail", "t"],
]
KAFKA_ONLY_COMMANDS = [KAFKA_COMMANDS[1], KAFKA_COMMANDS[3]]  # without Kafka, dlq list/replay use the table


@pytest.mark.parametrize("args", KAFKA_ONLY_COMMANDS, ids=lambda a: "-".join(a[:3]))
def test_kafka_commands_without_a_bootstrap_setting_fail_in_one_line(args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 1
    assert error_lines(result) == [
        "error: Kafka is not configured: set ELEARNING_KAFKA_BOOTSTRAP_SERVERS (e.g. localhost:9092)"
    ]


@pytest.fixture
def unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELEARNING_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setattr(_kafka, "CONNECT_TIMEOUT", 1.5)


@pytest.mark.parametrize("args", [KAFKA_COMMANDS[0], KAFKA_COMMANDS[3]], ids=["dlq-list", "tail"])
@pytest.mark.usefixtures("unreachable")
def test_an_unreachable_broker_fails_in_one_line_within_the_timeout(args: list[str]) -> None:
    result = invoke(*args)  # bounded by the CLI's own timeout; a hang would trip pytest-timeout
    assert result.exit_code == 1
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "error: cannot reach Kafka at 127.0.0.1:1 (ELEARNING_KAFKA_BOOTSTRAP_SERVERS) within 1.5s"
    )


def test_kafka_error_codes_used_by_the_cli_exist() -> None:
    """The CLI names librdkafka's error codes; a renamed one would only show up when a broker misbehaves."""
    for name in (
        "UNKNOWN_TOPIC_OR_PART",
        "TOPIC_AUTHORIZATION_FAILED",
        "_UNKNOWN_PARTITION",
        "_UNKNOWN_TOPIC",
        "_PARTITION_EOF",
    ):
        assert isinstance(getattr(KafkaError, name), int)


# -- dead letters of the in-process transport (no Kafka configured) --------------------------------


def test_without_kafka_dlq_list_shows_the_in_process_dead_letters(cli_env: str) -> None:
    asyncio.run(migrate_sqlite(cli_env))
    assert "No dead letters" in ok("events", "dlq", "list").stderr
    make_in_process_dead_letters(cli_env, courses=3)

    result = ok("events", "dlq", "list")
    rows = [r for r in table_rows(result.stdout) if r and r[0].isdigit()]
    assert len(rows) == 3
    assert {r[1] for r in rows} == {"elearning.course"}
    assert {r[2] for r in rows} == {"failing"}
    assert {r[3] for r in rows} == {ev.CourseCreated.type}
    assert {r[5] for r in rows} == {"2"}
    assert all("RuntimeError: handler bug" in r[-1] for r in rows)
    assert "Showing 3 of 3 dead letters" in result.stderr

    whole = json.loads(ok("events", "dlq", "list", "-o", "json", "--limit", "2").stdout)
    assert len(whole) == 2
    assert whole[0]["error"] == "RuntimeError: handler bug"
    assert json.loads(whole[0]["message"])["type"] == ev.CourseCreated.type


def test_without_kafka_dlq_replay_flags_dead_letters_for_the_running_transport(cli_env: str) -> None:
    asyncio.run(migrate_sqlite(cli_env))
    make_in_process_dead_letters(cli_env, courses=2)
    first = int(next(r for r in table_rows(ok("events", "dlq", "list").stdout) if r and r[0].isdigit())[0])

    flagged = ok("events", "dlq", "replay", "elearning.course", "--id", str(first))
    assert "Flagged 1 dead letter for replay" in flagged.stderr
    rows = [r for r in table_rows(ok("events", "dlq", "list").stdout) if r and r[0].isdigit()]
    assert {int(r[0]): r[7] for r in rows}[first] == "requested"
    assert sorted(r[7] for r in rows) == ["", "requested"]

    missing = invoke("events", "dlq", "replay", "elearning.course", "--id", "999")
    assert missing.exit_code == 1
    assert error_lines(missing) == ["error: no dead letter with id 999 in elearning.course"]
    both = invoke("events", "dlq", "replay", "elearning.course", "--all", "--id", "1")
    assert both.exit_code == 2
    assert "--id N" in both.stderr
    assert "Flagged 2 dead letters" in ok("events", "dlq", "replay", "all", "--all").stderr


# -- the worker commands (real processes: they exec the worker runtime) ---------------------------


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


# -- a poison message, end to end: dead-lettered, fixed, replayed, one effect ---------------------


def test_a_poison_message_replayed_after_the_fix_has_exactly_one_effect(kafka_env: str, cli_env: str) -> None:
    from tests.integration.test_consumer import Effects, course_events, publish, run_until
    from tests.integration.test_consumer import runner as consumer_runner

    topic = f"test.poison.{uuid.uuid4().hex[:10]}"
    KafkaEventPublisher(kafka_env).ensure_topics([topic], partitions=1)
    created, _section_added = events = course_events(1)
    group = f"g-{uuid.uuid4().hex}"
    fixed = False

    async def phase(condition: Any, what: str) -> tuple[Counter[uuid.UUID], dict[str, int]]:
        db = Database(cli_env)
        try:
            effects = Effects(db)
            effects.table = "fx_poison"

            async def handler(event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
                await effects.handler(event, envelope, conn)
                if not fixed:
                    raise RuntimeError("handler bug")

            handlers = {ev.CourseCreated.type: handler}
            consumer = consumer_runner(db, kafka_env, topic, handlers, group)
            await run_until(consumer, condition, what)
            stats = {"handled": consumer.stats.handled, "duplicates": consumer.stats.duplicates}
            return await effects.counts(), stats
        finally:
            await db.dispose()

    async def prepare() -> None:
        await migrate_sqlite(cli_env)
        db = Database(cli_env)
        try:
            await Effects(db).create()  # a random table name; the phases use a fixed one
            async with db.write() as conn:
                await conn.execute(text("CREATE TABLE fx_poison (event_id VARCHAR(36) NOT NULL)"))
                await conn.commit()
        finally:
            await db.dispose()
        await publish(kafka_env, topic, events)

    asyncio.run(prepare())
    effects, _ = asyncio.run(phase(lambda s: s.dead_lettered == 1 and s.skipped == 1, "the dead letter"))
    assert effects == Counter()  # three failed tries, each rolled back

    fixed = True
    ok("events", "dlq", "replay", f"{topic}.dlq", "--all", "--yes")
    effects, stats = asyncio.run(phase(lambda s: s.handled == 1, "the replayed event"))
    assert effects == Counter({created.event_id: 1})
    assert stats == {"handled": 1, "duplicates": 0}

    ok("events", "dlq", "replay", f"{topic}.dlq", "--all", "--yes")  # replayed again by mistake: harmless
    effects, stats = asyncio.run(phase(lambda s: s.duplicates == 1, "the second replay"))
    assert effects == Counter({created.event_id: 1})
    assert stats == {"handled": 0, "duplicates": 1}
