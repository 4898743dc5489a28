"""Shared plumbing for the HTTP end-to-end tests: a running app on a real database, and problem checks.

The app is built the way a deployment builds it (``bootstrap(settings)`` then
``create_app(container=...)``) and driven through Litestar's ASGI test client,
so every request crosses routing, auth, validation, the exception mapping,
the middleware and the SQL adapters.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from elearning_adapters.container import Platform, bootstrap
from elearning_adapters.search.projection import refresh_course
from elearning_adapters.settings import Settings
from elearning_core.course.commands import CourseSpec, LessonSpec, SectionSpec
from elearning_core.course.queries import CourseOutline
from elearning_core.shared.ports import SYSTEM
from elearning_http.app import create_app
from elearning_http.observability import configure_logging
from tests.conftest import migrated_sqlite_if_new, truncate_all

if TYPE_CHECKING:
    from tests.seaweedfs import SeaweedS3

ADMIN_TOKEN = "e2e-admin-token-7f3a"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
COURSES = "/api/v1/courses"
PROBLEM_JSON = "application/problem+json"

# The same tests run on the embedded SQLite file and on PostgreSQL.
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

Json = dict[str, Any]


SLACK_DEADLINES: dict[str, Any] = {
    "db_lock_timeout_ms": 30_000,
    "db_statement_timeout_ms": 60_000,
}
"""The database deadlines of the tests' settings. As with the overload limits, the API's (a 2 s lock wait) are
not what most tests test: a CI machine running both test workers beside a PostgreSQL serving the other worker's
load has kept a request waiting past the lock wait. The connection checkout keeps the API's 5 s: the 503
`pool-timeout` once blamed on load was the read pool not yet connected (``open_read_pool``). The tests of the
deadlines set their own (test_http_deadlines.py, tests/integration/test_db_deadlines.py)."""


def settings_for(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Test settings: our admin token, no access log unless asked, files kept under ``data_dir``."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,  # the SQLite cursor secret lands here, never in the working tree
        "admin_token": ADMIN_TOKEN,
        "access_log": False,
        # Tests send bursts (100 enrollments at once) and hundreds of requests a minute with one token from
        # one address; the overload limits they do not test must not refuse them (tests/e2e/test_http_overload.py
        # sets its own).
        "max_in_flight": 10_000,
        "rate_limit_per_token": 1_000_000,
        "rate_limit_per_ip": 1_000_000,
        **SLACK_DEADLINES,
    }
    return Settings(**(values | overrides))


def s3_settings_for(directory: Path, seaweedfs: SeaweedS3, bucket: str, **overrides: Any) -> Settings:
    """Test settings on a SQLite file in ``directory`` with the object store in ``bucket`` (created here) of
    the session's SeaweedFS (``tests.seaweedfs``)."""
    seaweedfs.client().create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    return settings_for(
        f"sqlite+aiosqlite:///{directory / 'elearning.db'}",
        directory,
        storage_backend="s3",
        s3_endpoint_url=seaweedfs.endpoint,
        s3_bucket=bucket,
        s3_access_key_id=seaweedfs.access_key,
        s3_secret_access_key=seaweedfs.secret_key,
        **overrides,
    )


