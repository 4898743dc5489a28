"""``elearning worker relay|consume|scheduler|events|forward-statements``: the background workers, run as this process.

The worker runtime is started by module name (``python -m elearning_workers``)
in place of this process, so the CLI never imports it (runtimes do not
import each other) and signals reach the worker directly.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from elearning_cli._common import handle_errors

worker_app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

MetricsPort = Annotated[
    int | None, typer.Option(min=1, max=65535, help="Serve Prometheus metrics on this port.", show_default=False)
]
MetricsHost = Annotated[str, typer.Option(help="Interface for --metrics-port.")]


def _exec_worker(arguments: list[str]) -> None:
    command = [sys.executable, "-m", "elearning_workers", *arguments]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)


def _metrics(port: int | None, host: str) -> list[str]:
    return [] if port is None else ["--metrics-port", str(port), "--metrics-host", host]


@worker_app.command("relay")
@handle_errors
def relay(
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Events per batch.")] = 500,
    idle_sleep: Annotated[float, typer.Option(min=0, help="Seconds to wait when the outbox is empty.")] = 0.1,
    max_backoff: Annotated[float, typer.Option(min=0.01, help="Longest wait between failed rounds.")] = 30.0,
    delivery_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds a batch may take to be acknowledged.")
    ] = 10.0,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = "127.0.0.1",
) -> None:
    """Publish committed outbox events to Kafka until SIGTERM (the batch in flight is finished first)."""
    _exec_worker(
        [
            "relay",
            "--batch-size",
            str(batch_size),
            "--idle-sleep",
            str(idle_sleep),
            "--max-backoff",
            str(max_backoff),
            "--delivery-timeout",
            str(delivery_timeout),
            *_metrics(metrics_port, metrics_host),
        ]
    )


@worker_app.command("consume")
@handle_errors
def consume(
    groups: Annotated[list[str] | None, typer.Argument(help="Consumer groups to run (default: every one).")] = None,
    list_groups: Annotated[bool, typer.Option("--list", help="List the consumer groups and exit.")] = False,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = "127.0.0.1",
) -> None:
    """Run event consumers until SIGTERM: idempotent handlers, retries, dead letters in <topic>.dlq."""
    _exec_worker(
        ["consume", *(groups or []), *(["--list"] if list_groups else []), *_metrics(metrics_port, metrics_host)]
    )


@worker_app.command("scheduler")
@handle_errors
def scheduler() -> None:
    """Run the scheduled jobs until SIGTERM (the runs in hand are finished first).

    Safe with several replicas: each job runs once per period (docs/scheduling.md). Needs no Kafka."""
    _exec_worker(["scheduler"])


@worker_app.command("events")
@handle_errors
def events(metrics_port: MetricsPort = None, metrics_host: MetricsHost = "127.0.0.1") -> None:
    """Without Kafka: relay the outbox to every event handler in this process until SIGTERM, and run the
    scheduled jobs (unless ELEARNING_SCHEDULER=off).

    Pair it with ELEARNING_EVENTS_RELAY=worker for `elearning serve`, so the API process only writes the outbox.
    Run one: a second would hand the same events to the handlers twice (harmless, the inbox absorbs it)."""
    _exec_worker(["events", *_metrics(metrics_port, metrics_host)])


@worker_app.command("forward-statements")
@handle_errors
def forward_statements(
    idle_sleep: Annotated[float, typer.Option(min=0.01, help="Seconds to wait once caught up.")] = 1.0,
    max_backoff: Annotated[float, typer.Option(min=0.01, help="Longest wait after failed runs.")] = 60.0,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = "127.0.0.1",
) -> None:
    """Forward stored xAPI statements, in stored order, to the LRS or Kafka topic ELEARNING_ANALYTICS_FORWARD_TO
    names, until SIGTERM (each batch checkpointed; a restart resumes after the last one).

    An alternative to the scheduled job analytics.forward-statements with a lower latency: run one or the other."""
    _exec_worker(
        [
            "forward-statements",
            "--idle-sleep",
            str(idle_sleep),
            "--max-backoff",
            str(max_backoff),
            *_metrics(metrics_port, metrics_host),
        ]
    )
