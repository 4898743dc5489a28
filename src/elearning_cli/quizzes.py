"""``elearning quizzes``: import and export quizzes as JSON, list a course's quizzes, close expired attempts.

The file format is ``QuizDocument`` (``elearning_core.assessment.commands``, ``"format":
"elearning.quiz.v1"``): the quiz's settings and the questions it uses, each keyed by a
document-local ``ref`` that the quiz's fixed slots name. Export writes exactly what import reads,
so a quiz moves between courses and platforms without its database ids.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from elearning_cli._common import (
    CliError,
    collect,
    format_pydantic_errors,
    handle_errors,
    info,
    load_settings,
    open_platform,
    parse_uuid,
    plural,
    read_json,
    run,
    stderr_console,
    write_atomically,
)
from elearning_cli._output import Field, FormatOption, render
from elearning_cli.enrollments import resolve_course
from elearning_core.assessment.commands import QuizDocument
from elearning_core.assessment.model import Quiz, QuizStatus
from elearning_core.assessment.queries import QuizSummary
from elearning_core.shared.errors import ValidationFailed
from elearning_core.shared.ports import SYSTEM

if TYPE_CHECKING:
    from elearning_adapters.container import Platform

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

CourseArgument = Annotated[str, typer.Argument(help="The course's id or slug.", metavar="COURSE")]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write to this file instead of standard output.", dir_okay=False),
]
CLOSE_BATCH = 500
"""Attempts submitted per transaction by ``close-expired``."""
CLOSE_MAX_ROUNDS = 10_000
"""A bound on ``close-expired``'s batches (5 million attempts), so a sweep can never loop forever."""


# -- import -----------------------------------------------------------------------------


def read_document(source: str) -> tuple[str, QuizDocument]:
    """The quiz document in a file, or on stdin for ``-``; a one-line error naming the first problem."""
    name, data = read_json(source, "a quiz document (JSON)")
    if not isinstance(data, dict):
        raise CliError(f'{name}: expected a quiz document, a JSON object with "quiz" and "questions"')
    try:
        return name, QuizDocument.model_validate(data)
    except ValidationError as exc:
        count = exc.error_count()
        more = f" (and {plural(count - 1, 'more problem')})" if count > 1 else ""
        raise CliError(f"{name}: {format_pydantic_errors(exc, limit=1)[0]}{more}; nothing was imported") from None


async def _import(name: str, doc: QuizDocument, course: str) -> Quiz:
    async with open_platform(load_settings()) as platform:
        course_id = await resolve_course(platform, course)
        try:
            return await platform.assessment.import_quiz(SYSTEM, course_id, doc)
        except ValidationFailed as exc:
            first = f"{exc.errors[0].field}: {exc.errors[0].message}" if exc.errors else exc.detail
            raise CliError(f"{name}: {first}; nothing was imported") from None


@app.command("import")
@handle_errors
def import_quiz(
    file: Annotated[str, typer.Argument(help="The quiz document (JSON), or - to read standard input.", metavar="FILE")],
    course: Annotated[str, typer.Option("--course", "-c", help="The course to import into (its id or slug).")],
) -> None:
    """Import a quiz and its questions into a course, as a draft (the format `elearning quizzes export` writes).

    Everything is checked first; then the questions and the quiz are created in one transaction: all or nothing.
    Prints the new quiz's id.
    """
    name, doc = read_document(file)
    with stderr_console().status(f"Importing {plural(len(doc.questions), 'question')} and the quiz..."):
        quiz = run(_import(name, doc, course))
    typer.echo(str(quiz.id))
    info(
        f"Imported quiz {quiz.title!r} with {plural(len(doc.questions), 'question')} "
        f"into course {quiz.course_id} (a draft: publish it to open it to learners)."
    )


# -- export -----------------------------------------------------------------------------


async def _export(quiz_id: uuid.UUID) -> QuizDocument:
    async with open_platform(load_settings()) as platform:
        return await platform.assessment.export_quiz(SYSTEM, quiz_id)


