"""``elearning enrollments``: list a course's learners, enroll one, unenroll one.

A course is named by id or slug, a user by id or email, a cohort by id or name.
The CLI acts as the platform's admin, so it enrolls as course staff do: the
window, openness and prerequisites do not apply, the capacity does.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from elearning_cli._common import (
    as_uuid,
    collect,
    handle_errors,
    info,
    load_settings,
    open_platform,
    resolve_user,
    run,
)
from elearning_cli._output import Field, FormatOption, render
from elearning_core.enrollment.model import EnrollmentStatus
from elearning_core.enrollment.queries import EnrollmentFilter, EnrollmentView
from elearning_core.shared.errors import NotFound
from elearning_core.shared.ports import SYSTEM

if TYPE_CHECKING:
    from elearning_adapters.container import Platform

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

CourseArgument = Annotated[str, typer.Argument(help="The course's id or slug.", metavar="COURSE")]
UserArgument = Annotated[str, typer.Argument(help="The user's id or email address.", metavar="USER")]


async def resolve_course(platform: Platform, ref: str) -> uuid.UUID:
    """The id of the course ``ref`` names (its id or its slug); NotFound when there is none."""
    text = ref.strip()
    course_id = as_uuid(text)
    if course_id is None:
        course_id = await platform.container.adapters.course_lookup().id_by_slug(text)
    if course_id is None or await platform.container.adapters.resources().course(course_id) is None:
        raise NotFound("course", text)
    return course_id


async def resolve_cohort(platform: Platform, course_id: uuid.UUID, ref: str) -> uuid.UUID:
    """The id of the course's cohort ``ref`` names (its id or its name)."""
    text = ref.strip()
    cohorts, _ = await collect(
        lambda cursor, size: platform.enrollments.list_cohorts(SYSTEM, course_id, cursor=cursor, limit=size)
    )
    for cohort in cohorts:
        if str(cohort.id) == text or cohort.name == text:
            return cohort.id
    raise NotFound("cohort", f"{text!r} of course {course_id}")


async def _emails(platform: Platform, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    found: dict[uuid.UUID, str] = {}
    async with platform.container.adapters.unit_of_work() as uow:
        for user_id in user_ids:
            user = await uow.users.get(user_id)
            if user is not None:
                found[user_id] = user.email
    return found


async def _list(
    course: str, status: EnrollmentStatus | None, cohort: str | None
) -> tuple[list[EnrollmentView], dict[uuid.UUID, str]]:
    async with open_platform(load_settings()) as platform:
        course_id = await resolve_course(platform, course)
        cohort_id = await resolve_cohort(platform, course_id, cohort) if cohort else None
        where = EnrollmentFilter(status=status, cohort_id=cohort_id)
        items, _ = await collect(
            lambda cursor, size: platform.enrollments.list_enrollments(
                SYSTEM, course_id, where, cursor=cursor, limit=size
            )
        )
        return items, await _emails(platform, [e.user_id for e in items])


_STATUS_STYLE = {
    EnrollmentStatus.ACTIVE: "green",
    EnrollmentStatus.COMPLETED: "cyan",
    EnrollmentStatus.UNENROLLED: "dim",
}

Row = tuple[EnrollmentView, str | None]
"""An enrollment and its learner's email (None if the account is gone)."""

ENROLLMENT_FIELDS: list[Field[Row]] = [
    Field("id", lambda r: r[0].id),
    Field("course_id", lambda r: r[0].course_id),
    Field("user_id", lambda r: r[0].user_id, "User", whole=True),
    Field("email", lambda r: r[1], "Email", whole=True),
    Field("status", lambda r: r[0].status, "Status", style=lambda r: _STATUS_STYLE[r[0].status]),
    Field("cohort_id", lambda r: r[0].cohort_id, "Cohort", whole=True),
    Field("source", lambda r: r[0].source, "Source"),
    Field("enrolled_at", lambda r: r[0].enrolled_at, "Enrolled at"),
    Field("completed_at", lambda r: r[0].completed_at),
    Field("unenrolled_at", lambda r: r[0].unenrolled_at),
]


@app.command("list")
@handle_errors
def list_enrollments(
    course: CourseArgument,
    status: Annotated[EnrollmentStatus | None, typer.Option(help="Only enrollments with this status.")] = None,
    cohort: Annotated[str | None, typer.Option(help="Only this cohort (its id or name).")] = None,
    output: FormatOption = "table",
) -> None:
    """List a course's enrollments (every page)."""
    items, emails = run(_list(course, status, cohort))
    rows = [(e, emails.get(e.user_id)) for e in items]
    render(rows, ENROLLMENT_FIELDS, output, title=f"{len(items)} enrollment(s)", empty="no enrollments")


async def _add(course: str, user: str, cohort: str | None) -> tuple[EnrollmentView, bool, str]:
    async with open_platform(load_settings()) as platform:
        course_id = await resolve_course(platform, course)
        learner = await resolve_user(platform, user)
        cohort_id = await resolve_cohort(platform, course_id, cohort) if cohort else None
        enrollment, created = await platform.enrollments.enroll(SYSTEM, course_id, learner.id, cohort_id)
        return EnrollmentView.of(enrollment), created, learner.email


@app.command("add")
@handle_errors
def add(
    course: CourseArgument,
    user: UserArgument,
    cohort: Annotated[str | None, typer.Option(help="Put the learner in this cohort (its id or name).")] = None,
) -> None:
    """Enroll a learner (as staff: the capacity holds, the window and openness do not apply)."""
    enrollment, created, email = run(_add(course, user, cohort))
    if created:
        info(f"enrolled {email} in course {enrollment.course_id} (enrollment {enrollment.id})")
    else:
        info(f"{email} is already enrolled in course {enrollment.course_id} ({enrollment.status.value})")


async def _remove(course: str, user: str) -> str:
    async with open_platform(load_settings()) as platform:
        course_id = await resolve_course(platform, course)
        learner = await resolve_user(platform, user)
        await platform.enrollments.unenroll(SYSTEM, course_id, learner.id)
        return learner.email


@app.command("remove")
@handle_errors
def remove(course: CourseArgument, user: UserArgument) -> None:
    """Unenroll a learner (the row stays, as unenrolled; enrolling again reactivates it)."""
    email = run(_remove(course, user))
    info(f"unenrolled {email}")
