"""``elearning outbox`` and ``elearning events``: operating the event backbone.

``outbox`` looks at the transactional outbox in the database (what the relay
still has to publish, how fast it goes) and prunes what was published long
ago. ``events`` looks at Kafka: the dead-letter topics (``<topic>.dlq``) the
consumers write what they could not handle to, replaying dead letters to the
topic they came from, and tailing a topic.

Reading Kafka never joins a consumer group and never commits an offset: the
partitions are assigned explicitly, from offsets computed here, so an
operator's look cannot move a worker's position. Every wait on the broker is
bounded; an unreachable broker is one line and exit code 1.

The DLQ header names repeat those the consumer runner writes
(``elearning_workers.consumer``): the CLI may not import the workers.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from elearning_adapters.kafka.headers import (
    DLQ_ATTEMPTS,
    DLQ_CONSUMER,
    DLQ_ERROR,
    DLQ_ORIGINAL_OFFSET,
    DLQ_ORIGINAL_PARTITION,
    DLQ_ORIGINAL_TOPIC,
    DLQ_SUFFIX,
    EVENT_ID,
    EVENT_TYPE,
    REPLAYED_FROM,
)
from elearning_cli._common import (
    CliError,
    database_label,
    handle_errors,
    info,
    load_settings,
    open_platform,
    plural,
    run,
    stdout_console,
)

if TYPE_CHECKING:
    from confluent_kafka import Consumer, KafkaException

    from elearning_adapters.settings import Settings
    from elearning_adapters.sql.engine import Database
    from elearning_core.shared.envelope import EventEnvelope

outbox_app = typer.Typer(
    help="Inspect the transactional outbox (what the relay still has to publish) and prune published rows.",
    no_args_is_help=True,
)
events_app = typer.Typer(
    help=(
        "Look at the Kafka event topics: dead letters and live traffic. "
        "Needs ELEARNING_KAFKA_BOOTSTRAP_SERVERS; never commits consumer offsets."
    ),
    no_args_is_help=True,
)
dlq_app = typer.Typer(
    help=(
        "Dead letters: messages a consumer gave up on, in `<topic>.dlq`. "
        "List them, show one, replay them to their original topic."
    ),
    no_args_is_help=True,
)
events_app.add_typer(dlq_app, name="dlq")


CONNECT_TIMEOUT = 5.0
"""Seconds to wait for the broker's metadata (reachability) and for each offset look-up."""
READ_TIMEOUT = 15.0
"""Seconds a dead-letter read may take before it stops with what it has."""
DELIVERY_TIMEOUT = 15.0
"""Seconds a replay waits for the broker to acknowledge every message."""
POLL_INTERVAL = 0.2
"""Seconds per consumer poll: short, so Ctrl-C and the deadlines are noticed promptly."""
ERROR_WIDTH = 60
"""Characters of a dead letter's error shown in the list (``show`` prints it whole)."""
RATE_WINDOW = timedelta(minutes=1)

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


# -- outbox ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    pending: int
    oldest_pending_age: timedelta | None
    failing: int  # pending rows with at least one failed publish attempt
    published_last_window: int
    total: int

    @property
    def published_per_second(self) -> float:
        return self.published_last_window / RATE_WINDOW.total_seconds()


async def outbox_counts(database: Database, *, now: datetime | None = None) -> tuple[int, int, int]:
    """(rows published within ``RATE_WINDOW`` before ``now``, pending rows that failed before, all rows)."""
    from sqlalchemy import func, select

    from elearning_adapters.sql.outbox import outbox

    since = (now or datetime.now(UTC)) - RATE_WINDOW
    query = select(
        func.count(outbox.c.id).filter(outbox.c.published_at >= since),
        func.count(outbox.c.id).filter(outbox.c.published_at.is_(None), outbox.c.attempts > 0),
        func.count(outbox.c.id),
    )
    async with database.read() as conn:
        row = (await conn.execute(query)).one()
    return int(row[0]), int(row[1]), int(row[2])


