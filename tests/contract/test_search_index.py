"""The search port's contract on the in-memory fake, SQLite FTS5 and PostgreSQL full-text search.

What every engine guarantees: case- and accent-insensitive matching, prefixes, phrases, exclusions,
filters, facets that add up to the total, permission filtering inside the query, highlights that
never break HTML escaping, suggestions. What only some engines add is declared by their
``capabilities`` and tested as such: English stemming (SQLite and PostgreSQL), stemming beyond
English and typo tolerance with did-you-mean (PostgreSQL).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from elearning_adapters.sql.search import index_for
from elearning_core.search.model import (
    FACET_VALUES,
    PUBLIC,
    DocumentKind,
    SearchDocument,
    SearchQuery,
    SearchSort,
    Visibility,
    course_members,
    parse_query,
)
from elearning_core.search.ports import SearchIndex
from elearning_core.search.service import SearchRequest, SearchService
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import SYSTEM, Principal
from tests.contract.conftest import sql_database
from tests.fakes import T0, FixedClock
from tests.search_fakes import FakeSearchAudience, InMemoryQueryLog, InMemorySearchIndex, InMemorySynonyms

EVERYONE = Visibility()
COURSE = uuid.UUID("00000000-0000-7000-8000-000000000001")


@dataclass
class Backend:
    name: str
    index: SearchIndex


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "fake":
        yield Backend("fake", InMemorySearchIndex())
        return
    db = await sql_database(request, tmp_path)
    try:
        yield Backend(request.param, index_for(db))
    finally:
        await db.dispose()


def doc(
    title: str,
    body: str = "",
    *,
    kind: DocumentKind = DocumentKind.COURSE,
    access: frozenset[str] = frozenset({PUBLIC}),
    tags: tuple[str, ...] = (),
    language: str = "en",
    level: str | None = "beginner",
    free: bool | None = True,
    age: int = 0,
    course_id: uuid.UUID = COURSE,
) -> SearchDocument:
    return SearchDocument(
        kind,
        uuid.uuid4(),
        course_id,
        title,
        body,
        f"/x/{title[:10]}",
        T0 - timedelta(days=age),
        access,
        tags,
        "Ada Lovelace",
        language,
        level,
        free,
        None,
    )


async def find(index: SearchIndex, q: str, visibility: Visibility = EVERYONE, **kw: object) -> list[str]:
    result = await index.search(SearchQuery(parse_query(q), visibility, limit=50, **kw))  # type: ignore[arg-type]
    return [h.title for h in result.hits]


async def test_matching_ignores_case_and_accents(backend: Backend) -> None:
    await backend.index.upsert([doc("Café crème for beginners"), doc("Tea ceremony")])
    for q in ("CAFE", "café", "Cafe creme", "CRÈME"):
        assert await find(backend.index, q) == ["Café crème for beginners"], q
    assert await find(backend.index, "coffee") == []


async def test_the_last_word_is_a_prefix(backend: Backend) -> None:
    await backend.index.upsert([doc("Programming in Python"), doc("Progress reports")])
    assert await find(backend.index, "pyth") == ["Programming in Python"]
    assert sorted(await find(backend.index, "pro")) == ["Programming in Python", "Progress reports"]
    assert await find(backend.index, "pyth ") == []  # a finished word is a whole word


async def test_phrases_keep_their_order_and_exclusions_exclude(backend: Backend) -> None:
    await backend.index.upsert(
        [doc("Machine learning basics"), doc("Learning the machine shop"), doc("Deep learning", "python")]
    )
    assert await find(backend.index, '"machine learning"') == ["Machine learning basics"]
    assert sorted(await find(backend.index, "learning -machine")) == ["Deep learning"]


async def test_every_word_must_match_anywhere_in_the_document(backend: Backend) -> None:
    await backend.index.upsert([doc("Statistics", "an introduction with spreadsheets", tags=("data",))])
    assert await find(backend.index, "statistics spreadsheets data") == ["Statistics"]
    assert await find(backend.index, "statistics astronomy") == []


async def test_english_stemming(backend: Backend) -> None:
    if not backend.index.capabilities.english_stemming:
        pytest.skip(f"{backend.name} does not stem")
    await backend.index.upsert([doc("Running a marathon", "how runners train")])
    assert await find(backend.index, "runs ") == ["Running a marathon"]
    assert await find(backend.index, "trained ") == ["Running a marathon"]


async def test_french_and_german_stemming(backend: Backend) -> None:
    if not backend.index.capabilities.stemming_beyond_english:
        pytest.skip(f"{backend.name} stems only English (or nothing)")
    await backend.index.upsert(
        [
            doc("Les étudiantes apprennent", language="fr"),
            doc("Die Entwicklungen der Software", language="de"),
        ]
    )
    assert await find(backend.index, "etudiante ") == ["Les étudiantes apprennent"]
    assert await find(backend.index, "Entwicklung ") == ["Die Entwicklungen der Software"]


async def test_typos_are_corrected_from_what_the_caller_may_read(backend: Backend) -> None:
    if not backend.index.capabilities.typo_tolerance:
        pytest.skip(f"{backend.name} has no typo tolerance")
    hidden = frozenset({course_members(uuid.uuid4())})
    await backend.index.upsert([doc("Python for data science"), doc("Kubernetes operations", access=hidden)])
    assert await backend.index.corrections(["pyton"], EVERYONE) == {"pyton": "python"}
    assert await backend.index.corrections(["kubrnetes"], EVERYONE) == {}
    assert await backend.index.corrections(["kubrnetes"], Visibility(everything=True)) == {"kubrnetes": "kubernetes"}
    service = SearchService(
        backend.index,
        FakeSearchAudience(),
        InMemorySynonyms(),
        InMemoryQueryLog(),
        FixedClock(T0),
        CursorCodec(b"k" * 32),
    )
    page = await service.search(Principal(subject="anonymous"), SearchRequest(q="pyton sciense"))
    assert page.result.did_you_mean == "python science"
    assert [h.title for h in page.result.hits] == ["Python for data science"]


async def test_highlights_never_break_html_escaping(backend: Backend) -> None:
    nasty = '<script>alert("café")</script> & <b>Café</b> l\'ami \ue000x\ue001'
    await backend.index.upsert([doc(nasty, body=f"{nasty} more text about cafe")])
    result = await backend.index.search(SearchQuery(parse_query("cafe"), EVERYONE))
    (hit,) = result.hits
    assert "<mark>" in hit.highlight
    without_marks = hit.highlight.replace("<mark>", "").replace("</mark>", "")
    assert "<" not in without_marks
    assert ">" not in without_marks.replace("&gt;", "")
    assert "&lt;script&gt;" in without_marks
    assert re.search(r"<mark>caf[ée]</mark>", hit.highlight, re.I)
    tagged = await backend.index.search(SearchQuery(parse_query("script"), EVERYONE))
    assert tagged.total == 1  # a word in angle brackets is still a word


async def test_facets_add_up_to_the_total_and_filters_narrow(backend: Backend) -> None:
    await backend.index.upsert(
        [
            doc("Python one", level="beginner", tags=("python", "web")),
            doc("Python two", level="advanced", tags=("python",), free=False),
            doc("Python three", level="beginner", language="fr", tags=("data",)),
            doc("Python lesson", kind=DocumentKind.LESSON, level="beginner"),
            doc("Ruby", level="beginner"),
        ]
    )
    facets = ("kind", "level", "language", "tag", "free")
    result = await backend.index.search(SearchQuery(parse_query("python"), EVERYONE, facets=facets))
    assert result.total == 4
    for single in ("kind", "level", "language", "free"):
        assert sum(result.facets[single].values()) == result.total, single
    assert result.facets["kind"] == {"course": 3, "lesson": 1}
    assert result.facets["tag"] == {"python": 2, "data": 1, "web": 1}
    narrowed = await backend.index.search(
        SearchQuery(
            parse_query("python"),
            EVERYONE,
            kinds=frozenset({DocumentKind.COURSE}),
            filters={"level": frozenset({"beginner"}), "free": frozenset({"true"})},
            facets=facets,
        )
    )
    assert sorted(h.title for h in narrowed.hits) == ["Python one", "Python three"]
    assert narrowed.facets["language"] == {"en": 1, "fr": 1}


async def test_a_facet_lists_its_most_frequent_values_first_and_at_most_facet_values(backend: Backend) -> None:
    docs = [
        doc(f"Atlas {i}", tags=(f"t{i:03d}", "common") if i < 3 else (f"t{i:03d}",)) for i in range(FACET_VALUES + 5)
    ]
    await backend.index.upsert(docs)
    result = await backend.index.search(SearchQuery(parse_query("atlas"), EVERYONE, facets=("tag",)))
    tags = result.facets["tag"]
    assert result.total == FACET_VALUES + 5
    assert len(tags) == FACET_VALUES
    assert list(tags.items())[:4] == [("common", 3), ("t000", 1), ("t001", 1), ("t002", 1)]
    assert "t104" not in tags  # ties go by value, and the last ones fall off


async def test_what_the_caller_may_not_read_is_not_counted(backend: Backend) -> None:
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    await backend.index.upsert(
        [
            doc("Secret lesson one", kind=DocumentKind.LESSON, access=frozenset({course_members(theirs)})),
            doc("Secret lesson two", kind=DocumentKind.LESSON, access=frozenset({course_members(mine)})),
            doc("Secret course", tags=("secret",)),
        ]
    )
    member = Visibility(frozenset({PUBLIC, course_members(mine)}))
    anonymous = await backend.index.search(SearchQuery(parse_query("secret"), EVERYONE, facets=("kind",)))
    assert (anonymous.total, anonymous.facets["kind"]) == (1, {"course": 1})
    enrolled = await backend.index.search(SearchQuery(parse_query("secret"), member, facets=("kind",)))
    assert (enrolled.total, enrolled.facets["kind"]) == (2, {"course": 1, "lesson": 1})
    assert [s.text for s in await backend.index.suggest(parse_query("secr"), EVERYONE, 5)] == ["Secret course"]
    admin = await backend.index.search(SearchQuery(parse_query("secret"), Visibility(everything=True)))
    assert admin.total == 3


async def test_words_never_match_the_access_tokens_the_index_keeps(backend: Backend) -> None:
    """Each engine keeps a document's access tokens inside its full-text index (SQLite as ``zacl<hex>x``
    tokens, PostgreSQL as ``_acl:`` lexemes): a query's words, whole or as a prefix, only ever match text."""
    await backend.index.upsert([doc("Open course"), doc("Zac's course", "zacl zaclx")])
    sqlite_token = "zacl" + PUBLIC.encode().hex() + "x"
    queries = ("z", "za", "zac", sqlite_token, sqlite_token[:7], "ac", "acl", "_ac", f"acl:{PUBLIC}", f"_acl:{PUBLIC}")
    for q in (*queries, f"acl {PUBLIC}", PUBLIC, PUBLIC[:3]):
        found = await find(backend.index, q)
        assert "Open course" not in found, q
    assert await find(backend.index, "zacl ") == ["Zac's course"]
    assert await find(backend.index, "zac") == ["Zac's course"]


