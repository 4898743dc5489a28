"""``elearning outbox``: what the relay still has to publish, how fast it goes, and pruning."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from elearning_cli._common import (
    database_label,
    format_time,
    handle_errors,
    info,
    load_settings,
    open_platform,
    plural,
    run,
)
from elearning_cli._output import Field, FormatOption, render_record

if TYPE_CHECKING:
    from elearning_adapters.sql.engine import Database

outbox_app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

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


OUTBOX_STATUS_FIELDS: list[Field[tuple[str, OutboxStatus]]] = [
    Field("database", lambda r: r[0], "Database", whole=True),
    Field("pending", lambda r: r[1].pending, "Pending"),
    Field(
        "oldest_pending_age_seconds",
        lambda r: r[1].oldest_pending_age,
        "Oldest pending age",
        cell=lambda r: format_age(r[1].oldest_pending_age),
    ),
    Field("failing", lambda r: r[1].failing, "Pending after a failed attempt"),
    Field("published_last_minute", lambda r: r[1].published_last_window, "Published in the last minute"),
    Field(
        "published_per_second",
        lambda r: round(r[1].published_per_second, 2),
        "Published/s (last minute)",
        cell=lambda r: f"{r[1].published_per_second:.2f}",
    ),
    Field("total", lambda r: r[1].total, "Total rows"),
]


@outbox_app.command("status")
@handle_errors
def outbox_status(output: FormatOption = "table") -> None:
    """Show how much the relay still has to publish, how old the oldest of it is, and how fast it publishes."""
    label = database_label(load_settings())
    status = run(_outbox_status())
    render_record((label, status), OUTBOX_STATUS_FIELDS, output, title="Outbox")


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