async def count_prunable(database: Database, older_than: timedelta, *, now: datetime | None = None) -> int:
    """How many rows ``OutboxStore.prune(older_than)`` would delete (published before the cutoff)."""
    from sqlalchemy import func, select

    from elearning_adapters.sql.outbox import outbox

    cutoff = (now or datetime.now(UTC)) - older_than
    query = select(func.count(outbox.c.id)).where(outbox.c.published_at.is_not(None), outbox.c.published_at < cutoff)
    async with database.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def _outbox_status() -> OutboxStatus:
    from elearning_adapters.sql.outbox_store import OutboxStore

    async with open_platform(load_settings()) as platform:
        now = datetime.now(UTC)
        stats = await OutboxStore(platform.database).pending_stats(now=now)
        published, failing, total = await outbox_counts(platform.database, now=now)
    return OutboxStatus(stats.count, stats.oldest_age, failing, published, total)


async def _outbox_prune(older_than: timedelta, label: str, confirm: bool) -> int:
    from elearning_adapters.sql.outbox_store import OutboxStore

    async with open_platform(load_settings()) as platform:
        now = datetime.now(UTC)
        candidates = await count_prunable(platform.database, older_than, now=now)
        if candidates == 0:
            return 0
        if confirm:
            typer.confirm(
                f"Delete {plural(candidates, 'published outbox row')} of {label} "
                f"published before {format_time(now - older_than)}?",
                abort=True,
                err=True,
            )
        return await OutboxStore(platform.database).prune(older_than, now=now)


