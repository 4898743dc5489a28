"""Seats under real concurrency: 100 learners enrolling at once into 10 seats, through the service,
each request its own unit of work and transaction (PostgreSQL: truly overlapping ones; SQLite: queued)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from elearning_adapters.container import Platform, bootstrap
from elearning_adapters.settings import Settings
from elearning_adapters.sql.enrollment import enrollments
from elearning_core.auth.service import user_principal
from elearning_core.enrollment.commands import CreateCohort, EnrollmentSettings
from elearning_core.enrollment.model import EnrollmentRefused, RefusalReason
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.ports import SYSTEM, Principal
from tests.conftest import truncate_all
from tests.e2e.http_helpers import course_spec


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'elearning.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    # A hundred transactions queue on one course's seat row: the API's time limits (2 s of lock wait, 5 s a
    # statement) are not what these tests are about (the last waiter passed them once in CI), the seat count is.
    return Settings(
        database_url=url, data_dir=tmp_path, db_pool_size=20, db_lock_timeout_ms=30_000, db_statement_timeout_ms=60_000
    )


@pytest.fixture
async def platform(settings: Settings) -> AsyncIterator[Platform]:
    async with await bootstrap(settings, run_migrations=settings.is_sqlite, start_keys=False) as platform:
        if not settings.is_sqlite:
            await truncate_all(platform.database)
        yield platform


async def learners(platform: Platform, count: int) -> list[Principal]:
    async def one(n: int) -> Principal:
        email = f"learner-{n}-{uuid.uuid4().hex[:6]}@example.org"
        user = await platform.identity.create_user(SYSTEM, CreateUser(email=email, display_name=f"Learner {n}"))
        return user_principal(user.id, (), None, email_verified=user.email_verified)

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def a_course(platform: Platform, capacity: int | None) -> uuid.UUID:
    (course,) = await platform.courses.import_courses(SYSTEM, [course_spec(f"seats-{uuid.uuid4().hex[:8]}")])
    await platform.enrollments.update_settings(SYSTEM, course.id, EnrollmentSettings(capacity=capacity))
    return course.id


async def active(platform: Platform, course_id: uuid.UUID, cohort_id: uuid.UUID | None = None) -> int:
    query = select(func.count()).where(enrollments.c.course_id == course_id, enrollments.c.status == "active")
    if cohort_id is not None:
        query = query.where(enrollments.c.cohort_id == cohort_id)
    async with platform.database.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_hundred_simultaneous_enrollments_into_ten_seats_give_exactly_ten(platform: Platform) -> None:
    course_id = await a_course(platform, capacity=10)
    people = await learners(platform, 100)
    results = await asyncio.gather(
        *(platform.enrollments.self_enroll(who, course_id) for who in people), return_exceptions=True
    )
    enrolled = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if not isinstance(r, tuple)]
    assert len(enrolled) == 10
    assert len(refused) == 90
    assert all(isinstance(r, EnrollmentRefused) and r.reason is RefusalReason.COURSE_FULL for r in refused), refused
    assert await active(platform, course_id) == 10


async def test_a_cohort_never_overbooks_either(platform: Platform) -> None:
    course_id = await a_course(platform, capacity=None)
    cohort = await platform.enrollments.create_cohort(SYSTEM, course_id, CreateCohort(name="First", capacity=5))
    people = await learners(platform, 40)
    results = await asyncio.gather(
        *(platform.enrollments.self_enroll(who, course_id, cohort.id) for who in people[:30]),
        *(platform.enrollments.enroll(SYSTEM, course_id, who.user_id, cohort.id) for who in people[30:]),  # type: ignore[arg-type]
        return_exceptions=True,
    )
    refused = [r for r in results if not isinstance(r, tuple)]
    assert len(refused) == 35
    assert all(isinstance(r, EnrollmentRefused) and r.reason is RefusalReason.COHORT_FULL for r in refused), refused
    assert await active(platform, course_id, cohort.id) == 5


async def test_the_same_learner_enrolling_ten_times_at_once_gets_one_enrollment(platform: Platform) -> None:
    course_id = await a_course(platform, capacity=3)
    (ada,) = await learners(platform, 1)
    results = await asyncio.gather(*(platform.enrollments.self_enroll(ada, course_id) for _ in range(10)))
    assert len({enrollment.id for enrollment, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert await active(platform, course_id) == 1
