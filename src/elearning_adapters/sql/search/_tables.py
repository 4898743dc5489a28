"""The search tables: one row per document, its access tokens, its facet values and its words for
did-you-mean; the admins' synonyms and the query log.

What each engine adds is not on this metadata (``ENGINE_OBJECTS``): on PostgreSQL the weighted
``tsv`` column (the document's own language and ``simple``) with its GIN index, the title's own
``tsvector`` as an expression GIN index (suggestions, migration 0030) and the trigram index of the
vocabulary; on SQLite the ``search_fts`` FTS5 table (porter + unicode61 without diacritics, prefix indexes).
The migrations create them.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, PrimaryKeyConstraint, String, Table, Text
from sqlalchemy.types import JSON, Uuid

from elearning_adapters.sql.engine import UtcDateTime, metadata

BYTEWISE = String(60).with_variant(String(60, collation="C"), "postgresql")
"""Keys, tokens, facet values and words compare byte by byte on PostgreSQL (migration 0032): the database's
own collation (``C.UTF-8`` here, a locale's elsewhere) compares through ``strcoll``, and a batch's inserts
into these B-trees took twice as long. (SQLite compares bytes already.) Python's string order is the same."""

search_documents = Table(
    "search_documents",
    metadata,
    Column("key", BYTEWISE, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("doc_id", Uuid, nullable=False),
    # References to other modules' records: no foreign keys across modules.
    Column("course_id", Uuid, nullable=False),
    Column("lesson_id", Uuid, nullable=True),
    Column("title", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("people", Text, nullable=False),
    Column("language", String(35), nullable=False),
    Column("level", String(20), nullable=True),
    Column("free", Boolean, nullable=True),
    Column("duration", String(16), nullable=True),
    Column("url", String(500), nullable=False),
    Column("published_at", UtcDateTime, nullable=False),
    Column("indexed_at", UtcDateTime, nullable=False),
)
Index("ix_search_documents_course_id", search_documents.c.course_id)
Index("ix_search_documents_kind_indexed_at", search_documents.c.kind, search_documents.c.indexed_at)
Index("ix_search_documents_published_at", search_documents.c.published_at, search_documents.c.key)

search_access = Table(
    "search_access",
    metadata,
    Column("key", BYTEWISE, nullable=False),
    Column("token", BYTEWISE, nullable=False),
    PrimaryKeyConstraint("key", "token"),
)
Index("ix_search_access_token", search_access.c.token, search_access.c.key)

search_facets = Table(
    "search_facets",
    metadata,
    Column("key", BYTEWISE, nullable=False),
    Column("facet", String(16), nullable=False),
    Column("value", BYTEWISE, nullable=False),
    PrimaryKeyConstraint("key", "facet", "value"),
)
Index("ix_search_facets_value", search_facets.c.facet, search_facets.c.value, search_facets.c.key)

search_words = Table(
    "search_words",
    metadata,
    Column("word", BYTEWISE, nullable=False),
    Column("key", BYTEWISE, nullable=False),
    PrimaryKeyConstraint("word", "key"),
)
Index("ix_search_words_key", search_words.c.key)

search_vocabulary = Table(
    "search_vocabulary",
    metadata,
    Column("word", BYTEWISE, primary_key=True),
)
"""Each distinct word of ``search_words`` once, with the trigram index did-you-mean searches on PostgreSQL
(migration 0032): the index grows with the vocabulary, not with every (word, document) pair. Written and
read on PostgreSQL only (SQLite has no typo tolerance)."""

search_synonyms = Table(
    "search_synonyms",
    metadata,
    Column("term", String(40), primary_key=True),
    Column("synonyms", JSON, nullable=False),
)

search_queries = Table(
    "search_queries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("text", String(200), nullable=False),
    Column("results", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)
Index("ix_search_queries_at", search_queries.c.at)

SEARCH_TABLES = (
    "search_documents",
    "search_access",
    "search_facets",
    "search_words",
    "search_vocabulary",
    "search_synonyms",
    "search_queries",
)
LANGUAGES = {
    "en": "english",
    "fr": "french",
    "de": "german",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
}
"""Language code (its primary subtag) -> the PostgreSQL configuration ``search_<name>`` (with unaccent)."""
PG_CONFIGS = ("simple", *LANGUAGES.values())
SEARCH_PARTITIONS = 8
"""On PostgreSQL ``search_documents`` is hash-partitioned on its key in this many parts (migration 0032)."""
ENGINE_OBJECTS = frozenset(
    {"tsv", "ix_search_documents_tsv", "ix_search_documents_title_tsv", "ix_search_vocabulary_trgm", "search_fts"}
    | {f"search_fts_{s}" for s in ("data", "idx", "content", "docsize", "config")}
    | {f"search_documents_p{n}" for n in range(SEARCH_PARTITIONS)}
)
"""What the migrations (0029, 0030, 0032) create beyond this metadata (dialect-specific): the schema comparison skips them."""