def parse_duration(text: str) -> timedelta:
    """``30s``, ``15m``, ``12h``, ``7d``, ``2w`` as a timedelta."""
    match = _DURATION.match(text)
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a duration like 30s, 15m, 12h, 7d or 2w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def format_age(age: timedelta | None) -> str:
    if age is None:
        return "-"
    seconds = int(age.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    if days or hours or minutes:
        parts.append(f"{minutes}m")
    parts.append(f"{secs}s")
    return " ".join(parts[:3])


def format_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@outbox_app.command("status")
@handle_errors
def outbox_status() -> None:
    """Show how much the relay still has to publish, how old the oldest of it is, and how fast it publishes."""
    label = database_label(load_settings())
    status = run(_outbox_status())
    table = Table(title="Outbox", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("Database", Text(label))
    table.add_row("Pending", str(status.pending))
    table.add_row("Oldest pending age", format_age(status.oldest_pending_age))
    table.add_row("Pending after a failed attempt", str(status.failing))
    table.add_row("Published in the last minute", str(status.published_last_window))
    table.add_row("Published/s (last minute)", f"{status.published_per_second:.2f}")
    table.add_row("Total rows", str(status.total))
    stdout_console().print(table)


@outbox_app.command("prune")
@handle_errors
def outbox_prune(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Retention: delete rows published longer ago than this (30s, 15m, 12h, 7d, 2w).",
            metavar="DURATION",
        ),
    ] = "7d",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete outbox rows published longer ago than the retention. Unpublished rows are never deleted."""
    retention = parse_duration(older_than)
    label = database_label(load_settings())
    deleted = run(_outbox_prune(retention, label, confirm=not yes))
    if deleted == 0:
        info(f"No outbox row of {label} was published more than {older_than.strip()} ago; nothing to prune.")
    else:
        info(f"Deleted {plural(deleted, 'published outbox row')} older than {older_than.strip()} from {label}.")


# -- Kafka plumbing ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka message, copied out of librdkafka."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    timestamp: datetime | None = None

    def header(self, name: str) -> str | None:
        for key, value in reversed(self.headers):
            if key == name:
                return None if value is None else value.decode(errors="replace")
        return None

    @property
    def where(self) -> str:
        return f"{self.partition}/{self.offset}"


def kafka_bootstrap(settings: Settings) -> str:
    if not settings.kafka_bootstrap_servers:
        raise CliError("Kafka is not configured: set ELEARNING_KAFKA_BOOTSTRAP_SERVERS (e.g. localhost:9092)")
    return settings.kafka_bootstrap_servers


def _kafka_reason(exc: KafkaException) -> str:
    error: Any = exc.args[0] if exc.args else None
    text = error.str() if error is not None and hasattr(error, "str") else str(exc)
    return str(text).strip() or type(exc).__name__


@contextlib.contextmanager
def kafka_errors(bootstrap: str) -> Iterator[None]:
    """Kafka failures as one line naming the broker."""
    from confluent_kafka import KafkaException

    try:
        yield
    except KafkaException as exc:
        raise CliError(f"Kafka error at {bootstrap}: {_kafka_reason(exc)}") from None


@contextlib.contextmanager
def reader(bootstrap: str) -> Iterator[Consumer]:
    """A consumer that only ever uses ``assign()``: no group membership, no committed offsets.

    It has a throwaway group id (librdkafka wants one) and auto-commit off;
    the broker is checked first, so an unreachable one fails within ``CONNECT_TIMEOUT``.
    """
    from confluent_kafka import Consumer, KafkaException

    with kafka_errors(bootstrap):
        try:
            consumer = Consumer(
                {
                    "bootstrap.servers": bootstrap,
                    "group.id": f"elearning-cli-{uuid.uuid4().hex}",
                    "client.id": "elearning-cli",
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "enable.partition.eof": True,
                    "auto.offset.reset": "earliest",
                    "log_level": 0,
                }
            )
        except KafkaException as exc:
            raise CliError(f"invalid Kafka configuration ({bootstrap}): {_kafka_reason(exc)}") from None
        try:
            try:
                consumer.list_topics(timeout=CONNECT_TIMEOUT)
            except KafkaException as exc:
                raise CliError(
                    f"cannot reach Kafka at {bootstrap} (ELEARNING_KAFKA_BOOTSTRAP_SERVERS) "
                    f"within {CONNECT_TIMEOUT:g}s: {_kafka_reason(exc)}"
                ) from None
            yield consumer
        finally:
            consumer.close()


def topic_partitions(consumer: Consumer) -> dict[str, list[int]]:
    """Every topic the broker has (internal ones left out) and its partitions."""
    metadata = consumer.list_topics(timeout=CONNECT_TIMEOUT)
    return {
        name: sorted(meta.partitions)
        for name, meta in metadata.topics.items()
        if meta.error is None and not name.startswith("__")
    }


def require_topic(topics: dict[str, list[int]], topic: str, bootstrap: str) -> list[int]:
    partitions = topics.get(topic)
    if not partitions:
        raise CliError(f"there is no topic {topic} on Kafka at {bootstrap}")
    return partitions


def watermarks(consumer: Consumer, topic: str, partitions: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(low, high) per partition: the first offset still kept and the next offset to be written."""
    from confluent_kafka import TopicPartition

    marks = {}
    for partition in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), CONNECT_TIMEOUT, cached=False)
        marks[partition] = (int(low), int(high))
    return marks


def _record(message: Any) -> Record:
    kind, stamp = message.timestamp()
    raw_headers = message.headers() or []
    pairs = raw_headers.items() if isinstance(raw_headers, dict) else raw_headers
    headers = [
        (str(name), value if value is None or isinstance(value, bytes) else str(value).encode())
        for name, value in pairs
    ]
    return Record(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        key=message.key(),
        value=message.value(),
        headers=headers,
        timestamp=datetime.fromtimestamp(stamp / 1000, UTC) if kind and stamp > 0 else None,
    )


def _fatal_poll_error(error: Any) -> bool:
    from confluent_kafka import KafkaError

    if error.fatal():
        return True
    return error.code() in (
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._UNKNOWN_TOPIC,
    )


