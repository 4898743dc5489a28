"""``elearning progress``: rebuild the derived progress from the facts, show a learner's progress, reset it.

A course is named by id or slug, a user by id or email. ``rebuild`` runs the projection's own step
(``ProgressProjector.project``) over every learner of every course (or of one), a chunk of learners per
transaction (the bar moves per chunk); completions it newly finds are recorded as events, as the live
projection records them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from elearning_cli._common import (
    handle_errors,
    info,
    load_settings,
    open_platform,
    plural,
    rebuild_progress,
    resolve_user,
    run,
)
from elearning_cli._output import Field, FormatOption, render
from elearning_cli.enrollments import CourseArgument, UserArgument, resolve_course
from elearning_core.progress.commands import StaffDecision
from elearning_core.progress.queries import CourseProgressView, LessonProgressView
from elearning_core.shared.ports import SYSTEM, Principal

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS


async def _rebuild(course: str | None, from_scratch: bool) -> tuple[int, int]:
    from elearning_adapters.progress import rebuild

    async with open_platform(load_settings()) as platform:
        course_id = await resolve_course(platform, course) if course is not None else None
        projector = platform.container.progress.projector()
        with rebuild_progress("Rebuilding progress") as bar:
            return await rebuild(
                platform.database, projector, course_id=course_id, from_scratch=from_scratch, progress=bar
            )


@app.command("rebuild")
@handle_errors
def rebuild_command(
    course: Annotated[str | None, typer.Option(help="Only this course (its id or slug).")] = None,
    from_scratch: Annotated[
        bool, typer.Option(help="Forget the derived state first (recorded completions included).")
    ] = False,
) -> None:
    """Recompute completion and percentages from the recorded facts (every course, or one)."""
    courses, learners = run(_rebuild(course, from_scratch))
    info(f"rebuilt the progress of {plural(learners, 'learner')} in {plural(courses, 'course')}")


Row = tuple[str, LessonProgressView]

LESSON_FIELDS: list[Field[Row]] = [
    Field("section", lambda r: r[0], "Section"),
    Field("lesson_id", lambda r: r[1].id),
    Field("title", lambda r: r[1].title, "Lesson"),
    Field("kind", lambda r: r[1].kind, "Kind"),
    Field("optional", lambda r: r[1].optional, "Optional"),
    Field("state", lambda r: r[1].state, "State", style=lambda r: "green" if r[1].state == "completed" else ""),
    Field("access", lambda r: r[1].access, "Access"),
]


async def _show(user: str, course: str) -> tuple[CourseProgressView, str]:
    async with open_platform(load_settings()) as platform:
        course_id = await resolve_course(platform, course)
        learner = await resolve_user(platform, user)
        # The learner's own view (their gating and lock reasons), read on their behalf.
        principal = Principal(subject=f"user:{learner.id}", roles=frozenset({"learner"}), user_id=learner.id)
        return await platform.progress.course_progress(principal, course_id), learner.email


@app.command("show")
@handle_errors
def show(user: UserArgument, course: CourseArgument, output: FormatOption = "table") -> None:
    """A learner's progress in a course: every lesson's state, the course's percent and completion."""
    view, email = run(_show(user, course))
    rows = [(section.title, lesson) for section in view.sections for lesson in section.lessons]
    completed = f", completed ({view.completion_source})" if view.completed else ""
    render(rows, LESSON_FIELDS, output, title=f"{email} in {view.title}: {view.percent:.1f}%{completed}")


async def _reset(user: str, course: str, reason: str) -> str:
    async with open_platform(load_settings()) as platform:
        course_id = await resolve_course(platform, course)
        learner = await resolve_user(platform, user)
        await platform.progress.reset(SYSTEM, course_id, learner.id, StaffDecision(reason=reason))
        return learner.email


@app.command("reset")
@handle_errors
def reset(
    user: UserArgument,
    course: CourseArgument,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")],
) -> None:
    """Reset a learner's progress in a course (facts and completions; a completed enrollment reopens)."""
    email = run(_reset(user, course, reason))
    info(f"reset the progress of {email}")
