"""``elearning courses export`` then ``import`` round-trips, as a Hypothesis property over random courses.

For random course files (statuses, sections, lessons with every kind of content, attachments, owners and
organizations, as the export format carries them), through the real CLI on SQLite files:

- import into a fresh database, export: the file comes back as written (ids, which the file left out,
  are the only addition);
- that export imported into another fresh database and exported again: the very same document;
- the export imported ``--as-copy`` into the first database: new courses beside the originals, each with
  new ids everywhere and a new slug, and otherwise the same content.
"""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from elearning_cli.main import app
from elearning_core.course.model import CourseStatus, LessonKind, Level
from tests.e2e.cli_helpers import isolate_cli_env

runner = CliRunner()
Doc = dict[str, Any]

TEXT = st.characters(blacklist_categories=("Cs", "Cc"))
titles = st.text(TEXT, min_size=1, max_size=30).map(str.strip).filter(bool)
slugs = st.from_regex(r"[a-z0-9]{3,10}(-[a-z0-9]{1,5}){0,2}", fullmatch=True)
prose = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=60)

attachments = st.builds(
    lambda id_, name, where, size: {
        "id": str(id_),
        "name": name,
        "url": "https://example.org/files/notes.pdf" if where else None,
        "storage_key": None if where else "files/notes.pdf",
        "size_bytes": size,
        "content_type": "application/pdf",
    },
    st.uuids(),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 _-]{0,15}\.pdf", fullmatch=True),
    st.booleans(),
    st.integers(0, 10**9),
)


@st.composite
def contents(draw: st.DrawFn) -> Doc | None:
    if draw(st.booleans()):
        return None
    kind = draw(st.sampled_from(list(LessonKind)))
    content = {
        "kind": kind.value,
        "body_markdown": draw(prose),
        "video_id": str(draw(st.uuids())) if kind is LessonKind.VIDEO else None,
        "assessment_id": str(draw(st.uuids())) if kind is LessonKind.ASSESSMENT and draw(st.booleans()) else None,
        "attachments": draw(st.lists(attachments, max_size=1)),
        "duration_seconds": draw(st.none() | st.integers(0, 24 * 3600)),
        "preview": draw(st.booleans()),  # content gating: a free preview lesson
    }
    empty = not (
        content["body_markdown"]
        or content["attachments"]
        or content["duration_seconds"] is not None
        or content["preview"]
    )
    # The format leaves out content that is all defaults: such a lesson reads back as having none.
    return None if empty and kind is LessonKind.TEXT else content


lessons = st.builds(
    lambda title, content: {"id": None, "title": title, "content": content, "requirements": []}, titles, contents()
)
# Content gating: a section opens at a time (written as the export writes it), some days after enrolling, or with
# the course.
release_times = st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)).map(
    lambda at: at.replace(microsecond=0).isoformat().replace("+00:00", "Z")
)
releases = st.one_of(
    st.just({"release_at": None, "release_after_days": None}),
    release_times.map(lambda at: {"release_at": at, "release_after_days": None}),
    st.integers(0, 3650).map(lambda days: {"release_at": None, "release_after_days": days}),
)
sections = st.builds(
    lambda title, items, release: {"id": None, "title": title, "lessons": items, **release, "requirements": []},
    titles,
    st.lists(lessons, max_size=3),
    releases,
)


@st.composite
def courses(draw: st.DrawFn, slug: str) -> Doc:
    status = draw(st.sampled_from(list(CourseStatus)))
    outline = draw(st.lists(sections, max_size=2))
    if status is CourseStatus.PUBLISHED and not any(s["lessons"] for s in outline):
        outline = [
            {"id": None, "title": "Only section", "lessons": [draw(lessons)], **draw(releases), "requirements": []}
        ]
    # Conditional release: ``previous`` wherever there is something before (not the first section or lesson).
    first_lesson = True
    for index, section in enumerate(outline):
        if index > 0 and draw(st.booleans()):
            section["requirements"] = [{"kind": "previous"}]
        for lesson in section["lessons"]:
            if not first_lesson and draw(st.booleans()):
                lesson["requirements"] = [{"kind": "previous"}]
            first_lesson = False
    return {
        "id": None,
        "slug": slug,
        "title": draw(titles),
        "summary": draw(prose),
        "description": draw(prose),
        "language": draw(st.sampled_from(["en", "pt-br", "de"])),
        "level": draw(st.sampled_from(list(Level))).value,
        "tags": draw(st.lists(st.from_regex(r"[a-z0-9][a-z0-9+#.-]{0,8}", fullmatch=True), unique=True, max_size=3)),
        "owner_id": draw(st.none() | st.uuids().map(str)),
        "organization_id": draw(st.none() | st.uuids().map(str)),
        "status": status.value,
        "sections": outline,
    }


files = st.lists(slugs, min_size=1, max_size=4, unique=True).flatmap(
    lambda names: st.tuples(*(courses(name) for name in names)).map(list)
)


def cli(database: Path, *args: str) -> str:
    result = runner.invoke(app, list(args), env={"ELEARNING_DATABASE_URL": f"sqlite+aiosqlite:///{database}"})
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.stderr if args[1] == "import" else result.stdout


def export(database: Path) -> list[Doc]:
    return sorted(json.loads(cli(database, "courses", "export"))["courses"], key=lambda c: c["slug"])


def import_file(database: Path, records: list[Doc], *flags: str) -> str:
    path = database.with_suffix(f".{len(flags)}.json")
    path.write_text(json.dumps({"courses": records}, ensure_ascii=False), encoding="utf-8")
    return cli(database, "courses", "import", str(path), *flags)


