"""Worker entry point: ``python -m elearning_workers relay|consume|scheduler|events|forward-statements``
(also ``elearning worker ...``).

Configuration comes from ``ELEARNING_*`` variables like every runtime; the
Kafka address is ``ELEARNING_KAFKA_BOOTSTRAP_SERVERS`` (the scheduler needs
none: it meets its replicas in the database). SIGTERM and SIGINT stop
the workers gracefully: the relay after the batch in flight (a delivered
batch is never left unmarked), a consumer after the batch in hand (its
offsets committed, the group left at once), the scheduler after the job
runs in hand.

``--metrics-port`` serves the process's Prometheus metrics (relayed events,
handled and dead-lettered messages) on ``--metrics-host`` (loopback by default).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import start_http_server
from pydantic import ValidationError

from elearning_adapters.container import Container, build_container, close_adapters, freeze_startup_objects
from elearning_adapters.events import Subscription
from elearning_adapters.kafka import KafkaEventPublisher
from elearning_adapters.settings import Settings
from elearning_adapters.sql.outbox_store import retention_of
from elearning_workers.consumer import ConsumerRunner
from elearning_workers.forwarder import ForwardingNotConfigured, forwarding_configured, run_forwarder
from elearning_workers.relay import OutboxRelay

BOOTSTRAP_ENV = "ELEARNING_KAFKA_BOOTSTRAP_SERVERS"
SIGNALS = (signal.SIGTERM, signal.SIGINT)

log = logging.getLogger("elearning_workers")


class ConfigurationError(Exception):
    pass


@contextlib.contextmanager
def on_signals(callback: Callable[[], object]) -> Iterator[None]:
    """Call ``callback`` on SIGTERM or SIGINT while inside (the running loop's handlers, removed on leaving)."""
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        loop.add_signal_handler(sig, callback)
    try:
        yield
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)


def kafka_bootstrap_servers(settings: Settings) -> str:
    value = (settings.kafka_bootstrap_servers or "").strip()
    if not value:
        raise ConfigurationError(
            f"{BOOTSTRAP_ENV} is not set: the workers need the Kafka brokers, e.g. {BOOTSTRAP_ENV}=localhost:9092 "
            "(without Kafka, `elearning serve` relays the events in-process)"
        )
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m elearning_workers", description="E-learning background workers")
    commands = parser.add_subparsers(dest="command", required=True)
    relay = commands.add_parser("relay", help="publish committed outbox events to Kafka")
    relay.add_argument("--batch-size", type=int, default=500)
    relay.add_argument("--idle-sleep", type=float, default=0.1, help="seconds to wait when the outbox is empty")
    relay.add_argument("--max-backoff", type=float, default=30.0, help="longest wait between failed rounds")
    relay.add_argument(
        "--delivery-timeout", type=float, default=10.0, help="seconds a batch may take to be acknowledged"
    )
    consume = commands.add_parser("consume", help="run the event consumers (all, or the named ones)")
    consume.add_argument("groups", nargs="*", metavar="GROUP", help="consumer groups to run (default: every one)")
    consume.add_argument("--list", action="store_true", help="list the consumer groups and exit")
    commands.add_parser(
        "scheduler", help="run the scheduled jobs (once per period across every replica; docs/scheduling.md)"
    )
    events = commands.add_parser(
        "events",
        help="without Kafka: relay the outbox to every handler in this process (ELEARNING_EVENTS_RELAY=worker), "
        "and run the scheduled jobs unless ELEARNING_SCHEDULER=off",
    )
    forward = commands.add_parser(
        "forward-statements", help="forward stored xAPI statements to the configured LRS or Kafka topic, in a loop"
    )
    forward.add_argument("--idle-sleep", type=float, default=1.0, help="seconds to wait once caught up")
    forward.add_argument("--max-backoff", type=float, default=60.0, help="longest wait after failed runs")
    for command in (relay, consume, events, forward):
        command.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port")
        command.add_argument("--metrics-host", default="127.0.0.1", help="interface for --metrics-port")
    return parser


async def run_relay(args: argparse.Namespace, settings: Settings, bootstrap_servers: str) -> None:
    container = build_container(settings)
    database = container.adapters.database()
    publisher = KafkaEventPublisher(bootstrap_servers, delivery_timeout=args.delivery_timeout)
    relay = OutboxRelay(
        database,
        publisher,
        batch_size=args.batch_size,
        idle_sleep=args.idle_sleep,
        max_backoff=args.max_backoff,
        retention=retention_of(settings.outbox_retention_hours),
        inbox_retention=retention_of(settings.inbox_retention_hours),
    )
    stop = asyncio.Event()
    try:
        with on_signals(stop.set):
            await relay.run(stop)
    finally:
        await publisher.aclose()
        await close_adapters(container)


