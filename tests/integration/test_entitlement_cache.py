"""The entitlement check through its cache: a hit issues no SQL statement (counted, not timed), a cached
grant never outlives its end, and a refund committed by one process is seen by another's next check
(two platforms on one Redis; and a writer without the cache, through the event within a second)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from elearning_adapters.container import Platform, bootstrap
from elearning_adapters.settings import Settings
from elearning_core.entitlement.commands import ChangeGrant, GiveGrant, SetOffer
from elearning_core.entitlement.model import GrantStatus, Refusal, Source
from elearning_core.entitlement.service import EntitlementService
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.ports import SYSTEM, Principal
from tests.conftest import truncate_all
from tests.contract.test_cache import REDIS_URL, delete_prefix, require_redis
from tests.e2e.http_helpers import course_spec
from tests.integration.test_gating_queries import count_the_read_pool, counted


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'entitlements.db'}"


async def _platform(url: str, tmp_path: Path, **settings: object) -> Platform:
    sqlite = url.startswith("sqlite")
    built = await bootstrap(Settings(database_url=url, data_dir=tmp_path, **settings), run_migrations=sqlite)
    return built


@pytest.fixture
async def platform(database_url: str, tmp_path: Path) -> AsyncIterator[Platform]:
    built = await _platform(database_url, tmp_path, cache="memory")
    if not built.database.is_sqlite:
        await truncate_all(built.database)
    try:
        yield built
    finally:
        await built.aclose()


async def paid_course_with_learner(platform: Platform) -> tuple[uuid.UUID, Principal]:
    [course] = await platform.courses.import_courses(SYSTEM, [course_spec(f"paid-{uuid.uuid4().hex[:8]}")])
    user = await platform.identity.create_user(
        SYSTEM, CreateUser(email=f"{uuid.uuid4().hex[:8]}@example.org", display_name="Ada")
    )
    await platform.entitlements.set_offer(SYSTEM, course.id, SetOffer(paid=True))
    await platform.enrollments.enroll(SYSTEM, course.id, user.id)
    learner = Principal(subject=f"user:{user.id}", roles=frozenset({"learner"}), user_id=user.id)
    return course.id, learner


async def test_a_check_on_a_cache_hit_issues_no_sql_statement(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    course_id, learner = await paid_course_with_learner(platform)
    assert learner.user_id is not None
    await platform.entitlements.give(SYSTEM, GiveGrant(user_id=learner.user_id, course_id=course_id))
    log: list[str] = []
    await count_the_read_pool(platform, log, monkeypatch)
    with counted(platform, log) as first:
        verdict = await platform.entitlements.check(learner, course_id)
    assert (verdict.allowed, verdict.source) == (True, Source.PURCHASED)
    assert first, "the first check reads the database"
    with counted(platform, log) as again:
        verdict = await platform.entitlements.check(learner, course_id)
    assert (verdict.allowed, verdict.source) == (True, Source.PURCHASED)
    assert again == []


async def test_a_cached_grant_never_outlives_its_end(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    course_id, learner = await paid_course_with_learner(platform)
    assert learner.user_id is not None
    now = platform.container.adapters.clock().now()
    ends = now + timedelta(hours=1)
    await platform.entitlements.give(
        SYSTEM, GiveGrant(user_id=learner.user_id, course_id=course_id, source=Source.SUBSCRIPTION, ends_at=ends)
    )
    assert (await platform.entitlements.check(learner, course_id)).until == ends  # cached now
    wiring, adapters = platform.container.entitlement, platform.container.adapters
    at_the_end = EntitlementService(
        wiring.reads(),
        wiring.reads(),
        adapters.enrollment_lookup(),
        wiring.resources(),
        adapters.policy(),
        FixedClock(ends),
    )
    # The platform's check read no enrollment date while the grant was in force (it cannot matter then); a
    # refusal asks it (grandfathering): cached by the enrollment lookup like any gating read.
    await adapters.enrollment_lookup().enrolled_since(learner.user_id, course_id)
    log: list[str] = []
    await count_the_read_pool(platform, log, monkeypatch)
    with counted(platform, log) as statements:
        verdict = await at_the_end.check(learner, course_id)
    assert statements == []  # the cached grant, compared with the clock
    assert verdict.refusal is Refusal.EXPIRED


async def test_a_refund_ends_access_at_the_next_check_and_keeps_the_enrollment(platform: Platform) -> None:
    course_id, learner = await paid_course_with_learner(platform)
    assert learner.user_id is not None
    grant = await platform.entitlements.give(SYSTEM, GiveGrant(user_id=learner.user_id, course_id=course_id))
    assert (await platform.entitlements.check(learner, course_id)).allowed
    await platform.entitlements.change(SYSTEM, ChangeGrant(grant_id=grant.id, status=GrantStatus.REFUNDED))
    assert (await platform.entitlements.check(learner, course_id)).refusal is Refusal.REFUNDED
    page = await platform.entitlements.mine(learner)
    assert [(row.course_id, [g.status for g in row.grants]) for row in page.items] == [
        (course_id, [GrantStatus.REFUNDED])
    ]


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    require_redis()
    prefix = f"test-entitlements-{uuid.uuid4().hex[:8]}:"
    try:
        yield prefix
    finally:
        await delete_prefix(prefix)


async def _until_refused(platform: Platform, learner: Principal, course_id: uuid.UUID, within: float) -> float:
    """Seconds until ``learner``'s check is refused (bounded by ``within`` and a count of checks)."""
    started = time.monotonic()
    for _ in range(200):
        if not (await platform.entitlements.check(learner, course_id)).allowed:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            break
        await asyncio.sleep(0.02)
    pytest.fail(f"the change was not seen within {within} s")


