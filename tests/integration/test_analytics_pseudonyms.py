"""Deleting an account pseudonymises its statements (SQLite and PostgreSQL), through the real services and the
in-process transport: afterwards no stored statement names the user (JSON or columns), the statements keep
their count, ids and order under ONE pseudonym, the agent query of the old account finds nothing, replayed or
late events of the user add nothing that names them, and another learner's statements are untouched; the
aggregates' learner rows follow the pseudonym with their counts kept."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ralph.models.xapi.base.statements import BaseXapiStatement
from sqlalchemy import func, select

from elearning_adapters.analytics.projection import AnalyticsProjection, project
from elearning_adapters.container import Platform
from elearning_adapters.sql.analytics import AGGREGATE_TABLES, rebuild_aggregates, xapi_statements
from elearning_adapters.sql.engine import metadata
from elearning_core.analytics.aggregates import CourseAggregates, FunnelStage
from elearning_core.analytics.model import Statement, digest_of
from elearning_core.analytics.ports import StatementQuery
from elearning_core.course.commands import CourseSpec, LessonContentSpec, LessonSpec, SectionSpec
from elearning_core.identity.commands import CreateUser
from elearning_core.identity.events import UserDeleted
from elearning_core.progress.events import LessonViewed
from elearning_core.shared.clock import SystemClock
from elearning_core.shared.ports import SYSTEM, Principal
from tests.integration.test_analytics_projection import BASE, drain, outbox_events
from tests.integration.test_progress_projection import progress_platform

Row = dict[str, Any]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def platform(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Platform]:
    async with progress_platform(request, tmp_path, public_base_url=BASE) as built:
        yield built


async def rows(platform: Platform) -> list[Row]:
    s = xapi_statements
    async with platform.database.read() as conn:
        found = await conn.execute(
            select(s.c.seq, s.c.id, s.c.actor, s.c.digest, s.c.registration, s.c.statement).order_by(s.c.seq)
        )
        return [dict(r._mapping) for r in found]


def viewed(course_id: uuid.UUID, lesson_id: uuid.UUID, user_id: uuid.UUID) -> LessonViewed:
    """A lesson view of ``user_id`` now, as the progress module records it."""
    return LessonViewed(
        occurred_at=SystemClock().now(),
        aggregate_id=uuid.uuid4(),
        course_id=course_id,
        lesson_id=lesson_id,
        user_id=user_id,
    )


async def todays_figures(platform: Platform, course_id: uuid.UUID) -> CourseAggregates:
    """The course's aggregates for today (the periods the tests' activity falls in)."""
    today = SystemClock().now().date()
    figures = await platform.container.analytics.analytics_aggregates().course(course_id, today, today)
    assert figures is not None
    return figures


def mentions(row: Row, text: str) -> bool:
    return any(text in str(value) for value in row.values())


async def _two_learners(platform: Platform) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]:
    lessons = [LessonSpec(title=f"L{n}", content=LessonContentSpec(body_markdown="Hi")) for n in range(2)]
    [course] = await platform.courses.import_courses(
        SYSTEM,
        [CourseSpec(slug="kept", title="Kept", status="published", sections=[SectionSpec(title="S", lessons=lessons)])],
    )
    outline = await platform.courses.get_outline(SYSTEM, course.id)
    lesson_ids = [lesson.id for lesson in outline.sections[0].lessons]
    users = []
    for email in ("ada@example.org", "bob@example.org"):
        user = await platform.identity.create_user(SYSTEM, CreateUser(email=email, display_name=email[:3]))
        await platform.enrollments.enroll(SYSTEM, course.id, user.id)
        learner = Principal(subject=f"user:{user.id}", roles=frozenset({"learner"}), user_id=user.id)
        for lesson_id in lesson_ids:
            await platform.progress.view(learner, course.id, lesson_id)
        users.append(user.id)
    await drain(platform)
    return users[0], users[1], course.id, lesson_ids[0]


async def test_deleting_an_account_pseudonymises_its_statements(platform: Platform) -> None:
    ada, bob, course_id, lesson_id = await _two_learners(platform)
    store = platform.container.analytics.store()
    # An LRS client's statement naming ada as the instructor of bob's activity (and her name with it).
    instructed = Statement.from_json(
        {
            "id": str(uuid.uuid4()),
            "actor": {"account": {"homePage": BASE, "name": str(bob)}},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
            "object": {"id": f"{BASE}/xapi/activities/lesson/{lesson_id}"},
            "timestamp": "2026-12-01T10:00:00Z",
            "context": {"instructor": {"name": "Ada Lovelace", "account": {"homePage": BASE, "name": str(ada)}}},
        }
    )
    await store.append([instructed], organization=uuid.uuid4())
    before = await rows(platform)
    ada_key, bob_key = f"account:{BASE}|{ada}", f"account:{BASE}|{bob}"
    assert sum(r["actor"] == ada_key for r in before) >= 4  # registered, enrolled, two lessons viewed (+ completions)
    old_events = await outbox_events(platform)

    await platform.identity.delete_account(SYSTEM, ada)
    await drain(platform)

    after = await rows(platform)
    assert [(r["seq"], r["id"], r["registration"]) for r in after] == [
        (r["seq"], r["id"], r["registration"]) for r in before
    ]
    assert not [r for r in after if mentions(r, str(ada)) or mentions(r, "Ada Lovelace")]
    pseudonym = platform.container.analytics.pseudonyms().of(ada)
    assert pseudonym.version == 8
    renamed = {r["seq"] for r in before if r["actor"] == ada_key}
    assert {r["actor"] for r in after if r["seq"] in renamed} == {f"account:{BASE}|{pseudonym}"}
    for row in after:
        assert row["digest"] == digest_of(row["statement"])  # the digest follows the rewritten content
        BaseXapiStatement.model_validate({k: v for k, v in row["statement"].items() if k != "stored"})
    # Bob's own statements are as they were; the one naming ada as instructor is his still, without her.
    untouched = {r["seq"]: r for r in before if r["actor"] == bob_key and r["id"] != instructed.id}
    assert untouched
    assert [r for r in after if r["seq"] in untouched] == list(untouched.values())
    [rewritten] = [r for r in after if r["id"] == instructed.id]
    assert rewritten["actor"] == bob_key
    instructor = rewritten["statement"]["context"]["instructor"]
    assert instructor == {"objectType": "Agent", "account": {"homePage": BASE, "name": str(pseudonym)}}

    # The old account's agent query finds nothing; the pseudonym's finds every statement of hers.
    assert (await platform.analytics.statements(StatementQuery(agent=ada_key), limit=100)).items == []
    as_pseudonym = await platform.analytics.statements(StatementQuery(agent=f"account:{BASE}|{pseudonym}"), limit=100)
    assert len(as_pseudonym.items) == len(renamed)

    # Redelivered old events store nothing again (the same statement ids: ON CONFLICT keeps the rewritten
    # rows), whether or not the projection knows of deleted accounts.
    mapper = platform.container.analytics.mapper()
    for pseudonyms in (None, platform.container.analytics.pseudonyms()):
        async with platform.database.write() as conn, conn.begin():
            await project(mapper, SystemClock(), old_events, conn, pseudonyms=pseudonyms)
        assert await rows(platform) == after

    # A late event of hers (never stored: it arrives after the deletion) is stored under the pseudonym.
    late = viewed(course_id, lesson_id, ada)
    async with platform.database.write() as conn, conn.begin():
        assert (
            await project(mapper, SystemClock(), [late], conn, pseudonyms=platform.container.analytics.pseudonyms())
            == 1
        )
    newest = (await rows(platform))[-1]
    assert newest["actor"] == f"account:{BASE}|{pseudonym}"
    assert not mentions(newest, str(ada))
    assert newest["registration"] is not None  # the enrollment is kept (the enrollment module keeps its row)


async def test_the_deletion_runs_the_hooks_and_is_idempotent(platform: Platform) -> None:
    ada, bob, _course, _lesson = await _two_learners(platform)
    calls: list[tuple[uuid.UUID, uuid.UUID]] = []

    async def hook(_conn: Any, old: uuid.UUID, new: uuid.UUID) -> None:
        calls.append((old, new))

    pseudonyms = platform.container.analytics.pseudonyms()
    projection = AnalyticsProjection(platform.container.analytics.mapper(), SystemClock(), pseudonyms, [hook])
    deleted = UserDeleted(occurred_at=SystemClock().now(), aggregate_id=ada)
    async with platform.database.write() as conn, conn.begin():
        await projection.handle_batch([deleted], conn)
    once = await rows(platform)
    async with platform.database.write() as conn, conn.begin():
        await projection.handle_batch([deleted], conn)  # a replay of the deletion: nothing left to rewrite
    assert await rows(platform) == once
    assert calls == [(ada, pseudonyms.of(ada))] * 2
    assert not [r for r in once if mentions(r, str(ada))]
    assert any(r["actor"] == f"account:{BASE}|{bob}" for r in once)


async def test_the_aggregates_follow_the_pseudonym_and_keep_their_counts(platform: Platform) -> None:
    ada, _bob, course_id, _lesson = await _two_learners(platform)
    before = await todays_figures(platform, course_id)
    assert before.funnel[FunnelStage.STARTED] == 2

    await platform.identity.delete_account(SYSTEM, ada)  # the wired hook renames the aggregates' learner rows
    await drain(platform)

    after = await todays_figures(platform, course_id)
    assert after == before  # the same counts: ada is one learner still, under her pseudonym
    async with platform.database.read() as conn:
        for name in AGGREGATE_TABLES:
            table = metadata.tables[name]
            if "learner" in table.c:
                named = select(func.count()).select_from(table).where(table.c.learner == str(ada))
                assert (await conn.execute(named)).scalar_one() == 0, table.name
    await rebuild_aggregates(platform.database, "UTC")  # from the pseudonymised statements: the same figures
    assert await todays_figures(platform, course_id) == before


async def test_a_late_event_and_the_deletion_in_one_batch_count_one_learner(platform: Platform) -> None:
    ada, _bob, course_id, lesson_id = await _two_learners(platform)
    before = await todays_figures(platform, course_id)
    analytics = platform.container.analytics
    projection = AnalyticsProjection(
        analytics.mapper(), SystemClock(), analytics.pseudonyms(), analytics.on_learner_renamed()
    )
    await platform.identity.delete_account(SYSTEM, ada)
    # The analytics consumer gets a late view of hers *before* her deletion in one batch. The deletion is
    # handled first: her learner rows are the pseudonym's when the view counts, so she is one learner still.
    late = viewed(course_id, lesson_id, ada)
    async with platform.database.write() as conn, conn.begin():
        await projection.handle_batch([late, UserDeleted(occurred_at=SystemClock().now(), aggregate_id=ada)], conn)
    await drain(platform)  # the deletion's own event, through the wired subscription: nothing left to do
    after = await todays_figures(platform, course_id)
    assert after.active_learners == before.active_learners
    assert after.funnel == before.funnel
    assert not [r for r in await rows(platform) if mentions(r, str(ada))]
