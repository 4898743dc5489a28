"""``elearning courses``: list the catalog, and import or export whole courses as JSON.

The file format is ``CourseSpec`` (elearning_core.course.commands): a JSON
array of course records, or ``{"courses": [...]}``. Export writes exactly what
import reads, so export -> import into an empty database round-trips.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from elearning_cli._common import (
    CliError,
    database_label,
    format_pydantic_errors,
    handle_errors,
    info,
    load_settings,
    open_platform,
    plural,
    progress,
    read_json,
    run,
    warn,
    write_atomically,
)
from elearning_cli._output import Field, FormatOption, render
from elearning_core.course.values import CourseStatus, Level, check_language, check_slug, check_tags, check_title
from elearning_core.shared.errors import DomainError, NotFound, ValidationFailed
from elearning_core.shared.pagination import MAX_PAGE_SIZE
from elearning_core.shared.ports import SYSTEM

if TYPE_CHECKING:
    from elearning_adapters.container import Platform
    from elearning_adapters.settings import Settings
    from elearning_core.course.commands import CourseSpec, LessonContentSpec
    from elearning_core.course.queries import CatalogFilter, CourseOutline, CourseSummary, LessonView
    from elearning_core.course.service import CourseService

# The core's pydantic command and query models are imported where they are used, so that
# `elearning courses list --help` does not build them (see elearning_cli.main.GROUPS).

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

MAX_REPORTED = 10
"""How many problems of an invalid import file are printed; the rest are counted."""
PAGE_SIZE = MAX_PAGE_SIZE
"""Courses fetched per listing page while following cursors."""


class StatusChoice(StrEnum):
    ALL = "all"
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"

    def as_status(self) -> CourseStatus | None:
        return None if self is StatusChoice.ALL else CourseStatus(self.value)


StatusOption = Annotated[
    StatusChoice, typer.Option("--status", "-s", help="Only courses in this state; `all` lists every state.")
]


# -- list ---------------------------------------------------------------------------


async def collect_summaries(
    service: CourseService, where: CatalogFilter, limit: int | None
) -> tuple[list[CourseSummary], bool]:
    """Follow the listing's cursors until ``limit`` courses (all when None); also say whether more match."""
    items: list[CourseSummary] = []
    cursor: str | None = None
    while True:
        size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(items))
        page = await service.list_courses(SYSTEM, where, cursor, size)
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return items, False
        if limit is not None and len(items) >= limit:
            return items, True


async def _list(where: CatalogFilter, limit: int) -> tuple[list[CourseSummary], bool]:
    async with open_platform(load_settings()) as platform:
        return await collect_summaries(platform.courses, where, limit)


_STATUS_STYLE = {CourseStatus.PUBLISHED: "green", CourseStatus.DRAFT: "yellow", CourseStatus.ARCHIVED: "dim"}

COURSE_FIELDS: list[Field[CourseSummary]] = [
    Field("id", lambda c: c.id, "Id", whole=True),
    Field("slug", lambda c: c.slug, "Slug", whole=True, style=lambda _: "bold"),
    Field("title", lambda c: c.title, "Title"),
    Field("status", lambda c: c.status, "Status", style=lambda c: _STATUS_STYLE[c.status]),
    Field("language", lambda c: c.language, "Language"),
    Field("level", lambda c: c.level, "Level"),
    Field("tags", lambda c: list(c.tags)),
    Field("sections", lambda c: c.section_count, "Sections", justify="right"),
    Field("lessons", lambda c: c.lesson_count, "Lessons", justify="right"),
    Field("created_at", lambda c: c.created_at),
    Field(
        "published_at",
        lambda c: c.published_at,
        "Published at",
        cell=lambda c: c.published_at.strftime("%Y-%m-%d %H:%M") if c.published_at else "-",
    ),
]


