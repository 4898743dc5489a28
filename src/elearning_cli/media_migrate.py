"""``elearning media migrate --to s3``: copy the local media directory into the configured S3 bucket.

The work is ``elearning_core.shared.storage_migration`` (plan, streamed copies read back and compared by size
and SHA-256, one retry, a manifest in the bucket that makes a rerun continue); this module reads the
settings, draws the progress bar (bytes and objects) and prints the tables. The local files are never
deleted: once the platform runs on S3 (``ELEARNING_STORAGE_BACKEND=s3``) and the copy is trusted, removing the
media directory is the operator's step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.filesize import decimal
from rich.table import Table
from rich.text import Text

from elearning_cli._common import (
    CliError,
    handle_errors,
    info,
    load_settings,
    plural,
    run,
    stderr_console,
    stdout_console,
)
from elearning_cli._output import Field, print_table
from elearning_core.shared.storage import InvalidKey, ObjectStore, check_prefix
from elearning_core.shared.storage_migration import (
    MAX_JOBS,
    Action,
    MigrationReport,
    Observer,
    Outcome,
    Plan,
    Planned,
    StoreMigration,
    VerificationFailed,
    make_plan,
)

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from elearning_adapters.settings import Settings
    from elearning_adapters.storage.s3 import S3ObjectStore

MAX_ROWS = 1000
"""Rows of a dry run's table; the rest are summed up in one row."""
INTERRUPTED = 130


class Target(StrEnum):
    S3 = "s3"


class _Bar(Observer):
    """The progress bar (bytes, objects) on stderr, and the mismatches printed above it as they happen."""

    def __init__(self, progress: Progress, task: TaskID, total: int, objects: int) -> None:
        self._progress, self._task = progress, task
        self.total, self.objects, self.done = total, objects, 0

    def advanced(self, size: int) -> None:
        self._progress.advance(self._task, size)

    def grew(self, size: int) -> None:
        self.total += size
        self._progress.update(self._task, total=self.total)

    def finished(self, item: Planned, outcome: Outcome) -> None:
        self.done += 1
        self._progress.update(self._task, objects=f"{self.done}/{self.objects} objects")

    def mismatch(self, key: str, detail: str) -> None:
        self._progress.console.print(
            Text(f"warning: {key}: the stored copy differs ({detail}); copying it again", style="yellow"),
            soft_wrap=True,
        )


@contextmanager
def _progress(plan: Plan) -> Iterator[_Bar]:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[objects]}"),
        TimeRemainingColumn(),
        console=stderr_console(),
    ) as progress:
        work = plan.of(Action.COPY, Action.CHECK)
        total = sum(item.size for item in work)
        task = progress.add_task("migrating", total=total, objects=f"0/{len(plan.items)} objects")
        yield _Bar(progress, task, total, len(plan.items))


def _stores(settings: Settings) -> tuple[ObjectStore, S3ObjectStore]:
    """The local media directory, and the S3 store the settings name (whatever the backend in use today:
    one migrates before switching ``ELEARNING_STORAGE_BACKEND`` to s3, or after)."""
    from elearning_adapters.container import build_container
    from elearning_adapters.storage.s3 import S3ObjectStore

    if not settings.s3_bucket:
        raise CliError(
            "no S3 store is configured: set ELEARNING_S3_BUCKET (with ELEARNING_S3_ENDPOINT_URL and the "
            "ELEARNING_S3_ACCESS_KEY_ID/_SECRET_ACCESS_KEY it needs) to migrate the media into it"
        )
    media = settings.resolved_media_dir
    if not media.is_dir():
        raise CliError(f"the media directory {media} does not exist (ELEARNING_MEDIA_DIR): nothing to migrate")
    adapters = build_container(settings.model_copy(update={"storage_backend": "s3"})).adapters
    target = adapters.object_store()
    assert isinstance(target, S3ObjectStore)
    return adapters.local_media(), target


async def _migrate(
    settings: Settings, prefix: str, *, dry_run: bool, recheck: bool, jobs: int
) -> tuple[Plan, MigrationReport | None]:
    source, target = _stores(settings)
    try:
        plan = await make_plan(source, target, prefix, recheck=recheck)
        if dry_run:
            return plan, None
        with _progress(plan) as bar:
            try:
                return plan, await StoreMigration(source, target, jobs=jobs, observer=bar).run(plan)
            except BaseException:
                info(f"{bar.done} of {bar.objects} objects settled before the stop, and recorded in the bucket")
                raise
    finally:
        await target.aclose()


