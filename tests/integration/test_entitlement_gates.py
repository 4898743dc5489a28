"""The entitlement check on the content routes, as a platform serves it: what an enrolled learner's checked
lesson read costs on a cache hit (SQL statements and cache round trips, counted), that losing access
deletes nothing and access comes back with the grant, and that a refund in one process closes the lesson
in another at its next read (two platforms on one Redis)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from elearning_adapters.container import Platform
from elearning_core.course.commands import CourseSpec, LessonContentSpec, LessonSpec, SectionSpec
from elearning_core.entitlement.commands import ChangeGrant, GiveGrant, SetOffer
from elearning_core.entitlement.model import GrantStatus
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.cache import Cache
from elearning_core.shared.errors import ContentLocked
from elearning_core.shared.ports import SYSTEM, Principal
from tests.conftest import truncate_all
from tests.contract.test_cache import REDIS_URL, require_redis
from tests.integration.test_entitlement_cache import _platform, database_url, redis_prefix
from tests.integration.test_gating_queries import count_the_read_pool, counted

__all__ = ["database_url", "redis_prefix"]  # fixtures shared with the cache's own tests


@pytest.fixture(params=["memory", "redis"])
def cache_settings(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    if request.param == "memory":
        yield {"cache": "memory"}
        return
    require_redis()
    prefix = f"test-gates-{uuid.uuid4().hex[:8]}:"
    yield {"cache": "redis", "redis_url": REDIS_URL, "redis_key_prefix": prefix}
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
async def platform(database_url: str, tmp_path: Path, cache_settings: dict[str, Any]) -> AsyncIterator[Platform]:
    built = await _platform(database_url, tmp_path, **cache_settings)
    if not built.database.is_sqlite:
        await truncate_all(built.database)
    try:
        yield built
    finally:
        await built.aclose()


async def paid_lesson(platform: Platform) -> tuple[uuid.UUID, uuid.UUID, Principal]:
    """A published paid course of one text lesson, and a learner enrolled in it with a purchase."""
    spec = CourseSpec(
        slug=f"paid-{uuid.uuid4().hex[:8]}",
        title="Paid",
        status="published",
        sections=[
            SectionSpec(title="S", lessons=[LessonSpec(title="L", content=LessonContentSpec(body_markdown="x"))])
        ],
    )
    [course] = await platform.courses.import_courses(SYSTEM, [spec])
    user = await platform.identity.create_user(
        SYSTEM, CreateUser(email=f"{uuid.uuid4().hex[:8]}@example.org", display_name="Ada")
    )
    await platform.entitlements.set_offer(SYSTEM, course.id, SetOffer(paid=True))
    await platform.entitlements.give(SYSTEM, GiveGrant(user_id=user.id, course_id=course.id))
    await platform.enrollments.enroll(SYSTEM, course.id, user.id)
    learner = Principal(subject=f"user:{user.id}", roles=frozenset({"learner"}), user_id=user.id)
    outline = await platform.courses.get_outline(SYSTEM, course.id)
    return course.id, outline.sections[0].lessons[0].id, learner


class _Trips:
    """Counts the cache's round trips (each call of the port is one) and the keys each one asked for."""

    def __init__(self, cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        for name in ("get", "get_many", "set", "delete", "incr"):
            original = getattr(cache, name)

            def counting(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
                keys = tuple(a for a in args if isinstance(a, str))
                self.calls.append((_name, keys if _name in ("get_many", "delete") else keys[:1]))
                return _original(*args, **kwargs)

            monkeypatch.setattr(cache, name, counting)


async def test_a_checked_lesson_read_on_a_cache_hit_sends_no_sql_and_no_extra_cache_round_trip(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    course_id, lesson_id, learner = await paid_lesson(platform)
    lesson = await platform.courses.get_lesson(learner, course_id, lesson_id)  # warms every cache
    assert lesson.body_html
    cache = platform.container.adapters.cache()
    assert cache is not None
    trips = _Trips(cache, monkeypatch)
    log: list[str] = []
    await count_the_read_pool(platform, log, monkeypatch)
    with counted(platform, log) as statements:
        lesson = await platform.courses.get_lesson(learner, course_id, lesson_id)
    assert lesson.body_html
    assert statements == []
    entitlement = [call for call in trips.calls if any(":offer:" in k or ":grants:" in k for k in call[1])]
    assert len(entitlement) == 1, trips.calls
    # The learner's enrollment, the offer and the learner's grants together.
    assert entitlement[0][0] == "get_many"
    assert [key.split(":")[-3 if key.startswith("enrolled") else -2] for key in entitlement[0][1]] == [
        "enrolled",
        "offer",
        "grants",
    ]
    # Everything the read asked the cache: the outline, then gating's and the check's reads (nothing written):
    # the check adds no round trip to the enrollment read gating makes anyway.
    assert [name for name, _ in trips.calls] == ["get", "get_many"], trips.calls


async def test_losing_access_deletes_nothing_and_access_comes_back_with_the_grant(platform: Platform) -> None:
    course_id, lesson_id, learner = await paid_lesson(platform)
    assert learner.user_id is not None
    await platform.progress.mark_done(learner, course_id, lesson_id)
    transport = platform.events
    assert transport is not None
    await transport.drain()
    before = await platform.progress.course_progress(learner, course_id)
    assert before.percent > 0
    [grant] = await platform.entitlements.grants_of(SYSTEM, learner.user_id, course_id)

    for lapse in (GrantStatus.REFUNDED, GrantStatus.PAST_DUE, GrantStatus.CANCELED, GrantStatus.REVOKED):
        await platform.entitlements.change(SYSTEM, ChangeGrant(grant_id=grant.id, status=lapse))
        with pytest.raises(ContentLocked) as refused:
            await platform.courses.get_lesson(learner, course_id, lesson_id)
        assert refused.value.reason == (await platform.entitlements.check(learner, course_id)).refusal
        # The enrollment and the progress are still there.
        assert await platform.enrollments.is_enrolled(learner.user_id, course_id)
        assert await platform.progress.course_progress(learner, course_id) == before

        await platform.entitlements.change(SYSTEM, ChangeGrant(grant_id=grant.id, status=GrantStatus.ACTIVE))
        assert (await platform.courses.get_lesson(learner, course_id, lesson_id)).body_html
        assert await platform.progress.course_progress(learner, course_id) == before


async def test_a_refund_in_one_process_closes_the_lesson_in_the_other_at_its_next_read(
    database_url: str, tmp_path: Path, redis_prefix: str
) -> None:
    shared = {"cache": "redis", "redis_url": REDIS_URL, "redis_key_prefix": redis_prefix}
    writer = await _platform(database_url, tmp_path, **shared)
    if not writer.database.is_sqlite:
        await truncate_all(writer.database)
    reader = await _platform(database_url, tmp_path, **shared)
    try:
        course_id, lesson_id, learner = await paid_lesson(writer)
        assert learner.user_id is not None
        assert (await reader.courses.get_lesson(learner, course_id, lesson_id)).body_html  # cached in Redis now
        [grant] = await writer.entitlements.grants_of(SYSTEM, learner.user_id, course_id)
        await writer.entitlements.change(SYSTEM, ChangeGrant(grant_id=grant.id, status=GrantStatus.REFUNDED))
        with pytest.raises(ContentLocked) as refused:
            await reader.courses.get_lesson(learner, course_id, lesson_id)  # the very next read
        assert refused.value.reason == "refunded"
    finally:
        await reader.aclose()
        await writer.aclose()