def read_ranges(
    consumer: Consumer, ranges: dict[tuple[str, int], tuple[int, int]], timeout: float
) -> tuple[list[Record], bool]:
    """The messages in ``[start, end)`` of each (topic, partition); and whether every range was read whole.

    Stops at the deadline with what it has (``False``): the caller says so or refuses to go on.
    """
    from confluent_kafka import KafkaError, KafkaException, TopicPartition

    wanted = {tp: (start, end) for tp, (start, end) in ranges.items() if end > start}
    if not wanted:
        return [], True
    consumer.assign([TopicPartition(t, p, start) for (t, p), (start, _end) in wanted.items()])
    remaining = set(wanted)
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    try:
        while remaining and time.monotonic() < deadline:
            message = consumer.poll(min(POLL_INTERVAL, max(deadline - time.monotonic(), 0.0)))
            if message is None:
                continue
            tp = (str(message.topic()), int(message.partition() or 0))
            offset = int(message.offset() or 0)
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    if tp in remaining and offset >= wanted[tp][1]:
                        remaining.discard(tp)
                    continue
                if _fatal_poll_error(error):
                    raise KafkaException(error)
                continue
            if tp not in wanted:
                continue
            start, end = wanted[tp]
            if start <= offset < end:
                records.append(_record(message))
            if offset >= end - 1:
                remaining.discard(tp)
    finally:
        consumer.unassign()
    return records, not remaining


def dlq_name(topic: str) -> str:
    """The dead-letter topic: ``elearning.course`` and ``elearning.course.dlq`` both mean ``elearning.course.dlq``."""
    return topic if topic.endswith(DLQ_SUFFIX) else f"{topic}{DLQ_SUFFIX}"


def decode_value(value: bytes | None) -> tuple[EventEnvelope | None, str | None]:
    """The envelope in a message value, or why there is none."""
    from elearning_core.shared.envelope import UndecodableEvent, decode

    if value is None:
        return None, "no value (tombstone)"
    try:
        return decode(value), None
    except UndecodableEvent as exc:
        return None, str(exc)


def text_of(data: bytes | None) -> str:
    """Bytes for display: the text if it is UTF-8, else a Python bytes literal."""
    if data is None:
        return "(none)"
    try:
        return data.decode()
    except UnicodeDecodeError:
        return repr(data)


def truncate(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# -- events dlq ----------------------------------------------------------------------------


def _event_type(record: Record, envelope: EventEnvelope | None) -> str:
    return record.header(EVENT_TYPE) or (envelope.type if envelope is not None else "?")


def _event_id(record: Record, envelope: EventEnvelope | None) -> str:
    return record.header(EVENT_ID) or (str(envelope.event_id) if envelope is not None else "?")


def _original(record: Record) -> str:
    topic = record.header(DLQ_ORIGINAL_TOPIC) or "?"
    return f"{topic} {record.header(DLQ_ORIGINAL_PARTITION) or '?'}/{record.header(DLQ_ORIGINAL_OFFSET) or '?'}"


@dlq_app.command("list")
@handle_errors
def dlq_list(
    topic: Annotated[
        str,
        typer.Argument(
            help="A dead-letter topic (`elearning.course.dlq`, or just `elearning.course`), or `all` for every *.dlq topic.",
            metavar="TOPIC_OR_ALL",
        ),
    ] = "all",
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Show at most this many dead letters, the newest ones.")
    ] = 50,
) -> None:
    """List dead letters: where they are, where they came from, their event, attempts and error."""
    bootstrap = kafka_bootstrap(load_settings())
    with reader(bootstrap) as consumer, kafka_errors(bootstrap):
        topics = topic_partitions(consumer)
        if topic == "all":
            chosen = sorted(t for t in topics if t.endswith(DLQ_SUFFIX))
        else:
            chosen = [dlq_name(topic)]
            require_topic(topics, chosen[0], bootstrap)
        ranges: dict[tuple[str, int], tuple[int, int]] = {}
        total = 0
        for name in chosen:
            for partition, (low, high) in watermarks(consumer, name, topics[name]).items():
                total += high - low
                ranges[(name, partition)] = (max(low, high - limit), high)
        records, complete = read_ranges(consumer, ranges, READ_TIMEOUT)
    if not chosen:
        info(f"No dead-letter topic (*{DLQ_SUFFIX}) on Kafka at {bootstrap}.")
        return
    by_time = sorted(
        records, key=lambda r: (r.timestamp or datetime.min.replace(tzinfo=UTC), r.topic, r.partition, r.offset)
    )
    shown = by_time[-limit:]
    if not shown:
        info(f"No dead letters in {', '.join(chosen)}.")
        return
    table = Table(title="Dead letters", title_justify="left")
    for column in ("DLQ topic", "P/offset", "Original (topic P/offset)", "Event type", "Event id", "Attempts"):
        table.add_column(column, overflow="fold")
    table.add_column("Error", overflow="fold", max_width=ERROR_WIDTH + 2)  # + the cell padding
    for record in shown:
        envelope, _reason = decode_value(record.value)
        table.add_row(
            Text(record.topic),
            record.where,
            Text(_original(record)),
            Text(_event_type(record, envelope)),
            Text(_event_id(record, envelope)),
            record.header(DLQ_ATTEMPTS) or "?",
            Text(truncate(record.header(DLQ_ERROR) or "", ERROR_WIDTH)),
        )
    stdout_console().print(table)
    info(f"Showing {len(shown)} of {plural(total, 'dead letter')} in {plural(len(chosen), 'topic')}.")
    if not complete:
        info(f"warning: stopped reading after {READ_TIMEOUT:g}s; some dead letters may be missing.")


