"""The admin CLI as an admin uses it: real commands on a real SQLite file (and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from elearning_adapters.container import bootstrap
from elearning_adapters.settings import Settings
from elearning_adapters.sql import migrate
from elearning_adapters.sql.engine import Database
from elearning_cli import _server as server_runtime
from elearning_cli import courses as courses_module
from elearning_cli import serve as serve_module
from elearning_cli._common import CliError
from elearning_core.course.queries import CatalogFilter
from elearning_core.shared.ports import SYSTEM
from tests.conftest import _libpq, truncate_all
from tests.e2e.cli_helpers import error_lines, invoke, ok

COURSES: list[dict[str, Any]] = [
    {
        "slug": "intro-to-python",
        "title": "Intro to Python",
        "summary": "Start here",
        "language": "en",
        "level": "beginner",
        "tags": ["python", "basics"],
        "status": "published",
        "sections": [
            {"title": "Getting started", "lessons": [{"title": "Install"}, {"title": "Hello, world"}]},
            {"title": "Types", "lessons": [{"title": "Numbers"}]},
        ],
    },
    {
        "id": str(uuid.UUID("01900000-0000-7000-8000-000000000001")),
        "slug": "sql-deep-dive",
        "title": "SQL [deep] dive",
        "description": "Joins, windows and indexes.",
        "language": "pt-br",
        "level": "advanced",
        "status": "draft",
        "sections": [{"title": "Joins", "lessons": []}],
    },
    {"slug": "retired-course", "title": "Retired", "status": "archived"},
]


# -- helpers -----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> str:
    """Every test runs on its own SQLite file, with wide tables and no stray configuration."""
    for name in list(os.environ):
        if name.startswith("ELEARNING_") and name != "ELEARNING_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("ELEARNING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ELEARNING_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COLUMNS", "200")
    # `serve` hands these to the server processes through os.environ: registered here so each test undoes them.
    for name in ("ELEARNING_ADMIN_TOKEN", "ELEARNING_WORKERS"):
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    return sqlite_url


def use_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("ELEARNING_DATABASE_URL", url)


def write_json(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def count_courses(url: str) -> int:
    async def count() -> int:
        async with await bootstrap(Settings(database_url=url), run_migrations=False) as platform:
            page = await platform.courses.list_courses(SYSTEM, CatalogFilter(status=None), limit=100)
            return len(page.items)

    return asyncio.run(count())


def export_records(*extra: str) -> list[dict[str, Any]]:
    return sorted(json.loads(ok("courses", "export", *extra).stdout)["courses"], key=lambda c: c["slug"])


# -- help --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["serve", "db", "courses", "ELEARNING_DATABASE_URL"]),
        (["db"], ["upgrade", "downgrade", "current"]),
        (["courses"], ["list", "import", "export"]),
        (["courses", "list"], ["--status", "--language", "--level", "--tag", "--search", "--limit", "--output"]),
        (["courses", "import"], ["FILE", "--dry-run", "one transaction"]),
        (["courses", "export"], ["--output", "--status"]),
        (["db", "downgrade"], ["REVISION", "--yes"]),
        (["serve"], ["--host", "--port", "--workers"]),
    ],
)
def test_help_describes_every_group_and_command(args: list[str], expected: list[str]) -> None:
    result = ok(*args, "--help")
    for word in expected:
        assert word in result.stdout


def test_version_and_usage_errors() -> None:
    assert ok("--version").stdout.startswith("elearning ")
    assert invoke("db", "downgrade").exit_code == 2  # the revision is required
    assert invoke("courses", "list", "--status", "hidden").exit_code == 2


# -- db ----------------------------------------------------------------------------


def test_db_upgrade_current_downgrade_upgrade(sqlite_url: str) -> None:
    head = migrate.head_revision()
    assert head is not None

    before = ok("db", "current").stdout
    assert "none (empty schema)" in before
    assert "not created" in before

    assert f"to {head}" in ok("db", "upgrade").stderr
    assert "nothing to do" in ok("db", "upgrade").stderr
    current = ok("db", "current").stdout
    assert re.search(rf"Current revision\s*│\s*{head}", current)
    assert "up to date" in current

    refused = invoke("db", "downgrade", "base", input="n\n")
    assert refused.exit_code == 1
    assert "Downgrade" in refused.output
    assert "up to date" in ok("db", "current").stdout

    assert "to none" in ok("db", "downgrade", "base", "--yes").stderr
    assert "none (empty schema)" in ok("db", "current").stdout
    assert count_tables(sqlite_url) == {"alembic_version"}

    ok("db", "upgrade")
    assert "up to date" in ok("db", "current").stdout


def count_tables(url: str) -> set[str]:
    import sqlite3

    path = make_url(url).database
    assert path is not None
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_db_upgrade_to_an_unknown_revision_is_one_line() -> None:
    result = invoke("db", "upgrade", "nope")
    assert result.exit_code == 1
    assert error_lines(result) == ["error: migration failed: Can't locate revision identified by 'nope'"]


# -- import, list, export ----------------------------------------------------------


def test_import_list_and_export_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ok("db", "upgrade")
    imported = ok("courses", "import", write_json(tmp_path / "courses.json", {"courses": COURSES}))
    assert "Imported 3 courses (3 sections, 3 lessons)" in imported.stderr
    assert "Writing to the database" in imported.stderr  # the progress bar, on stderr
    assert imported.stdout == ""

    table = ok("courses", "list").stdout
    rows = [line for line in table.splitlines() if "│" in line]
    assert len(rows) == 3
    python_row = next(r for r in rows if "intro-to-python" in r)
    assert re.search(
        r"Intro to Python\s*│\s*published\s*│\s*en\s*│\s*beginner\s*│\s*2\s*│\s*3\s*│\s*\d{4}-\d\d-\d\d", python_row
    )
    assert "SQL [deep] dive" in table  # user text is not taken for markup
    assert re.search(r"retired-course.*archived.*│ -", table)

    published = json.loads(ok("courses", "list", "--status", "published", "-o", "json").stdout)
    assert [c["slug"] for c in published] == ["intro-to-python"]
    assert [c["slug"] for c in json.loads(ok("courses", "list", "--level", "advanced", "-o", "json").stdout)] == [
        "sql-deep-dive"
    ]
    assert [c["slug"] for c in json.loads(ok("courses", "list", "--tag", "python", "-o", "json").stdout)] == [
        "intro-to-python"
    ]
    # --search reads the search index, which the import's events keep (under `serve` or a worker); none runs here
    ok("search", "reindex")
    assert [c["slug"] for c in json.loads(ok("courses", "list", "--search", "retired", "-o", "json").stdout)] == [
        "retired-course"
    ]
    assert "No courses match" in ok("courses", "list", "--language", "de").stderr

    exported_file = tmp_path / "export.json"
    assert "Exported 3 courses" in ok("courses", "export", "--output", str(exported_file)).stderr
    first = sorted(json.loads(exported_file.read_text())["courses"], key=lambda c: c["slug"])
    assert [c["slug"] for c in first] == ["intro-to-python", "retired-course", "sql-deep-dive"]
    assert first[2]["id"] == COURSES[1]["id"]
    assert [lesson["title"] for lesson in first[0]["sections"][0]["lessons"]] == ["Install", "Hello, world"]
    assert first[0]["tags"] == ["python", "basics"]

    use_database(monkeypatch, f"sqlite+aiosqlite:///{tmp_path / 'second.db'}")
    ok("db", "upgrade")
    ok("courses", "import", str(exported_file))
    assert export_records() == first


def test_export_to_stdout_is_clean_json_and_filters_by_status(tmp_path: Path) -> None:
    ok("db", "upgrade")
    ok("courses", "import", write_json(tmp_path / "c.json", COURSES))
    result = ok("courses", "export", "--status", "draft")
    assert [c["slug"] for c in json.loads(result.stdout)["courses"]] == ["sql-deep-dive"]
    assert "Exporting courses" in result.stderr


def test_import_reads_stdin(tmp_path: Path) -> None:
    ok("db", "upgrade")
    ok("courses", "import", "-", input=json.dumps(COURSES[:1]))
    assert [c["slug"] for c in export_records()] == ["intro-to-python"]


def test_listing_and_export_follow_cursors_up_to_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(courses_module, "PAGE_SIZE", 2)  # several pages without importing hundreds of courses
    ok("db", "upgrade")
    ok(
        "courses",
        "import",
        write_json(tmp_path / "many.json", [{"slug": f"course-{n}", "title": f"C{n}"} for n in range(5)]),
    )

    listed = ok("courses", "list", "--limit", "3", "-o", "json")
    assert len({c["slug"] for c in json.loads(listed.stdout)}) == 3
    assert "Showing the first 3 courses; more match" in listed.stderr
    everything = ok("courses", "list", "--limit", "10", "-o", "json")
    assert {c["slug"] for c in json.loads(everything.stdout)} == {f"course-{n}" for n in range(5)}
    assert "more match" not in everything.stderr
    assert len(export_records()) == 5


def bad_record_cases() -> list[Any]:
    good = {"slug": "good-course", "title": "Good"}
    return [
        pytest.param({"slug": "Bad Slug!", "title": "x"}, 'record 1 (slug "Bad Slug!"): slug: must be', id="bad-slug"),
        pytest.param(
            {"slug": "long-title", "title": "T" * 201},
            'record 1 (slug "long-title"): title: String should have at most 200 characters',
            id="too-long-title",
        ),
        pytest.param(
            {**good, "slug": "extra", "colour": "red"},
            'record 1 (slug "extra"): colour: unknown field',
            id="unknown-field",
        ),
        pytest.param(
            {"slug": "typed", "title": "t", "sections": [{"title": 5}]},
            'record 1 (slug "typed"): sections.0.title: Input should be a valid string',
            id="wrong-type",
        ),
        pytest.param(
            {**good, "title": "again"}, 'record 1 (slug "good-course"): slug: duplicates record 0', id="dup-in-file"
        ),
        pytest.param(
            {"slug": "already-there", "title": "x"},
            'record 1 (slug "already-there"): slug: a course with this slug already exists',
            id="slug-in-db",
        ),
        pytest.param(
            {"slug": "empty-published", "title": "x", "status": "published"},
            "record 1 (empty-published): a course needs at least one lesson",
            id="domain-rule",
        ),
    ]


@pytest.mark.parametrize(("bad", "message"), bad_record_cases())
def test_a_bad_record_rejects_the_whole_file(
    tmp_path: Path, sqlite_url: str, bad: dict[str, Any], message: str
) -> None:
    ok("db", "upgrade")
    ok("courses", "import", write_json(tmp_path / "existing.json", [{"slug": "already-there", "title": "Old"}]))
    records = [{"slug": "good-course", "title": "Good"}, bad, {"slug": "also-good", "title": "Fine"}]

    for extra in ([], ["--dry-run"]):
        result = invoke("courses", "import", write_json(tmp_path / "import.json", records), *extra)
        assert result.exit_code == 1
        assert message in result.stderr
        assert "nothing was imported" in result.stderr
        assert result.stdout == ""
    assert count_courses(sqlite_url) == 1


def test_every_invalid_record_is_reported_at_once(tmp_path: Path, sqlite_url: str) -> None:
    ok("db", "upgrade")
    records = [{"slug": f"bad-{n}", "title": "", "colour": "red"} for n in range(8)] + [17]
    result = invoke("courses", "import", write_json(tmp_path / "bad.json", records))
    assert result.exit_code == 1
    lines = error_lines(result)
    assert (
        lines[0]
        == "error: " + f"{tmp_path / 'bad.json'}: 9 of 9 records are invalid (numbered from 0); nothing was imported"
    )
    assert len(lines) == 1 + 10 + 1  # the first ten problems, then a count of the rest
    assert lines[1] == '  record 0 (slug "bad-0"): title: String should have at least 1 character'
    assert lines[2] == '  record 0 (slug "bad-0"): colour: unknown field'
    assert lines[-1].strip() == "... and 7 more problems"
    assert count_courses(sqlite_url) == 0


def test_dry_run_checks_everything_and_writes_nothing(tmp_path: Path, sqlite_url: str) -> None:
    ok("db", "upgrade")
    result = ok("courses", "import", "--dry-run", write_json(tmp_path / "c.json", COURSES))
    assert "Dry run" in result.stderr
    assert "3 courses (3 sections, 3 lessons)" in result.stderr
    assert count_courses(sqlite_url) == 0
    ok("courses", "import", str(tmp_path / "c.json"))
    assert count_courses(sqlite_url) == 3


def test_a_lesson_id_taken_in_the_database_fails_the_dry_run_too(tmp_path: Path, sqlite_url: str) -> None:
    ok("db", "upgrade")
    ok("courses", "import", write_json(tmp_path / "c.json", COURSES[:1]))
    lesson_id = export_records()[0]["sections"][0]["lessons"][0]["id"]
    clash = [
        {"slug": "other", "title": "Other", "sections": [{"title": "S", "lessons": [{"id": lesson_id, "title": "L"}]}]}
    ]
    for extra in (["--dry-run"], []):
        result = invoke("courses", "import", write_json(tmp_path / "clash.json", clash), *extra)
        assert result.exit_code == 1
        assert len(error_lines(result)) == 1
        assert "nothing was imported" in result.stderr
    assert count_courses(sqlite_url) == 1


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"slug": "abc",\n   "title": }\n]\n')
    result = invoke("courses", "import", str(path))
    assert result.exit_code == 1
    assert error_lines(result) == [f"error: {path} is not valid JSON: Expecting value (line 3, column 13)"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        (
            '{"items": []}',
            "expected a JSON array of courses or {\"courses\": [...]}, found an object with keys ['items']",
        ),
        ("42", "found a number"),
        (b"\xff\xfe[]", "is not UTF-8 text"),
    ],
)
def test_files_that_are_not_course_lists_are_refused(tmp_path: Path, content: str | bytes, message: str) -> None:
    path = tmp_path / "odd.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = invoke("courses", "import", str(path))
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1
    assert message in result.stderr


def test_missing_file_and_unwritable_output(tmp_path: Path) -> None:
    missing = invoke("courses", "import", str(tmp_path / "nope.json"))
    assert missing.exit_code == 1
    assert error_lines(missing) == [f"error: cannot read {tmp_path / 'nope.json'}: No such file or directory"]

    ok("db", "upgrade")
    unwritable = invoke("courses", "export", "--output", str(tmp_path / "no-dir" / "out.json"))
    assert unwritable.exit_code == 1
    assert "does not exist" in unwritable.stderr
    assert len(error_lines(unwritable)) == 1


def test_an_unmigrated_database_asks_for_db_upgrade(tmp_path: Path) -> None:
    for args in (
        ["courses", "list"],
        ["courses", "export"],
        ["courses", "import", write_json(tmp_path / "c.json", COURSES)],
    ):
        result = invoke(*args)
        assert result.exit_code == 1
        lines = error_lines(result)
        assert len(lines) == 1
        assert "has no schema yet; run `elearning db upgrade`" in lines[0]


def test_an_unreachable_database_is_one_line_without_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    use_database(monkeypatch, "postgresql+psycopg://admin:s3cret@127.0.0.1:1/elearning")
    for args in (["courses", "list"], ["db", "current"]):
        result = invoke(*args)
        assert result.exit_code == 1
        lines = error_lines(result)
        assert len(lines) == 1
        assert lines[0].startswith(
            "error: cannot use the database postgresql+psycopg://admin:***@127.0.0.1:1/elearning:"
        )
        assert "s3cret" not in result.output


def test_invalid_configuration_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELEARNING_PORT", "eighty")
    result = invoke("courses", "list")
    assert result.exit_code == 1
    assert error_lines(result) == [
        "error: invalid configuration: ELEARNING_PORT: Input should be a valid integer, unable to parse string as an integer"
    ]
    use_database(monkeypatch, "not a url")
    monkeypatch.delenv("ELEARNING_PORT")
    assert "invalid database URL" in invoke("courses", "list").stderr


# -- serve -------------------------------------------------------------------------


def test_serve_preflight_migrates_the_embedded_sqlite_database(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url)
    assert "migrated from revision none" in asyncio.run(serve_module.preflight(settings))
    assert "up to date" in asyncio.run(serve_module.preflight(settings))
    assert "up to date" in ok("db", "current").stdout


def test_serve_refuses_an_in_memory_database(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[object] = []
    monkeypatch.setattr(server_runtime, "run_server", lambda *a, **kw: started.append(a))
    use_database(monkeypatch, "sqlite+aiosqlite:///:memory:")
    result = invoke("serve")
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1
    assert "in-memory database" in result.stderr
    assert started == []


def test_serve_generates_an_admin_token_and_starts_uvicorn_by_import_string(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def fake_run(*args: Any, **kwargs: Any) -> None:
        calls.append((args, {**kwargs, "token_in_env": os.environ.get("ELEARNING_ADMIN_TOKEN")}))

    monkeypatch.setattr(server_runtime, "run_server", fake_run)
    # Registers the variable with monkeypatch, so what serve puts in os.environ is undone afterwards.
    monkeypatch.setenv("ELEARNING_ADMIN_TOKEN", "placeholder")
    monkeypatch.delenv("ELEARNING_ADMIN_TOKEN")
    result = ok("serve", "--host", "0.0.0.0", "--port", "8123", "--workers", "2")

    assert len(calls) == 1
    args, kwargs = calls[0]
    assert args == ("elearning_http.app:server_app",)
    token = kwargs.pop("token_in_env")
    assert kwargs == {
        "limits": server_runtime.ServerLimits(),  # the settings' defaults are the runtime's
        "host": "0.0.0.0",
        "port": 8123,
        "workers": 2,
        # No trusted proxies configured: uvicorn must not take the client address from forwarded headers.
        "proxy_headers": False,
        "forwarded_allow_ips": None,
    }
    assert token is not None
    assert len(token) >= 40
    assert token in result.stdout
    assert "Authorization: Bearer" in result.stdout
    assert "http://127.0.0.1:8123/schema" in result.stdout
    assert "migrated from revision none" in result.stderr


def test_serve_keeps_a_configured_admin_token_and_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(server_runtime, "run_server", lambda *a, **kw: calls.append(kw))
    monkeypatch.setenv("ELEARNING_ADMIN_TOKEN", "configured-token")
    monkeypatch.setenv("ELEARNING_PORT", "9001")
    result = ok("serve")
    assert calls[0]["host"] == "127.0.0.1"
    assert calls[0]["port"] == 9001
    assert calls[0]["workers"] == 1
    assert "configured-token" not in result.output
    assert "Admin token" not in result.output
    assert os.environ["ELEARNING_ADMIN_TOKEN"] == "configured-token"


# -- PostgreSQL --------------------------------------------------------------------


@pytest.fixture
def empty_postgres_url(postgres_url: str) -> Iterator[str]:
    """The session's PostgreSQL database seen through an empty schema: no tables, no migrations.

    (The shared database itself is already migrated; a schema is much cheaper than a database.)
    """
    schema = f"cli_{uuid.uuid4().hex[:10]}"
    libpq = _libpq(postgres_url)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.postgres
def test_import_list_export_on_postgres(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def empty() -> None:
        db = Database(postgres_url)
        try:
            await truncate_all(db)
        finally:
            await db.dispose()

    asyncio.run(empty())
    use_database(monkeypatch, postgres_url)
    ok("courses", "import", write_json(tmp_path / "c.json", COURSES))
    assert {c["slug"] for c in json.loads(ok("courses", "list", "-o", "json").stdout)} == {c["slug"] for c in COURSES}
    assert "intro-to-python" in ok("courses", "list", "--status", "published").stdout
    exported = export_records()

    again = invoke("courses", "import", str(tmp_path / "c.json"))
    assert again.exit_code == 1
    assert "3 records clash" in again.stderr
    assert count_courses(postgres_url) == 3

    use_database(monkeypatch, f"sqlite+aiosqlite:///{tmp_path / 'copy.db'}")
    ok("db", "upgrade")
    ok("courses", "import", "-", input=json.dumps({"courses": exported}))
    assert export_records() == exported


@pytest.mark.postgres
def test_serve_refuses_an_unmigrated_postgres_database(
    empty_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(CliError, match=r"no schema yet; run `elearning db upgrade` before `elearning serve`"):
        asyncio.run(serve_module.preflight(Settings(database_url=empty_postgres_url)))

    started: list[object] = []
    monkeypatch.setattr(server_runtime, "run_server", lambda *a, **kw: started.append(a))
    use_database(monkeypatch, empty_postgres_url)
    result = invoke("serve")
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1
    assert "run `elearning db upgrade`" in result.stderr
    assert started == []

    ok("db", "upgrade")
    assert "up to date" in asyncio.run(serve_module.preflight(Settings(database_url=empty_postgres_url)))
