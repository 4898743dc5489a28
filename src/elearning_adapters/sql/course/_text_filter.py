"""The catalog's ``q`` filter, answered by the search index: the courses (every status is indexed; the
catalog's other filters decide which are listed) whose indexed text (title, summary, description, tags, instructors) has a
word starting with each word of ``q``, case and accents aside (``q=CAFE`` finds "Café"). The catalog
applies its own visibility (status, who may list drafts); the index's access tokens play no part here.

The search tables are named in SQL, not imported: the search adapters import the course tables, and
this keeps the two packages from importing each other. The index is a projection, so a course is found
by ``q`` once the ``search`` subscription has handled its change (milliseconds in-process).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, literal, text
from sqlalchemy.types import String

from elearning_core.search.model import MAX_TERMS, words_of

PG_MATCHING_COURSES = (
    "id IN (SELECT doc_id FROM search_documents WHERE kind = 'course' AND tsv @@ to_tsquery('search_simple', %s))"
)
"""The PostgreSQL clause on ``courses`` (its parameter: ``pg_text_query``): the ``simple`` part of the
document's vector (every word as written, unaccented), on its GIN index."""


def _words(q: str) -> list[str]:
    return words_of(q)[:MAX_TERMS]


def pg_text_query(q: str) -> str | None:
    """The ``tsquery`` text of ``q`` for the psycopg read path: every word as a prefix (words are letters and
    digits only); None: no word."""
    words = _words(q)
    return " & ".join(f"{w}:*" for w in words) if words else None


def text_filter(q: str, course_id: Any, *, sqlite: bool) -> Any:
    """The condition on ``course_id`` for SQLAlchemy: the FTS5 rows (SQLite) or the vectors (PostgreSQL)
    matching every word of ``q`` as a prefix."""
    words = _words(q)
    if not words:
        return literal(False)
    if sqlite:
        match = "rowid IN (SELECT rowid FROM search_fts WHERE search_fts MATCH :catalog_q)"
        expression = " AND ".join(f'"{w}"*' for w in words)
    else:
        match = "tsv @@ to_tsquery('search_simple', :catalog_q)"
        expression = " & ".join(f"{w}:*" for w in words)
    matching = text(f"SELECT doc_id FROM search_documents WHERE kind = 'course' AND {match}")
    return course_id.in_(matching.bindparams(bindparam("catalog_q", expression, String)))
