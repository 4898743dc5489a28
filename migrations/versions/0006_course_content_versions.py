"""Lesson content, and published course versions (immutable JSON snapshots).

Adds the lesson content columns, the draft/published bookkeeping on courses
and the ``course_versions`` table. Courses published before this revision get
their version 1, a snapshot of their outline as it stands (no lesson had
content yet, so there is no HTML to render), so learners keep seeing them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # course_lessons may be copied and dropped (batch mode): no table references it.
    with op.batch_alter_table("course_lessons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="text", nullable=False))
        batch_op.add_column(sa.Column("body_markdown", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("video_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("assessment_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("attachments", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("duration_seconds", sa.Integer(), nullable=True))
    # The empty default only fills the existing rows: the application always writes the text.
    with op.batch_alter_table("course_lessons", schema=None) as batch_op:
        batch_op.alter_column("body_markdown", existing_type=sa.Text(), server_default=None, existing_nullable=False)

    # Plain ALTER TABLE ADD COLUMN, never batch mode's copy-and-drop: with SQLite's foreign keys on,
    # dropping the old courses table would cascade to every section, lesson and tag.
    op.add_column("courses", sa.Column("published_version", sa.Integer(), nullable=True))
    op.add_column(
        "courses", sa.Column("has_unpublished_changes", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column("courses", sa.Column("draft_details", sa.JSON(), nullable=True))

    op.create_table(
        "course_versions",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.Uuid(), nullable=True),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_course_versions_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("course_id", "number", name=op.f("pk_course_versions")),
    )
    _backfill_published_courses()


def _backfill_published_courses() -> None:
    """Version 1 for every course published before versions existed (the format of ``Course.snapshot``)."""
    bind = op.get_bind()
    meta = sa.MetaData()
    courses = sa.Table("courses", meta, autoload_with=bind)
    sections = sa.Table("course_sections", meta, autoload_with=bind)
    lessons = sa.Table("course_lessons", meta, autoload_with=bind)
    versions = sa.Table(
        "course_versions",
        meta,
        sa.Column("course_id", sa.Uuid()),
        sa.Column("number", sa.Integer()),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("published_by", sa.Uuid()),
        sa.Column("snapshot", sa.JSON()),
    )
    published = bind.execute(sa.select(courses).where(courses.c.status == "published")).mappings().all()
    for course in published:
        outline: list[dict[str, Any]] = []
        by_id: dict[Any, dict[str, Any]] = {}
        for section in bind.execute(
            sa.select(sections.c.id, sections.c.title)
            .where(sections.c.course_id == course["id"])
            .order_by(sections.c.position)
        ):
            entry = {"id": str(_uuid(section.id)), "title": section.title, "lessons": []}
            outline.append(entry)
            by_id[section.id] = entry
        for lesson in bind.execute(
            sa.select(lessons.c.id, lessons.c.section_id, lessons.c.title)
            .where(lessons.c.course_id == course["id"])
            .order_by(lessons.c.section_id, lessons.c.position)
        ):
            by_id[lesson.section_id]["lessons"].append(
                {
                    "id": str(_uuid(lesson.id)),
                    "title": lesson.title,
                    "kind": "text",
                    "body_markdown": "",
                    "body_html": "",
                    "video_id": None,
                    "assessment_id": None,
                    "attachments": [],
                    "duration_seconds": None,
                }
            )
        updated_at = _utc(course["updated_at"])
        snapshot = {
            "format": 1,
            "title": course["title"],
            "summary": course["summary"],
            "description": course["description"],
            "language": course["language"],
            "level": course["level"],
            "tags": list(course["tags"] if not isinstance(course["tags"], str) else json.loads(course["tags"])),
            "updated_at": updated_at.isoformat(),
            "sections": outline,
        }
        bind.execute(
            sa.insert(versions).values(
                course_id=_uuid(course["id"]),
                number=1,
                published_at=_utc(course["published_at"] or course["updated_at"]),
                published_by=None,
                snapshot=snapshot,
            )
        )
        bind.execute(sa.update(courses).where(courses.c.id == course["id"]).values(published_version=1))


def _uuid(value: Any) -> uuid.UUID:
    """A reflected id as a UUID (SQLite reflects the column as CHAR(32) and gives back hex text)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _utc(value: Any) -> datetime:
    """A reflected timestamp as an aware UTC datetime (SQLite gives it back naive, or as text)."""
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def downgrade() -> None:
    # The draft changes of published courses (draft_details, unpublished lesson content) are lost.
    op.drop_table("course_versions")
    # ALTER TABLE DROP COLUMN (SQLite 3.35+), not a copy-and-drop of courses (see upgrade).
    op.drop_column("courses", "draft_details")
    op.drop_column("courses", "has_unpublished_changes")
    op.drop_column("courses", "published_version")

    with op.batch_alter_table("course_lessons", schema=None) as batch_op:
        batch_op.drop_column("duration_seconds")
        batch_op.drop_column("attachments")
        batch_op.drop_column("assessment_id")
        batch_op.drop_column("video_id")
        batch_op.drop_column("body_markdown")
        batch_op.drop_column("kind")