@app.command("list")
@handle_errors
def list_courses(
    status: StatusOption = StatusChoice.ALL,
    language: Annotated[str | None, typer.Option(help="Only this language tag, e.g. en or pt-br.")] = None,
    level: Annotated[Level | None, typer.Option(help="Only this level.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only courses with this tag.")] = None,
    search: Annotated[
        str | None, typer.Option(help="Only courses whose title, summary or tags contain this text.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many courses (newest first).")] = 50,
    output: FormatOption = "table",
) -> None:
    """List courses, newest first."""
    from elearning_core.course.queries import CatalogFilter

    where = CatalogFilter(
        status=status.as_status(),
        language=language.strip().lower() if language else None,
        level=level,
        tag=tag,
        text=search,
    )
    courses, more = run(_list(where, limit))
    title = f"Courses ({status.value}): {len(courses)}{'+' if more else ''}"
    render(courses, COURSE_FIELDS, output, title=title, empty="No courses match.")
    if more:
        info(f"Showing the first {len(courses)} courses; more match (raise --limit to see them).")


# -- import -------------------------------------------------------------------------


def extract_records(name: str, data: Any) -> list[Any]:
    if isinstance(data, dict) and set(data) == {"courses"}:
        data = data["courses"]
    if not isinstance(data, list):
        found = f"an object with keys {sorted(data)}" if isinstance(data, dict) else _json_type(data)
        raise CliError(f'{name}: expected a JSON array of courses or {{"courses": [...]}}, found {found}')
    return data


_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


def _json_type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def _record_label(index: int, record: Any) -> str:
    slug = record.get("slug") if isinstance(record, dict) else None
    return f'record {index} (slug "{slug}")' if isinstance(slug, str) else f"record {index}"


def _spec_ids(spec: CourseSpec) -> Iterator[tuple[str, uuid.UUID]]:
    if spec.id:
        yield "id", spec.id
    for s, section in enumerate(spec.sections):
        if section.id:
            yield f"sections.{s}.id", section.id
        for n, lesson in enumerate(section.lessons):
            if lesson.id:
                yield f"sections.{s}.lessons.{n}.id", lesson.id


def _value_errors(spec: CourseSpec) -> list[str]:
    """The aggregate's value rules the schema cannot express, checked here so all are reported at once.

    The import use case checks them again (and the rest, such as "publishing
    needs a lesson"); this is only for a complete report.
    """
    checks: list[tuple[str, Callable[[], object]]] = [
        ("slug", partial(check_slug, spec.slug)),
        ("title", partial(check_title, spec.title)),
        ("language", partial(check_language, spec.language)),
        ("tags", partial(check_tags, spec.tags)),
    ]
    for s, section in enumerate(spec.sections):
        checks.append((f"sections.{s}.title", partial(check_title, section.title)))
        for n, lesson in enumerate(section.lessons):
            checks.append((f"sections.{s}.lessons.{n}.title", partial(check_title, lesson.title)))
    problems = []
    for path, check in checks:
        try:
            check()
        except ValidationFailed as exc:
            problems.append(f"{path}: {exc.errors[0].message if exc.errors else exc.detail}")
    return problems


@dataclass
class Validated:
    specs: list[CourseSpec]
    problems: list[str]
    bad_records: int


def validate_records(records: list[Any]) -> Validated:
    """Check every record (schema, value rules, duplicates within the file), collecting every problem."""
    from elearning_core.course.commands import CourseSpec

    specs: list[CourseSpec] = []
    problems: list[str] = []
    bad: set[int] = set()
    slugs: dict[str, int] = {}
    ids: dict[uuid.UUID, str] = {}
    for index, record in enumerate(records):
        label = _record_label(index, record)
        found: list[str] = []
        if not isinstance(record, dict):
            found.append(f"must be a JSON object, found {_json_type(record)}")
        else:
            try:
                spec = CourseSpec.model_validate(record)
            except ValidationError as exc:
                found.extend(format_pydantic_errors(exc))
            else:
                found.extend(_value_errors(spec))
                if spec.slug in slugs:
                    found.append(f"slug: duplicates record {slugs[spec.slug]}")
                slugs.setdefault(spec.slug, index)
                for path, value in _spec_ids(spec):
                    if value in ids:
                        found.append(f"{path}: {value} is already used by {ids[value]}")
                    ids.setdefault(value, f"record {index} {path}")
                specs.append(spec)
        if found:
            bad.add(index)
            problems.extend(f"{label}: {line}" for line in found)
    return Validated(specs=specs, problems=problems, bad_records=len(bad))


