"""Search: the documents the projection keeps, their access tokens, facets and words, the synonyms
and the query log; on PostgreSQL the weighted tsvector with its GIN index, the unaccenting text
search configurations and the trigram index; on SQLite the FTS5 table.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

LANGUAGES = ("english", "french", "german", "spanish", "italian", "portuguese", "dutch")


def _extension_schema(name: str) -> str:
    """The schema an extension's objects live in (quoted): the database may have it already, in ``public`` or
    elsewhere, and the platform's own schema (``search_path``) need not include that one."""
    op.execute(f"CREATE EXTENSION IF NOT EXISTS {name}")
    query = (
        "SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = :name"
    )
    schema: str = op.get_bind().execute(sa.text(query), {"name": name}).scalar_one()
    return schema


def _postgres() -> None:
    unaccent, trgm = _extension_schema("unaccent"), _extension_schema("pg_trgm")
    # unaccent() is only STABLE (its dictionary could change): the index expressions need an IMMUTABLE wrapper.
    op.execute(
        "CREATE OR REPLACE FUNCTION search_unaccent(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
        f"AS $$ SELECT {unaccent}.unaccent('{unaccent}.unaccent'::regdictionary, $1) $$"
    )
    for name, stem in (("simple", "simple"), *((lang, f"{lang}_stem") for lang in LANGUAGES)):
        op.execute(f"CREATE TEXT SEARCH CONFIGURATION search_{name} (COPY = {name})")
        op.execute(
            f"ALTER TEXT SEARCH CONFIGURATION search_{name} "
            f"ALTER MAPPING FOR hword, hword_part, word WITH {unaccent}.unaccent, {stem}"
        )
    op.execute("ALTER TABLE search_documents ADD COLUMN tsv tsvector NOT NULL DEFAULT ''::tsvector")
    op.execute("CREATE INDEX ix_search_documents_tsv ON search_documents USING gin (tsv)")
    op.execute(
        f"CREATE INDEX ix_search_words_trgm ON search_words USING gin (search_unaccent(word) {trgm}.gin_trgm_ops)"
    )


def _sqlite() -> None:
    op.execute(
        "CREATE VIRTUAL TABLE search_fts USING fts5(key UNINDEXED, title, body, tags, people, "
        "tokenize = 'porter unicode61 remove_diacritics 2', prefix = '2 3 4')"
    )


def upgrade() -> None:
    op.create_table(
        "search_documents",
        sa.Column("key", sa.String(60), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("doc_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("lesson_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("people", sa.Text(), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("level", sa.String(20), nullable=True),
        sa.Column("free", sa.Boolean(), nullable=True),
        sa.Column("duration", sa.String(16), nullable=True),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_search_documents_course_id", "search_documents", ["course_id"])
    op.create_index("ix_search_documents_kind_indexed_at", "search_documents", ["kind", "indexed_at"])
    op.create_index("ix_search_documents_published_at", "search_documents", ["published_at", "key"])
    op.create_table(
        "search_access",
        sa.Column("key", sa.String(60), nullable=False),
        sa.Column("token", sa.String(60), nullable=False),
        sa.PrimaryKeyConstraint("key", "token"),
    )
    op.create_index("ix_search_access_token", "search_access", ["token", "key"])
    op.create_table(
        "search_facets",
        sa.Column("key", sa.String(60), nullable=False),
        sa.Column("facet", sa.String(16), nullable=False),
        sa.Column("value", sa.String(60), nullable=False),
        sa.PrimaryKeyConstraint("key", "facet", "value"),
    )
    op.create_index("ix_search_facets_value", "search_facets", ["facet", "value", "key"])
    op.create_table(
        "search_words",
        sa.Column("word", sa.String(60), nullable=False),
        sa.Column("key", sa.String(60), nullable=False),
        sa.PrimaryKeyConstraint("word", "key"),
    )
    op.create_index("ix_search_words_key", "search_words", ["key"])
    op.create_table(
        "search_synonyms",
        sa.Column("term", sa.String(40), primary_key=True),
        sa.Column("synonyms", sa.JSON(), nullable=False),
    )
    op.create_table(
        "search_queries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("text", sa.String(200), nullable=False),
        sa.Column("results", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_search_queries_at", "search_queries", ["at"])
    if op.get_bind().dialect.name == "postgresql":
        _postgres()
    else:
        _sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ("simple", *LANGUAGES):
            op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS search_{name}")
    else:
        op.execute("DROP TABLE IF EXISTS search_fts")
    for table in ("search_queries", "search_synonyms", "search_words", "search_facets", "search_access"):
        op.drop_table(table)
    op.drop_table("search_documents")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS search_unaccent(text)")
