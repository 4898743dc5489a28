"""The personal list's exclusions (enrolled, completed, closed, outside the window, full, prerequisites
missing, paid without access, unpublished), explanations, paging and caching, on in-memory ports."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elearning_adapters.cache import InMemoryCache
from elearning_core.enrollment.model import EnrollmentPolicy
from elearning_core.recommendation.eligibility import EnrollmentRules
from elearning_core.recommendation.model import Interaction, Model, Reason
from elearning_core.recommendation.ports import Taken
from elearning_core.recommendation.service import RecommendationService, Suggestion
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.errors import NotFound, Unauthenticated, ValidationFailed
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import Principal
from tests.recommendation_fakes import (
    FakeAccess,
    FakeCompletions,
    FakeHistory,
    FakePublished,
    FakeRules,
    FakeSource,
    InMemoryModelStore,
    World,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def service_of(world: World, cache: InMemoryCache | None = None) -> RecommendationService:
    rules = EnrollmentRules(FakeRules(world), FakeCompletions(world), FakeAccess(world))
    return RecommendationService(
        FakeSource(world),
        InMemoryModelStore(),
        FakeHistory(world),
        rules,
        FakePublished(world),
        FixedClock(NOW),
        CursorCodec(b"0123456789abcdef0123"),
        cache,
        refresh_seconds=0.0,
    )


def took(world: World, user: uuid.UUID, *courses: uuid.UUID, completed: bool = False) -> None:
    for n, course in enumerate(courses):
        world.enrollments.append(Interaction(user, course, NOW - timedelta(days=60 - n), completed))


def learner(uid: uuid.UUID) -> Principal:
    return Principal(subject=str(uid), user_id=uid)


@pytest.fixture
def world() -> World:
    return World()


async def test_every_course_the_learner_cannot_take_now_is_left_out(world: World) -> None:
    base = world.course("Base")
    names = ["open", "enrolled", "completed", "closed", "not yet", "ended", "full", "needs", "paid", "draft"]
    c = {name: world.course(name.title(), published=name != "draft") for name in names}
    required = world.course("Required")
    world.policies[c["closed"]] = EnrollmentPolicy(c["closed"], self_enrollment=False)
    world.policies[c["not yet"]] = EnrollmentPolicy(c["not yet"], opens_at=NOW + timedelta(days=1))
    world.policies[c["ended"]] = EnrollmentPolicy(c["ended"], closes_at=NOW - timedelta(days=1))
    world.policies[c["full"]] = EnrollmentPolicy(c["full"], capacity=3)
    world.taken[c["full"]] = 3
    world.policies[c["needs"]] = EnrollmentPolicy(c["needs"], prerequisites=(required,))
    me = uuid.uuid4()
    world.paid_without_access.add((me, c["paid"]))
    # Others took Base with every one of them (so each is a co-taken candidate).
    for _ in range(5):
        took(world, uuid.uuid4(), base, *c.values())
    took(world, me, base, c["enrolled"])
    took(world, me, c["completed"], completed=True)
    service = service_of(world)
    await service.train()

    listed = {s.course_id for s in await service.for_user(me)}

    assert c["open"] in listed
    for name in ["enrolled", "completed", "closed", "not yet", "ended", "full", "needs", "paid", "draft"]:
        assert c[name] not in listed, name
    assert base not in listed
    # Once the prerequisite is completed and a seat frees up, they are offered.
    world.completed.add((me, required))
    world.taken[c["full"]] = 2
    listed = {s.course_id for s in await service.for_user(me)}
    assert {c["needs"], c["full"]} <= listed


async def test_each_item_says_which_of_the_learners_courses_it_comes_from(world: World) -> None:
    python, data, art = world.course("Python"), world.course("Data"), world.course("Art")
    for _ in range(6):
        took(world, uuid.uuid4(), python, data)
    took(world, uuid.uuid4(), art)
    me = uuid.uuid4()
    took(world, me, python)
    service = service_of(world)
    await service.train()

    first, *rest = await service.for_user(me)

    assert (first.course_id, first.reason, first.because_id) == (data, Reason.ALSO_TAKEN, python)
    assert first.explanation == "because you took Python"
    assert [(s.course_id, s.reason, s.explanation) for s in rest] == [
        (art, Reason.POPULAR, "popular with learners right now")
    ]


async def test_a_new_learner_gets_the_popular_courses(world: World) -> None:
    courses = [world.course(f"C{i}") for i in range(4)]
    for i, course in enumerate(courses):
        for _ in range(i + 1):
            took(world, uuid.uuid4(), course)
    service = service_of(world)
    await service.train()
    listed = await service.for_user(uuid.uuid4())
    assert [s.course_id for s in listed] == courses[::-1]
    assert {s.reason for s in listed} == {Reason.POPULAR}


async def test_the_list_pages_by_rank_and_a_cursor_is_bound_to_its_learner(world: World) -> None:
    courses = [world.course(f"C{i}") for i in range(7)]
    for course in courses:
        took(world, uuid.uuid4(), course)
    service = service_of(world)
    await service.train()
    me, other = uuid.uuid4(), uuid.uuid4()
    first = await service.mine(learner(me), limit=3)
    second = await service.mine(learner(me), cursor=first.next_cursor, limit=3)
    last = await service.mine(learner(me), cursor=second.next_cursor, limit=3)
    seen = [s.course_id for page in (first, second, last) for s in page.items]
    assert sorted(seen) == sorted(courses)
    assert last.next_cursor is None
    with pytest.raises(ValidationFailed):
        await service.mine(learner(other), cursor=first.next_cursor, limit=3)
    with pytest.raises(Unauthenticated):
        await service.mine(Principal(subject="anonymous"))


async def test_a_course_lists_its_co_taken_and_similar_published_courses_only(world: World) -> None:
    python = world.course("Python basics", tags=("python",))
    advanced = world.course("Python advanced", tags=("python",))
    hidden = world.course("Python drafts", published=False, tags=("python",))
    for _ in range(4):
        took(world, uuid.uuid4(), python, advanced, hidden)
    service = service_of(world)
    await service.train()

    also = await service.also_taken(python)
    similar = await service.similar(python)

    assert [s.course_id for s in also.items] == [advanced]
    assert [s.course_id for s in similar.items] == [advanced]
    assert similar.items[0].explanation == "similar to Python basics"
    with pytest.raises(NotFound):
        await service.similar(hidden)
    with pytest.raises(NotFound):
        await service.also_taken(uuid.uuid4())


async def test_a_cached_list_is_dropped_when_the_learners_enrollments_change(world: World) -> None:
    a, b = world.course("A"), world.course("B")
    took(world, uuid.uuid4(), a)
    took(world, uuid.uuid4(), a)
    took(world, uuid.uuid4(), b)
    service = service_of(world, InMemoryCache())
    await service.train()
    me = uuid.uuid4()
    assert [s.course_id for s in await service.for_user(me)] == [a, b]
    took(world, me, a)
    assert [s.course_id for s in await service.for_user(me)] == [a, b]  # cached
    await service.forget(me)
    assert [s.course_id for s in await service.for_user(me)] == [b]


async def test_training_replaces_the_model_and_readers_follow(world: World) -> None:
    a, b = world.course("A"), world.course("B")
    service = service_of(world)
    assert (await service.also_taken(a)).items == []  # before the first training: empty, not an error
    took(world, uuid.uuid4(), a, b)
    trained = await service.train()
    assert (trained.courses, trained.interactions) == (2, 2)
    assert [s.course_id for s in (await service.also_taken(a)).items] == [b]


@st.composite
def worlds(draw: st.DrawFn) -> tuple[World, uuid.UUID]:
    """A small catalog with random rules, random histories, and a learner with a random history of it."""
    world = World()
    courses = [world.course(f"C{n}", published=draw(st.booleans()) or n < 2) for n in range(draw(st.integers(2, 8)))]
    me = uuid.uuid4()
    for course in courses:
        kind = draw(st.sampled_from(["open", "closed", "window", "full", "needs", "paid"]))
        if kind == "closed":
            world.policies[course] = EnrollmentPolicy(course, self_enrollment=False)
        elif kind == "window":
            world.policies[course] = EnrollmentPolicy(course, closes_at=NOW)
        elif kind == "full":
            world.policies[course] = EnrollmentPolicy(course, capacity=1)
            world.taken[course] = 1
        elif kind == "needs":
            required = draw(st.sampled_from(courses))
            if required != course:
                world.policies[course] = EnrollmentPolicy(course, prerequisites=(required,))
                if draw(st.booleans()):
                    world.completed.add((me, required))
        elif kind == "paid":
            world.paid_without_access.add((me, course))
    for _ in range(draw(st.integers(0, 12))):
        took(world, uuid.uuid4(), *draw(st.lists(st.sampled_from(courses), min_size=1, max_size=4, unique=True)))
    took(world, me, *draw(st.lists(st.sampled_from(courses), max_size=3, unique=True)))
    return world, me


def _could_enroll(world: World, me: uuid.UUID, course: uuid.UUID) -> bool:
    """The rules restated plainly (not through ``EnrollmentRules``)."""
    policy = world.policies.get(course, EnrollmentPolicy.default(course))
    return (
        course in world.published
        and policy.self_enrollment
        and (policy.closes_at is None or policy.closes_at > NOW)
        and (policy.capacity is None or world.taken.get(course, 0) < policy.capacity)
        and all((me, r) in world.completed for r in policy.prerequisites)
        and (me, course) not in world.paid_without_access
    )


@settings(max_examples=150, deadline=None)
@given(drawn=worlds())
async def test_no_list_ever_holds_a_course_taken_or_not_open_to_the_learner_and_every_open_one_can_appear(
    drawn: tuple[World, uuid.UUID],
) -> None:
    world, me = drawn
    service = service_of(world)
    await service.train()
    listed = [s.course_id for s in await service.for_user(me)]
    mine = {i.course_id for i in world.enrollments if i.user_id == me}
    assert len(listed) == len(set(listed))
    assert not set(listed) & mine
    assert all(_could_enroll(world, me, c) for c in listed)
    # Nothing open is withheld when the model knows it (popular: someone took it).
    known = {i.course_id for i in world.enrollments if i.course_id in world.published}
    assert set(listed) == {c for c in known - mine if _could_enroll(world, me, c)}


class CountingStore(InMemoryModelStore):
    """Counts loads, and can hold them until ``release`` is set (a slow load of a big model)."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0
        self.release = asyncio.Event()
        self.release.set()

    async def load(self) -> Model[uuid.UUID]:
        self.loads += 1
        await self.release.wait()
        return await super().load()


