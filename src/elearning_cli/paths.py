"""``elearning paths``: list learning paths, import one from a JSON file, export one.

The file format (``elearning.learning_path.v1``, documented in docs/modules/learning_path.md) names
courses by slug (or id), so a path exported from one database imports into another that has the
same courses:

    {"format": "elearning.learning_path.v1", "slug": "data-engineering", "title": "Data engineering",
     "description": "", "status": "published",
     "parts": [{"kind": "required", "title": "", "courses": ["sql-basics"]},
               {"kind": "elective", "title": "Pick one", "required_count": 1,
                "courses": ["spark", "dbt"]}],
     "prerequisites": ["python-basics"]}

Import checks everything first (the document, every course named, the N-of-M rules, the slug, and,
for a published path, that its courses are published) and reports each problem on a line of its
own, exiting non-zero, before it writes anything; a path it cannot finish is deleted again.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from pydantic import ConfigDict, Field, ValidationError

from elearning_cli._common import (
    CliError,
    as_uuid,
    collect,
    format_pydantic_errors,
    handle_errors,
    info,
    load_settings,
    open_platform,
    read_json,
    run,
    write_atomically,
)
from elearning_cli._output import Field as Column
from elearning_cli._output import FormatOption, render
from elearning_core.course.values import SLUG_MAX, SLUG_MIN, TITLE_MAX
from elearning_core.learning_path.commands import CreatePath, PartInput, SetStructure
from elearning_core.learning_path.model import (
    COURSES_PER_PART_MAX,
    DESCRIPTION_MAX,
    PART_TITLE_MAX,
    PARTS_MAX,
    PREREQUISITES_MAX,
    LearningPath,
    PartKind,
    PathPart,
    PathStatus,
    check_structure,
)
from elearning_core.shared.errors import DomainError, ValidationFailed
from elearning_core.shared.inputs import InputModel
from elearning_core.shared.ports import SYSTEM

if TYPE_CHECKING:
    from elearning_adapters.container import Platform

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

FORMAT = "elearning.learning_path.v1"
CourseRef = Annotated[str, Field(min_length=1, max_length=SLUG_MAX)]


class PartDocument(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: PartKind
    title: str = Field(default="", max_length=PART_TITLE_MAX)
    courses: list[CourseRef] = Field(min_length=1, max_length=COURSES_PER_PART_MAX)
    required_count: int | None = Field(default=None, ge=1, le=COURSES_PER_PART_MAX)


class PathDocument(InputModel):
    """One learning path as a file holds it: courses by slug (or id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["elearning.learning_path.v1"]
    slug: str = Field(min_length=SLUG_MIN, max_length=SLUG_MAX)
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    status: Literal["draft", "published"] = "draft"
    parts: list[PartDocument] = Field(max_length=PARTS_MAX)
    prerequisites: list[CourseRef] = Field(default_factory=list, max_length=PREREQUISITES_MAX)


async def _course_ids(platform: Platform, refs: list[str]) -> tuple[dict[str, uuid.UUID], dict[uuid.UUID, Any]]:
    """Each ref's course id (refs that name no course are absent), and what the path module knows of them."""
    lookup = platform.container.adapters.course_lookup()
    found: dict[str, uuid.UUID] = {}
    for ref in dict.fromkeys(refs):
        course_id = as_uuid(ref) or await lookup.id_by_slug(ref)
        if course_id is not None:
            found[ref] = course_id
    briefs = await platform.learning_paths.course_briefs(set(found.values()))
    return {r: c for r, c in found.items() if c in briefs}, briefs


def _structure(doc: PathDocument, ids: dict[str, uuid.UUID]) -> tuple[SetStructure, list[str]]:
    """The structure command, and every problem with the document's courses and rules (field: message)."""
    problems = []
    for i, part in enumerate(doc.parts):
        problems += [
            f"parts.{i}.courses.{n}: no course {ref!r}" for n, ref in enumerate(part.courses) if ref not in ids
        ]
    problems += [f"prerequisites.{n}: no course {ref!r}" for n, ref in enumerate(doc.prerequisites) if ref not in ids]
    parts = [
        PartInput(
            kind=p.kind,
            title=p.title,
            course_ids=[ids[r] for r in p.courses if r in ids],
            required_count=p.required_count,
        )
        for p in doc.parts
    ]
    command = SetStructure(parts=parts, prerequisites=[ids[r] for r in doc.prerequisites if r in ids])
    if not problems:
        try:
            made = [
                PathPart.make(p.kind, p.course_ids, p.required_count, p.title, where=f"parts.{i}")
                for i, p in enumerate(parts)
            ]
            check_structure(made, command.prerequisites)
        except ValidationFailed as exc:
            problems += [f"{e.field}: {e.message}" for e in exc.errors] or [exc.detail]
    return command, problems


async def _import(file: str, dry_run: bool) -> tuple[LearningPath | None, PathDocument]:
    name, data = read_json(file, "a learning path document")
    try:
        doc = PathDocument.model_validate(data)
    except ValidationError as exc:
        raise CliError(f"{name} is not a learning path document ({FORMAT})", format_pydantic_errors(exc)) from None
    async with open_platform(load_settings()) as platform:
        service = platform.learning_paths
        refs = [r for p in doc.parts for r in p.courses] + list(doc.prerequisites)
        ids, briefs = await _course_ids(platform, refs)
        command, problems = _structure(doc, ids)
        if doc.status == "published":
            if not doc.parts:
                problems.append("parts: a published path needs at least one part")
            problems += [f"course {ref!r} is not published" for ref, c in ids.items() if not briefs[c].published]
        async with platform.container.adapters.unit_of_work() as uow:
            if await uow.learning_paths.slug_taken(doc.slug):
                problems.append(f"slug: a learning path {doc.slug!r} exists already")
        if problems:
            raise CliError(f"{name}: {len(problems)} problem(s); nothing was imported", problems)
        if dry_run:
            return None, doc
        path = await service.create(SYSTEM, CreatePath(title=doc.title, slug=doc.slug, description=doc.description))
        try:
            path = await service.set_structure(SYSTEM, path.id, command)
            if doc.status == "published":
                path = await service.publish(SYSTEM, path.id)
        except DomainError:
            await service.delete(SYSTEM, path.id)  # a path half imported is no path: leave nothing behind
            raise
        return path, doc


@app.command("import")
@handle_errors
def import_path(
    file: Annotated[str, typer.Argument(help="JSON file to import, or - to read standard input.", metavar="FILE")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check everything, then write nothing.")] = False,
) -> None:
    """Import a learning path from a JSON file (the format `elearning paths export` writes)."""
    path, doc = run(_import(file, dry_run))
    if path is None:
        info(
            f"Dry run: {file} is valid; importing it would create the {doc.status} path {doc.slug}. Nothing was written."
        )
    else:
        info(f"Imported the {path.status.value} path {path.slug} ({path.id}).")


async def _resolve(platform: Platform, ref: str) -> LearningPath:
    text = ref.strip()
    path_id = as_uuid(text)
    if path_id is not None:
        return await platform.learning_paths.get(SYSTEM, path_id)
    return await platform.learning_paths.get_by_slug(SYSTEM, text)


async def _export(ref: str) -> dict[str, Any]:
    async with open_platform(load_settings()) as platform:
        path = await _resolve(platform, ref)
        briefs = await platform.learning_paths.course_briefs([*path.course_ids, *path.prerequisites])

        def name(course_id: uuid.UUID) -> str:
            brief = briefs.get(course_id)
            return brief.slug if brief is not None else str(course_id)

        document = PathDocument(
            format=FORMAT,
            slug=path.slug,
            title=path.title,
            description=path.description,
            status="draft" if path.status is PathStatus.DRAFT else "published",
            parts=[
                PartDocument(
                    kind=p.kind,
                    title=p.title,
                    courses=[name(c) for c in p.course_ids],
                    required_count=p.required_count if p.kind is PartKind.ELECTIVE else None,
                )
                for p in path.parts
            ],
            prerequisites=[name(c) for c in path.prerequisites],
        )
        return document.model_dump(mode="json")


@app.command("export")
@handle_errors
def export_path(
    path: Annotated[str, typer.Argument(help="The path's id or slug.", metavar="ID")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of standard output.", dir_okay=False),
    ] = None,
) -> None:
    """Export a learning path as JSON (courses by slug), in the format `elearning paths import` reads."""
    if output is not None and str(output) != "-" and not output.parent.is_dir():
        raise CliError(f"cannot write {output}: directory {output.parent} does not exist")
    text = json.dumps(run(_export(path)), indent=2, ensure_ascii=False) + "\n"
    if output is None or str(output) == "-":
        typer.echo(text, nl=False)
    else:
        write_atomically(output, text)
        info(f"Exported the path to {output}.")


async def _list(status: PathStatus | None) -> list[LearningPath]:
    async with open_platform(load_settings()) as platform:
        items, _ = await collect(
            lambda cursor, size: platform.learning_paths.list_paths(SYSTEM, status, cursor=cursor, limit=size)
        )
        return items


PATH_FIELDS: list[Column[LearningPath]] = [
    Column("id", lambda p: p.id, "Id", whole=True),
    Column("slug", lambda p: p.slug, "Slug", whole=True),
    Column("title", lambda p: p.title, "Title"),
    Column("status", lambda p: p.status, "Status"),
    Column("parts", lambda p: len(p.parts), "Parts"),
    Column("courses", lambda p: len(p.course_ids), "Courses"),
    Column("published_at", lambda p: p.published_at, "Published at"),
]


@app.command("list")
@handle_errors
def list_paths(
    status: Annotated[PathStatus | None, typer.Option(help="Only paths with this status.")] = None,
    output: FormatOption = "table",
) -> None:
    """List learning paths, drafts included (every page)."""
    items = run(_list(status))
    render(items, PATH_FIELDS, output, title=f"{len(items)} learning path(s)", empty="no learning paths")