async def test_a_refund_in_one_process_is_seen_by_the_other_at_its_next_check(
    database_url: str, tmp_path: Path, redis_prefix: str
) -> None:
    shared = {"cache": "redis", "redis_url": REDIS_URL, "redis_key_prefix": redis_prefix}
    writer = await _platform(database_url, tmp_path, **shared)
    if not writer.database.is_sqlite:
        await truncate_all(writer.database)
    reader = await _platform(database_url, tmp_path, **shared)
    try:
        course_id, learner = await paid_course_with_learner(writer)
        assert learner.user_id is not None
        grant = await writer.entitlements.give(SYSTEM, GiveGrant(user_id=learner.user_id, course_id=course_id))
        assert (await reader.entitlements.check(learner, course_id)).allowed  # cached in Redis now
        assert (await reader.entitlements.check(learner, course_id)).allowed
        await writer.entitlements.change(SYSTEM, ChangeGrant(grant_id=grant.id, status=GrantStatus.CANCELED))
        verdict = await reader.entitlements.check(learner, course_id)  # the very next check
        assert verdict.refusal is Refusal.SUBSCRIPTION_CANCELED
    finally:
        await reader.aclose()
        await writer.aclose()


async def test_a_refund_by_a_process_without_the_cache_reaches_it_through_the_event_within_a_second(
    database_url: str, tmp_path: Path, redis_prefix: str
) -> None:
    writer = await _platform(database_url, tmp_path, cache="none")
    if not writer.database.is_sqlite:
        await truncate_all(writer.database)
    reader = await _platform(database_url, tmp_path, cache="redis", redis_url=REDIS_URL, redis_key_prefix=redis_prefix)
    try:
        course_id, learner = await paid_course_with_learner(writer)
        assert learner.user_id is not None
        grant = await writer.entitlements.give(SYSTEM, GiveGrant(user_id=learner.user_id, course_id=course_id))
        transport = reader.events
        assert transport is not None
        await transport.drain()  # the reader's subscriptions are past what came before
        assert (await reader.entitlements.check(learner, course_id)).allowed  # cached now
        transport.start()
        await writer.entitlements.change(SYSTEM, ChangeGrant(grant_id=grant.id, status=GrantStatus.REFUNDED))
        assert await _until_refused(reader, learner, course_id, within=1.0) <= 1.0
    finally:
        await reader.aclose()
        await writer.aclose()