class CountingHistory(FakeHistory):
    """Counts the learners' history reads (one per computed list), and can hold their answers (as read) until
    ``release``."""

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.reads = 0
        self.release = asyncio.Event()
        self.release.set()

    async def courses_of(self, user_id: uuid.UUID) -> Sequence[Taken]:
        self.reads += 1
        found = await super().courses_of(user_id)
        await self.release.wait()  # read, not yet answered
        return found


def counting_service(
    world: World, store: InMemoryModelStore, history: FakeHistory, *, cache: InMemoryCache | None, refresh: float
) -> RecommendationService:
    rules = EnrollmentRules(FakeRules(world), FakeCompletions(world), FakeAccess(world))
    return RecommendationService(
        FakeSource(world),
        store,
        history,
        rules,
        FakePublished(world),
        FixedClock(NOW),
        CursorCodec(b"0123456789abcdef0123"),
        cache,
        refresh_seconds=refresh,
    )


async def test_training_in_this_process_serves_its_model_without_reading_it_back(world: World) -> None:
    a, b = world.course("A"), world.course("B")
    took(world, uuid.uuid4(), a, b)
    store = CountingStore()
    service = counting_service(world, store, FakeHistory(world), cache=None, refresh=3600)
    await service.train()
    assert [s.course_id for s in (await service.also_taken(a)).items] == [b]
    assert store.loads == 0


