"""The assessment repositories, in the unit of work's transaction.

Questions, quizzes and attempts are aggregates: ``get``/``lock``/``add`` stage
them in an identity map, and ``flush`` (at commit) inserts the added ones and
writes back what changed since load, compared with the row kept at load:

- a question: its head row (guarded by the version and ``updated_at`` it was
  loaded with), the versions it wrote (``pull_new_versions``), and its tags
  when the current version moved;
- a quiz: its row, guarded by the ``updated_at`` it was loaded with;
- an attempt: its row only when a column other than ``version`` changed
  (checked against the version loaded, and set to the entity's), and only the
  items whose columns changed, in one executemany. An autosave therefore
  writes one item row and leaves the attempt row (and its stored version)
  alone, although the core counts it in the entity's ``version``. Items
  written without the attempt row are still checked against a concurrent
  writer: unless ``lock`` took the row, a ``SELECT ... FOR UPDATE`` confirms
  the version loaded is current (a submit in between fails this commit).

Extensions, grades and the grading scheme are plain records written at once.
"""

from __future__ import annotations

import builtins
import dataclasses
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from elearning_adapters.sql.assessment._mapping import (
    attempt_from,
    attempt_row,
    categories_json,
    extension_from,
    extension_row,
    grade_row,
    item_from,
    item_row,
    question_from,
    question_row,
    quiz_from,
    quiz_row,
    scheme_from,
    version_from,
    version_row,
)
from elearning_adapters.sql.assessment._tables import (
    attempt_items,
    attempts,
    grading_schemes,
    question_tags,
    question_versions,
    questions,
    quiz_extensions,
    quiz_grades,
    quizzes,
)
from elearning_core.assessment.model import (
    Attempt,
    AttemptItem,
    AttemptStatus,
    Extension,
    GradingScheme,
    Question,
    QuestionVersion,
    Quiz,
    QuizGrade,
)
from elearning_core.assessment.ports import (
    AttemptRepository,
    GradeRepository,
    QuestionRepository,
    QuizRepository,
)
from elearning_core.shared.errors import Conflict

ATTEMPT_EXISTS = "the learner already has an attempt in progress, or one with this number, at this quiz"
QUESTION_CHANGED = "the question was changed by someone else at the same time; retry"
QUIZ_CHANGED = "the quiz was changed by someone else at the same time; retry"
ATTEMPT_CHANGED = "the attempt was changed by someone else at the same time; retry"

IN_PROGRESS: ColumnElement[str] = literal_column("'in_progress'")
"""A literal, not a parameter: SQLite uses a partial index only for a term that matches its predicate."""
DONE = (AttemptStatus.SUBMITTED.value, AttemptStatus.GRADED.value)


def is_attempt_key_violation(exc: IntegrityError) -> bool:
    """Whether a failed commit hit one of the attempts' unique keys (same number; a second in progress)."""
    text = str(exc.orig).lower()
    return "uq_attempts_" in text or "attempts.quiz_id" in text


class VersionCache:
    """Question versions already read, per database engine: a version never changes once written (a
    corrected key is a new version), so a submit or an attempt view reads the 50 bodies it needs
    from here instead of fetching and validating them again. Only rows read back from the database
    enter it (versions are inserted at commit, so a read never sees one that may still roll back).
    Least recently used first out, at most ``size`` per engine."""

    def __init__(self, size: int = 20_000) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._by_engine: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[uuid.UUID, int], QuestionVersion]] = (
            weakref.WeakKeyDictionary()
        )

    def _entries(self, conn: AsyncConnection) -> OrderedDict[tuple[uuid.UUID, int], QuestionVersion]:
        engine = conn.sync_engine
        entries = self._by_engine.get(engine)
        if entries is None:
            entries = self._by_engine.setdefault(engine, OrderedDict())
        return entries

    def get(self, conn: AsyncConnection, key: tuple[uuid.UUID, int]) -> QuestionVersion | None:
        entries = self._entries(conn)
        with self._lock:
            version = entries.get(key)
            if version is not None:
                entries.move_to_end(key)
            return version

    def put(self, conn: AsyncConnection, version: QuestionVersion) -> None:
        entries = self._entries(conn)
        with self._lock:
            entries[(version.question_id, version.version)] = version
            entries.move_to_end((version.question_id, version.version))
            while len(entries) > self._size:
                entries.popitem(last=False)


