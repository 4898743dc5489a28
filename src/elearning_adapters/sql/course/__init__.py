"""Course tables, the SQL course repository and the catalog read queries.

Mapping style (used by every module): SQLAlchemy Core tables, and explicit
row <-> entity mapping in the repository; no ORM-mapped classes. Catalog reads
go straight from one SQL statement to flat read models.

Drafts and published versions: ``course_sections``/``course_lessons`` hold the
draft outline, ``course_versions`` one immutable JSON snapshot per published
version. The ``courses`` row serves the catalog listing, so its listed columns
(title, summary, description, language, level, tags, counts, search text and
``course_tags``) hold the latest published version's details while the course
is published, and the draft's otherwise; while published, the draft's own
details are in ``draft_details``. The catalog list therefore never shows a
draft, and stays one indexed query.

Re-exported from its parts: ``_tables`` (the tables), ``_repository`` (the
aggregate's repository), ``_catalog`` (the portable catalog queries and the row
mapping they share) and ``_pg_catalog`` (PostgreSQL's JSON-aggregating catalog
queries, and the choice between the two).
"""

from elearning_adapters.sql.course._catalog import (
    SqlCatalogQueries,
)
from elearning_adapters.sql.course._pg_catalog import (
    PgCatalogQueries,
    catalog_queries_for,
)
from elearning_adapters.sql.course._repository import (
    SqlCourseRepository,
)
from elearning_adapters.sql.course._tables import (
    course_lessons,
    course_sections,
    course_tags,
    course_versions,
    courses,
)

__all__ = [
    "PgCatalogQueries",
    "SqlCatalogQueries",
    "SqlCourseRepository",
    "catalog_queries_for",
    "course_lessons",
    "course_sections",
    "course_tags",
    "course_versions",
    "courses",
]