async def test_a_due_reload_runs_in_the_background_while_reads_keep_the_model_in_hand(world: World) -> None:
    a, b, c = world.course("A"), world.course("B"), world.course("C")
    took(world, uuid.uuid4(), a, b)
    store = CountingStore()
    reader = counting_service(world, store, FakeHistory(world), cache=None, refresh=0.05)
    trainer = counting_service(world, store, FakeHistory(world), cache=None, refresh=0.05)
    await trainer.train()
    assert [s.course_id for s in (await reader.also_taken(a)).items] == [b]  # the first read waits for its load
    took(world, uuid.uuid4(), a, c)
    took(world, uuid.uuid4(), a, c)
    await trainer.train()  # another process retrains: C is now A's first neighbour
    store.release.clear()  # and its model loads slowly
    await asyncio.sleep(0.06)
    # Due: one reload starts, and none of these reads waits for it (bounded, should one ever wait).
    reads = [await asyncio.wait_for(reader.also_taken(a), 5) for _ in range(3)]
    assert [[s.course_id for s in page.items] for page in reads] == [[b]] * 3
    await asyncio.sleep(0.01)
    assert store.loads == 2  # the one reload started, and is still held
    assert [s.course_id for s in (await reader.also_taken(a)).items] == [b]
    store.release.set()
    for _ in range(100):  # bounded: the background reload finishes within a few loop turns
        if (await reader.also_taken(a)).items[0].course_id == c:
            break
        await asyncio.sleep(0.01)
    assert [s.course_id for s in (await reader.also_taken(a)).items] == [c, b]
    assert store.loads == 2