def document_json(doc: QuizDocument) -> str:
    return json.dumps(doc.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


@app.command("export")
@handle_errors
def export_quiz(
    quiz: Annotated[str, typer.Argument(help="The quiz's id.", metavar="QUIZ_ID")],
    output: OutputOption = None,
) -> None:
    """Export a quiz with its questions as JSON (what `elearning quizzes import` reads)."""
    quiz_id = parse_uuid(quiz, "quiz id")
    to_stdout = output is None or str(output) == "-"
    if output is not None and not to_stdout and not output.parent.is_dir():
        raise CliError(f"cannot write {output}: directory {output.parent} does not exist")
    doc = run(_export(quiz_id))
    text = document_json(doc)
    summary = f"quiz {doc.quiz.title!r} with {plural(len(doc.questions), 'question')}"
    if output is None or to_stdout:
        typer.echo(text, nl=False)
        info(f"Exported {summary}.")
    else:
        write_atomically(output, text)
        info(f"Exported {summary} to {output}.")


# -- list -------------------------------------------------------------------------------


async def _list(course: str) -> list[QuizSummary]:
    async with open_platform(load_settings()) as platform:
        course_id = await resolve_course(platform, course)
        quizzes, _ = await collect(
            lambda cursor, size: platform.assessment.list_quizzes(SYSTEM, course_id, cursor=cursor, limit=size)
        )
        return quizzes


_STATUS_STYLE = {QuizStatus.PUBLISHED: "green", QuizStatus.DRAFT: "yellow", QuizStatus.ARCHIVED: "dim"}


def count_quizzes(count: int) -> str:
    return f"{count} quiz" if count == 1 else f"{count} quizzes"


def _minutes(seconds: int | None) -> str:
    return "-" if seconds is None else f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


QUIZ_FIELDS: list[Field[QuizSummary]] = [
    Field("id", lambda q: q.id, "Quiz", whole=True),
    Field("course_id", lambda q: q.course_id),
    Field("title", lambda q: q.title, "Title", style=lambda _: "bold"),
    Field("category", lambda q: q.category, "Category"),
    Field("status", lambda q: q.status, "Status", style=lambda q: _STATUS_STYLE.get(q.status, "")),
    Field("opens_at", lambda q: q.opens_at, "Opens"),
    Field("due_at", lambda q: q.due_at, "Due"),
    Field("closes_at", lambda q: q.closes_at, "Closes"),
    Field(
        "max_attempts",
        lambda q: q.max_attempts,
        "Attempts",
        cell=lambda q: str(q.max_attempts) if q.max_attempts is not None else "unlimited",
        justify="right",
    ),
    Field(
        "time_limit_seconds",
        lambda q: q.time_limit_seconds,
        "Time limit",
        cell=lambda q: _minutes(q.time_limit_seconds),
        justify="right",
    ),
]


@app.command("list")
@handle_errors
def list_quizzes(course: CourseArgument, output: FormatOption = "table") -> None:
    """List a course's quizzes (drafts included)."""
    quizzes = run(_list(course))
    render(quizzes, QUIZ_FIELDS, output, title=count_quizzes(len(quizzes)), empty="no quizzes")


# -- close expired attempts ---------------------------------------------------------------


async def _close_expired(batch: int) -> int:
    with stderr_console().status("Closing expired attempts...") as status:
        async with open_platform(load_settings()) as platform:
            return await close_all_expired(
                platform, batch, lambda closed: status.update(f"Closing expired attempts: {closed} so far...")
            )


async def close_all_expired(
    platform: Platform, batch: int = CLOSE_BATCH, on_batch: Callable[[int], None] | None = None
) -> int:
    """Submit every expired attempt, ``batch`` per transaction; how many."""
    closed = 0
    for _ in range(CLOSE_MAX_ROUNDS):
        done = await platform.assessment.close_expired(batch)
        closed += done
        if on_batch is not None:
            on_batch(closed)
        if done < batch:
            return closed
    raise CliError(f"stopped after {closed} attempts ({CLOSE_MAX_ROUNDS} batches); run it again to go on")


@app.command("close-expired")
@handle_errors
def close_expired(
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=5_000, help="Attempts submitted per transaction.")
    ] = CLOSE_BATCH,
) -> None:
    """Submit the attempts whose time limit or window has run out (they are graded on what was saved).

    Prints how many were closed. Safe to run at any time and from cron: each attempt is submitted once.
    """
    closed = run(_close_expired(batch_size))
    typer.echo(f"closed {plural(closed, 'expired attempt')}")
