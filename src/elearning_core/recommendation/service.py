"""The recommendation use cases: train the read model, list a course's similar and co-taken courses, a
learner's "next for you" list, and the offline evaluation.

The trained model is small (a few neighbours per course) and read on every request, so each process
keeps it in memory and reloads it when the stored model's version changes (looked up at most every
``refresh_seconds``). Only the first read waits for a load; after that a due check runs in the background
(one at a time) while requests keep the model in hand, so a retrain elsewhere never stalls a request on a
reload, and ``train`` in this process installs its model without reading it back.

A learner's list is cached (``Cache``) per model version for ``ttl_seconds``, and dropped when their
enrollments change (``forget``, called on the enrollment events). Concurrent misses for one learner share
one computation (single flight); a ``forget`` during that computation keeps its result out of the cache
(it may predate the change) and lets the next request compute afresh.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from elearning_core.recommendation.evaluation import Report, evaluate
from elearning_core.recommendation.model import Model, Reason, Recommendation, Training, recommend, train
from elearning_core.recommendation.ports import (
    Enrollability,
    LearnerHistory,
    ModelStore,
    PublishedCourses,
    TrainingSource,
)
from elearning_core.shared.cache import Cache
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import NotFound, Unauthenticated, ValidationFailed
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, CursorCodec, Page, check_page_size, scope_of
from elearning_core.shared.ports import Principal

log = logging.getLogger(__name__)

LISTED = 50
"""The longest list served (paged): past that a recommendation says little."""
CANDIDATES = 200
"""How many ranked candidates a learner's list may check against the enrollment rules."""
CHECKED_AT_ONCE = 60
"""Candidates checked per batch (one round of the enrollment rules' reads)."""
CACHE_PREFIX = "recommendations:me"
TRAIN_STAGES = ("read", "also_taken", "similar", "popular", "stored")


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One recommended course, its rank in its list, and why."""

    rank: int
    course_id: uuid.UUID
    title: str
    score: float
    reason: Reason
    because_id: uuid.UUID | None
    because_title: str | None

    @property
    def explanation(self) -> str:
        if self.reason is Reason.POPULAR or self.because_title is None:
            return "popular with learners right now"
        if self.reason is Reason.SIMILAR:
            return f"similar to {self.because_title}"
        return f"because you took {self.because_title}"


@dataclass(frozen=True, slots=True)
class Trained:
    courses: int
    interactions: int
    seconds: float


def _rank_key(s: Suggestion) -> list[Any]:
    return [s.rank]


def _user(actor: Principal) -> uuid.UUID:
    if actor.user_id is None:
        raise Unauthenticated("recommendations are for a signed-in learner")
    return actor.user_id


class RecommendationService:
    def __init__(
        self,
        source: TrainingSource,
        store: ModelStore,
        history: LearnerHistory,
        enrollable: Enrollability,
        courses: PublishedCourses,
        clock: Clock,
        cursors: CursorCodec,
        cache: Cache | None = None,
        *,
        ttl_seconds: float = 60.0,
        refresh_seconds: float = 5.0,
        training: Training = Training(),
    ) -> None:
        self._source, self._store, self._history = source, store, history
        self._enrollable, self._courses, self._clock, self._cursors = enrollable, courses, clock, cursors
        self._cache, self._ttl, self._refresh = cache, ttl_seconds, refresh_seconds
        self._training = training
        self._model: Model[uuid.UUID] = Model()
        self._version: int | None = None
        self._checked_at = -float("inf")
        self._lock = asyncio.Lock()
        self._refreshing: asyncio.Task[None] | None = None
        self._computing: dict[str, asyncio.Future[list[Suggestion]]] = {}

    # -- training and evaluation ---------------------------------------------------------------

    async def train(self, progress: Callable[[str], None] | None = None) -> Trained:
        """Train every recommender on the current enrollments and replace the read model. ``progress`` is
        told each stage done: ``read``, ``also_taken``, ``similar``, ``popular``, ``stored`` (``TRAIN_STAGES``)."""
        started = time.perf_counter()
        interactions = await self._source.interactions()
        documents = await self._source.documents()
        if progress is not None:
            progress("read")
        now = self._clock.now()
        model = await asyncio.to_thread(train, interactions, documents, now, self._training, progress)
        version = await self._store.replace(model)
        if progress is not None:
            progress("stored")
        async with self._lock:
            self._model, self._version, self._checked_at = model, version, time.monotonic()
        return Trained(len(documents), len(interactions), time.perf_counter() - started)

    async def evaluate(self, train_share: float = 0.8, progress: Callable[[int, int], None] | None = None) -> Report:
        if not 0 < train_share < 1:
            raise ValidationFailed("the training share must be between 0 and 1 (exclusive)")
        interactions = await self._source.interactions()
        documents = await self._source.documents()
        if not interactions:
            raise ValidationFailed("there is nothing to evaluate: no enrollments in published courses")
        return await asyncio.to_thread(
            evaluate, interactions, documents, train_share=train_share, progress=progress, training=self._training
        )

    async def model(self) -> Model[uuid.UUID]:
        """The stored model. The first read loads it (concurrent first reads wait for that one load); later
        reads return the model in hand at once and, every ``refresh_seconds``, start a background check
        that swaps in a newer stored model when there is one."""
        return (await self._current())[1]

    async def _current(self) -> tuple[int, Model[uuid.UUID]]:
        """The model in hand and its version, read together (a list's cache key names that version)."""
        if self._version is None or self._refresh <= 0:  # the first read; or no interval (tests): every read
            await self._reload()
        elif time.monotonic() - self._checked_at >= self._refresh and (
            self._refreshing is None or self._refreshing.done()
        ):
            self._refreshing = asyncio.create_task(self._reload(background=True), name="recommendations.reload")
        return (self._version or 0, self._model)

    async def _reload(self, *, background: bool = False) -> None:
        async with self._lock:
            checked = time.monotonic() - self._checked_at < self._refresh
            if self._version is not None and checked:
                return  # another caller checked while this one waited
            try:
                version = await self._store.version()
                if version != self._version:
                    self._model, self._version = await self._store.load(), version
            except Exception:
                if not background:
                    raise
                # The model in hand keeps serving; the next check is an interval away, not the next request.
                log.warning("recommendations: the read model could not be reloaded", exc_info=True)
            self._checked_at = time.monotonic()

    # -- a course's lists ----------------------------------------------------------------------

    async def similar(
        self, course_id: uuid.UUID, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[Suggestion]:
        """Courses like this one by their tags and text."""
        return await self._of_course("similar", course_id, Reason.SIMILAR, cursor, limit)

    async def also_taken(
        self, course_id: uuid.UUID, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[Suggestion]:
        """Courses the learners of this one also took."""
        return await self._of_course("also-taken", course_id, Reason.ALSO_TAKEN, cursor, limit)

    async def _of_course(
        self, listing: str, course_id: uuid.UUID, reason: Reason, cursor: str | None, limit: int
    ) -> Page[Suggestion]:
        check_page_size(limit)
        scope = scope_of(listing, course_id)
        self._cursors.after(scope, cursor, list)  # a bad cursor is refused before any read
        model = await self.model()
        neighbours = (model.similar if reason is Reason.SIMILAR else model.also_taken).get(course_id, [])[:LISTED]
        titles = await self._courses.published([course_id, *(c for c, _ in neighbours)])
        if course_id not in titles:
            raise NotFound("course", course_id)
        items = [
            Suggestion(rank, other, titles[other], round(score, 6), reason, course_id, titles[course_id])
            for rank, (other, score) in enumerate((c, s) for c, s in neighbours if c in titles)
        ]
        return self._cursors.slice(scope, items, cursor, limit, _rank_key)

    # -- a learner's list ----------------------------------------------------------------------

    async def mine(
        self, actor: Principal, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[Suggestion]:
        user_id = _user(actor)
        check_page_size(limit)
        scope = scope_of("my-recommendations", user_id)
        self._cursors.after(scope, cursor, list)
        items = await self.for_user(user_id)
        return self._cursors.slice(scope, items, cursor, limit, _rank_key)

    async def for_user(self, user_id: uuid.UUID, limit: int = LISTED) -> list[Suggestion]:
        """The learner's "next for you" list (cached): never a course they are or were enrolled in, nor one
        they cannot enroll in now."""
        version, model = await self._current()
        key = _key(version, user_id)
        if self._cache is not None:
            cached = await self._cache.get(key)
            if cached is not None:
                return _decode(cached)[:limit]
        running = self._computing.get(key)
        if running is None:
            running = asyncio.ensure_future(self._compute_and_keep(key, user_id, model))
            running.add_done_callback(_retrieved)
            self._computing[key] = running
        # Shielded: a follower whose client went away must not cancel the leader's work for the others.
        return (await asyncio.shield(running))[:limit]

    async def _compute_and_keep(self, key: str, user_id: uuid.UUID, model: Model[uuid.UUID]) -> list[Suggestion]:
        mine = asyncio.current_task()
        try:
            items = await self._compute(user_id, model)
            # A ``forget`` while this ran removed the entry: the list may predate the change, so it is
            # served to the requests that waited for it but not kept.
            if self._cache is not None and self._computing.get(key) is mine:
                await self._cache.set(key, _encode(items), self._ttl)
            return items
        finally:
            if self._computing.get(key) is mine:
                del self._computing[key]

    async def forget(self, *user_ids: uuid.UUID) -> None:
        """Drop the cached lists of these learners (their enrollments changed)."""
        keys = [_key(self._version or 0, u) for u in user_ids]
        for key in keys:
            self._computing.pop(key, None)
        if self._cache is not None and keys:
            await self._cache.delete(*keys)

    async def _compute(self, user_id: uuid.UUID, model: Model[uuid.UUID]) -> list[Suggestion]:
        history = await self._history.courses_of(user_id)
        had = {t.course_id: t.title for t in history}
        ranked: Sequence[Recommendation[uuid.UUID]] = recommend(list(had), model, limit=CANDIDATES, tie=_text_order)
        kept: list[tuple[Recommendation[uuid.UUID], str]] = []
        now = self._clock.now()
        # In chunks, best first: usually the first holds enough courses the learner can take.
        for start in range(0, len(ranked), CHECKED_AT_ONCE):
            chunk = ranked[start : start + CHECKED_AT_ONCE]
            allowed = await self._enrollable.enrollable(user_id, [r.course_id for r in chunk], now)
            kept.extend((r, allowed[r.course_id]) for r in chunk if r.course_id in allowed)
            if len(kept) >= LISTED:
                break
        return [
            Suggestion(
                rank,
                r.course_id,
                title,
                round(r.score, 6),
                r.reason,
                r.because,
                had.get(r.because) if r.because else None,
            )
            for rank, (r, title) in enumerate(kept[:LISTED])
        ]


def _text_order(course_id: uuid.UUID) -> int:
    """Ranks UUIDs as their text does (fixed-width lowercase hex of this number)."""
    return course_id.int


def _retrieved(done: asyncio.Future[list[Suggestion]]) -> None:
    """Marks a shared computation's error as seen: every request that waited for it got it already."""
    if not done.cancelled():
        done.exception()


def _key(version: int, user_id: uuid.UUID) -> str:
    return f"{CACHE_PREFIX}:{version}:{user_id}"


def _encode(items: list[Suggestion]) -> bytes:
    return json.dumps(
        [
            [
                s.rank,
                str(s.course_id),
                s.title,
                s.score,
                s.reason.value,
                s.because_id and str(s.because_id),
                s.because_title,
            ]
            for s in items
        ],
        separators=(",", ":"),
    ).encode()


def _decode(data: bytes) -> list[Suggestion]:
    return [
        Suggestion(rank, uuid.UUID(c), title, score, Reason(reason), uuid.UUID(b) if b else None, bt)
        for rank, c, title, score, reason, b, bt in json.loads(data)
    ]