VERSIONS = VersionCache()


async def _put_per_learner(conn: AsyncConnection, table: Any, values: dict[str, Any]) -> None:
    """Insert or replace the row keyed by (quiz_id, user_id)."""
    changes = {k: v for k, v in values.items() if k not in ("quiz_id", "user_id")}
    statement = upsert(conn, table).values(**values)
    await conn.execute(statement.on_conflict_do_update(index_elements=["quiz_id", "user_id"], set_=changes))


def upsert(conn: AsyncConnection, target: Any) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(target)


class SqlQuestionRepository(QuestionRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._seen: dict[uuid.UUID, Question] = {}
        self._stored: dict[uuid.UUID, dict[str, Any] | None] = {}  # None: not in the database yet

    async def get(self, question_id: uuid.UUID) -> Question | None:
        if question_id in self._seen:
            return self._seen[question_id]
        row = (await self._conn.execute(select(questions).where(questions.c.id == question_id))).first()
        if row is None:
            return None
        current = (
            await self._conn.execute(
                select(question_versions).where(
                    question_versions.c.question_id == question_id, question_versions.c.version == row.current_version
                )
            )
        ).one()
        question = question_from(row, version_from(current))
        self._seen[question.id] = question
        self._stored[question.id] = question_row(question)
        return question

    def add(self, question: Question) -> None:
        self._seen[question.id] = question
        self._stored[question.id] = None

    def seen(self) -> Iterable[Question]:
        return self._seen.values()

    async def versions(self, refs: Collection[tuple[uuid.UUID, int]]) -> dict[tuple[uuid.UUID, int], QuestionVersion]:
        found: dict[tuple[uuid.UUID, int], QuestionVersion] = {}
        wanted = []
        for question_id, version in set(refs):
            staged = self._seen.get(question_id)
            if staged is not None and staged.current.version == version:
                found[(question_id, version)] = staged.current
            elif (cached := VERSIONS.get(self._conn, (question_id, version))) is not None:
                found[(question_id, version)] = cached
            else:
                wanted.append((question_id, version))
        if wanted:
            query = select(question_versions).where(
                tuple_(question_versions.c.question_id, question_versions.c.version).in_(wanted)
            )
            for row in await self._conn.execute(query):
                read = version_from(row)
                VERSIONS.put(self._conn, read)
                found[(row.question_id, row.version)] = read
        return found

    async def current(self, question_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, QuestionVersion]:
        found: dict[uuid.UUID, QuestionVersion] = {}
        wanted = []
        for question_id in set(question_ids):
            staged = self._seen.get(question_id)
            if staged is None:
                wanted.append(question_id)
            elif not staged.archived:
                found[question_id] = staged.current
        if wanted:
            # The current version numbers, then the versions themselves (mostly from the cache).
            query = select(questions.c.id, questions.c.current_version).where(
                questions.c.id.in_(wanted), questions.c.archived.is_(False)
            )
            latest = {row.id: row.current_version for row in await self._conn.execute(query)}
            versions = await self.versions(latest.items())
            found.update((question_id, versions[(question_id, n)]) for question_id, n in latest.items())
        return found

    async def tagged(self, course_id: uuid.UUID, tags: Collection[str]) -> builtins.list[uuid.UUID]:
        wanted = set(tags)
        if wanted:
            query = (
                select(question_tags.c.question_id)
                .join(questions, questions.c.id == question_tags.c.question_id)
                .where(
                    question_tags.c.course_id == course_id,
                    question_tags.c.tag.in_(sorted(wanted)),
                    questions.c.archived.is_(False),
                )
                .group_by(question_tags.c.question_id)
                .having(func.count() == len(wanted))
            )
        else:
            query = select(questions.c.id).where(questions.c.course_id == course_id, questions.c.archived.is_(False))
        ids = set((await self._conn.execute(query)).scalars())
        # What this unit of work changed and has not written yet counts as well.
        for question in self._seen.values():
            if question.course_id != course_id:
                continue
            if not question.archived and wanted <= set(question.current.tags):
                ids.add(question.id)
            else:
                ids.discard(question.id)
        return sorted(ids)

    async def flush(self) -> None:
        for question_id, question in self._seen.items():
            row, stored = question_row(question), self._stored[question_id]
            written = question.pull_new_versions()
            if stored is None:
                await self._conn.execute(insert(questions).values(id=question_id, **row))
                if question.current.version not in {v.version for v in written}:
                    written.append(question.current)
            elif row != stored:
                result = await self._conn.execute(
                    update(questions)
                    .where(
                        questions.c.id == question_id,
                        questions.c.current_version == stored["current_version"],
                        questions.c.updated_at == stored["updated_at"],
                    )
                    .values(**row)
                )
                if result.rowcount != 1:
                    raise Conflict(QUESTION_CHANGED)
            if written:
                await self._conn.execute(insert(question_versions), [version_row(v) for v in written])
            if stored is None or stored["current_version"] != row["current_version"]:
                await self._conn.execute(delete(question_tags).where(question_tags.c.question_id == question_id))
                tags = sorted(set(question.current.tags))
                if tags:
                    await self._conn.execute(
                        insert(question_tags),
                        [{"question_id": question_id, "tag": t, "course_id": question.course_id} for t in tags],
                    )
            self._stored[question_id] = row


class SqlQuizRepository(QuizRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._seen: dict[uuid.UUID, Quiz] = {}
        self._stored: dict[uuid.UUID, dict[str, Any] | None] = {}
        # Extensions read or written in this unit of work: a submit and the view it answers with
        # both need the learner's, and the answer cannot change under the unit's own transaction.
        self._extensions: dict[tuple[uuid.UUID, uuid.UUID], Extension | None] = {}

    async def get(self, quiz_id: uuid.UUID) -> Quiz | None:
        if quiz_id in self._seen:
            return self._seen[quiz_id]
        row = (await self._conn.execute(select(quizzes).where(quizzes.c.id == quiz_id))).first()
        if row is None:
            return None
        quiz = quiz_from(row)
        self._seen[quiz.id] = quiz
        self._stored[quiz.id] = quiz_row(quiz)
        return quiz

    def add(self, quiz: Quiz) -> None:
        self._seen[quiz.id] = quiz
        self._stored[quiz.id] = None

    def seen(self) -> Iterable[Quiz]:
        return self._seen.values()

    async def extension(self, quiz_id: uuid.UUID, user_id: uuid.UUID) -> Extension | None:
        key = (quiz_id, user_id)
        if key not in self._extensions:
            query = select(quiz_extensions).where(
                quiz_extensions.c.quiz_id == quiz_id, quiz_extensions.c.user_id == user_id
            )
            row = (await self._conn.execute(query)).first()
            self._extensions[key] = None if row is None else extension_from(row)
        return self._extensions[key]

    async def put_extension(self, extension: Extension) -> None:
        await self.flush()  # a quiz added in this unit of work must exist first
        await _put_per_learner(self._conn, quiz_extensions, extension_row(extension))
        self._extensions[(extension.quiz_id, extension.user_id)] = extension

    async def remove_extension(self, quiz_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        result = await self._conn.execute(
            delete(quiz_extensions).where(quiz_extensions.c.quiz_id == quiz_id, quiz_extensions.c.user_id == user_id)
        )
        self._extensions[(quiz_id, user_id)] = None
        return bool(result.rowcount)

    async def flush(self) -> None:
        for quiz_id, quiz in self._seen.items():
            row, stored = quiz_row(quiz), self._stored[quiz_id]
            if stored is None:
                await self._conn.execute(insert(quizzes).values(id=quiz_id, **row))
            elif row != stored:
                result = await self._conn.execute(
                    update(quizzes)
                    .where(quizzes.c.id == quiz_id, quizzes.c.updated_at == stored["updated_at"])
                    .values(**row)
                )
                if result.rowcount != 1:
                    raise Conflict(QUIZ_CHANGED)
            self._stored[quiz_id] = row


@dataclasses.dataclass(slots=True)
class _Stored:
    """An attempt as the database has it: its row, its items' rows by position, its version."""

    row: dict[str, Any]
    items: dict[int, dict[str, Any]]
    version: int


def _item_rows(attempt: Attempt) -> dict[int, dict[str, Any]]:
    return {item.position: item_row(item) for item in attempt.items}


_REFRESHED = tuple(f.name for f in dataclasses.fields(Attempt) if not f.name.startswith("_"))


class SqlAttemptRepository(AttemptRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._seen: dict[uuid.UUID, Attempt] = {}
        self._stored: dict[uuid.UUID, _Stored | None] = {}
        self._locked: set[uuid.UUID] = set()

    async def get(self, attempt_id: uuid.UUID) -> Attempt | None:
        if attempt_id in self._seen:
            return self._seen[attempt_id]
        found = await self._load(attempts.c.id == attempt_id, lock=False)
        return found[0] if found else None

    async def lock(self, attempt_id: uuid.UUID) -> Attempt | None:
        if attempt_id in self._seen and self._stored[attempt_id] is None:
            return self._seen[attempt_id]  # added in this unit of work: nobody else can see it
        found = await self._load(attempts.c.id == attempt_id, lock=True)
        return found[0] if found else None

    def add(self, attempt: Attempt) -> None:
        self._seen[attempt.id] = attempt
        self._stored[attempt.id] = None

    def seen(self) -> Iterable[Attempt]:
        return self._seen.values()

    async def of_learner(self, quiz_id: uuid.UUID, user_id: uuid.UUID) -> builtins.list[Attempt]:
        loaded = await self._load(and_(attempts.c.quiz_id == quiz_id, attempts.c.user_id == user_id), lock=False)
        staged = [
            a
            for a_id, a in self._seen.items()
            if self._stored[a_id] is None and a.quiz_id == quiz_id and a.user_id == user_id
        ]
        return sorted([*loaded, *staged], key=lambda a: a.number)

    async def using_question(self, question_id: uuid.UUID) -> builtins.list[Attempt]:
        showing = select(attempt_items.c.attempt_id).where(attempt_items.c.question_id == question_id)
        return await self._load(and_(attempts.c.id.in_(showing), attempts.c.status.in_(DONE)), lock=True)

    async def expired(self, before: uuid.UUID | None, limit: int, now: datetime) -> builtins.list[uuid.UUID]:
        """Past ``expires_at`` (the time limit or the window's close when the attempt started, capped
        as ``Attempt.start`` caps it, plus the grace), strictly, as ``Attempt.expired`` decides."""
        query = (
            select(attempts.c.id)
            .where(attempts.c.status == IN_PROGRESS, attempts.c.expires_at < now)
            .order_by(attempts.c.id)
            .limit(max(limit, 0))
        )
        if before is not None:
            query = query.where(attempts.c.id > before)
        return list((await self._conn.execute(query)).scalars())

    async def _load(self, where: Any, *, lock: bool) -> builtins.list[Attempt]:
        query = select(attempts).where(where).order_by(attempts.c.number, attempts.c.id)
        rows = (await self._conn.execute(query.with_for_update() if lock else query)).all()
        # Items of the attempts new to this unit of work, and of those it now locks (to check them).
        wanted = {r.id for r in rows if r.id not in self._seen or (lock and r.id not in self._locked)}
        items: dict[uuid.UUID, list[AttemptItem]] = {}
        if wanted:
            item_query = (
                select(attempt_items)
                .where(attempt_items.c.attempt_id.in_(sorted(wanted)))
                .order_by(attempt_items.c.attempt_id, attempt_items.c.position)
            )
            for item in await self._conn.execute(item_query):
                items.setdefault(item.attempt_id, []).append(item_from(item))
        found = []
        for row in rows:
            known = self._seen.get(row.id)
            if known is None or row.id in wanted:
                fresh = attempt_from(row, items.get(row.id, []))
                state = _Stored(attempt_row(fresh), _item_rows(fresh), row.version)
                if known is None:
                    self._seen[row.id] = known = fresh
                elif state != self._stored[row.id]:
                    # Read before without the lock, and changed since by someone else.
                    if self._changed(known):
                        raise Conflict(ATTEMPT_CHANGED)
                    for name in _REFRESHED:
                        setattr(known, name, getattr(fresh, name))
                self._stored[row.id] = state
            if lock:
                self._locked.add(row.id)
            found.append(known)
        return found

    def _changed(self, attempt: Attempt) -> bool:
        stored = self._stored.get(attempt.id)
        return stored is None or stored.row != attempt_row(attempt) or stored.items != _item_rows(attempt)

    async def flush(self) -> None:
        for attempt_id, attempt in self._seen.items():
            row, items, stored = attempt_row(attempt), _item_rows(attempt), self._stored[attempt_id]
            if stored is None:
                await self._conn.execute(insert(attempts).values(id=attempt_id, version=attempt.version, **row))
                if items:
                    await self._conn.execute(
                        insert(attempt_items),
                        [{"attempt_id": attempt_id, "position": p, **r} for p, r in items.items()],
                    )
                self._stored[attempt_id] = _Stored(row, items, attempt.version)
                continue
            changed = [p for p, r in items.items() if p in stored.items and stored.items[p] != r]
            added = [p for p in items if p not in stored.items]
            removed = [p for p in stored.items if p not in items]
            version = stored.version
            if row != stored.row:
                # The core bumps ``version`` per change; the row keeps the latest, and at least one more.
                written = max(attempt.version, version + 1)
                result = await self._conn.execute(
                    update(attempts)
                    .where(attempts.c.id == attempt_id, attempts.c.version == version)
                    .values(version=written, **row)
                )
                if result.rowcount != 1:
                    raise Conflict(ATTEMPT_CHANGED)
                version = attempt.version = written
            elif (changed or added or removed) and attempt_id not in self._locked:
                current = select(attempts.c.id).where(attempts.c.id == attempt_id, attempts.c.version == version)
                if (await self._conn.execute(current.with_for_update())).first() is None:
                    raise Conflict(ATTEMPT_CHANGED)
                self._locked.add(attempt_id)
            if changed:
                await self._conn.execute(
                    update(attempt_items).where(
                        attempt_items.c.attempt_id == bindparam("key_attempt_id"),
                        attempt_items.c.position == bindparam("key_position"),
                    ),
                    [{"key_attempt_id": attempt_id, "key_position": p, **items[p]} for p in changed],
                )
            if added:
                await self._conn.execute(
                    insert(attempt_items), [{"attempt_id": attempt_id, "position": p, **items[p]} for p in added]
                )
            if removed:
                await self._conn.execute(
                    delete(attempt_items).where(
                        attempt_items.c.attempt_id == attempt_id, attempt_items.c.position.in_(removed)
                    )
                )
            self._stored[attempt_id] = _Stored(row, items, version)


class SqlGradeRepository(GradeRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def put(self, grade: QuizGrade) -> None:
        await _put_per_learner(self._conn, quiz_grades, grade_row(grade))

    async def scheme(self, course_id: uuid.UUID) -> GradingScheme:
        query = select(grading_schemes.c.categories).where(grading_schemes.c.course_id == course_id)
        return scheme_from(course_id, (await self._conn.execute(query)).scalar())

    async def save_scheme(self, scheme: GradingScheme) -> None:
        categories = categories_json(scheme.categories)
        statement = upsert(self._conn, grading_schemes).values(course_id=scheme.course_id, categories=categories)
        await self._conn.execute(
            statement.on_conflict_do_update(index_elements=["course_id"], set_={"categories": categories})
        )
