"""Derived slugs under real concurrency: many creates of one title at once each get their own ``base-N``.

On PostgreSQL the transactions truly overlap, so several pick the same free suffix; the unique slug
refuses all but one at commit and the others look again. On SQLite writers queue, which is the easy case.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from elearning_adapters.container import Platform, bootstrap
from elearning_adapters.settings import Settings
from elearning_core.course.commands import CreateCourse
from elearning_core.course.queries import CatalogFilter
from elearning_core.shared.ports import SYSTEM
from tests.conftest import truncate_all
from tests.e2e.http_helpers import SLACK_DEADLINES

CREATES = 8


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'elearning.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    return Settings(database_url=url, data_dir=tmp_path, db_pool_size=20, **SLACK_DEADLINES)


@pytest.fixture
async def platform(settings: Settings) -> AsyncIterator[Platform]:
    async with await bootstrap(settings, run_migrations=settings.is_sqlite, start_keys=False) as platform:
        if not settings.is_sqlite:
            await truncate_all(platform.database)
        yield platform


async def test_concurrent_creates_of_one_title_get_distinct_suffixes(platform: Platform) -> None:
    created = await asyncio.gather(
        *(platform.courses.create(SYSTEM, CreateCourse(title="Intro to Python")) for _ in range(CREATES))
    )
    expected = {"intro-to-python", *(f"intro-to-python-{n}" for n in range(2, CREATES + 1))}
    assert {course.slug for course in created} == expected
    page = await platform.courses.list_courses(SYSTEM, CatalogFilter(status=None), limit=50)
    assert sorted(c.slug for c in page.items) == sorted(expected)
