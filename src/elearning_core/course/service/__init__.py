"""Course use cases: one method per use case, each one transaction.

Re-exported from its parts: ``_base`` (permission names, wiring, loading and
editing a course), ``_writes`` (edits and lifecycle), ``_imports`` (import and
copy) and ``_reads`` (catalog, outlines, lessons, versions).
"""

from elearning_core.course.service._base import (
    CREATE,
    DELETE,
    EDIT,
    GRANT,
    PUBLISH,
    SLUG_ATTEMPTS,
    VIEW_UNPUBLISHED,
    VersionRef,
    ViewAs,
)
from elearning_core.course.service._imports import _Imports
from elearning_core.course.service._reads import _Reads
from elearning_core.course.service._writes import _Writes


class CourseService(_Writes, _Imports, _Reads):
    """The course module's use cases (see the parts for each group)."""


__all__ = [
    "CREATE",
    "DELETE",
    "EDIT",
    "GRANT",
    "PUBLISH",
    "SLUG_ATTEMPTS",
    "VIEW_UNPUBLISHED",
    "CourseService",
    "VersionRef",
    "ViewAs",
]