async def test_suggestions_complete_titles(backend: Backend) -> None:
    await backend.index.upsert(
        [doc("Python for beginners"), doc("Pythagoras", kind=DocumentKind.LESSON), doc("Rust", body="python")]
    )
    suggested = [s.text for s in await backend.index.suggest(parse_query("pyth"), EVERYONE, 5)]
    assert suggested[0] == "Python for beginners"
    assert sorted(suggested) == ["Pythagoras", "Python for beginners"]
    assert [s.text for s in await backend.index.suggest(parse_query("python for b"), EVERYONE, 5)] == [
        "Python for beginners"
    ]


async def test_pages_cover_every_hit_once_and_newest_sorts_by_date(backend: Backend) -> None:
    await backend.index.upsert([doc(f"Course number {i}", age=i) for i in range(7)])
    seen: list[str] = []
    for offset in range(0, 7, 3):
        result = await backend.index.search(SearchQuery(parse_query("course"), EVERYONE, offset=offset, limit=3))
        assert result.total == 7
        seen += [h.title for h in result.hits]
    assert sorted(seen) == sorted(f"Course number {i}" for i in range(7))
    newest = await find(backend.index, "course", sort=SearchSort.NEWEST)
    assert newest == [f"Course number {i}" for i in range(7)]
    assert await find(backend.index, "") == newest  # no words: everything, newest first


