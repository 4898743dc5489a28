"""Search on PostgreSQL: ``search_documents`` becomes a table hash-partitioned on its key, in
``PARTITIONS`` parts, each with its own GIN indexes.

Why: a GIN index answers with a bitmap of every match, built before a LIMIT applies, so a word in half
of the documents read half the index per query however few rows the query kept (the search's sample
is bounded at the count cap). The partitions are scanned in order (an ``Append``) and the LIMIT stops
the scan: a common word's sample is found in the first part and the others are never read; a rare
word reads every part's small posting lists, as much as one index did. The key is the partition key, so
the primary key and the writer's ``ON CONFLICT (key)`` stay as they were. SQLite is unchanged.

On the way, each document's access lexemes are renamed ``_acl:<token>`` (see ``_ACCESS_LEXEMES``).

Revision ID: 0032
Revises: 0030
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0032"
down_revision = "0030"
branch_labels = None
depends_on = None

PARTITIONS = 8
TITLE_TSV = "to_tsvector('search_simple'::regconfig, translate(title, '<>', '  '))"
"""As migration 0030 made it (the query repeats this expression to use the index)."""
_OLD = "search_documents_unpartitioned"
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


def _move(partitions: int) -> None:
    """The rows into a new ``search_documents`` (hash-partitioned when ``partitions``), then its indexes:
    built once over the copied rows, not row by row."""
    op.execute(f"ALTER TABLE search_documents RENAME TO {_OLD}")
    for name in ("course_id", "kind_indexed_at", "published_at", "tsv", "title_tsv"):
        op.execute(f"DROP INDEX ix_search_documents_{name}")
    op.execute(f"ALTER TABLE {_OLD} DROP CONSTRAINT pk_search_documents")
    by = " PARTITION BY HASH (key)" if partitions else ""
    op.execute(f"CREATE TABLE search_documents (LIKE {_OLD} INCLUDING DEFAULTS){by}")
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
    if op.get_bind().dialect.name == "postgresql":
        _move(PARTITIONS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _move(0)
