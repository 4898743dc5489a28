"""The search module's SQL adapters: the two engines, the synonyms, the query log and the audience."""

from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.search._index import SqlSearchEngine
from elearning_adapters.sql.search._postgres import PostgresSearchIndex
from elearning_adapters.sql.search._sqlite import SqliteSearchIndex
from elearning_adapters.sql.search._stores import SqlQueryLog, SqlSearchAudience, SqlSynonyms
from elearning_adapters.sql.search._tables import ENGINE_OBJECTS, SEARCH_TABLES, search_documents
from elearning_adapters.sql.search._writer import SqlSearchWriter

__all__ = [
    "ENGINE_OBJECTS",
    "SEARCH_TABLES",
    "PostgresSearchIndex",
    "SqlQueryLog",
    "SqlSearchAudience",
    "SqlSearchEngine",
    "SqlSearchWriter",
    "SqlSynonyms",
    "SqliteSearchIndex",
    "index_for",
    "search_documents",
]


def index_for(database: Database) -> SqlSearchEngine:
    """The engine of the database the platform runs on."""
    return SqliteSearchIndex(database) if database.is_sqlite else PostgresSearchIndex(database)