async def test_upserts_replace_and_deletes_remove(backend: Backend) -> None:
    first = doc("Old title")
    await backend.index.upsert([first])
    await backend.index.upsert([SearchDocument(**{**_fields(first), "title": "New title"})])
    assert await find(backend.index, "title") == ["New title"]
    other = doc("Lesson", kind=DocumentKind.LESSON)
    await backend.index.upsert([other])
    await backend.index.delete_course(str(COURSE), [DocumentKind.LESSON], keep=[])
    assert await backend.index.count() == {"course": 1}
    await backend.index.delete([first.key])
    assert await backend.index.count() == {}


def _fields(d: SearchDocument) -> dict[str, object]:
    return {name: getattr(d, name) for name in SearchDocument.__slots__}  # type: ignore[attr-defined]


async def test_synonyms_widen_a_word_through_the_service(backend: Backend) -> None:
    await backend.index.upsert([doc("JavaScript essentials"), doc("Java basics")])
    synonyms = InMemorySynonyms()
    service = SearchService(
        backend.index, FakeSearchAudience(), synonyms, InMemoryQueryLog(), FixedClock(T0), CursorCodec(b"k" * 32)
    )
    await service.put_synonyms(SYSTEM, "JS", ["javascript"])
    page = await service.search(Principal(subject="anonymous"), SearchRequest(q="js "))
    assert [h.title for h in page.result.hits] == ["JavaScript essentials"]
