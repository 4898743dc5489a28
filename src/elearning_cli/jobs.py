"""``elearning jobs``: the scheduled jobs every module registers; list them, or run one now.

A run by hand goes through the same claim as the schedulers (docs/scheduling.md): it never runs beside a
replica's live run of the same period, and it may repeat a period that is already done, which a job's
idempotency contract makes harmless.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from elearning_cli._common import CliError, format_time, handle_errors, info, load_settings, open_platform, run
from elearning_cli._output import Field, FormatOption, render
from elearning_core.scheduling.model import RunStatus
from elearning_core.scheduling.service import JobStatus, RunOutcome

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

_STATUS_STYLE = {RunStatus.DONE: "green", RunStatus.RUNNING: "cyan", RunStatus.FAILED: "red"}


def every(delta: timedelta) -> str:
    """A period as people say it: ``60s``, ``1h``, ``1d``, ``1h30m``; sub-second ones in seconds."""
    seconds = delta.total_seconds()
    if seconds < 1 or seconds != int(seconds):
        return f"{seconds:g}s"
    parts, rest = [], int(seconds)
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


def _schedule(s: JobStatus) -> str:
    text = every(s.job.schedule.every)
    if s.job.schedule.offset:
        text += f" +{every(s.job.schedule.offset)}"
    return text if s.job.automatic else f"{text} (by hand only)"


JOB_FIELDS: list[Field[JobStatus]] = [
    Field("name", lambda s: s.job.name, "Name", whole=True),
    Field("period", _schedule, "Period"),
    Field("automatic", lambda s: s.job.automatic),
    Field("last_period", lambda s: s.latest.period_start if s.latest else None, "Last period"),
    Field(
        "status",
        lambda s: s.latest.status if s.latest else None,
        "Status",
        style=lambda s: _STATUS_STYLE[s.latest.status] if s.latest else "",
    ),
    Field("attempts", lambda s: s.latest.attempts if s.latest else None, "Attempts", justify="right"),
    Field("holder", lambda s: s.latest.holder if s.latest else None),
    Field("result", lambda s: (s.latest.error or s.latest.result) if s.latest else None, "Last result"),
    Field("next_due", lambda s: s.next_due, "Next due"),
    Field("description", lambda s: s.job.description),
]


async def _statuses() -> list[JobStatus]:
    async with open_platform(load_settings()) as platform:
        return await platform.scheduler.statuses()


@app.command("list")
@handle_errors
def list_jobs(output: FormatOption = "table") -> None:
    """List the scheduled jobs: period, the latest period run, its status and attempts, when next due."""
    items = run(_statuses())
    render(items, JOB_FIELDS, output, title=f"{len(items)} scheduled job(s)", empty="no scheduled jobs")


async def _run_now(name: str) -> RunOutcome:
    async with open_platform(load_settings()) as platform:
        return await platform.scheduler.run_now(name)


@app.command("run")
@handle_errors
def run_job(
    name: Annotated[str, typer.Argument(help="The job's name (see `elearning jobs list`).", metavar="NAME")],
) -> None:
    """Run a job for the current period now. Exit 1 when it fails, or when a scheduler is running it."""
    outcome = run(_run_now(name.strip()))
    period = f"period from {format_time(outcome.period.start)}, attempt {outcome.attempts}"
    if not outcome.ok:
        raise CliError(f"job {outcome.job} failed ({period}): {outcome.error}")
    info(f"{outcome.job}: {outcome.result} ({period})")
