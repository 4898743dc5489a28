"""``elearning entitlements grant|revoke|show``: an admin's hand on a user's access to a course (support,
comped access, a refund settled outside the platform). Checkout, subscriptions and seats write the same
grants through the same service."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from elearning_cli._common import (
    CliError,
    format_pydantic_errors,
    handle_errors,
    info,
    load_settings,
    open_platform,
    resolve_user,
    run,
)
from elearning_cli._output import Field, FormatOption, render
from elearning_cli.enrollments import CourseArgument, UserArgument, resolve_course
from elearning_core.entitlement.commands import ChangeGrant, GiveGrant
from elearning_core.entitlement.model import Grant, GrantStatus, Source
from elearning_core.shared.ports import SYSTEM

if TYPE_CHECKING:
    import uuid

    from elearning_adapters.container import Platform

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS


GRANT_FIELDS: list[Field[Grant]] = [
    Field("id", lambda g: g.id, "Id", whole=True),
    Field("source", lambda g: g.source, "Source"),
    Field("status", lambda g: g.status, "Status"),
    Field("starts_at", lambda g: g.starts_at, "Starts at"),
    Field("ends_at", lambda g: g.ends_at, "Ends at"),
    Field("reference", lambda g: g.reference, "Reference"),
]


async def _resolve(platform: Platform, user: str, course: str) -> tuple[uuid.UUID, uuid.UUID]:
    return (await resolve_user(platform, user)).id, await resolve_course(platform, course)


async def _grant(user: str, course: str, values: dict[str, object]) -> Grant:
    async with open_platform(load_settings()) as platform:
        user_id, course_id = await _resolve(platform, user, course)
        try:
            cmd = GiveGrant.model_validate({"user_id": user_id, "course_id": course_id, **values})
        except ValidationError as exc:
            raise CliError(
                f"invalid grant: {'; '.join(line.strip() for line in format_pydantic_errors(exc))}"
            ) from None
        return await platform.entitlements.give(SYSTEM, cmd)


@app.command("grant")
@handle_errors
def grant(
    user: UserArgument,
    course: CourseArgument,
    source: Annotated[Source, typer.Option(help="purchased, subscription or organization_seat.")] = Source.PURCHASED,
    until: Annotated[datetime | None, typer.Option(help="When access ends (ISO 8601, UTC when no offset).")] = None,
    reference: Annotated[str, typer.Option(help="What it is for (an order, a ticket).")] = "granted by an admin",
) -> None:
    """Give a user access to a course."""
    values: dict[str, object] = {"source": source, "reference": reference}
    if until is not None:
        values["ends_at"] = until if until.tzinfo else until.replace(tzinfo=UTC)
    given = run(_grant(user, course, values))
    info(f"granted {given.source} access to course {given.course_id} for user {given.user_id} (grant {given.id})")


async def _revoke(user: str, course: str, status: GrantStatus) -> list[Grant]:
    async with open_platform(load_settings()) as platform:
        user_id, course_id = await _resolve(platform, user, course)
        active = [
            g
            for g in await platform.entitlements.grants_of(SYSTEM, user_id, course_id)
            if g.status is GrantStatus.ACTIVE
        ]
        if not active:
            raise CliError(f"user {user_id} holds no active grant for course {course_id}")
        return [await platform.entitlements.change(SYSTEM, ChangeGrant(grant_id=g.id, status=status)) for g in active]


@app.command("revoke")
@handle_errors
def revoke(
    user: UserArgument,
    course: CourseArgument,
    status: Annotated[
        GrantStatus, typer.Option("--as", help="The status the active grants take: revoked, refunded or canceled.")
    ] = GrantStatus.REVOKED,
) -> None:
    """End a user's active grants for a course (their progress stays)."""
    if status is GrantStatus.ACTIVE:
        raise CliError("--as must not be active")
    changed = run(_revoke(user, course, status))
    info(f"{len(changed)} grant(s) now {status}")


async def _show(user: str, course: str) -> list[Grant]:
    async with open_platform(load_settings()) as platform:
        user_id, course_id = await _resolve(platform, user, course)
        return await platform.entitlements.grants_of(SYSTEM, user_id, course_id)


@app.command("show")
@handle_errors
def show(user: UserArgument, course: CourseArgument, output: FormatOption = "table") -> None:
    """A user's grants for a course, lapsed ones included."""
    items = run(_show(user, course))
    render(items, GRANT_FIELDS, output, title=f"{len(items)} grant(s)", empty="no grants")