def _size(item: Planned) -> str:
    return decimal(item.size)


PLAN_FIELDS: list[Field[Planned]] = [
    Field("key", lambda p: p.key, "object", whole=True),
    Field("size", lambda p: p.size, "size", cell=_size, justify="right"),
    Field("action", lambda p: p.action, "action"),
    Field("reason", lambda p: p.reason, "why"),
]


def _plan_table(plan: Plan) -> None:
    work = plan.of(Action.COPY, Action.CHECK)
    if not work:
        info("nothing to copy: every object is in the store, verified")
        return
    shown = work[:MAX_ROWS]
    print_table(shown, PLAN_FIELDS, f"Would copy or compare {plural(len(work), 'object')} (dry run: nothing written)")
    if len(work) > MAX_ROWS:
        rest = work[MAX_ROWS:]
        info(f"... and {plural(len(rest), 'more object')} ({decimal(sum(i.size for i in rest))}) not shown")


@dataclass(frozen=True, slots=True)
class _Line:
    what: str
    objects: int
    size: int | None


def _summary(title: str, lines: list[_Line], footer: str | None = None) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("")
    table.add_column("objects", justify="right")
    table.add_column("bytes", justify="right")
    for line in lines:
        table.add_row(line.what, str(line.objects), "-" if line.size is None else decimal(line.size))
    console = stdout_console()
    console.print(table)
    if footer:
        console.print(Text(footer), soft_wrap=True)


def _plan_summary(plan: Plan) -> None:
    _summary(
        "Dry run",
        [
            _Line("to copy", len(plan.of(Action.COPY)), plan.size_of(Action.COPY)),
            _Line(
                "to compare in place (copied if they differ)", len(plan.of(Action.CHECK)), plan.size_of(Action.CHECK)
            ),
            _Line("verified by an earlier run (skipped)", len(plan.of(Action.SKIP)), plan.size_of(Action.SKIP)),
        ],
    )


def _run_summary(report: MigrationReport) -> None:
    lines = [_Line(outcome.value, report.objects[outcome], report.bytes[outcome]) for outcome in Outcome]
    lines.append(_Line("of which copied again after a mismatch", len(set(report.mismatches)), None))
    copied, seconds = report.bytes[Outcome.COPIED], report.seconds
    rate = f", {decimal(int(copied / seconds))}/s" if seconds > 0 and copied else ""
    _summary("Migrated", lines, f"{seconds:.1f} s{rate}; every copy read back and compared (size, SHA-256)")


@handle_errors
def migrate(
    to: Annotated[Target, typer.Option("--to", help="Where to copy the media: the configured S3 store.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be copied or compared (a table); write nothing.")
    ] = False,
    recheck: Annotated[
        bool,
        typer.Option("--recheck", help="Read back and compare objects an earlier run verified too, not only new ones."),
    ] = False,
    prefix: Annotated[
        str, typer.Option("--prefix", help="Only the objects whose keys start with this (videos/, billing/).")
    ] = "",
    jobs: Annotated[int, typer.Option("--jobs", min=1, max=MAX_JOBS, help="Objects copied at once.")] = 4,
) -> None:
    """Copy the local media directory into the S3 store, verified, resumable; the local files stay."""
    try:
        check_prefix(prefix)
    except InvalidKey:
        raise CliError(f"--prefix {prefix!r} is not a key prefix (a relative path like videos/)") from None
    settings = load_settings()
    try:
        plan, report = run(_migrate(settings, prefix, dry_run=dry_run, recheck=recheck, jobs=jobs))
    except VerificationFailed as exc:
        raise CliError(f"verification failed: {exc}; the objects verified before it are recorded") from None
    except KeyboardInterrupt:
        raise CliError("interrupted: run the same command again to continue", exit_code=INTERRUPTED) from None
    if report is None:
        _plan_table(plan)
        _plan_summary(plan)
        return
    _run_summary(report)
    info(f"the media directory {settings.resolved_media_dir} was left as it was (the command never deletes it)")