async def _existing(service: CourseService, specs: list[CourseSpec]) -> dict[int, list[str]]:
    """The problems of records whose slug or id is already in the catalog, by record index.

    The import use case checks this too, but stops at the first clash.
    """
    clashes = await service.import_clashes(SYSTEM, specs)
    return {
        index: [f"{_record_label(index, {'slug': specs[index].slug})}: {problem}" for problem in problems]
        for index, problems in clashes.items()
    }


def _too_many(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_REPORTED:
        return problems
    return [*problems[:MAX_REPORTED], f"... and {len(problems) - MAX_REPORTED} more problems"]


def _use_dry_run_unit_of_work(platform: Platform) -> None:
    """Make the import run every write and check, then roll back instead of committing.

    Overriding the container's unit-of-work provider (as tests do) keeps the
    dry run exactly as strict as the real import: the same use case, the
    same rules, the same database constraints.
    """
    from dependency_injector import providers
    from sqlalchemy.exc import IntegrityError

    from elearning_adapters.sql.uow import SqlUnitOfWork
    from elearning_core.shared.errors import Conflict

    class DryRunUnitOfWork(SqlUnitOfWork):
        async def commit(self) -> None:
            try:
                await self.courses.flush()
            except IntegrityError:
                raise Conflict("the file clashes with data in the database (an id of a section or lesson?)") from None
            finally:
                await self.rollback()

    adapters = platform.container.adapters
    adapters.unit_of_work.override(providers.Factory(DryRunUnitOfWork, adapters.database))


@dataclass
class ImportTotals:
    courses: int
    sections: int
    lessons: int

    def __str__(self) -> str:
        return (
            f"{plural(self.courses, 'course')} ({plural(self.sections, 'section')}, {plural(self.lessons, 'lesson')})"
        )


def _totals(specs: list[CourseSpec]) -> ImportTotals:
    return ImportTotals(
        courses=len(specs),
        sections=sum(len(s.sections) for s in specs),
        lessons=sum(len(sec.lessons) for s in specs for sec in s.sections),
    )


async def _import(
    settings: Settings, name: str, specs: list[CourseSpec], dry_run: bool, as_copy: bool = False
) -> list[str]:
    """Import ``specs``; returns the slugs the courses got (a copy's differ from the file's)."""
    async with open_platform(settings) as platform:
        clashes = {} if as_copy else await _existing(platform.courses, specs)
        if clashes:
            raise CliError(
                f"{name}: {plural(len(clashes), 'record')} clash with courses already in the database; "
                "nothing was imported",
                _too_many([line for lines in clashes.values() for line in lines]),
            )
        if dry_run:
            _use_dry_run_unit_of_work(platform)
        total = len(specs)
        try:
            with progress("Checking courses" if dry_run else "Importing courses", total) as update:

                def on_progress(done: int) -> None:
                    update(completed=done)
                    if done == total:  # what is left is the commit
                        update(description="Checking constraints" if dry_run else "Writing to the database")

                courses = await platform.courses.import_courses(SYSTEM, specs, on_progress, as_copy=as_copy)
        except DomainError as exc:
            raise CliError(f"{name}: {exc.detail}; nothing was imported") from None
        return [course.slug for course in courses]


@app.command("import")
@handle_errors
def import_courses(
    file: Annotated[str, typer.Argument(help="JSON file to import, or - to read standard input.", metavar="FILE")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check everything (file and database), then write nothing.")
    ] = False,
    as_copy: Annotated[
        bool,
        typer.Option(
            "--as-copy",
            help="Import each course as a new copy: new ids, and the first free slug derived from the file's "
            "(intro -> intro-2). For duplicating courses within one database.",
        ),
    ] = False,
) -> None:
    """Import courses from a JSON file (the format `elearning courses export` writes).

    The file holds a JSON array of course records, or an object {"courses": [...]}.

    Every record is checked first and every problem is reported. Then all courses are created in one transaction: either all are imported or none.

    Ids and slugs are kept, so importing into a database that has the same courses is refused; --as-copy imports copies beside them instead.
    """
    settings = load_settings()
    name, data = read_json(file, "a JSON array of courses")
    records = extract_records(name, data)
    checked = validate_records(records)
    if checked.problems:
        raise CliError(
            f"{name}: {checked.bad_records} of {len(records)} records are invalid (numbered from 0); nothing was imported",
            _too_many(checked.problems),
        )
    totals = _totals(checked.specs)
    if not checked.specs:
        info(f"{name} holds no courses; nothing to import.")
        return
    slugs = run(_import(settings, name, checked.specs, dry_run, as_copy))
    target = database_label(settings)
    copies = " as copies" if as_copy else ""
    if dry_run:
        info(f"Dry run: {name} is valid; importing it{copies} would create {totals} in {target}. Nothing was written.")
    else:
        info(f"Imported {totals}{copies} into {target}.")
    if as_copy:
        for spec, slug in zip(checked.specs, slugs, strict=True):
            info(f"  {spec.slug} -> {slug}")


# -- export -------------------------------------------------------------------------


def spec_from_outline(outline: CourseOutline) -> CourseSpec:
    from elearning_core.course.commands import CourseSpec, LessonSpec, SectionSpec, requirement_spec

    return CourseSpec(
        id=outline.id,
        slug=outline.slug,
        title=outline.title,
        summary=outline.summary,
        description=outline.description,
        language=outline.language,
        level=outline.level,
        tags=list(outline.tags),
        owner_id=outline.owner_id,
        organization_id=outline.organization_id,
        status=outline.status,
        sections=[
            SectionSpec(
                id=section.id,
                title=section.title,
                release_at=section.release_at,
                release_after_days=section.release_after_days,
                requirements=[requirement_spec(r) for r in section.requirements],
                lessons=[
                    LessonSpec(
                        id=lesson.id,
                        title=lesson.title,
                        content=_content_spec(lesson),
                        requirements=[requirement_spec(r) for r in lesson.requirements],
                    )
                    for lesson in section.lessons
                ],
            )
            for section in outline.sections
        ],
    )


def _content_spec(lesson: LessonView) -> LessonContentSpec | None:
    """The lesson's draft content, or None when it has none (the file then reads as before content existed)."""
    from elearning_core.course.commands import AttachmentSpec, LessonContentSpec

    spec = LessonContentSpec(
        kind=lesson.kind,
        body_markdown=lesson.body_markdown or "",
        video_id=lesson.video_id,
        assessment_id=lesson.assessment_id,
        attachments=[
            AttachmentSpec(
                id=a.id,
                name=a.name,
                url=a.url,
                storage_key=a.storage_key,
                size_bytes=a.size_bytes,
                content_type=a.content_type,
            )
            for a in lesson.attachments
        ],
        duration_seconds=lesson.duration_seconds,
        preview=lesson.preview,
    )
    return None if spec == LessonContentSpec() else spec


async def _export(settings: Settings, status: CourseStatus | None) -> list[CourseSpec]:
    from elearning_core.course.queries import CatalogFilter

    async with open_platform(settings) as platform:
        summaries, _ = await collect_summaries(platform.courses, CatalogFilter(status=status), None)
        summaries.reverse()  # oldest first: the file reads in the order the catalog grew
        specs: list[CourseSpec] = []
        with progress("Exporting courses", len(summaries)) as update:
            for done, summary in enumerate(summaries, start=1):
                try:
                    specs.append(spec_from_outline(await platform.courses.get_outline(SYSTEM, summary.id)))
                except NotFound:
                    warn(f"course {summary.slug} was deleted during the export; skipped")
                update(completed=done)
        return specs


@app.command("export")
@handle_errors
def export_courses(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of standard output.", dir_okay=False),
    ] = None,
    status: StatusOption = StatusChoice.ALL,
) -> None:
    """Export courses with their full outline as JSON, in the format `elearning courses import` reads."""
    settings = load_settings()
    to_stdout = output is None or str(output) == "-"
    if output is not None and not to_stdout and not output.parent.is_dir():
        raise CliError(f"cannot write {output}: directory {output.parent} does not exist")
    specs = run(_export(settings, status.as_status()))
    text = json.dumps({"courses": [s.model_dump(mode="json") for s in specs]}, indent=2, ensure_ascii=False) + "\n"
    if output is None or to_stdout:
        typer.echo(text, nl=False)
        info(f"Exported {_totals(specs)}.")
    else:
        write_atomically(output, text)
        info(f"Exported {_totals(specs)} to {output}.")
