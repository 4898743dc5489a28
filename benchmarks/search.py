"""Search at scale: query p95 per selectivity band with facets at a fixed request rate, suggest p95,
the SQLite FTS5 two-word p95, the bulk index write time, and how long a course change takes to be
searchable through the in-process projection.

    python benchmarks/search.py --courses 10000 --lessons 50000        # a moderate run (minutes)
    python benchmarks/search.py --courses 10000 --lessons 200000       # the issue's figure
    python benchmarks/search.py --courses 1000 --lessons 5000 --sqlite-docs 10000 --seconds 5   # a smoke run
    python benchmarks/search.py --reindex-courses 10000 --reindex-lessons 200000 --only-reindex  # the reindex
    python benchmarks/search.py --courses 100000 --lessons 1000000 --database search_scale --skip-sqlite
        # the scale figure; the corpus is kept in that database, and a rerun with the same sizes reuses it

The corpus is synthetic: a vocabulary of ``--vocabulary`` made-up words whose use follows a Zipf law
(s = 1.1), titles of 3-6 words, course texts of 60 words, lesson texts of 150. Documents are written
straight through the engine's writer, ``--batch`` per transaction (multi-row inserts). Queries are one
or two words sampled Zipf-wise from the same vocabulary, then put in a selectivity band by the share of
documents their rarest word appears in: rare (< 0.1 %), medium (0.1-1 %), common (> 1 %). Each band is
sent open-loop at ``--rate`` requests/s for ``--seconds`` through the search service as an anonymous
caller with every facet counted (the HTTP layer adds its own constant, measured by the other benchmarks);
each band also reports the share of its queries past the engine's count cap (``total_relation`` gte).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catalog import DEFAULT_ADMIN_URL, kept_database, log, throwaway_database

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BANDS = (("rare", 0.0, 0.001), ("medium", 0.001, 0.01), ("common", 0.01, 1.01))


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Corpus:
    def __init__(self, vocabulary: int, seed: int) -> None:
        self.rng = random.Random(seed)
        letters = "abcdefghijklmnoprstuvz"
        words: set[str] = set()
        while len(words) < vocabulary:
            words.add("".join(self.rng.choice(letters) for _ in range(self.rng.randint(4, 9))))
        self.words = sorted(words)
        self.rng.shuffle(self.words)
        weights = [1 / (k**1.1) for k in range(1, vocabulary + 1)]
        self.cumulative = list(itertools.accumulate(weights))

    def word(self) -> str:
        return self.words[bisect.bisect_left(self.cumulative, self.rng.random() * self.cumulative[-1])]

    def text(self, n: int) -> str:
        return " ".join(self.word() for _ in range(n))


def documents(corpus: Corpus, courses: int, lessons: int) -> list:  # type: ignore[type-arg]
    from elearning_core.search.model import PUBLIC, DocumentKind, SearchDocument, course_members, duration_bucket

    rng = corpus.rng
    levels, languages = ("beginner", "intermediate", "advanced"), ("en", "en", "en", "fr", "de")
    course_ids = [uuid.uuid4() for _ in range(courses)]
    docs = []
    for i, cid in enumerate(course_ids):
        docs.append(
            SearchDocument(
                DocumentKind.COURSE,
                cid,
                cid,
                corpus.text(rng.randint(3, 6)).title(),
                corpus.text(60),
                f"/api/v1/courses/{cid}",
                T0 + timedelta(minutes=i),
                frozenset({PUBLIC}),
                tuple({corpus.word() for _ in range(3)}),
                "Ada Lovelace",
                rng.choice(languages),
                rng.choice(levels),
                rng.random() < 0.4,
                duration_bucket(rng.randint(600, 40_000)),
            )
        )
    for i in range(lessons):
        cid = course_ids[i % courses]
        lid = uuid.uuid4()
        access = frozenset({PUBLIC}) if rng.random() < 0.1 else frozenset({course_members(cid)})
        docs.append(
            SearchDocument(
                DocumentKind.LESSON,
                lid,
                cid,
                corpus.text(rng.randint(2, 5)).title(),
                corpus.text(150),
                f"/api/v1/courses/{cid}/lessons/{lid}",
                T0 + timedelta(minutes=i),
                access,
                (),
                "",
                "en",
                "beginner",
                True,
                None,
                lid,
            )
        )
    return docs


async def write(index, docs, batch: int) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    for start in range(0, len(docs), batch):
        await index.upsert(docs[start : start + batch])
        if start // batch % 20 == 0:
            log(f"  indexed {start + len(docs[start : start + batch])} of {len(docs)}")
    return time.perf_counter() - started


def banded_queries(corpus: Corpus, docs: list, count: int) -> dict[str, list[str]]:  # type: ignore[type-arg]
    from elearning_core.search.model import PUBLIC, words_of

    frequency: Counter[str] = Counter()
    public = [d for d in docs if PUBLIC in d.access]
    for d in public:
        frequency.update(set(words_of(f"{d.title} {d.body} {' '.join(d.tags)}")))
    bands: dict[str, list[str]] = {name: [] for name, _, _ in BANDS}
    for _ in range(count * 50):
        q = corpus.text(corpus.rng.choice((1, 2)))
        share = min(frequency[w] for w in q.split()) / max(1, len(public))
        for name, low, high in BANDS:
            if low <= share < high and len(bands[name]) < count:
                bands[name].append(q + " ")  # whole words
        if all(len(v) >= count for v in bands.values()):
            break
    return bands


async def open_loop(
    call: Callable[[str], Awaitable[object]], queries: list[str], rate: float, seconds: float
) -> list[float]:
    latencies: list[float] = []
    tasks = []

    async def one(q: str) -> None:
        started = time.perf_counter()
        await call(q)
        latencies.append((time.perf_counter() - started) * 1000)

    begin = time.perf_counter()
    for n in range(int(rate * seconds)):
        delay = begin + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(queries[n % len(queries)])))
    await asyncio.gather(*tasks)
    return latencies


async def postgres(args: argparse.Namespace, url: str) -> dict[str, object]:
    from tests.search_fakes import FakeSearchAudience, InMemoryQueryLog, InMemorySynonyms

    from elearning_adapters.sql import migrate
    from elearning_adapters.sql.engine import Database
    from elearning_adapters.sql.search import PostgresSearchIndex
    from elearning_core.search.model import TotalRelation
    from elearning_core.search.service import SearchRequest, SearchService
    from elearning_core.shared.clock import SystemClock
    from elearning_core.shared.pagination import CursorCodec
    from elearning_core.shared.ports import ANONYMOUS

    db = Database(url)
    await migrate.upgrade(db)
    corpus = Corpus(args.vocabulary, args.seed)
    docs = documents(corpus, args.courses, args.lessons)
    index = PostgresSearchIndex(db)
    if sum((await index.count()).values()) == len(docs):  # a kept database (``--database``) holds this corpus
        log(f"PostgreSQL: reusing the {len(docs)} documents of the kept database")
        seconds = float("nan")
    else:
        log(f"PostgreSQL: writing {len(docs)} documents")
        seconds = await write(index, docs, args.batch)
    # What autovacuum does after a bulk load (its insert threshold): VACUUM also flushes the GIN indexes'
    # pending lists, which every query would otherwise scan linearly (427 pages of the title index after
    # 22,000 documents: a suggestion took 6-17 ms instead of 0.1-0.6).
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql(
            "VACUUM ANALYZE search_documents, search_access, search_facets, search_words, search_vocabulary"
        )
    service = SearchService(
        index, FakeSearchAudience(), InMemorySynonyms(), InMemoryQueryLog(), SystemClock(), CursorCodec(b"b" * 32)
    )
    facets = ("kind", "level", "language", "tag", "free", "duration")
    out: dict[str, object] = {"documents": len(docs), "index_write_s": round(seconds, 1)}
    for band, queries in banded_queries(corpus, docs, 200).items():
        if not queries:
            continue

        capped: list[bool] = []

        async def search(q: str, capped: list[bool] = capped) -> object:
            page = await service.search(ANONYMOUS, SearchRequest(q=q, facets=facets))
            capped.append(page.result.total_relation is TotalRelation.GTE)
            return page

        lat = await open_loop(search, queries, args.rate, args.seconds)
        share = round(100 * sum(capped) / max(1, len(capped)))
        out[f"search_{band}_p95_ms"] = round(p(lat, 0.95), 1)
        out[f"search_{band}_p50_ms"] = round(statistics.median(lat), 1)
        out[f"search_{band}_capped_pct"] = share
        log(
            f"  {band}: p50 {statistics.median(lat):.1f} ms, p95 {p(lat, 0.95):.1f} ms over {len(lat)} queries"
            f" ({share} % past the {index.count_cap:,}-match cap: total_relation gte)"
        )
    prefixes = [w[: corpus.rng.randint(2, 4)] for w in (corpus.word() for _ in range(300))]

    async def suggest(q: str) -> object:
        return await service.suggest(ANONYMOUS, q)

    lat = await open_loop(suggest, prefixes, args.rate, args.seconds)
    out["suggest_p95_ms"] = round(p(lat, 0.95), 1)
    log(f"  suggest: p50 {statistics.median(lat):.1f} ms, p95 {p(lat, 0.95):.1f} ms")
    await db.dispose()
    return out


async def sqlite(args: argparse.Namespace) -> dict[str, object]:
    from elearning_adapters.sql import migrate
    from elearning_adapters.sql.engine import Database
    from elearning_adapters.sql.search import SqliteSearchIndex
    from elearning_core.search.model import SearchQuery as Query
    from elearning_core.search.model import Visibility, parse_query

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{tmp}/bench.db")
        await migrate.upgrade(db)
        corpus = Corpus(args.vocabulary, args.seed + 1)
        courses = max(1, args.sqlite_docs // 10)
        docs = documents(corpus, courses, args.sqlite_docs - courses)
        index = SqliteSearchIndex(db)
        log(f"SQLite: writing {len(docs)} documents")
        seconds = await write(index, docs, args.batch)
        queries = [corpus.text(2) + " " for _ in range(300)]
        lat = []
        for q in queries:  # the embedded default serves one query at a time per process
            started = time.perf_counter()
            await index.search(Query(parse_query(q), Visibility(), facets=("kind", "level")))
            lat.append((time.perf_counter() - started) * 1000)
        await db.dispose()
    log(f"  two words: p50 {statistics.median(lat):.1f} ms, p95 {p(lat, 0.95):.1f} ms")
    return {
        "sqlite_documents": len(docs),
        "sqlite_write_s": round(seconds, 1),
        "sqlite_two_word_p95_ms": round(p(lat, 0.95), 1),
    }


def course_records(corpus: Corpus, courses: int, lessons: int) -> tuple[list[dict], list[dict]]:  # type: ignore[type-arg]
    """Published courses as the course module stores them (a row and its published version's snapshot),
    ``lessons`` spread over them, for the reindex: the same texts as ``documents``."""
    rng = corpus.rng
    rows, versions = [], []
    per_course = [lessons // courses + (1 if i < lessons % courses else 0) for i in range(courses)]
    for i, n in enumerate(per_course):
        cid, at = uuid.uuid4(), T0 + timedelta(minutes=i)
        title, tags = corpus.text(rng.randint(3, 6)).title(), sorted({corpus.word() for _ in range(3)})
        lessons_ = [
            {
                "id": str(uuid.uuid4()),
                "title": corpus.text(rng.randint(2, 5)).title(),
                "body_markdown": corpus.text(150),
                "duration_seconds": rng.randint(60, 1200),
                "preview": rng.random() < 0.1,
            }
            for _ in range(n)
        ]
        snapshot = {
            "title": title,
            "summary": corpus.text(12),
            "description": corpus.text(48),
            "tags": tags,
            "language": rng.choice(("en", "en", "en", "fr", "de")),
            "level": rng.choice(("beginner", "intermediate", "advanced")),
            "sections": [{"title": "Section", "lessons": lessons_}],
        }
        rows.append(
            {
                "id": cid,
                "slug": f"bench-{i}",
                "title": title,
                "summary": snapshot["summary"],
                "description": snapshot["description"],
                "language": snapshot["language"],
                "level": snapshot["level"],
                "tags": tags,
                "status": "published",
                "version": 1,
                "created_at": at,
                "updated_at": at,
                "published_at": at,
                "section_count": 1,
                "lesson_count": n,
                "search_text": title.lower(),
                "published_version": 1,
            }
        )
        versions.append({"course_id": cid, "number": 1, "published_at": at, "snapshot": snapshot})
    return rows, versions


async def backend_cpu(db) -> dict[int, float]:  # type: ignore[no-untyped-def]
    """CPU seconds each server process of this database has used so far (PostgreSQL on this host only:
    read from /proc; empty elsewhere): a figure the machine's other load does not inflate as much as time."""
    from sqlalchemy import text

    if db.is_sqlite:
        return {}
    async with db.read() as conn:
        pids = (await conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"))).all()
    return {pid: seconds for (pid,) in pids if (seconds := process_cpu(pid)) is not None}


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process of this host (None if it is gone or not visible)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def reindex_run(url: str, args: argparse.Namespace) -> dict[str, object]:
    """``elearning search reindex`` over ``--reindex-courses`` courses and ``--reindex-lessons`` lessons stored
    as the course module stores them: the whole rebuild (reading the snapshots, building the documents,
    writing them), first into an empty index, then again over the full one (what an operator's rerun does)."""
    from sqlalchemy import insert

    from elearning_adapters.search.projection import reindex
    from elearning_adapters.sql import migrate
    from elearning_adapters.sql.course import course_versions, courses
    from elearning_adapters.sql.engine import Database
    from elearning_adapters.sql.search import index_for

    db = Database(url)
    await migrate.upgrade(db)
    rows, versions = course_records(Corpus(args.vocabulary, args.seed + 2), args.reindex_courses, args.reindex_lessons)
    for start in range(0, len(rows), 500):
        async with db.write() as conn:
            await conn.execute(insert(courses), rows[start : start + 500])
            await conn.execute(insert(course_versions), versions[start : start + 500])
            await conn.commit()
    engine = index_for(db)
    name = "sqlite" if db.is_sqlite else "postgres"
    out: dict[str, object] = {}
    for phase in ("fresh",) if args.reindex_once else ("fresh", "again"):
        log(f"{name}: reindex ({phase}) of {args.reindex_courses} courses, {args.reindex_lessons} lessons")
        before, cpu = await backend_cpu(db), time.process_time()
        started = time.perf_counter()
        counts = await reindex(db, engine)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        after = await backend_cpu(db)
        server = sum(v - before.get(pid, 0.0) for pid, v in after.items())
        total = sum(counts.values())
        log(
            f"  {total} documents in {seconds:.1f} s ({total / seconds:.0f}/s); CPU: this process {cpu:.1f} s, "
            f"the database's server processes {server:.1f} s; load average {os.getloadavg()[0]:.1f}"
        )
        out[f"{name}_reindex_{phase}_cpu_s"] = round(cpu, 1)
        if after:
            out[f"{name}_reindex_{phase}_server_cpu_s"] = round(server, 1)
        out[f"{name}_reindex_{phase}_s"] = round(seconds, 1)
        out[f"{name}_reindex_docs"] = total
    await db.dispose()
    return out


async def freshness(url: str, trials: int) -> dict[str, object]:
    """A published change, then search until it answers: the in-process projection's delay, from before the
    change (the two commands included) and from the publication's commit (the projection alone). The probe
    asks the index directly every 5 ms (the search service would also write its query log each time)."""
    from elearning_adapters.container import bootstrap
    from elearning_adapters.settings import Settings
    from elearning_core.course.commands import CourseRef, CourseSpec, LessonSpec, SectionSpec, UpdateCourse
    from elearning_core.search.model import SearchQuery, Visibility, parse_query
    from elearning_core.shared.ports import SYSTEM

    platform = await bootstrap(Settings(database_url=url, cache="none"), run_migrations=False)
    spec = CourseSpec(
        slug="fresh",
        title="Fresh",
        status="published",
        sections=[SectionSpec(title="S", lessons=[LessonSpec(title="L")])],
    )
    (course,) = await platform.courses.import_courses(SYSTEM, [spec])
    assert platform.events is not None
    platform.events.start()  # as ``elearning serve`` runs it
    index = platform.container.search.index()
    delays, after_commit = [], []
    for i in range(trials):
        word = f"zqfresh{i}x"
        query = SearchQuery(parse_query(word + " "), Visibility())
        started = time.perf_counter()
        await platform.courses.update(SYSTEM, UpdateCourse(course_id=course.id, title=f"Fresh {word}"))
        await platform.courses.publish(SYSTEM, CourseRef(course_id=course.id))
        committed = time.perf_counter()
        for _ in range(2000):
            if (await index.search(query)).total:
                break
            await asyncio.sleep(0.005)
        else:
            raise SystemExit(f"the change was not searchable after {(time.perf_counter() - started):.0f} s")
        delays.append((time.perf_counter() - started) * 1000)
        after_commit.append((time.perf_counter() - committed) * 1000)
    await platform.events.stop()
    await platform.aclose()
    log(
        f"  change -> searchable: p50 {statistics.median(delays):.0f} ms, p99 {p(delays, 0.99):.0f} ms; "
        f"commit -> searchable: p50 {statistics.median(after_commit):.0f} ms, p99 {p(after_commit, 0.99):.0f} ms "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    return {
        "fresh_p99_ms": round(p(delays, 0.99)),
        "fresh_p50_ms": round(statistics.median(delays)),
        "fresh_after_commit_p99_ms": round(p(after_commit, 0.99)),
        "fresh_after_commit_p50_ms": round(statistics.median(after_commit)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--courses", type=int, default=10_000)
    parser.add_argument("--lessons", type=int, default=200_000)
    parser.add_argument("--sqlite-docs", type=int, default=100_000)
    parser.add_argument("--vocabulary", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=50.0, help="requests/s per band")
    parser.add_argument("--seconds", type=float, default=20.0, help="per band")
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--trials", type=int, default=30, help="change -> searchable trials")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-freshness", action="store_true")
    parser.add_argument(
        "--database", help="keep the PostgreSQL corpus in this database and reuse it when it holds the same count"
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--reindex-courses", type=int, default=0, help="also time a full reindex of this many")
    parser.add_argument("--reindex-lessons", type=int, default=0)
    parser.add_argument("--only-reindex", action="store_true", help="time the reindex and nothing else")
    parser.add_argument("--reindex-once", action="store_true", help="only into an empty index (not again)")
    args = parser.parse_args()
    figures: dict[str, object] = {}
    if args.reindex_courses:
        if not args.skip_postgres:
            with throwaway_database(args.admin_url) as url:
                figures.update(asyncio.run(reindex_run(url, args)))
        if not args.skip_sqlite:
            with tempfile.TemporaryDirectory() as tmp:
                figures.update(asyncio.run(reindex_run(f"sqlite+aiosqlite:///{tmp}/reindex.db", args)))
        if args.only_reindex:
            for key, value in figures.items():
                print(f"{key}: {value}")
            return
    if not args.skip_postgres:
        database = kept_database(args.admin_url, args.database) if args.database else throwaway_database(args.admin_url)
        with database as url:
            figures.update(asyncio.run(postgres(args, url)))
    if not args.skip_freshness:
        with throwaway_database(args.admin_url) as url:

            async def fresh() -> dict[str, object]:
                from elearning_adapters.sql import migrate
                from elearning_adapters.sql.engine import Database

                db = Database(url)
                await migrate.upgrade(db)
                await db.dispose()
                return await freshness(url, args.trials)

            figures.update(asyncio.run(fresh()))
    if not args.skip_sqlite:
        figures.update(asyncio.run(sqlite(args)))
    for key, value in figures.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
