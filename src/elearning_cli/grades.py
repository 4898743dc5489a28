"""``elearning grades``: the gradebook of a course, exported as CSV (for a spreadsheet or a registrar).

The CSV is the one ``GET /api/v1/courses/{id}/gradebook.csv`` serves: a row per learner, a column per
published quiz, per gradebook category, and the weighted total, in percent with 2 decimals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from elearning_cli._common import (
    CliError,
    handle_errors,
    info,
    load_settings,
    open_platform,
    plural,
    run,
    stderr_console,
    write_atomically,
)
from elearning_cli.enrollments import resolve_course
from elearning_cli.quizzes import count_quizzes
from elearning_core.assessment.queries import Gradebook, gradebook_csv
from elearning_core.shared.ports import SYSTEM

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS


async def _gradebook(course: str) -> Gradebook:
    async with open_platform(load_settings()) as platform:
        return await platform.assessment.gradebook(SYSTEM, await resolve_course(platform, course))


@app.command("export")
@handle_errors
def export_grades(
    course: Annotated[str, typer.Argument(help="The course's id or slug.", metavar="COURSE")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of standard output.", dir_okay=False),
    ] = None,
) -> None:
    """Export the course's gradebook as CSV: learners by quizzes, categories and the total."""
    to_stdout = output is None or str(output) == "-"
    if output is not None and not to_stdout and not output.parent.is_dir():
        raise CliError(f"cannot write {output}: directory {output.parent} does not exist")
    if output is None or to_stdout:
        book = run(_gradebook(course))
        typer.echo(gradebook_csv(book), nl=False)
        return
    with stderr_console().status(f"Building the gradebook of {course}..."):
        book = run(_gradebook(course))
        text = gradebook_csv(book)
    write_atomically(output, text)
    info(
        f"Exported the gradebook ({plural(len(book.rows), 'learner')}, {count_quizzes(len(book.quizzes))}) to {output}."
    )
