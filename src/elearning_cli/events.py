"""``elearning events``: dead letters (``<topic>.dlq``: list, show, replay to the original topic) and tailing a topic.

Never joins a consumer group or commits an offset (see ``_kafka``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
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
    format_time,
    handle_errors,
    info,
    load_settings,
    plural,
    stdout_console,
)
from elearning_cli._output import Field, FormatOption, render

if TYPE_CHECKING:
    from elearning_core.shared.envelope import EventEnvelope
from elearning_cli._dead_letters import list_dead_letters, replay_dead_letters
from elearning_cli._kafka import (
    POLL_INTERVAL,
    READ_TIMEOUT,
    Record,
    _fatal_poll_error,
    _record,
    decode_value,
    dlq_name,
    kafka_bootstrap,
    kafka_errors,
    read_ranges,
    reader,
    require_topic,
    text_of,
    topic_partitions,
    truncate,
    watermarks,
)

events_app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS
dlq_app = typer.Typer(
    help=(
        "Dead letters: messages a consumer gave up on, in `<topic>.dlq`. "
        "List them, show one, replay them to their original topic."
    ),
    no_args_is_help=True,
)
events_app.add_typer(dlq_app, name="dlq")

DELIVERY_TIMEOUT = 15.0
"""Seconds a replay waits for the broker to acknowledge every message."""
ERROR_WIDTH = 60
"""Characters of a dead letter's error shown in the list (``show`` prints it whole)."""


# -- events dlq ----------------------------------------------------------------------------


def _event_type(record: Record, envelope: EventEnvelope | None) -> str:
    return record.header(EVENT_TYPE) or (envelope.type if envelope is not None else "?")


def _event_id(record: Record, envelope: EventEnvelope | None) -> str:
    return record.header(EVENT_ID) or (str(envelope.event_id) if envelope is not None else "?")


def _original(record: Record) -> str:
    topic = record.header(DLQ_ORIGINAL_TOPIC) or "?"
    return f"{topic} {record.header(DLQ_ORIGINAL_PARTITION) or '?'}/{record.header(DLQ_ORIGINAL_OFFSET) or '?'}"


def _int_header(record: Record, name: str) -> int | None:
    value = record.header(name)
    return int(value) if value is not None and value.isdigit() else None


DeadLetterRow = tuple[Record, "EventEnvelope | None"]
"""A dead letter on Kafka and its event, when its value decodes."""

KAFKA_DEAD_LETTER_FIELDS: list[Field[DeadLetterRow]] = [
    Field("topic", lambda r: r[0].topic, "DLQ topic", whole=True),
    Field("partition", lambda r: r[0].partition),
    Field("offset", lambda r: r[0].offset),
    Field(None, lambda r: r[0].where, "P/offset", whole=True),
    Field("original_topic", lambda r: r[0].header(DLQ_ORIGINAL_TOPIC)),
    Field("original_partition", lambda r: _int_header(r[0], DLQ_ORIGINAL_PARTITION)),
    Field("original_offset", lambda r: _int_header(r[0], DLQ_ORIGINAL_OFFSET)),
    Field(None, lambda r: _original(r[0]), "Original (topic P/offset)", whole=True),
    Field(
        "event_type",
        lambda r: None if _event_type(*r) == "?" else _event_type(*r),
        "Event type",
        whole=True,
        cell=lambda r: _event_type(*r),
    ),
    Field(
        "event_id",
        lambda r: None if _event_id(*r) == "?" else _event_id(*r),
        "Event id",
        whole=True,
        cell=lambda r: _event_id(*r),
    ),
    Field("consumer", lambda r: r[0].header(DLQ_CONSUMER)),
    Field(
        "attempts",
        lambda r: _int_header(r[0], DLQ_ATTEMPTS),
        "Attempts",
        cell=lambda r: r[0].header(DLQ_ATTEMPTS) or "?",
        justify="right",
    ),
    Field(
        "error",
        lambda r: r[0].header(DLQ_ERROR),
        "Error",
        cell=lambda r: truncate(r[0].header(DLQ_ERROR) or "", ERROR_WIDTH),
    ),
    Field("key", lambda r: None if r[0].key is None else text_of(r[0].key)),
    Field("dead_lettered_at", lambda r: r[0].timestamp),
]


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
    output: FormatOption = "table",
) -> None:
    """List dead letters: where they are, where they came from, their event, attempts and error.

    Without Kafka configured, the in-process transport's dead letters (a database table) are listed.
    Tables shorten the error; `-o json` and `-o csv` carry it whole.
    """
    settings = load_settings()
    if settings.events_in_process:
        list_dead_letters(settings, topic, limit, output)
        return
    bootstrap = kafka_bootstrap(settings)
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
    by_time = sorted(
        records, key=lambda r: (r.timestamp or datetime.min.replace(tzinfo=UTC), r.topic, r.partition, r.offset)
    )
    shown: list[DeadLetterRow] = [(record, decode_value(record.value)[0]) for record in by_time[-limit:]]
    if chosen:
        empty = f"No dead letters in {', '.join(chosen)}."
    else:
        empty = f"No dead-letter topic (*{DLQ_SUFFIX}) on Kafka at {bootstrap}."
    render(shown, KAFKA_DEAD_LETTER_FIELDS, output, title="Dead letters", empty=empty)
    if shown:
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
    ids: Annotated[
        list[int] | None,
        typer.Option("--id", min=1, help="Without Kafka: a dead letter to replay, by the id `dlq list` shows."),
    ] = None,
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

    Without Kafka configured, replay flags rows of the in-process transport's
    dead-letter table (`--all` or `--id N`); the running `elearning serve`
    dispatches them again and deletes each one its consumer now handles.
    """
    settings = load_settings()
    if settings.events_in_process:
        if all_ == bool(ids) or offsets:
            raise typer.BadParameter(
                "without Kafka, give either --id N (one or more) or --all", param_hint="--id/--all"
            )
        replay_dead_letters(settings, topic, None if all_ else ids)
        return
    if ids:
        raise typer.BadParameter("--id is for the in-process transport; with Kafka use --offset P:O", param_hint="--id")
    if all_ == bool(offsets):
        raise typer.BadParameter("give either --offset P:O (one or more) or --all", param_hint="--offset/--all")
    positions = [parse_position(o) for o in offsets or []]
    bootstrap = kafka_bootstrap(settings)
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
