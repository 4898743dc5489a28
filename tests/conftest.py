"""Shared fixtures: databases for every backend the platform supports.

PostgreSQL is required in CI (``CI`` set): if it cannot be reached there the
tests fail. Elsewhere they skip, saying why. Point the tests at another
server with ``ELEARNING_TEST_POSTGRES_URL``.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import shutil
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from elearning_adapters.settings import Settings
from elearning_adapters.sql import migrate
from elearning_adapters.sql.analytics import ANALYTICS_TABLES
from elearning_adapters.sql.assessment import ASSESSMENT_TABLES
from elearning_adapters.sql.billing import BILLING_TABLES
from elearning_adapters.sql.checkout import CHECKOUT_TABLES
from elearning_adapters.sql.discussion import DISCUSSION_TABLES
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.entitlement import ENTITLEMENT_TABLES
from elearning_adapters.sql.identity import IDENTITY_TABLES
from elearning_adapters.sql.learning_path import LEARNING_PATH_TABLES
from elearning_adapters.sql.notification import NOTIFICATION_TABLES
from elearning_adapters.sql.payment import PAYMENT_TABLES
from elearning_adapters.sql.progress import PROGRESS_TABLES
from elearning_adapters.sql.recommendation import RECOMMENDATION_TABLES
from elearning_adapters.sql.search import SEARCH_TABLES
from elearning_adapters.sql.subscription import SUBSCRIPTION_TABLES
from elearning_adapters.sql.video import VIDEO_TABLES

POSTGRES_ADMIN_URL = os.environ.get(
    "ELEARNING_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = bool(os.environ.get("CI"))
# Every table a test may write, children first. Not ``signing_keys``: a running app holds its key ring
# in memory, and tokens it signs must keep verifying after a test empties the tables.
ALL_TABLES = (
    *ANALYTICS_TABLES,
    *RECOMMENDATION_TABLES,
    *DISCUSSION_TABLES,
    *NOTIFICATION_TABLES,
    *SEARCH_TABLES,
    *CHECKOUT_TABLES,
    "seat_holds",
    *SUBSCRIPTION_TABLES,
    *ENTITLEMENT_TABLES,
    *PAYMENT_TABLES,
    *BILLING_TABLES,
    *PROGRESS_TABLES,
    *LEARNING_PATH_TABLES,
    *ASSESSMENT_TABLES,
    *VIDEO_TABLES,
    "credentials",
    "certificate_pending",
    "certificate_awards",
    "enrollments",
    "cohorts",
    "course_enrollment_settings",
    *IDENTITY_TABLES,
    "course_lessons",
    "course_sections",
    "course_tags",
    "course_versions",
    "courses",
    "dead_letters",
    "idempotency_keys",
    "scheduled_job_runs",
    "inbox",
    "outbox",
)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _postgres_unavailable() -> str | None:
    try:
        with psycopg.connect(_libpq(POSTGRES_ADMIN_URL), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {make_url(POSTGRES_ADMIN_URL).render_as_string()} is unreachable: {exc}".strip()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session (dropped at the end)."""
    reason = _postgres_unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {reason}")
        pytest.skip(reason)
    name = f"elearning_test_{uuid.uuid4().hex[:10]}"
    admin = _libpq(POSTGRES_ADMIN_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    async def _migrate() -> None:
        db = Database(url)
        try:
            await migrate.upgrade(db)
        finally:
            await db.dispose()

    try:
        # In a thread of its own: this fixture may be first requested from inside a running event loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _migrate()).result()
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_template_lock = threading.Lock()
_template: list[Path] = []


def migrated_sqlite(path: Path) -> str:
    """A migrated, empty SQLite database at ``path`` (a new file), and its URL.

    A copy of one file this test process migrated once: the same schema, for a file copy instead of a run
    of every migration (about half a second each, a minute or more over the suite). Callable from inside
    a running event loop.
    """
    with _template_lock:
        if not _template:
            template = Path(tempfile.mkdtemp(prefix="elearning-template-")) / "migrated.db"
            atexit.register(shutil.rmtree, template.parent, ignore_errors=True)

            async def _migrate() -> None:
                db = Database(f"sqlite+aiosqlite:///{template}")
                try:
                    await migrate.upgrade(db)
                finally:
                    await db.dispose()  # the last connection closed: the WAL is checkpointed into the file

            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, _migrate()).result()
            _template.append(template)
    assert not path.exists(), f"{path} exists: a template copy would replace it"
    shutil.copyfile(_template[0], path)
    return f"sqlite+aiosqlite:///{path}"


def migrated_sqlite_if_new(path: Path) -> bool:
    """``migrated_sqlite(path)`` unless the file exists (it is left alone then); whether it copied."""
    if path.exists():
        return False
    migrated_sqlite(path)
    return True


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'elearning.db'}"


async def truncate_all(db: Database) -> None:
    async with db.write() as conn:
        if db.is_sqlite:
            for table in ALL_TABLES:
                await conn.execute(text(f"DELETE FROM {table}"))
            # The FTS5 table is not on the metadata: left behind, its rows would clash with the rowids the
            # emptied search_documents hands out again.
            await conn.execute(text("DELETE FROM search_fts"))
        else:
            await conn.execute(text(f"TRUNCATE {', '.join(ALL_TABLES)} RESTART IDENTITY CASCADE"))
        await conn.commit()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database: a SQLite file, then PostgreSQL (the same tests run on both)."""
    if request.param == "sqlite":
        db = Database(migrated_sqlite(tmp_path / "elearning.db"))
    else:
        db = Database(request.getfixturevalue("postgres_url"))
        await truncate_all(db)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def memory_settings() -> Settings:
    return Settings.in_memory(admin_token="test-admin-token")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test gets a node id of its own, and a collection where two share one is refused.

    pytest 9.2 builds a test function's node id from its ``originalname`` and its parametrization, not
    from its name. Schemathesis names each of its items after the API operation (``test[GET /path]``)
    without parametrizing, so all of a fuzz test's items got the bare ``file::test`` id: pytest-xdist's
    ``--dist loadfile`` keys its work by node id, ran one item per id and dropped the rest without a word
    (484 of the 4,473 items, tests/e2e/test_openapi_fuzz.py). Such an item gets back the id its name gives
    (what pytest < 9.2 gave it); any id still shared stops the run instead of losing tests.
    """
    for item in items:
        named = f"{item.parent.nodeid}::{item.name}" if item.parent is not None else item.nodeid
        if isinstance(item, pytest.Function) and item.nodeid != named and hasattr(item, "_id"):
            item._id = type(item._id).parse(named)
            assert item.nodeid == named, (item.nodeid, named)
    shared = sorted(nodeid for nodeid, count in Counter(item.nodeid for item in items).items() if count > 1)
    if shared:
        raise pytest.UsageError(
            f"{len(shared)} node ids are shared by several tests (pytest-xdist would run one test of each): "
            + ", ".join(shared[:5])
        )
