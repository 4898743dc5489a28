"""The course tables: the catalog row, tags, the draft outline and the published versions."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    false,
)
from sqlalchemy.types import JSON, Uuid

from elearning_adapters.sql.engine import UtcDateTime, metadata

courses = Table(
    "courses",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("slug", String(80), nullable=False, unique=True),
    Column("title", String(200), nullable=False),
    Column("summary", String(500), nullable=False),
    Column("description", Text, nullable=False),
    Column("language", String(35), nullable=False),
    Column("level", String(20), nullable=False),
    Column("tags", JSON, nullable=False),
    Column("owner_id", Uuid, nullable=True),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime, nullable=True),
    Column("section_count", Integer, nullable=False),
    Column("lesson_count", Integer, nullable=False),
    # Lowercased title + summary + tags, for the "text contains" filter.
    Column("search_text", Text, nullable=False),
    # The owning organization (identity module); no foreign key across modules, like owner_id.
    Column("organization_id", Uuid, nullable=True),
    # The latest published version's number (course_versions.number), if any.
    Column("published_version", Integer, nullable=True),
    Column("has_unpublished_changes", Boolean, nullable=False, server_default=false()),
    # While published: the draft's details (the listed columns hold the published ones); NULL otherwise.
    Column("draft_details", JSON(none_as_null=True), nullable=True),
)
# Keyset indexes: each catalog filter walks its own index in cursor order.
Index("ix_courses_status_published", courses.c.status, courses.c.published_at, courses.c.id)
Index(
    "ix_courses_status_language_published", courses.c.status, courses.c.language, courses.c.published_at, courses.c.id
)
Index("ix_courses_status_level_published", courses.c.status, courses.c.level, courses.c.published_at, courses.c.id)
Index("ix_courses_status_created", courses.c.status, courses.c.created_at, courses.c.id)

course_tags = Table(
    "course_tags",
    metadata,
    Column("tag", String(40), nullable=False),
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("tag", "course_id"),
)
Index("ix_course_tags_course_id", course_tags.c.course_id)

course_sections = Table(
    "course_sections",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("title", String(200), nullable=False),
    # Content gating: when the section opens to learners (at most one of the two).
    Column("release_at", UtcDateTime, nullable=True),
    Column("release_after_days", Integer, nullable=True),
    # Conditional release: what a learner must meet first, as ``Requirement.to_json`` items (NULL: nothing).
    Column("requirements", JSON(none_as_null=True), nullable=True),
)
Index("ix_course_sections_course_id_position", course_sections.c.course_id, course_sections.c.position)

course_lessons = Table(
    "course_lessons",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("section_id", Uuid, ForeignKey("course_sections.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("title", String(200), nullable=False),
    Column("kind", String(16), nullable=False, server_default="text"),
    Column("body_markdown", Text, nullable=False),
    # References to other modules' records (video assets, assessments): no foreign keys across modules.
    Column("video_id", Uuid, nullable=True),
    Column("assessment_id", Uuid, nullable=True),
    Column("attachments", JSON(none_as_null=True), nullable=True),
    Column("duration_seconds", Integer, nullable=True),
    # A free preview lesson: open to everyone (content gating).
    Column("preview", Boolean, nullable=False, server_default=false()),
    # Conditional release: what a learner must meet first, as ``Requirement.to_json`` items (NULL: nothing).
    Column("requirements", JSON(none_as_null=True), nullable=True),
)
Index(
    "ix_course_lessons_course_id_section_id_position",
    course_lessons.c.course_id,
    course_lessons.c.section_id,
    course_lessons.c.position,
)
Index("ix_course_lessons_section_id", course_lessons.c.section_id)

# Immutable: rows are inserted by publishing and never updated. The primary key serves
# both the latest-version read (number = courses.published_version) and version N.
course_versions = Table(
    "course_versions",
    metadata,
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("published_at", UtcDateTime, nullable=False),
    Column("published_by", Uuid, nullable=True),
    Column("snapshot", JSON, nullable=False),
    PrimaryKeyConstraint("course_id", "number"),
)