@dlq_app.command("show")
@handle_errors
def dlq_show(
    topic: Annotated[str, typer.Argument(help="The dead-letter topic (`elearning.course.dlq`).", metavar="DLQ_TOPIC")],
    partition: Annotated[int, typer.Argument(min=0, help="Its partition.", metavar="PARTITION")],
    offset: Annotated[int, typer.Argument(min=0, help="Its offset.", metavar="OFFSET")],
) -> None:
    """Everything about one dead letter: origin, error, headers, and the event (or the raw value)."""
    bootstrap = kafka_bootstrap(load_settings())
    name = dlq_name(topic)
    record = _fetch(bootstrap, name, [(partition, offset)])[0]
    envelope, reason = decode_value(record.value)
    table = Table(title=f"Dead letter {name} {record.where}", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("Dead-lettered at", format_time(record.timestamp) if record.timestamp else "?")
    table.add_row("Original", Text(_original(record)))
    table.add_row("Consumer", Text(record.header(DLQ_CONSUMER) or "?"))
    table.add_row("Attempts", record.header(DLQ_ATTEMPTS) or "?")
    table.add_row("Error", Text(record.header(DLQ_ERROR) or "?"))
    table.add_row("Key", Text(text_of(record.key)))
    for header, value in record.headers:
        table.add_row(Text(f"header {header}"), Text(text_of(value)))
    console = stdout_console()
    console.print(table)
    if envelope is not None:
        console.print(Text("Event envelope:", style="bold"))
        console.print(Text(json.dumps(envelope.model_dump(mode="json"), indent=2)))
    else:
        console.print(Text(f"Undecodable value ({reason}):", style="bold"))
        console.print(Text(text_of(record.value)))


def _fetch(bootstrap: str, topic: str, positions: Sequence[tuple[int, int]]) -> list[Record]:
    """The messages at the given (partition, offset)s of ``topic``, in that order; an error if one is missing."""
    with reader(bootstrap) as consumer, kafka_errors(bootstrap):
        partitions = require_topic(topic_partitions(consumer), topic, bootstrap)
        marks = watermarks(consumer, topic, sorted({p for p, _ in positions if p in partitions}))
        ranges: dict[tuple[str, int], tuple[int, int]] = {}
        for partition, offset in positions:
            if partition not in marks:
                raise CliError(f"{topic} has no partition {partition} (it has {', '.join(map(str, partitions))})")
            low, high = marks[partition]
            if not low <= offset < high:
                held = f"offsets {low} to {high - 1}" if high > low else "no messages"
                raise CliError(
                    f"there is no message at {topic} {partition}/{offset} (partition {partition} holds {held})"
                )
            start, end = ranges.get((topic, partition), (offset, offset + 1))
            ranges[(topic, partition)] = (min(start, offset), max(end, offset + 1))
        records, _complete = read_ranges(consumer, ranges, READ_TIMEOUT)
    found = {(r.partition, r.offset): r for r in records}
    missing = [f"{p}/{o}" for p, o in positions if (p, o) not in found]
    if missing:
        raise CliError(f"could not read {topic} {', '.join(missing)} within {READ_TIMEOUT:g}s")
    return [found[position] for position in positions]


def _read_all(bootstrap: str, topic: str) -> list[Record]:
    with reader(bootstrap) as consumer, kafka_errors(bootstrap):
        partitions = require_topic(topic_partitions(consumer), topic, bootstrap)
        ranges = {(topic, p): (low, high) for p, (low, high) in watermarks(consumer, topic, partitions).items()}
        records, complete = read_ranges(consumer, ranges, READ_TIMEOUT)
    if not complete:
        raise CliError(f"could not read all of {topic} within {READ_TIMEOUT:g}s; nothing replayed")
    return sorted(records, key=lambda r: (r.partition, r.offset))


def parse_position(text: str) -> tuple[int, int]:
    partition, sep, offset = text.partition(":")
    if not sep or not partition.strip().isdigit() or not offset.strip().isdigit():
        raise typer.BadParameter(f"{text!r} is not PARTITION:OFFSET, e.g. 0:42", param_hint="--offset")
    return int(partition), int(offset)


def replay_target(record: Record) -> str:
    """The topic a dead letter came from: its ``dlq-original-topic`` header, else its topic minus ``.dlq``."""
    original = record.header(DLQ_ORIGINAL_TOPIC)
    if original:
        return original
    return record.topic.removesuffix(DLQ_SUFFIX)


def replay_headers(record: Record) -> list[tuple[str, str | bytes | None]]:
    """The original headers (no ``dlq-*``, no earlier ``replayed-from``) plus where this replay came from."""
    kept: list[tuple[str, str | bytes | None]] = [
        (n, v) for n, v in record.headers if not n.startswith("dlq-") and n != REPLAYED_FROM
    ]
    return [*kept, (REPLAYED_FROM, f"{record.topic}/{record.partition}/{record.offset}".encode())]


def replay(bootstrap: str, records: Sequence[Record]) -> int:
    """Produce each dead letter to its original topic (idempotent producer, ``acks=all``); waits for every ack."""
    from confluent_kafka import KafkaError, KafkaException, Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": "elearning-cli-replay",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 0,
            "message.timeout.ms": int(DELIVERY_TIMEOUT * 1000),
            "log_level": 0,
        }
    )
    delivered = 0
    errors: list[str] = []

    def on_delivery(err: KafkaError | None, _msg: Any) -> None:
        nonlocal delivered
        if err is None:
            delivered += 1
        else:
            errors.append(f"{err.name()}: {err.str()}")

    try:
        for record in records:
            producer.produce(
                replay_target(record),
                key=record.key,
                value=record.value,
                headers=replay_headers(record),
                on_delivery=on_delivery,
            )
            producer.poll(0)
    except (KafkaException, BufferError) as exc:
        errors.append(str(exc))
    deadline = time.monotonic() + DELIVERY_TIMEOUT + 5.0
    while delivered + len(errors) < len(records) and time.monotonic() < deadline:
        producer.flush(min(1.0, max(deadline - time.monotonic(), 0.0)))
    if delivered < len(records):
        producer.purge(in_queue=True, in_flight=True, blocking=False)
        reason = errors[0] if errors else f"no acknowledgement within {DELIVERY_TIMEOUT:g}s"
        raise CliError(
            f"replayed {delivered} of {plural(len(records), 'dead letter')}; the others were not acknowledged: {reason}"
        )
    return delivered