def choose_subscriptions(available: Sequence[Subscription], names: Sequence[str]) -> list[Subscription]:
    known = {s.name: s for s in available}
    if not known:
        raise ConfigurationError(
            "no consumer groups in this configuration: the catalog cache consumer needs a cache "
            "(set ELEARNING_REDIS_URL)"
        )
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigurationError(f"unknown consumer group {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return [known[n] for n in dict.fromkeys(names)] if names else list(known.values())


def static_instance_id(settings: Settings, group: str) -> str:
    """The consumer's ``group.instance.id``: the same on every start of this worker (host, group, index)."""
    prefix = settings.kafka_instance_id or socket.gethostname() or "elearning"
    return f"{prefix}-{group}-{settings.kafka_worker_index}"


async def run_consumers(args: argparse.Namespace, settings: Settings, bootstrap_servers: str) -> int:
    container = build_container(settings)
    try:
        subscriptions = choose_subscriptions(container.adapters.subscriptions(), args.groups)
        if args.list:
            for s in subscriptions:
                print(f"{s.name}\t{','.join(s.topics)}\t{s.description}")
            return 0
        database = container.adapters.database()
        runners = [
            ConsumerRunner(
                s.name,
                bootstrap_servers,
                s.topics,
                s.handlers,
                database,
                instance_id=static_instance_id(settings, s.name),
                max_attempts=settings.consumer_max_attempts,
                batch_size=s.batch_size_within(settings.consumer_batch_size),
                batch_max_wait=settings.consumer_batch_max_wait_ms / 1000,
                batch_handler=s.batch_handler,
            )
            for s in subscriptions
        ]

        def stop_all() -> None:
            for runner in runners:
                runner.stop()

        freeze_startup_objects()
        with on_signals(stop_all):
            await asyncio.gather(*(r.run() for r in runners))
        for runner in runners:
            log.info("consumer %s: %s", runner.group, runner.stats)
        return 0
    finally:
        await close_adapters(container)


async def run_scheduler(container: Container) -> None:
    """Run ``container``'s scheduler until SIGTERM or SIGINT, then let the job runs in hand finish."""
    runner = container.scheduling.runner()
    stop = asyncio.Event()
    log.info("scheduler %s: jobs %s", runner.scheduler.holder, ", ".join(j.name for j in runner.scheduler.jobs))
    try:
        with on_signals(stop.set):
            await runner.run(stop)
    finally:
        await close_adapters(container)


async def run_events(settings: Settings) -> None:
    """The in-process transport (and the scheduler) in a process of their own, until SIGTERM or SIGINT: the
    API (``ELEARNING_EVENTS_RELAY=worker``) then only writes the outbox, and its requests never wait behind
    the handlers' work."""
    container = build_container(settings)
    transport = container.adapters.event_transport()
    assert transport is not None  # no Kafka: checked by in_process_only
    runner = container.scheduling.runner() if settings.scheduler != "off" else None
    stop = asyncio.Event()
    freeze_startup_objects()
    try:
        with on_signals(stop.set):
            transport.start()
            if runner is not None:
                runner.start()
            await stop.wait()
    finally:
        if runner is not None:
            await runner.stop()
        log.info("events worker: %d events delivered", transport.stats.delivered)
        await close_adapters(container)


async def forward_statements(args: argparse.Namespace, settings: Settings) -> None:
    stop = asyncio.Event()
    with on_signals(stop.set):
        await run_forwarder(build_container(settings), stop, idle_sleep=args.idle_sleep, max_backoff=args.max_backoff)


def in_process_only(settings: Settings) -> None:
    if not settings.events_in_process:
        raise ConfigurationError(
            "`events` relays the outbox without Kafka; with ELEARNING_KAFKA_BOOTSTRAP_SERVERS set, run `relay` and "
            "`consume` instead"
        )


def scheduler_enabled(settings: Settings) -> None:
    if settings.scheduler == "off":
        raise ConfigurationError("ELEARNING_SCHEDULER=off: the scheduled jobs are switched off in this deployment")


def one_line(exc: Exception) -> str:
    """A settings error as one line: each failed check's message, without pydantic's framing."""
    if isinstance(exc, ValidationError):
        return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings(db_work_class="batch")  # relaying, handling events and scheduled jobs are batch work
        if args.command == "scheduler":
            scheduler_enabled(settings)
            bootstrap_servers = ""
        elif args.command == "events":
            in_process_only(settings)
            bootstrap_servers = ""
        elif args.command == "forward-statements":
            forwarding_configured(settings)
            bootstrap_servers = ""
        else:
            bootstrap_servers = kafka_bootstrap_servers(settings)
    except (ConfigurationError, ForwardingNotConfigured, ValueError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if getattr(args, "metrics_port", None) is not None:
        start_http_server(args.metrics_port, addr=args.metrics_host)
    try:
        if args.command == "scheduler":
            asyncio.run(run_scheduler(build_container(settings)))
            return 0
        if args.command == "events":
            asyncio.run(run_events(settings))
            return 0
        if args.command == "forward-statements":
            asyncio.run(forward_statements(args, settings))
            return 0
        if args.command == "relay":
            asyncio.run(run_relay(args, settings, bootstrap_servers))
            return 0
        return asyncio.run(run_consumers(args, settings, bootstrap_servers))
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
