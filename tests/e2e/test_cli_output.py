"""Every list command's output, for scripts and for people: ``-o json|csv|table`` through the one renderer,
ids never cut at any terminal width, and boolean options that read as flags in ``--help``.

One database is seeded for the module (every list has rows, some of them awkward: long slugs and emails,
a role naming a course, a display name that a spreadsheet would run as a formula); each test reads it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import typing
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from elearning_adapters.container import Platform
from elearning_adapters.sql.engine import Database
from elearning_cli.main import app
from elearning_core.assessment.commands import QuizDocument
from elearning_core.auth.model import Grant, Role, Scope, ScopeKind
from elearning_core.auth.service import user_principal
from elearning_core.discussion.commands import NewThread
from elearning_core.identity.commands import CreateOrganization, CreateUser, RoleGrantSpec
from elearning_core.learning_path.commands import CreatePath, PartInput, SetStructure
from elearning_core.learning_path.model import PartKind
from elearning_core.shared.ports import SYSTEM
from elearning_core.video.commands import CreateVideo
from tests.conftest import truncate_all
from tests.e2e.assessment_helpers import a_question
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, make_in_process_dead_letters, ok, on_platform
from tests.e2e.http_helpers import course_spec

COURSE_SLUG = "a-course-slug-long-enough-to-be-cut-by-a-narrow-terminal"
ORG_SLUG = "an-organization-slug-that-is-long-for-narrow-terminals"
EMAILS = ("ada.lovelace.analytical.engine@example.org", "grace.brewster.murray.hopper@example.org")
PATH_SLUG = "a-learning-path"
FORMULA_NAME = '=HYPERLINK("http://evil.example","x")'


@dataclass(frozen=True)
class Listing:
    """A list command, the JSON/CSV key naming its rows, the seeded rows' values of it, and the
    identifiers its table must show whole."""

    args: tuple[str, ...]
    key: str
    ids: frozenset[str]
    whole: tuple[str, ...]


LIST_COMMANDS = (
    "users",
    "orgs",
    "courses",
    "enrollments",
    "videos",
    "quizzes",
    "paths",
    "keys",
    "dead-letters",
    "moderation-queue",
)


def _seed(url: str) -> dict[str, Listing]:
    dead_letters = make_in_process_dead_letters(url, courses=2)
    assert len(dead_letters) == 2

    async def go(platform: Platform) -> dict[str, Any]:
        from elearning_adapters.sql.dead_letters import DeadLetterStore

        org = await platform.identity.create_organization(SYSTEM, CreateOrganization(slug=ORG_SLUG, name="Acme"))
        (course,) = await platform.courses.import_courses(SYSTEM, [course_spec(COURSE_SLUG)])
        names = ("Ada Lovelace", FORMULA_NAME)
        users = [
            await platform.identity.create_user(SYSTEM, CreateUser(email=email, display_name=name))
            for email, name in zip(EMAILS, names, strict=True)
        ]
        spec = RoleGrantSpec(role="instructor", scope="course", scope_id=course.id)
        await platform.identity.grant_role(SYSTEM, users[0].id, spec)
        for user in users:
            await platform.enrollments.enroll(SYSTEM, course.id, user.id)
        video = await platform.videos.create_video(SYSTEM, course.id, CreateVideo(title="A first video of the course"))
        doc = {
            "format": "elearning.quiz.v1",
            "quiz": {"title": "Unit 1 check", "slots": [{"type": "fixed", "ref": "q"}]},
            "questions": [a_question("true_false") | {"ref": "q"}],
        }
        quiz = await platform.assessment.import_quiz(SYSTEM, course.id, QuizDocument.model_validate(doc))
        path = await platform.learning_paths.create(SYSTEM, CreatePath(title="A path", slug=PATH_SLUG))
        parts = [PartInput(kind=PartKind.REQUIRED, course_ids=[course.id])]
        await platform.learning_paths.set_structure(SYSTEM, path.id, SetStructure(parts=parts))
        letters = await DeadLetterStore(platform.database).all()
        learner = user_principal(users[1].id, (), None, email_verified=True)
        thread = await platform.discussion.create_thread(learner, course.id, NewThread(title="Flagged", body="spam"))
        staff = user_principal(users[0].id, (Grant(Role.INSTRUCTOR, Scope(ScopeKind.COURSE, course.id)),), None)
        await platform.discussion.flag(staff, thread.id, "advertising")
        return {
            "org": str(org.id),
            "course": str(course.id),
            "users": [str(u.id) for u in users],
            "role": f"instructor:course:{course.id}",
            "video": str(video.id),
            "quiz": str(quiz.id),
            "path": str(path.id),
            "letters": [(str(d.id), str(d.event_id)) for d in letters],
            "flagged": str(thread.id),
        }

    made = on_platform(go)
    kids = [ok("keys", "rotate").stdout.strip() for _ in range(2)]
    letter_ids = [i for i, _ in made["letters"]]
    return {
        "users": Listing(("users", "list"), "id", frozenset(made["users"]), (*made["users"], *EMAILS, made["role"])),
        "orgs": Listing(("orgs", "list"), "id", frozenset([made["org"]]), (made["org"], ORG_SLUG)),
        "courses": Listing(("courses", "list"), "slug", frozenset([COURSE_SLUG]), (made["course"], COURSE_SLUG)),
        "enrollments": Listing(
            ("enrollments", "list", COURSE_SLUG), "user_id", frozenset(made["users"]), (*made["users"], *EMAILS)
        ),
        "videos": Listing(("videos", "list"), "id", frozenset([made["video"]]), (made["video"], made["course"])),
        "quizzes": Listing(("quizzes", "list", COURSE_SLUG), "id", frozenset([made["quiz"]]), (made["quiz"],)),
        "paths": Listing(("paths", "list"), "id", frozenset([made["path"]]), (made["path"], PATH_SLUG)),
        "keys": Listing(("keys", "list"), "kid", frozenset(kids), tuple(kids)),
        "dead-letters": Listing(
            ("events", "dlq", "list"),
            "id",
            frozenset(letter_ids),
            (*letter_ids, *(event_id for _, event_id in made["letters"])),
        ),
        "moderation-queue": Listing(
            ("discussion", "moderation-queue", COURSE_SLUG),
            "post_id",
            frozenset([made["flagged"]]),
            (made["flagged"], "advertising"),
        ),
    }


async def _empty(url: str) -> None:
    db = Database(url)
    try:
        await truncate_all(db)
    finally:
        await db.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, dict[str, Listing]]]:
    """The seeded database the CLI is pointed at: a SQLite file, then the session's PostgreSQL database
    (emptied before and after, as the other modules expect to find it)."""
    directory = tmp_path_factory.mktemp("cli-output")
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / 'elearning.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        asyncio.run(_empty(url))
    with pytest.MonkeyPatch.context() as patch:
        isolate_cli_env(patch, directory, url)
        ok("db", "upgrade")
        listings = _seed(url)
    yield url, directory, listings
    if request.param != "sqlite":
        asyncio.run(_empty(url))


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, seeded: tuple[str, Path, dict[str, Listing]]) -> None:
    url, directory, _ = seeded
    isolate_cli_env(monkeypatch, directory, url)


@pytest.fixture(params=LIST_COMMANDS)
def listing(request: pytest.FixtureRequest, seeded: tuple[str, Path, dict[str, Listing]]) -> Listing:
    return seeded[2][request.param]


def as_json(listing: Listing) -> list[dict[str, Any]]:
    result = ok(*listing.args, "-o", "json")
    rows = json.loads(result.stdout)  # stdout is the document and nothing else
    assert isinstance(rows, list)
    assert all(isinstance(row, dict) for row in rows)
    return rows


# -- json -------------------------------------------------------------------------------------------


def test_json_is_one_array_of_objects_with_stable_keys_string_ids_and_iso_times(listing: Listing) -> None:
    rows = as_json(listing)
    assert {row[listing.key] for row in rows} >= listing.ids
    keys = list(rows[0])
    assert all(list(row) == keys for row in rows), "every object has the same keys in the same order"
    for row in rows:
        for key, value in row.items():
            if key == "id" or key.endswith("_id"):
                assert value is None or isinstance(value, str), (key, value)
            if key.endswith("_at") and value is not None:
                assert datetime.fromisoformat(value).utcoffset() is not None, (key, value)
    assert as_json(listing) == rows  # the same rows print the same document


def test_json_of_nothing_is_an_empty_array_and_notes_go_to_stderr() -> None:
    result = ok("users", "list", "--search", "nobody-has-this", "-o", "json")
    assert json.loads(result.stdout) == []
    limited = ok("users", "list", "--limit", "1", "-o", "json")
    assert len(json.loads(limited.stdout)) == 1
    assert "Showing the first 1 accounts" in limited.stderr


# -- csv --------------------------------------------------------------------------------------------


def test_csv_has_the_json_keys_as_header_and_a_row_per_item(listing: Listing) -> None:
    rows = as_json(listing)
    text = ok(*listing.args, "-o", "csv").stdout_bytes.decode()  # .stdout would turn \r\n into \n
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")  # RFC 4180 line ends (no cell here holds a line break)
    header, *records = list(csv.reader(io.StringIO(text, newline="")))
    assert header == list(rows[0])
    assert len(records) == len(rows)
    column = header.index(listing.key)
    assert {record[column] for record in records} >= listing.ids
    assert [record[column] for record in records] == [row[listing.key] for row in rows]


def test_csv_cells_are_plain_text_in_a_spreadsheet(seeded: tuple[str, Path, dict[str, Listing]]) -> None:
    text = ok("users", "list", "-o", "csv").stdout_bytes.decode()
    header, *records = list(csv.reader(io.StringIO(text, newline="")))
    by_email = {record[header.index("email")]: dict(zip(header, record, strict=True)) for record in records}
    formula, ada = by_email[EMAILS[1]], by_email[EMAILS[0]]
    assert formula["name"] == "'" + FORMULA_NAME  # not run as a formula when opened
    assert (ada["email_verified"], ada["suspended_reason"]) == ("true", "")
    assert ada["roles"] == seeded[2]["users"].whole[-1]
    course = json.loads(ok("courses", "list", "-o", "json").stdout)
    (listed,) = [c for c in course if c["slug"] == COURSE_SLUG]
    assert listed["sections"] == 1  # numbers stay numbers in JSON


# -- table ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [60, 200])
def test_tables_never_cut_or_wrap_ids(listing: Listing, columns: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    table = ok(*listing.args).stdout
    assert "┃" in table  # drawn as a table
    for identifier in listing.whole:
        assert identifier in table, f"{identifier} is cut in\n{table}"
    if columns == 200:
        assert max(len(line) for line in table.splitlines()) <= columns  # wide terminals hold the whole table


# -- the option itself -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", LIST_COMMANDS)
def test_an_unknown_format_is_one_line_and_exits_non_zero(
    command: str, seeded: tuple[str, Path, dict[str, Listing]]
) -> None:
    args = seeded[2][command].args
    result = invoke(*args, "--output", "xml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert error_lines(result) == ["error: unknown output format 'xml': use one of table, json, csv"]
    assert json.loads(ok(*args, "-o", "JSON").stdout)  # any case


def _commands() -> Iterator[tuple[str, Any]]:
    def walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
        yield " ".join(path), command
        # Through the group's own interface: the root imports its groups only when asked for one.
        for name in command.list_commands(None) if hasattr(command, "list_commands") else []:
            yield from walk(command.get_command(None, name), (*path, name))

    yield from walk(get_command(app), ())


def _takes_a_bool(param: Any) -> bool:
    annotation = param.type_descriptor.annotation
    return annotation is bool or bool in typing.get_args(annotation)


def test_every_command_help_shows_flags_not_boolean_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    checked = 0
    for path, command in _commands():
        for param in command.params:
            if _takes_a_bool(param):  # a bool is a flag: never an argument, never an option taking a value
                assert param.param_type_name == "option", (path, param.opts)
                assert param.is_flag, (path, param.opts)
        help_text = ok(*path.split(), "--help").stdout
        assert "BOOLEAN" not in help_text.upper(), path
        assert "<bool>" not in help_text.lower(), path
        assert "true|false" not in help_text.lower(), path
        checked += 1
    assert checked > 40  # every group and command, not just the root


def test_every_list_and_status_command_takes_the_output_option() -> None:
    lists = [(path, command) for path, command in _commands() if path.endswith(" list")]
    assert {path for path, _ in lists} == {
        "users list",
        "orgs list",
        "courses list",
        "enrollments list",
        "videos list",
        "quizzes list",
        "paths list",
        "certificates list",
        "keys list",
        "jobs list",
        "events dlq list",
        "plans list",
        "subscriptions list",
        "coupons list",
        "orders list",
        "analytics lrs-credentials list",
    }
    statuses = [(path, command) for path, command in _commands() if path in ("outbox status", "db current")]
    for path, command in [*lists, *statuses]:
        options = {opt for param in command.params for opt in param.opts}
        assert {"--output", "-o"} <= options, path
        assert "--json" not in options, path


def test_the_video_status_json_is_the_list_object(seeded: tuple[str, Path, dict[str, Listing]]) -> None:
    (video_id,) = seeded[2]["videos"].ids
    (listed,) = [v for v in as_json(seeded[2]["videos"]) if v["id"] == video_id]
    assert json.loads(ok("videos", "status", video_id, "--json").stdout) == listed
    assert uuid.UUID(listed["course_id"])


# -- statuses: one record ----------------------------------------------------------------------------


@pytest.mark.parametrize("args", [("outbox", "status"), ("db", "current")])
def test_a_status_is_one_object_in_json_and_one_row_in_csv(
    args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    record = json.loads(ok(*args, "-o", "json").stdout)
    assert isinstance(record, dict)
    assert record["database"].split("://")[0] in ("sqlite+aiosqlite", "postgresql+psycopg")
    header, row = list(csv.reader(io.StringIO(ok(*args, "-o", "csv").stdout_bytes.decode(), newline="")))
    assert header == list(record)
    assert row[header.index("database")] == record["database"]
    monkeypatch.setenv("COLUMNS", "60")
    assert record["database"] in ok(*args).stdout  # the long database URL stays whole
    assert invoke(*args, "-o", "yaml").exit_code == 2


def test_status_records_say_what_a_monitor_needs() -> None:
    schema = json.loads(ok("db", "current", "-o", "json").stdout)
    assert schema["pending"] is False
    assert schema["current_revision"] == schema["head_revision"] is not None
    outbox = json.loads(ok("outbox", "status", "-o", "json").stdout)
    assert all(isinstance(outbox[key], int) for key in ("pending", "failing", "published_last_minute", "total"))
    assert outbox["total"] >= outbox["pending"]