@dataclass
class Api:
    """A client for a running app, plus the platform behind it (for seeding and row counts)."""

    client: AsyncTestClient[Any]
    platform: Platform

    # -- writes through HTTP, each asserting it worked ----------------------------------

    async def create(self, title: str = "Intro to Python", **fields: Any) -> Json:
        response = await self.client.post(COURSES, json={"title": title, **fields}, headers=ADMIN)
        assert response.status_code == 201, response.text
        return response.json()

    async def add_section(self, course_id: str, title: str, position: int | None = None) -> Json:
        body: Json = {"title": title} if position is None else {"title": title, "position": position}
        response = await self.client.post(f"{COURSES}/{course_id}/sections", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        return response.json()

    async def add_lesson(self, course_id: str, section_id: str, title: str, position: int | None = None) -> Json:
        body: Json = {"title": title} if position is None else {"title": title, "position": position}
        url = f"{COURSES}/{course_id}/sections/{section_id}/lessons"
        response = await self.client.post(url, json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        return response.json()

    async def publish(self, course_id: str) -> Json:
        response = await self.client.post(f"{COURSES}/{course_id}/publish", headers=ADMIN)
        assert response.status_code == 200, response.text
        return response.json()

    async def course_with_outline(self, title: str = "Intro to Python", **fields: Any) -> Json:
        """A draft with two sections: "Basics" (Variables, Loops, Functions) and "More" (Classes)."""
        course = await self.create(title, **fields)
        basics = await self.add_section(course["id"], "Basics")
        for lesson in ("Variables", "Loops", "Functions"):
            await self.add_lesson(course["id"], basics["id"], lesson)
        more = await self.add_section(course["id"], "More")
        await self.add_lesson(course["id"], more["id"], "Classes")
        return await self.outline(course["id"])

    # -- reads -------------------------------------------------------------------------

    async def outline(self, course_id: str) -> Json:
        """The course as the admin sees it (drafts included)."""
        response = await self.client.get(f"{COURSES}/{course_id}", headers=ADMIN)
        assert response.status_code == 200, response.text
        return response.json()

    async def row_counts(self) -> dict[str, int]:
        """Rows per table, to prove a refused request wrote nothing (no state, no outbox event)."""
        tables = ("courses", "course_sections", "course_lessons", "outbox")
        query = "SELECT " + ", ".join(f"(SELECT count(*) FROM {table})" for table in tables)
        async with self.platform.database.read() as conn:
            row = (await conn.execute(text(query))).one()
        return dict(zip(tables, row, strict=True))

    async def snapshot(self, course_id: str) -> tuple[CourseOutline, dict[str, int]]:
        """The course as stored plus the row counts: equal snapshots mean a request changed nothing.

        Read through the platform rather than HTTP: the same catalog query, at a
        fraction of the cost, since table-driven tests take one after every case.
        """
        outline = await self.platform.courses.get_outline(SYSTEM, uuid.UUID(course_id))
        return outline, await self.row_counts()

    async def reset(self) -> Api:
        """Empty every table, so each test starts from a blank catalog on the shared app."""
        await truncate_all(self.platform.database)
        return self

    # -- seeding through the platform (fast; one transaction per course) --------------

    async def seed(self, *specs: CourseSpec) -> list[str]:
        """Import each spec in its own transaction, so published courses get distinct publish times."""
        ids = []
        for spec in specs:
            (course,) = await self.platform.courses.import_courses(SYSTEM, [spec])
            ids.append(str(course.id))
        # The catalog's ``q`` reads the search index: index them now, as the search projection would
        # (without running every other subscription's handlers on the seeded events).
        engine = self.platform.container.search.index()
        async with self.platform.database.write() as conn, conn.begin():
            for course_id in ids:
                await refresh_course(conn, engine, uuid.UUID(course_id))
        return ids


def course_spec(slug: str, *, status: str = "published", lessons: int = 1, **fields: Any) -> CourseSpec:
    """An import record with one section of ``lessons`` lessons (publishable when lessons >= 1)."""
    fields.setdefault("title", slug.replace("-", " ").title())
    section = SectionSpec(title="Section 1", lessons=[LessonSpec(title=f"Lesson {i + 1}") for i in range(lessons)])
    return CourseSpec(slug=slug, status=status, sections=[section], **fields)


def backend_settings(request: pytest.FixtureRequest, directory: Path, **overrides: Any) -> Settings:
    """Settings for the backend named by ``request.param``: a SQLite file in ``directory``, or the session's PostgreSQL.

    Call it from a synchronous fixture: the PostgreSQL fixture migrates with
    ``asyncio.run`` and cannot start inside a running event loop.
    """
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / 'elearning.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    return settings_for(url, directory, **overrides)


async def open_read_pool(app: Api) -> None:
    """On PostgreSQL, open the psycopg read pool on the calling (test) loop and wait until it holds its first
    connection; nothing on SQLite.

    Fixtures open it here so that it also closes here, on their teardown. It must be ready before the first
    request: Litestar's AsyncTestClient serves each request on its portal's thread while it blocks this loop, so
    the pool's connector tasks (on this loop) cannot connect during a request, and a request that needed the
    first connection (any user's request: the principal is a hot read) waited out the whole pool timeout and was
    answered 503 ``pool-timeout``. CI saw that on the first requests of a module while the machine was loaded
    (tests/e2e/test_http_checkout.py, test_http_notifications.py); a pool opened just before a user's request
    showed it every time."""
    if app.platform.settings.is_sqlite:
        return
    await (await app.platform.database.read_pool()).wait(timeout=30)


@asynccontextmanager
async def serve(
    settings: Settings,
    *,
    run_migrations: bool | None = None,
    before_app: Callable[[Platform], None] | None = None,
) -> AsyncIterator[Api]:
    """Run the app on ``settings``: a SQLite file is migrated, PostgreSQL (migrated per session) is emptied.

    Logging is set up as the server sets it up (JSON lines on stdout), and the
    root logger restored afterwards.
    The ASGI client's lifespan runs the app's shutdown hook (disposing the
    engine); the platform is closed after it either way.
    """
    root, client_log = logging.getLogger(), logging.getLogger("httpx")
    saved_handlers, saved_level, saved_client_level = root.handlers[:], root.level, client_log.level
    client_log.setLevel(logging.WARNING)  # one INFO line per test request is noise, and slow
    migrate = settings.is_sqlite if run_migrations is None else run_migrations
    if migrate and run_migrations is None and not settings.is_memory:
        # A new SQLite file: a copy of a migrated one is the same, and much quicker.
        migrate = not migrated_sqlite_if_new(Path(str(make_url(settings.resolved_database_url).database)))
    platform = await bootstrap(settings, run_migrations=migrate)
    try:
        if not settings.is_sqlite and run_migrations is None:
            await truncate_all(platform.database)
        if migrate or run_migrations is None:
            # On this loop, not on the test client's lifespan loop (an unreachable database skips it).
            await platform.start_keys()
        configure_logging(settings.log_level, json_lines=settings.log_json)
        # Litestar's test client runs lifespan hooks on a loop of its own, which must not own the
        # in-process event transport: tests that need events drive ``platform.events`` on theirs.
        if before_app is not None:
            before_app(platform)  # e.g. override a provider before the app resolves its services
        app = create_app(container=platform.container, run_events=False)
        async with AsyncTestClient(app) as client:
            yield Api(client=client, platform=platform)
    finally:
        await platform.aclose()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        client_log.setLevel(saved_client_level)


def assert_problem(response: httpx.Response, status: int, *, field: str | None = None) -> Json:
    """An RFC 9457 problem document with ``status``; for 422, an ``errors`` entry naming ``field``."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers["content-type"]
    body = response.json()
    missing = {"type", "title", "status", "detail"} - body.keys()
    assert not missing, f"problem document lacks {missing}: {body}"
    assert body["status"] == status
    assert body["title"] == HTTPStatus(status).phrase
    assert body["type"].startswith("urn:elearning:problem:"), body["type"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    if field is not None:
        # An item of a list field is named by its index ("tags.0"); that still names the field.
        fields = [error["field"] for error in body.get("errors", [])]
        assert any(f == field or f.startswith(f"{field}.") for f in fields), f"no error names {field!r}: {body}"
        assert all(error["message"] for error in body["errors"])
    return body


class Checks:
    """Collects failed cases of a table-driven test, so one run reports every failing case, not just the first."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.ran = 0

    @contextmanager
    def case(self, name: str) -> Iterator[None]:
        self.ran += 1
        try:
            yield
        except AssertionError as exc:
            self.failures.append(f"{name}: {exc}")

    def verify(self) -> None:
        assert self.ran, "no case ran"
        assert not self.failures, f"{len(self.failures)} of {self.ran} cases failed:\n" + "\n".join(self.failures)


def random_id() -> str:
    return str(uuid.uuid4())
