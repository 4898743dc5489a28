"""``elearning notifications``: send the digests that are due, put failed mails back in the queue and
send what is due, and show the delivery log (sent, failed with the reason, suppressed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from elearning_cli._common import CliError, handle_errors, info, load_settings, open_platform, run
from elearning_cli._output import Field, FormatOption, render
from elearning_core.notification.model import DeliveryStatus

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

MAX_LOG = 1_000

LOG_FIELDS: list[Field[dict[str, Any]]] = [
    Field("id", lambda d: d["id"], "Id", whole=True),
    Field("created_at", lambda d: d["created_at"], "Created"),
    Field("user_id", lambda d: d["user_id"], "User", whole=True),
    Field("type", lambda d: d["type"], "Type"),
    Field("channel", lambda d: d["channel"], "Channel"),
    Field("status", lambda d: d["status"], "Status"),
    Field("attempts", lambda d: d["attempts"], "Tries"),
    Field("sent_at", lambda d: d["sent_at"], "Sent"),
    Field("reason", lambda d: d["reason"], "Reason"),
    Field("message_id", lambda d: d["message_id"], "Message-ID", whole=True),
]


async def _send_digests() -> int:
    async with open_platform(load_settings()) as platform:
        sent: int = await platform.container.notification.sender().send_digests()
        return sent


@app.command("send-digests")
@handle_errors
def send_digests() -> None:
    """Send every daily and weekly digest whose period has ended (what the scheduled job does)."""
    info(f"sent {run(_send_digests())} digest(s)")


async def _retry_failed() -> tuple[int, int, int]:
    async with open_platform(load_settings()) as platform:
        requeued = await platform.container.notification.store().retry_failed(datetime.now(UTC))
        sent, failed = await platform.container.notification.sender().send_due()
        return requeued, sent, failed


@app.command("retry-failed")
@handle_errors
def retry_failed() -> None:
    """Put every failed notification mail back in the queue, then send what is due now."""
    requeued, sent, failed = run(_retry_failed())
    info(f"requeued {requeued} failed mail(s); sent {sent}, {failed} failed again")
    if failed:
        raise typer.Exit(1)


async def _log(status: str | None, limit: int) -> list[dict[str, Any]]:
    async with open_platform(load_settings()) as platform:
        rows: list[dict[str, Any]] = await platform.container.notification.store().log(
            after=None, limit=limit, status=status
        )
        return rows


@app.command("log")
@handle_errors
def log(
    status: Annotated[
        str | None, typer.Option(help="Only deliveries in this state: " + ", ".join(s.value for s in DeliveryStatus))
    ] = None,
    limit: Annotated[int, typer.Option(help=f"At most this many, newest first (1 to {MAX_LOG}).")] = 100,
    output: FormatOption = "table",
) -> None:
    """The notification delivery log, newest first: each mail's state, tries, reason and Message-ID."""
    if status is not None and status not in {s.value for s in DeliveryStatus}:
        raise CliError(f"unknown status {status!r}: one of " + ", ".join(s.value for s in DeliveryStatus))
    if not 1 <= limit <= MAX_LOG:
        raise CliError(f"--limit must be between 1 and {MAX_LOG}")
    rows = run(_log(status, limit))
    render(rows, LOG_FIELDS, output, title=f"{len(rows)} delivery(ies)", empty="no deliveries")