@dlq_app.command("replay")
@handle_errors
def dlq_replay(
    topic: Annotated[str, typer.Argument(help="The dead-letter topic (`elearning.course.dlq`).", metavar="DLQ_TOPIC")],
    offsets: Annotated[
        list[str] | None,
        typer.Option(
            "--offset",
            help="A dead letter to replay, as PARTITION:OFFSET (repeat the option for several).",
            metavar="P:O",
        ),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every dead letter in the topic.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Re-publish dead letters to their original topic, for the consumers to try again.

    Each goes out with its original key, value and headers (the dlq-* ones
    left out) plus a `replayed-from: <dlq topic>/<partition>/<offset>` header,
    through an idempotent producer; the command waits for the broker to
    acknowledge every one. Replaying does NOT remove the dead letters: Kafka
    topics are append-only, so they stay in the DLQ topic (and show up in
    `elearning events dlq list`) until its retention deletes them. Every
    consumer group of the original topic receives a replayed event again;
    groups that already handled it skip it (their inbox knows the event id),
    which also makes replaying the same dead letter twice harmless.
    """
    if all_ == bool(offsets):
        raise typer.BadParameter("give either --offset P:O (one or more) or --all", param_hint="--offset/--all")
    positions = [parse_position(o) for o in offsets or []]
    bootstrap = kafka_bootstrap(load_settings())
    name = dlq_name(topic)
    records = _read_all(bootstrap, name) if all_ else _fetch(bootstrap, name, list(dict.fromkeys(positions)))
    if not records:
        info(f"No dead letters in {name}; nothing to replay.")
        return
    targets = sorted({replay_target(r) for r in records})
    if not yes:
        typer.confirm(
            f"Replay {plural(len(records), 'dead letter')} from {name} to {', '.join(targets)}? "
            "(the dead letters stay in the DLQ)",
            abort=True,
            err=True,
        )
    with kafka_errors(bootstrap):
        count = replay(bootstrap, records)
    info(
        f"Replayed {plural(count, 'dead letter')} from {name} to {', '.join(targets)}; "
        f"they stay in {name} (Kafka topics are append-only)."
    )


# -- events tail ---------------------------------------------------------------------------------


def tail_line(record: Record) -> str:
    envelope, _reason = decode_value(record.value)
    parts = [
        f"{record.partition}/{record.offset}",
        f"key={text_of(record.key)}",
        f"event-type={record.header(EVENT_TYPE) or '-'}",
    ]
    if envelope is None:
        parts.append("undecodable")
    else:
        parts += [
            f"type={envelope.type}",
            f"aggregate={envelope.aggregate_id}",
            f"occurred_at={envelope.occurred_at.isoformat()}",
        ]
    return "  ".join(parts)


@events_app.command("tail")
@handle_errors
def events_tail(
    topic: Annotated[str, typer.Argument(help="The topic to follow, e.g. elearning.course.", metavar="TOPIC")],
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at the oldest message kept, not at the end.")
    ] = False,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Stop after this many messages.")] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0.1, help="Stop after this many seconds without a message (default: never)."),
    ] = None,
) -> None:
    """Print each message of TOPIC as one line until --limit, --timeout or Ctrl-C. Commits no offsets."""
    from confluent_kafka import KafkaError, KafkaException, TopicPartition

    bootstrap = kafka_bootstrap(load_settings())
    console = stdout_console()
    seen = 0
    with reader(bootstrap) as consumer, kafka_errors(bootstrap):
        partitions = require_topic(topic_partitions(consumer), topic, bootstrap)
        marks = watermarks(consumer, topic, partitions)
        consumer.assign([TopicPartition(topic, p, low if from_beginning else high) for p, (low, high) in marks.items()])
        last_message = time.monotonic()
        try:
            while limit is None or seen < limit:
                if timeout is not None and time.monotonic() - last_message >= timeout:
                    break
                message = consumer.poll(POLL_INTERVAL)
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF and _fatal_poll_error(error):
                        raise KafkaException(error)
                    continue
                last_message = time.monotonic()
                seen += 1
                console.print(Text(tail_line(_record(message))), soft_wrap=True)
        except KeyboardInterrupt:
            pass
    info(f"{plural(seen, 'message')} from {topic}.")
