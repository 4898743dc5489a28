"""The search module's SQL adapters: the two engines, the synonyms, the query log and the audience."""

from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.search._index import SqlSearchEngine
from elearning_adapters.sql.search._postgres import PostgresSearchIndex
from elearning_adapters.sql.search._sqlite import SqliteSearchIndex
from elearning_adapters.sql.search._stores import SqlQueryLog, SqlSearchAudience, SqlSynonyms
from elearning_adapters.sql.search._tables import ENGINE_OBJECTS, SEARCH_TABLES, search_documents
from elearning_adapters.sql.search._writer import SqlSearchWriter
from elearning_core.search.model import COUNT_CAP

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


def index_for(database: Database, *, count_cap: int = COUNT_CAP) -> SqlSearchEngine:
    """The engine of the database the platform runs on (``count_cap``: see ``SqlSearchEngine``)."""
    engine = SqliteSearchIndex if database.is_sqlite else PostgresSearchIndex
    return engine(database, count_cap=count_cap)
