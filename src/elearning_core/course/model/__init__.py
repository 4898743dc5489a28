"""The Course aggregate: a course with ordered sections, each with ordered lessons.

All invariants live here: value rules (titles, slugs, languages, tags, lesson
content), the lifecycle (draft -> published -> draft, anything -> archived),
"no publishing without a lesson" and "an archived course is read-only". Each
state change records a domain event that the unit of work writes to the outbox.

The aggregate is always the editable draft. Publishing freezes the draft into
an immutable, numbered ``CourseVersion`` (a JSON snapshot with the lessons'
rendered HTML) that learners read; editing a published course changes the
draft only, until the next publish makes version N+1.

Re-exported from its parts: ``elearning_core.course.values`` (limits, enums and value checks: a
module of its own, outside this package, so the CLI can build its options without building the models),
``_content`` (the outline's values and published versions) and ``_course``
(the aggregate).
"""

from elearning_core.course.model._content import (
    Attachment,
    CourseVersion,
    Lesson,
    LessonContent,
    MarkdownToHtml,
    PublishedDetails,
    Section,
    SectionRelease,
    escaped_text_html,
)
from elearning_core.course.model._course import (
    Course,
)
from elearning_core.course.values import (
    ATTACHMENT_NAME_MAX,
    ATTACHMENT_SIZE_MAX,
    ATTACHMENTS_MAX,
    BODY_MAX_BYTES,
    CONTENT_TYPE_MAX,
    DESCRIPTION_MAX,
    DURATION_MAX,
    LESSONS_MAX,
    RELEASE_AFTER_DAYS_MAX,
    SECTIONS_MAX,
    SLUG_MAX,
    SLUG_MIN,
    SNAPSHOT_FORMAT,
    STORAGE_KEY_MAX,
    SUMMARY_MAX,
    TAG_MAX,
    TAGS_MAX,
    TITLE_MAX,
    URL_MAX,
    Access,
    CourseStatus,
    LessonKind,
    Level,
    check_attachment_name,
    check_language,
    check_slug,
    check_storage_key,
    check_tags,
    check_text,
    check_title,
    check_url,
    first_free_slug,
    slug_with_suffix,
    slugify,
)

__all__ = [
    "ATTACHMENTS_MAX",
    "ATTACHMENT_NAME_MAX",
    "ATTACHMENT_SIZE_MAX",
    "BODY_MAX_BYTES",
    "CONTENT_TYPE_MAX",
    "DESCRIPTION_MAX",
    "DURATION_MAX",
    "LESSONS_MAX",
    "RELEASE_AFTER_DAYS_MAX",
    "SECTIONS_MAX",
    "SLUG_MAX",
    "SLUG_MIN",
    "SNAPSHOT_FORMAT",
    "STORAGE_KEY_MAX",
    "SUMMARY_MAX",
    "TAGS_MAX",
    "TAG_MAX",
    "TITLE_MAX",
    "URL_MAX",
    "Access",
    "Attachment",
    "Course",
    "CourseStatus",
    "CourseVersion",
    "Lesson",
    "LessonContent",
    "LessonKind",
    "Level",
    "MarkdownToHtml",
    "PublishedDetails",
    "Section",
    "SectionRelease",
    "check_attachment_name",
    "check_language",
    "check_slug",
    "check_storage_key",
    "check_tags",
    "check_text",
    "check_title",
    "check_url",
    "escaped_text_html",
    "first_free_slug",
    "slug_with_suffix",
    "slugify",
]
