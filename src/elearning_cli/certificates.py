"""``elearning certificates``: list a course's or path's certificates, revoke one, issue the completions
whose award has become available, and verify a certificate file against the published keys and status list."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
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
    run,
)
from elearning_cli._output import Field, FormatOption, render
from elearning_cli.enrollments import resolve_course
from elearning_core.certificate.commands import AwardSettings
from elearning_core.certificate.model import Award, Credential, CredentialState, SubjectKind
from elearning_core.shared.ports import SYSTEM

if TYPE_CHECKING:
    from elearning_adapters.container import Platform

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

MAX_FILE_BYTES = 64 * 1024

_STATE_STYLE = {
    CredentialState.VALID: "green",
    CredentialState.REVOKED: "red",
    CredentialState.EXPIRED: "yellow",
    CredentialState.NOT_YET_VALID: "dim",
}


def _state(c: Credential) -> CredentialState:
    return c.state(datetime.now(UTC))


CERTIFICATE_FIELDS: list[Field[Credential]] = [
    Field("id", lambda c: c.id, "Id", whole=True),
    Field("user_id", lambda c: c.user_id, "User", whole=True),
    Field("learner_name", lambda c: c.learner_name, "Name"),
    Field("state", _state, "State", style=lambda c: _STATE_STYLE[_state(c)]),
    Field("issued_at", lambda c: c.issued_at, "Issued at"),
    Field("valid_until", lambda c: c.valid_until, "Valid until"),
    Field("revoked_reason", lambda c: c.revoked_reason),
    Field("replaces", lambda c: c.replaces),
]


CourseOption = Annotated[str | None, typer.Option(help="The course's id or slug.")]
PathOption = Annotated[str | None, typer.Option(help="The learning path's id.")]


async def _subject(platform: Platform, course: str | None, path: str | None) -> tuple[SubjectKind, uuid.UUID]:
    if (course is None) == (path is None):
        raise CliError("name one of --course or --path")
    if course is not None:
        return SubjectKind.COURSE, await resolve_course(platform, course)
    assert path is not None
    return SubjectKind.PATH, parse_uuid(path, "path id")


async def _list(course: str | None, path: str | None) -> list[Credential]:
    async with open_platform(load_settings()) as platform:
        kind, subject_id = await _subject(platform, course, path)
        items, _ = await collect(
            lambda cursor, size: platform.certificates.of_subject(SYSTEM, kind, subject_id, cursor=cursor, limit=size)
        )
        return items


@app.command("list")
@handle_errors
def list_certificates(course: CourseOption = None, path: PathOption = None, output: FormatOption = "table") -> None:
    """List the certificates of a course or a learning path (every page, newest first)."""
    items = run(_list(course, path))
    render(items, CERTIFICATE_FIELDS, output, title=f"{len(items)} certificate(s)", empty="no certificates")


AWARD_FIELDS: list[Field[Award]] = [
    Field("subject_kind", lambda a: a.kind, "Kind"),
    Field("subject_id", lambda a: a.subject_id, "Id", whole=True),
    Field("enabled", lambda a: a.enabled, "Enabled"),
    Field("available_from", lambda a: a.available_from, "Available from"),
    Field("valid_days", lambda a: a.valid_days, "Valid days"),
    Field("template", lambda a: "custom" if a.template else "default", "Template"),
]


async def _award(course: str | None, path: str | None, changes: dict[str, object]) -> Award:
    async with open_platform(load_settings()) as platform:
        kind, subject_id = await _subject(platform, course, path)
        current = await platform.certificates.award(SYSTEM, kind, subject_id)
        if not changes:
            return current
        values: dict[str, object] = {
            "enabled": current.enabled,
            "available_from": current.available_from,
            "valid_days": current.valid_days,
            "template": current.template,
        }
        values.update(changes)
        try:
            settings = AwardSettings.model_validate(values)
        except ValidationError as exc:
            raise CliError(
                f"invalid award: {'; '.join(line.strip() for line in format_pydantic_errors(exc))}"
            ) from None
        return await platform.certificates.set_award(SYSTEM, kind, subject_id, settings)


@app.command("award")
@handle_errors
def award(
    course: CourseOption = None,
    path: PathOption = None,
    enable: Annotated[bool | None, typer.Option("--enable/--disable", help="Award certificates or not.")] = None,
    available_from: Annotated[
        datetime | None, typer.Option(help="Issue only from this time (ISO 8601, UTC when no offset).")
    ] = None,
    valid_days: Annotated[int | None, typer.Option(help="Days a certificate stays valid (0: no expiry).")] = None,
    template: Annotated[Path | None, typer.Option(help="A file with the printable page's template.")] = None,
    output: FormatOption = "table",
) -> None:
    """Show a course's or path's certificate award; with options, change it (the rest is kept)."""
    changes: dict[str, object] = {}
    if enable is not None:
        changes["enabled"] = enable
    if available_from is not None:
        changes["available_from"] = available_from if available_from.tzinfo else available_from.replace(tzinfo=UTC)
    if valid_days is not None:
        changes["valid_days"] = valid_days or None
    if template is not None:
        try:
            changes["template"] = template.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read {template}: {exc}") from None
    current = run(_award(course, path, changes))
    render([current], AWARD_FIELDS, output, title="certificate award", empty="no award")


async def _revoke(credential_id: uuid.UUID, reason: str) -> Credential:
    async with open_platform(load_settings()) as platform:
        return await platform.certificates.revoke(SYSTEM, credential_id, reason)


@app.command("revoke")
@handle_errors
def revoke(
    credential: Annotated[str, typer.Argument(help="The certificate's id.", metavar="ID")],
    reason: Annotated[str, typer.Option(help="Why (kept with the revocation).")],
) -> None:
    """Revoke a certificate: its bit is set in the published status list."""
    if not reason.strip():
        raise CliError("--reason must not be empty")
    revoked = run(_revoke(parse_uuid(credential, "certificate id"), reason.strip()))
    info(f"revoked certificate {revoked.id} ({revoked.revoked_reason})")


async def _issue_due() -> int:
    async with open_platform(load_settings()) as platform:
        return await platform.certificates.issue_due()


@app.command("issue-due")
@handle_errors
def issue_due() -> None:
    """Issue the completions held back by an award's availability date, now that it has passed."""
    info(f"issued {run(_issue_due())} certificate(s)")


@app.command("verify")
@handle_errors
def verify(
    file: Annotated[Path, typer.Argument(help="A file holding the certificate's VC-JWT.", metavar="FILE")],
    url: Annotated[
        str | None, typer.Option(help="The platform's public base URL (default: ELEARNING_PUBLIC_BASE_URL).")
    ] = None,
) -> None:
    """Verify a certificate (VC-JWT) with only the platform's published keys and status list.

    Exit 0 when valid; otherwise 1 with the reason on one line."""
    from elearning_adapters.security.credentials import check_published
    from elearning_core.certificate.ports import InvalidCredential

    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise CliError(f"{file} is larger than a certificate ({MAX_FILE_BYTES} bytes at most)")
        token = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {file}: {exc}") from None
    base = url or load_settings().resolved_public_base_url
    try:
        claims = run(check_published(token, base, now=datetime.now(UTC)))
    except InvalidCredential as exc:
        raise CliError(f"invalid certificate: {exc}") from None
    name = claims.get("name", "")
    info(f"valid: {name} for {claims['sub']}, issued by {claims['iss']}")