async def held_lists(
    world: World, cache: InMemoryCache | None, asking: int
) -> tuple[
    RecommendationService, CountingHistory, uuid.UUID, uuid.UUID, uuid.UUID, list[asyncio.Task[list[Suggestion]]]
]:
    """A trained service whose history reads are held, and ``asking`` requests for one learner's list
    waiting on them: (service, history, learner, course A, course B, the requests)."""
    a, b = world.course("A"), world.course("B")
    took(world, uuid.uuid4(), a, b)
    history = CountingHistory(world)
    service = counting_service(world, InMemoryModelStore(), history, cache=cache, refresh=3600)
    await service.train()
    me = uuid.uuid4()
    history.release.clear()
    waiting = [asyncio.create_task(service.for_user(me)) for _ in range(asking)]
    await asyncio.sleep(0.01)  # every request is in, the history read under way (and sees no enrollment yet)
    return service, history, me, a, b, waiting


async def test_concurrent_misses_for_one_learner_compute_the_list_once(world: World) -> None:
    service, history, me, a, b, waiting = await held_lists(world, InMemoryCache(), 5)
    history.release.set()
    lists = await asyncio.gather(*waiting)
    assert [{s.course_id for s in items} for items in lists] == [{a, b}] * 5
    assert history.reads == 1
    assert {s.course_id for s in await service.for_user(me)} == {a, b}  # cached now
    assert history.reads == 1


async def test_a_list_computed_across_an_enrollment_change_is_not_kept(world: World) -> None:
    service, history, me, a, b, (before,) = await held_lists(world, InMemoryCache(), 1)
    took(world, me, a)
    await service.forget(me)  # the enrollment's commit
    history.release.set()
    assert {s.course_id for s in await before} == {a, b}  # answered as of when it was asked
    assert [s.course_id for s in await service.for_user(me)] == [b]  # but not cached: the next one reads again
    assert history.reads == 2


async def test_concurrent_misses_without_a_cache_also_share_one_computation(world: World) -> None:
    service, history, me, _a, _b, waiting = await held_lists(world, None, 3)
    history.release.set()
    assert len({tuple(s.course_id for s in items) for items in await asyncio.gather(*waiting)}) == 1
    assert history.reads == 1
    await service.for_user(me)  # nothing kept: the next request computes again
    assert history.reads == 2
