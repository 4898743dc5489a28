"""Search, bounded work per common word and cheaper writes: on PostgreSQL ``search_documents`` becomes a
table hash-partitioned on its key, in ``PARTITIONS`` parts, each with its own GIN indexes; and did-you-mean's
trigram index moves from every (word, document) row of ``search_words`` to ``search_vocabulary``, each
distinct word once (a third of a batch's write time went to the old index; a known word adds nothing now);
and the search tables' keys, tokens, facet values and words compare byte by byte (``COLLATE "C"``).

Why: a GIN index answers with a bitmap of every match, built before a LIMIT applies, so a word in half
of the documents read half the index per query however few rows the query kept (the search's sample
is bounded at the count cap). The partitions are scanned in order (an ``Append``) and the LIMIT stops
the scan: a common word's sample is found in the first part and the others are never read; a rare
word reads every part's small posting lists, as much as one index did. The key is the partition key, so
the primary key and the writer's ``ON CONFLICT (key)`` stay as they were. SQLite is unchanged.

On the way, each document's access lexemes are renamed ``_acl:<token>`` (see ``_ACCESS_LEXEMES``).

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

PARTITIONS = 8
TITLE_TSV = "to_tsvector('search_simple'::regconfig, translate(title, '<>', '  '))"
"""As migration 0030 made it (the query repeats this expression to use the index)."""
_OLD = "search_documents_unpartitioned"
_BYTEWISE = {"search_access": ("key", "token"), "search_facets": ("key", "value"), "search_words": ("word", "key")}
"""Compared byte by byte from this revision on (``COLLATE "C"``): through the database's collation, a batch's
inserts into these B-trees took twice as long."""
_ACCESS_LEXEMES = {
    direction: (
        f"ts_delete(tsv, ARRAY(SELECT lexeme FROM unnest(tsv) AS u WHERE starts_with(lexeme, '{old}'))) || "
        f"setweight(array_to_tsvector(ARRAY(SELECT '{new}' || substr(lexeme, {len(old) + 1}) FROM unnest(tsv) AS u "
        f"WHERE starts_with(lexeme, '{old}'))), 'D')"
    )
    for direction, (old, new) in {True: ("acl:", "_acl:"), False: ("_acl:", "acl:")}.items()
}
"""The ``tsv`` with its access lexemes renamed: ``acl:<token>`` (migration 0030) became ``_acl:<token>``, which
no query's prefix reaches (``ac:*`` matched every document); and back on the way down."""


def _indexes() -> None:
    op.execute("ALTER TABLE search_documents ADD CONSTRAINT pk_search_documents PRIMARY KEY (key)")
    op.execute("CREATE INDEX ix_search_documents_course_id ON search_documents (course_id)")
    op.execute("CREATE INDEX ix_search_documents_kind_indexed_at ON search_documents (kind, indexed_at)")
    op.execute("CREATE INDEX ix_search_documents_published_at ON search_documents (published_at, key)")
    op.execute("CREATE INDEX ix_search_documents_tsv ON search_documents USING gin (tsv)")
    op.execute(f"CREATE INDEX ix_search_documents_title_tsv ON search_documents USING gin (({TITLE_TSV}))")


def _collate(collation: str) -> None:
    """The side tables' keys, tokens, facet values and words in ``collation`` (their indexes are rebuilt)."""
    for table, columns in _BYTEWISE.items():
        changes = ", ".join(f'ALTER COLUMN {c} TYPE varchar(60) COLLATE "{collation}"' for c in columns)
        op.execute(f"ALTER TABLE {table} {changes}")


def _move(partitions: int, collation: str) -> None:
    """The rows into a new ``search_documents`` (hash-partitioned when ``partitions``, its key in
    ``collation``), then its indexes: built once over the copied rows, not row by row."""
    op.execute(f"ALTER TABLE search_documents RENAME TO {_OLD}")
    for name in ("course_id", "kind_indexed_at", "published_at", "tsv", "title_tsv"):
        op.execute(f"DROP INDEX ix_search_documents_{name}")
    op.execute(f"ALTER TABLE {_OLD} DROP CONSTRAINT pk_search_documents")
    key = f'ALTER COLUMN key TYPE varchar(60) COLLATE "{collation}"'
    by = " PARTITION BY HASH (key)" if partitions else ""
    if partitions:  # a partition key's column cannot change: the new table's comes from the old one's
        op.execute(f"ALTER TABLE {_OLD} {key}")
    op.execute(f"CREATE TABLE search_documents (LIKE {_OLD} INCLUDING DEFAULTS){by}")
    if not partitions:
        op.execute(f"ALTER TABLE search_documents {key}")
    for n in range(partitions):
        op.execute(
            f"CREATE TABLE search_documents_p{n} PARTITION OF search_documents "
            f"FOR VALUES WITH (MODULUS {partitions}, REMAINDER {n})"
        )
    columns = "key, kind, doc_id, course_id, lesson_id, title, body, tags, people, language, level, free, duration, url"
    op.execute(
        f"INSERT INTO search_documents ({columns}, published_at, indexed_at, tsv) "
        f"SELECT {columns}, published_at, indexed_at, {_ACCESS_LEXEMES[bool(partitions)]} FROM {_OLD}"
    )
    op.execute(f"DROP TABLE {_OLD}")
    _indexes()


def upgrade() -> None:
    bytewise = sa.String(60).with_variant(sa.String(60, collation="C"), "postgresql")
    op.create_table("search_vocabulary", sa.Column("word", bytewise, primary_key=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_search_words_trgm")
        _collate("C")
        _move(PARTITIONS, "C")
        op.execute("INSERT INTO search_vocabulary (word) SELECT DISTINCT word FROM search_words")
        trgm = _trgm_schema()
        op.execute(
            "CREATE INDEX ix_search_vocabulary_trgm ON search_vocabulary "
            f"USING gin (search_unaccent(word) {trgm}.gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _move(0, "default")
        _collate("default")
        trgm = _trgm_schema()
        op.execute(
            f"CREATE INDEX ix_search_words_trgm ON search_words USING gin (search_unaccent(word) {trgm}.gin_trgm_ops)"
        )
    op.drop_table("search_vocabulary")


def _trgm_schema() -> str:
    query = (
        "SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    )
    schema: str = op.get_bind().execute(sa.text(query)).scalar_one()
    return schema
