"""Worker entry point: ``python -m elearning_workers relay``.

Configuration comes from ``ELEARNING_*`` variables like every runtime; the
Kafka address is ``ELEARNING_KAFKA_BOOTSTRAP_SERVERS``. SIGTERM and SIGINT stop the relay after the
batch in flight, so a deploy never leaves a delivered batch unmarked.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from elearning_adapters.container import build_container
from elearning_adapters.kafka import KafkaEventPublisher
from elearning_adapters.settings import Settings
from elearning_workers.relay import OutboxRelay

BOOTSTRAP_ENV = "ELEARNING_KAFKA_BOOTSTRAP_SERVERS"

log = logging.getLogger("elearning_workers")


class ConfigurationError(Exception):
    pass


def kafka_bootstrap_servers(settings: Settings) -> str:
    value = (settings.kafka_bootstrap_servers or "").strip()
    if not value:
        raise ConfigurationError(
            f"{BOOTSTRAP_ENV} is not set: the relay needs the Kafka brokers to publish to, e.g. {BOOTSTRAP_ENV}=localhost:9092"
        )
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m elearning_workers", description="E-learning background workers")
    commands = parser.add_subparsers(dest="command", required=True)
    relay = commands.add_parser("relay", help="publish committed outbox events to Kafka")
    relay.add_argument("--batch-size", type=int, default=500)
    relay.add_argument("--idle-sleep", type=float, default=0.5, help="seconds to wait when the outbox is empty")
    relay.add_argument("--max-backoff", type=float, default=30.0, help="longest wait between failed rounds")
    relay.add_argument(
        "--delivery-timeout", type=float, default=10.0, help="seconds a batch may take to be acknowledged"
    )
    return parser


async def run_relay(args: argparse.Namespace, settings: Settings, bootstrap_servers: str) -> None:
    container = build_container(settings)
    database = container.adapters.database()
    publisher = KafkaEventPublisher(bootstrap_servers, delivery_timeout=args.delivery_timeout)
    relay = OutboxRelay(
        database, publisher, batch_size=args.batch_size, idle_sleep=args.idle_sleep, max_backoff=args.max_backoff
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await relay.run(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await publisher.aclose()
        await database.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
        bootstrap_servers = kafka_bootstrap_servers(settings)
    except (ConfigurationError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "relay":
        asyncio.run(run_relay(args, settings, bootstrap_servers))
    return 0
