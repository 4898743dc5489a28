"""``elearning analytics report`` and ``elearning analytics dashboard``: a course's (or the platform's)
dashboard as a file a person would rather look at than read (an HTML page with its charts drawn, a CSV of
every figure, or one PNG per chart in a directory), and its key figures in the terminal.

The commands act as the platform's operator (``SYSTEM``), with the same window and small-cell suppression
as ``GET /api/v1/courses/{id}/analytics/dashboard``.
"""

from __future__ import annotations

import asyncio
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from elearning_cli._common import CliError, handle_errors, info, load_settings, open_platform, run, write_atomically
from elearning_cli._output import Field, FormatOption, render
from elearning_cli.enrollments import resolve_course
from elearning_core.analytics.charts import KeyFigure, Report, number_text, vega_lite
from elearning_core.analytics.dashboard import check_window
from elearning_core.shared.errors import ValidationFailed
from elearning_core.shared.ports import SYSTEM


class ReportFormat(StrEnum):
    HTML = "html"
    CSV = "csv"
    PNG = "png"


PNG_SCALE = 2.0
"""PNGs drawn at twice the chart's size: sharp on a high-density screen or in a slide."""


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise CliError(f"{option} must be a date as YYYY-MM-DD, not {value!r}", exit_code=2) from None


def _window(since: str | None, until: str | None) -> tuple[date | None, date | None]:
    """The options as dates, refused before any work when they are not dates or not a window."""
    window = _date(since, "--since"), _date(until, "--until")
    try:
        check_window(*window)
    except ValidationFailed as error:
        raise CliError(f"--since/--until: {error.detail}", exit_code=2) from None
    return window


def _format(value: str) -> ReportFormat:
    try:
        return ReportFormat(value.strip().lower())
    except ValueError:
        raise CliError(f"unknown report format {value!r}: use html, csv or png", exit_code=2) from None


def _check_target(output: Path, form: ReportFormat) -> None:
    """Refused before any work: a file where a directory is wanted (or the reverse), or a missing parent."""
    if form is ReportFormat.PNG:
        if output.exists() and not output.is_dir():
            raise CliError(f"{output} is a file: --format png writes one PNG per chart into a directory", exit_code=2)
        if not output.exists() and not output.parent.is_dir():
            raise CliError(f"{output.parent} is not a directory", exit_code=2)
        return
    if output.is_dir():
        raise CliError(f"{output} is a directory: --format {form.value} writes one file", exit_code=2)
    if not output.parent.is_dir():
        raise CliError(f"{output.parent} is not a directory", exit_code=2)


async def _report(
    course: str | None, since: date | None, until: date | None, form: ReportFormat | None
) -> tuple[Report, dict[str, bytes]]:
    """The report, and when ``form`` is given, what to write: the file's bytes under "" (html, csv), or each
    chart's PNG under its file name (png)."""
    from elearning_adapters.analytics.report_html import render_csv, render_html

    async with open_platform(load_settings()) as platform:
        dashboards = platform.dashboards
        if course is None:
            report = await dashboards.platform_dashboard(SYSTEM, since, until)
        else:
            report = await dashboards.course_dashboard(SYSTEM, await resolve_course(platform, course), since, until)
        renderer = platform.chart_renderer
        if form is ReportFormat.HTML:
            return report, {"": (await render_html(report, renderer)).encode()}
        if form is ReportFormat.CSV:
            return report, {"": render_csv(report).encode()}
        if form is ReportFormat.PNG:
            images = await asyncio.gather(*(renderer.png(vega_lite(c), scale=PNG_SCALE) for c in report.charts))
            return report, {f"{c.key}.png": image for c, image in zip(report.charts, images, strict=True)}
        return report, {}


def _write(output: Path, files: dict[str, bytes]) -> None:
    if set(files) == {""}:
        write_atomically(output, files[""].decode())  # the whole page or CSV, or nothing
        return
    try:
        output.mkdir(exist_ok=True)
        for name, content in files.items():
            (output / name).write_bytes(content)
    except OSError as error:
        raise CliError(f"cannot write {output}: {error.strerror or error}") from None


SinceOption = Annotated[
    str | None,
    typer.Option(help="The window's first day, YYYY-MM-DD (default: 29 days before --until).", show_default=False),
]
UntilOption = Annotated[
    str | None,
    typer.Option(
        help="The window's last day, YYYY-MM-DD (default: today in the course's time zone).", show_default=False
    ),
]


@handle_errors
def report(
    course: Annotated[str, typer.Argument(help="The course's id or slug.", show_default=False)],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="The file to write (html, csv), or the directory to write one PNG per chart into (png; created "
            "if missing).",
            show_default=False,
        ),
    ],
    report_format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            metavar="html|csv|png",
            help="html (a page with its charts drawn), csv (every figure and chart value) or png (one image per chart).",
        ),
    ] = "html",
    since: SinceOption = None,
    until: UntilOption = None,
) -> None:
    """Write the course's dashboard as an HTML page, a CSV file, or one PNG per chart (small cells hidden)."""
    form = _format(report_format)
    window = _window(since, until)
    _check_target(output, form)
    result, files = run(_report(course, *window, form))
    _write(output, files)
    where = str(output) if form is not ReportFormat.PNG else f"{len(files)} PNGs in {output}"
    info(f"{result.title}, {result.period_start} to {result.period_end} ({result.time_zone}): {where}")


FIGURE_FIELDS: list[Field[KeyFigure]] = [
    Field("label", lambda f: f.label, "Figure"),
    Field("value", lambda f: f.value, "Value", cell=lambda f: number_text(f.value), justify="right"),
    Field("unit", lambda f: f.unit, "Unit"),
]


@handle_errors
def dashboard(
    course: Annotated[
        str | None,
        typer.Argument(help="The course's id or slug; none: the platform's dashboard.", show_default=False),
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    output: FormatOption = "table",
) -> None:
    """The key figures of a course's dashboard (or the platform's): a table, or JSON and CSV for scripts."""
    window = _window(since, until)
    result, _ = run(_report(course, *window, None))
    title = f"{result.title}, {result.period_start} to {result.period_end} ({result.time_zone})"
    render(list(result.figures), FIGURE_FIELDS, output, title=title)
    if result.privacy_note:
        info(result.privacy_note)
