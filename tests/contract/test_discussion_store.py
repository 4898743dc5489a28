"""The discussion ports' contract on the in-memory doubles, SQLite and PostgreSQL: the same use cases through
the service (store, read side, membership and author reads), so the fakes the unit tests use stay honest;
and on PostgreSQL, 100 concurrent votes of one user count once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from elearning_adapters.content.markdown import SanitizingMarkdownRenderer
from elearning_adapters.sql.discussion import SqlAuthors, SqlCourseMembers, SqlDiscussionQueries
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.auth.model import Grant, Role, RolePolicy, Scope, ScopeKind
from elearning_core.auth.service import user_principal
from elearning_core.course.model import Course
from elearning_core.discussion.commands import EditPost, NewAnnouncement, NewReply, NewThread
from elearning_core.discussion.model import ModerationAction, PostState, ThreadFlag, ThreadSort
from elearning_core.discussion.ports import Author, DiscussionAudience, Membership, ThreadFilter
from elearning_core.discussion.service import DiscussionService
from elearning_core.enrollment.model import Cohort, Enrollment, EnrollmentSource
from elearning_core.identity.model import DELETED_NAME, User
from elearning_core.shared.errors import NotFound, ValidationFailed
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import Principal
from tests.contract.conftest import outbox_reader, sql_database
from tests.discussion_fakes import (
    DiscussionData,
    FakeAuthors,
    FakeCourseMembers,
    InMemoryDiscussionQueries,
    InMemoryDiscussionUnitOfWork,
)
from tests.fakes import T0, FakeRateLimiter, SettableClock


@dataclass
class Backend:
    name: str
    service: DiscussionService
    audience: DiscussionAudience
    clock: SettableClock
    outbox_types: Callable[[], Awaitable[list[str]]]
    add_course: Callable[[], Awaitable[uuid.UUID]]
    add_cohort: Callable[[uuid.UUID], Awaitable[uuid.UUID]]
    add_user: Callable[[str], Awaitable[uuid.UUID]]
    enroll: Callable[[uuid.UUID, uuid.UUID, uuid.UUID | None], Awaitable[None]]
    delete_user: Callable[[uuid.UUID], Awaitable[None]]
    make_staff: Callable[[uuid.UUID, uuid.UUID], Awaitable[None]]


def _service(uow: Any, queries: Any, members: Any, authors: Any, clock: SettableClock) -> DiscussionService:
    return DiscussionService(
        uow,
        queries,
        members,
        authors,
        SanitizingMarkdownRenderer(),
        FakeRateLimiter(clock.seconds),
        RolePolicy(),
        clock,
        CursorCodec(b"c" * 32),
        posts_per_window=1000,
        auto_hide_flags=2,
    )


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    clock = SettableClock(T0)
    if request.param == "fake":
        data = DiscussionData()

        async def fake_outbox() -> list[str]:
            return [e.type for e in data.outbox]

        async def fake_course() -> uuid.UUID:
            data.courses.add(course_id := uuid.uuid4())
            return course_id

        async def fake_cohort(course_id: uuid.UUID) -> uuid.UUID:
            data.cohorts.add((course_id, cohort_id := uuid.uuid4()))
            return cohort_id

        async def fake_user(name: str) -> uuid.UUID:
            data.users[user_id := uuid.uuid4()] = Author(name, deleted=False)
            return user_id

        async def fake_enroll(user_id: uuid.UUID, course_id: uuid.UUID, cohort_id: uuid.UUID | None) -> None:
            data.members[(course_id, user_id)] = Membership(staff=False, enrolled=True, cohort_id=cohort_id)

        async def fake_delete(user_id: uuid.UUID) -> None:
            data.users[user_id] = Author(data.users[user_id].display_name, deleted=True)

        async def fake_staff(user_id: uuid.UUID, course_id: uuid.UUID) -> None:
            data.members[(course_id, user_id)] = Membership(staff=True, enrolled=False)

        service = _service(
            lambda: InMemoryDiscussionUnitOfWork(data),
            InMemoryDiscussionQueries(data),
            FakeCourseMembers(data),
            FakeAuthors(data),
            clock,
        )
        yield Backend(
            "fake",
            service,
            InMemoryDiscussionQueries(data),
            clock,
            fake_outbox,
            fake_course,
            fake_cohort,
            fake_user,
            fake_enroll,
            fake_delete,
            fake_staff,
        )
        return
    db = await sql_database(request, tmp_path)

    async def sql_course() -> uuid.UUID:
        course = Course.create(title="Course", slug=f"c-{uuid.uuid4().hex[:12]}", at=T0)
        async with SqlUnitOfWork(db) as uow:
            uow.courses.add(course)
            await uow.commit()
        return course.id

    async def sql_cohort(course_id: uuid.UUID) -> uuid.UUID:
        cohort = Cohort.create(course_id, name=f"c{uuid.uuid4().hex[:6]}", capacity=None, starts_at=None, at=T0)
        async with SqlUnitOfWork(db) as uow:
            await uow.cohorts.add(cohort)
            await uow.commit()
        return cohort.id

    async def sql_user(name: str) -> uuid.UUID:
        user = User.register(email=f"{uuid.uuid4().hex[:12]}@example.org", display_name=name, at=T0, password_hash=None)
        async with SqlUnitOfWork(db) as uow:
            uow.users.add(user)
            await uow.commit()
        return user.id

    async def sql_enroll(user_id: uuid.UUID, course_id: uuid.UUID, cohort_id: uuid.UUID | None) -> None:
        async with SqlUnitOfWork(db) as uow:
            uow.enrollments.add(
                Enrollment.enroll(course_id, user_id, cohort_id=cohort_id, source=EnrollmentSource.SELF, at=T0)
            )
            await uow.commit()

    async def sql_delete(user_id: uuid.UUID) -> None:
        async with SqlUnitOfWork(db) as uow:
            user = await uow.users.get(user_id)
            assert user is not None
            user.anonymise(T0)
            await uow.commit()

    async def sql_staff(user_id: uuid.UUID, course_id: uuid.UUID) -> None:
        async with SqlUnitOfWork(db) as uow:
            user = await uow.users.get(user_id)
            assert user is not None
            user.grant(Grant(Role.TEACHING_ASSISTANT, Scope(ScopeKind.COURSE, course_id)), T0, by="test")
            await uow.commit()

    queries = SqlDiscussionQueries(db)
    service = _service(lambda: SqlUnitOfWork(db), queries, SqlCourseMembers(db), SqlAuthors(db), clock)
    try:
        yield Backend(
            request.param,
            service,
            queries,
            clock,
            outbox_reader(db),
            sql_course,
            sql_cohort,
            sql_user,
            sql_enroll,
            sql_delete,
            sql_staff,
        )
    finally:
        await db.dispose()


@dataclass
class Cast:
    course: uuid.UUID
    cohort: uuid.UUID
    ids: dict[str, uuid.UUID]

    def who(self, name: str) -> Principal:
        grants: tuple[Grant, ...] = ()
        if name == "ta":
            grants = (Grant(Role.TEACHING_ASSISTANT, Scope(ScopeKind.COURSE, self.course)),)
        return user_principal(self.ids[name], grants, None, email_verified=True)


async def cast(backend: Backend) -> Cast:
    course = await backend.add_course()
    cohort, other = await backend.add_cohort(course), await backend.add_cohort(course)
    ids = {name: await backend.add_user(name.title()) for name in ("ta", "ann", "bob", "cid")}
    await backend.enroll(ids["ann"], course, cohort)
    await backend.enroll(ids["bob"], course, cohort)
    await backend.enroll(ids["cid"], course, other)
    await backend.make_staff(ids["ta"], course)
    return Cast(course, cohort, ids)


async def test_a_thread_or_announcement_names_a_cohort_of_its_course(backend: Backend) -> None:
    c = await cast(backend)
    s, ta = backend.service, c.who("ta")
    elsewhere = await backend.add_cohort(await backend.add_course())
    before = await backend.outbox_types()
    for cohort in (elsewhere, uuid.uuid4()):  # another course's cohort, and no cohort at all
        with pytest.raises(ValidationFailed) as refused:
            await s.create_thread(ta, c.course, NewThread(title="T", body="b", cohort_id=cohort))
        assert [e.field for e in refused.value.errors] == ["cohort_id"]
        with pytest.raises(ValidationFailed, match="not a cohort of this course"):
            await s.announce(ta, c.course, NewAnnouncement(title="A", body="b", cohort_id=cohort))
    assert await backend.outbox_types() == before  # nothing stored, nothing announced
    assert (await s.list_threads(ta, c.course)).items == []
    # The course's own cohort is accepted, from staff and from its learners.
    await s.create_thread(ta, c.course, NewThread(title="T", body="b", cohort_id=c.cohort))
    await s.create_thread(c.who("ann"), c.course, NewThread(title="U", body="b", cohort_id=c.cohort))
    await s.announce(ta, c.course, NewAnnouncement(title="A", body="b", cohort_id=c.cohort))
    assert len((await s.list_threads(ta, c.course)).items) == 2


async def test_threads_replies_and_the_page_in_order(backend: Backend) -> None:
    c = await cast(backend)
    s = backend.service
    thread = await s.create_thread(c.who("ann"), c.course, NewThread(title="T", body="**opening**"))
    backend.clock.advance(timedelta(seconds=1))
    response = await s.reply(c.who("bob"), thread.id, NewReply(body="response"))
    backend.clock.advance(timedelta(seconds=1))
    await s.reply(c.who("ta"), thread.id, NewReply(body="second response"))
    backend.clock.advance(timedelta(seconds=1))
    await s.reply(c.who("ann"), thread.id, NewReply(body="comment", parent_id=response.id))
    page = await s.thread_page(c.who("cid"), thread.id)
    assert [p.body for p in page.posts] == ["**opening**", "response", "comment", "second response"]
    assert page.posts[0].body_html == "<p><strong>opening</strong></p>\n"
    assert (page.thread.reply_count, page.thread.last_activity_at) == (3, T0 + timedelta(seconds=3))
    assert [p.author.name for p in page.posts] == ["Ann", "Bob", "Ann", "Ta"]
    types = [t for t in await backend.outbox_types() if t.startswith("discussion.")]
    assert types == ["discussion.thread_created.v1"] + ["discussion.reply_posted.v1"] * 3
    assert set(await backend.audience.followers(thread.id)) == {c.ids["ann"], c.ids["bob"], c.ids["ta"]}


async def test_edits_flags_moderation_and_deleted_authors(backend: Backend) -> None:
    c = await cast(backend)
    s = backend.service
    thread = await s.create_thread(c.who("ann"), c.course, NewThread(title="T", body="v1", anonymous=True))
    await s.edit(c.who("ann"), thread.id, EditPost(body="v2"))
    assert [e.previous_body for e in (await s.history(c.who("bob"), thread.id)).items] == ["v1"]
    response = await s.reply(c.who("bob"), thread.id, NewReply(body="meh"))
    await s.flag(c.who("ann"), response.id, "rude")
    await s.flag(c.who("ann"), response.id, "rude")
    queue = await s.moderation_queue(c.who("ta"), c.course)
    assert [(q.post.id, q.flags, q.reasons) for q in queue.items] == [(response.id, 1, ["rude"])]
    await s.flag(c.who("cid"), response.id, "spam")
    page = await s.thread_page(c.who("ta"), thread.id)
    assert [p.state for p in page.posts] == [PostState.VISIBLE, PostState.HIDDEN]
    await s.moderate(c.who("ta"), response.id, ModerationAction.RESTORE, "fine")
    assert (await s.moderation_queue(c.who("ta"), c.course)).items == []
    log = (await s.moderation_log(c.who("ta"), response.id)).items
    assert [e.action for e in log] == [ModerationAction.AUTO_HIDE, ModerationAction.RESTORE]
    peer = await s.thread_page(c.who("bob"), thread.id)
    assert peer.thread.author.user_id is None
    assert peer.posts[0].body == "v2"
    await backend.delete_user(c.ids["bob"])
    again = await s.thread_page(c.who("cid"), thread.id)
    assert (again.posts[1].author.user_id, again.posts[1].author.name) == (None, DELETED_NAME)


async def test_sorted_filtered_pages_and_unread_counts(backend: Backend) -> None:
    c = await cast(backend)
    s = backend.service
    ids = []
    for n in range(5):
        backend.clock.advance(timedelta(minutes=1))
        kind = "question" if n % 2 else "discussion"
        view = await s.create_thread(
            c.who("bob" if n < 3 else "ta"),
            c.course,
            NewThread.model_validate({"title": f"t{n}", "body": "b", "kind": kind}),
        )
        ids.append(view.id)
    cohort_only = (
        await s.create_thread(c.who("ann"), c.course, NewThread(title="mine", body="b", cohort_id=c.cohort))
    ).id
    await s.set_flag(c.who("ta"), ids[0], ThreadFlag.PINNED, True)
    await s.vote(c.who("ann"), ids[1])
    await s.vote(c.who("cid"), ids[1])
    await s.vote(c.who("ann"), ids[3])
    collected: list[uuid.UUID] = []
    cursor = None
    for _ in range(5):
        page = await s.list_threads(c.who("ann"), c.course, limit=2, cursor=cursor)
        collected += [t.id for t in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert collected == [ids[0], cohort_only, ids[4], ids[3], ids[2], ids[1]]
    by_votes = await s.list_threads(c.who("cid"), c.course, sort=ThreadSort.VOTES)
    assert [t.id for t in by_votes.items][:3] == [ids[0], ids[1], ids[3]]
    assert cohort_only not in [t.id for t in by_votes.items]
    response = await s.reply(c.who("ann"), ids[1], NewReply(body="answer"))
    await s.accept(c.who("ta"), ids[1], response.id)
    unanswered = await s.list_threads(c.who("ann"), c.course, sort=ThreadSort.UNANSWERED, limit=1)
    assert [t.id for t in unanswered.items] == [ids[3]]
    mine = await s.list_threads(c.who("bob"), c.course, where=ThreadFilter(mine=True))
    assert {t.id for t in mine.items} == {ids[0], ids[1], ids[2]}
    followed = await s.list_threads(c.who("ann"), c.course, where=ThreadFilter(followed=True))
    assert {t.id for t in followed.items} == {cohort_only, ids[1]}
    # ann wrote one thread and replied to another: both read when she posted
    assert await s.unread_count(c.who("ann"), c.course) == 4
    await s.mark_read(c.who("ann"), ids[4])
    assert await s.unread_count(c.who("ann"), c.course) == 3
    assert await s.unread_count(c.who("cid"), c.course) == 6 - 1  # not the cohort's thread
    with pytest.raises(NotFound):
        await s.thread_page(c.who("cid"), cohort_only)


async def test_mentions_blocks_and_the_audience(backend: Backend) -> None:
    c = await cast(backend)
    s = backend.service
    stranger = await backend.add_user("Stranger")
    await s.block(c.who("bob"), c.ids["ann"])
    body = f"hi @{c.ids['bob']} @{c.ids['cid']} @{c.ids['ta']} @{stranger}"
    thread = await s.create_thread(c.who("ann"), c.course, NewThread(title="T", body=body, cohort_id=c.cohort))
    assert "discussion.mentioned.v1" in await backend.outbox_types()
    await s.watch(c.who("cid"), c.course, True)
    await s.watch(c.who("bob"), c.course, True)
    # cid watches but is in another cohort; bob watches but blocked the author.
    assert await backend.audience.followers(thread.id) == [c.ids["ann"]]
    assert sorted(await backend.audience.watchers(c.course)) == sorted([c.ids["bob"], c.ids["cid"]])


async def test_votes_are_idempotent(backend: Backend) -> None:
    c = await cast(backend)
    thread = await backend.service.create_thread(c.who("ann"), c.course, NewThread(title="T", body="b"))
    assert [await backend.service.vote(c.who("bob"), thread.id) for _ in range(3)] == [1, 1, 1]
    assert await backend.service.vote(c.who("bob"), thread.id, up=False) == 0


@pytest.mark.postgres
async def test_a_hundred_concurrent_votes_of_one_user_count_once(backend: Backend) -> None:
    if backend.name != "postgres":
        pytest.skip("concurrent writers: PostgreSQL only (SQLite serialises them)")
    c = await cast(backend)
    thread = await backend.service.create_thread(c.who("ann"), c.course, NewThread(title="T", body="b"))
    await asyncio.wait_for(
        asyncio.gather(*(backend.service.vote(c.who("bob"), thread.id) for _ in range(100))), timeout=60
    )
    page = await backend.service.thread_page(c.who("ann"), thread.id)
    assert (page.thread.votes, page.posts[0].votes) == (1, 1)
