"""Search, bounded work per query: the access tokens inside each engine's full-text index (so the
match and the caller's visibility intersect in the index), and on PostgreSQL the title's own
``tsvector`` as an expression GIN index for as-you-type suggestions.

- PostgreSQL: every document's ``tsv`` gains its access tokens as lexemes of weight D (``acl:<token>``,
  which no text can produce: the parser never makes a lexeme with a colon); the index
  ``ix_search_documents_title_tsv`` over ``to_tsvector('search_simple', title)`` serves prefixes over the
  titles' words only.
- SQLite: ``search_fts`` is rebuilt with an ``access`` column (each token as ``zacl<hex of the token>x``)
  from the rows it indexes.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

TITLE_TSV = "to_tsvector('search_simple'::regconfig, translate(title, '<>', '  '))"
"""Repeated verbatim by ``elearning_adapters.sql.search._postgres.TITLE_TSV`` (the planner matches the expression)."""
ACCESS_SQL = (
    "SELECT group_concat('zacl' || lower(hex(a.token)) || 'x', ' ') FROM search_access a "
    "WHERE a.key = search_documents.key"
)
"""As ``elearning_adapters.sql.search._sqlite.ACCESS_SQL`` (a migration does not import the code it migrates)."""
FTS = "tokenize = 'porter unicode61 remove_diacritics 2', prefix = '2 3 4'"


def _fts(columns: str, access: bool) -> None:
    op.execute("DROP TABLE IF EXISTS search_fts")
    op.execute(f"CREATE VIRTUAL TABLE search_fts USING fts5(key UNINDEXED, {columns}, {FTS})")
    source = f"title, body, tags, people, ({ACCESS_SQL})" if access else "title, body, tags, people"
    op.execute(f"INSERT INTO search_fts (rowid, key, {columns}) SELECT rowid, key, {source} FROM search_documents")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE search_documents SET tsv = tsv || setweight(array_to_tsvector(ARRAY("
            "SELECT 'acl:' || a.token FROM search_access a WHERE a.key = search_documents.key)), 'D')"
        )
        op.execute(f"CREATE INDEX ix_search_documents_title_tsv ON search_documents USING gin (({TITLE_TSV}))")
    else:
        _fts("title, body, tags, people, access", access=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_search_documents_title_tsv")
        op.execute(
            "UPDATE search_documents SET tsv = ts_delete(tsv, ARRAY("
            "SELECT lexeme FROM unnest(tsv) AS u WHERE lexeme LIKE 'acl:%'))"
        )
    else:
        _fts("title, body, tags, people", access=False)
