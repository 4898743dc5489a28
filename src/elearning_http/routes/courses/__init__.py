"""``/api/v1/courses``: the catalog (public reads) and course authoring (writes).

Routes only translate: parse the request into a command, call the service,
map the result to a response. Rules and permissions live in the core.

Re-exported from its parts: ``_schemas`` (request bodies and parameters), ``_reads`` (the catalog
reads), ``_writes`` (authoring) and ``_teaching`` (``/api/v1/me/teaching``).
"""

from litestar import Controller

from elearning_http.routes.courses._reads import _CatalogReads
from elearning_http.routes.courses._schemas import (
    GATED_READ_ERRORS,
    OPEN,
    READ_ERRORS,
    WRITE_ERRORS,
    CourseId,
    CoursePatch,
    LessonId,
    LessonOrder,
    NewItem,
    Rename,
    SectionId,
    SectionOrder,
    VersionQuery,
    ViewAsQuery,
)
from elearning_http.routes.courses._teaching import TeachingItem, my_teaching
from elearning_http.routes.courses._writes import _Authoring


class CourseController(_CatalogReads, _Authoring, Controller):
    path = "/api/v1/courses"
    tags = ["courses"]


__all__ = [
    "GATED_READ_ERRORS",
    "OPEN",
    "READ_ERRORS",
    "WRITE_ERRORS",
    "CourseController",
    "CourseId",
    "CoursePatch",
    "LessonId",
    "LessonOrder",
    "NewItem",
    "Rename",
    "SectionId",
    "SectionOrder",
    "TeachingItem",
    "VersionQuery",
    "ViewAsQuery",
    "my_teaching",
]