def without_ids(course: Doc) -> Doc:
    """The course with every id blanked, attachments' too: what a copy must keep."""
    return {
        **course,
        "id": None,
        "sections": [
            {
                **section,
                "id": None,
                "lessons": [
                    {
                        **lesson,
                        "id": None,
                        "content": None
                        if lesson["content"] is None
                        else {
                            **lesson["content"],
                            "attachments": [{**a, "id": None} for a in lesson["content"]["attachments"]],
                        },
                    }
                    for lesson in section["lessons"]
                ],
            }
            for section in course["sections"]
        ],
    }


def ids_of(course: Doc) -> set[str]:
    found = {course["id"]}
    for section in course["sections"]:
        found.add(section["id"])
        for lesson in section["lessons"]:
            found.add(lesson["id"])
            for attachment in (lesson["content"] or {}).get("attachments", []):
                found.add(attachment["id"])
    return found


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_cli_env(monkeypatch, tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")


@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(records=files)
def test_export_then_import_round_trips(records: list[Doc]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        first, second = Path(directory) / "first.db", Path(directory) / "second.db"
        for database in (first, second):
            cli(database, "db", "upgrade")

        import_file(first, records)
        exported = export(first)
        assert [without_ids(c) for c in exported] == sorted((without_ids(c) for c in records), key=lambda c: c["slug"])

        import_file(second, exported)
        assert export(second) == exported

        report = import_file(first, exported, "--as-copy")
        renamed = dict(re.findall(r"^\s+(\S+) -> (\S+)$", report, re.MULTILINE))
        assert sorted(renamed) == [c["slug"] for c in exported]
        after = {c["slug"]: c for c in export(first)}
        assert len(after) == 2 * len(exported)
        original_ids = set().union(*(ids_of(c) for c in exported)) - {None}
        for original in exported:
            copy = after[renamed[original["slug"]]]
            assert copy["slug"] not in {c["slug"] for c in exported}
            assert copy["slug"].startswith(original["slug"])
            assert not ids_of(copy) & original_ids
            assert {**without_ids(copy), "slug": original["slug"]} == without_ids(original)
            assert after[original["slug"]] == original  # the originals are untouched


def test_a_file_imports_beside_its_own_courses_only_as_a_copy(tmp_path: Path) -> None:
    database = tmp_path / "copies.db"
    cli(database, "db", "upgrade")
    record = {
        "slug": "intro-to-python",
        "title": "Intro to Python",
        "status": "published",
        "sections": [{"title": "Basics", "lessons": [{"title": "Hello"}]}],
    }
    import_file(database, [record])
    exported = export(database)
    again = tmp_path / "again.json"
    again.write_text(json.dumps({"courses": exported}), encoding="utf-8")
    refused = runner.invoke(
        app, ["courses", "import", str(again)], env={"ELEARNING_DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    )
    assert refused.exit_code == 1
    assert "clash with courses already in the database" in refused.stderr

    dry = import_file(database, exported, "--as-copy", "--dry-run")
    assert "importing it as copies would create 1 course" in dry
    assert [c["slug"] for c in export(database)] == ["intro-to-python"]
    for expected in ("intro-to-python-2", "intro-to-python-3"):
        report = import_file(database, exported, "--as-copy")
        assert f"intro-to-python -> {expected}" in report
    assert [c["slug"] for c in export(database)] == ["intro-to-python", "intro-to-python-2", "intro-to-python-3"]


def test_requirements_naming_lessons_and_quizzes_round_trip_and_follow_a_copy(tmp_path: Path) -> None:
    database = tmp_path / "requirements.db"
    cli(database, "db", "upgrade")
    first, quiz_lesson, quiz = (str(uuid.UUID(int=n)) for n in (101, 102, 103))
    record = {
        "slug": "gated-python",
        "title": "Gated Python",
        "status": "published",
        "sections": [
            {
                "title": "Basics",
                "lessons": [
                    {"id": first, "title": "Hello"},
                    {
                        "id": quiz_lesson,
                        "title": "Check",
                        "content": {"kind": "assessment", "assessment_id": quiz},
                        "requirements": [{"kind": "lesson", "lesson_id": first}],
                    },
                ],
            },
            {
                "title": "More",
                "requirements": [{"kind": "quiz", "assessment_id": quiz, "min_percent": 70}],
                "lessons": [{"title": "Classes", "requirements": [{"kind": "previous"}]}],
            },
        ],
    }
    import_file(database, [record])
    [exported] = export(database)
    basics, more = exported["sections"]
    assert basics["lessons"][1]["requirements"] == [{"kind": "lesson", "lesson_id": first}]
    assert more["requirements"] == [{"kind": "quiz", "assessment_id": quiz, "min_percent": 70.0}]
    assert more["lessons"][0]["requirements"] == [{"kind": "previous"}]
    import_file(database, [exported], "--as-copy")
    copy = next(c for c in export(database) if c["slug"] == "gated-python-2")
    copied_first = copy["sections"][0]["lessons"][0]["id"]
    assert copied_first != first
    assert copy["sections"][0]["lessons"][1]["requirements"] == [{"kind": "lesson", "lesson_id": copied_first}]
    bad = {**record, "slug": "bad-gated", "sections": record["sections"][1:]}  # no lesson shows the quiz now
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"courses": [bad]}), encoding="utf-8")
    refused = runner.invoke(
        app, ["courses", "import", str(path)], env={"ELEARNING_DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    )
    assert refused.exit_code != 0
    assert "Traceback" not in refused.output
    assert "record 0 (bad-gated): requirements: sections.0.requirements.0.assessment_id is not an assessment" in (
        refused.stderr
    )
    assert refused.stderr.count("\n") <= 2  # one line (after the progress line's break)
