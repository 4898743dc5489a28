"""Course catalog tables (courses, tags, sections, lessons) and the transactional outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "courses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("section_count", sa.Integer(), nullable=False),
        sa.Column("lesson_count", sa.Integer(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courses")),
        sa.UniqueConstraint("slug", name=op.f("uq_courses_slug")),
    )
    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.create_index("ix_courses_status_created", ["status", "created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_courses_status_language_published",
            ["status", "language", "published_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_courses_status_level_published",
            ["status", "level", "published_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_courses_status_published",
            ["status", "published_at", "id"],
            unique=False,
        )

    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("message_key", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_pending",
            ["id"],
            unique=False,
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )

    op.create_table(
        "course_sections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_course_sections_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_sections")),
    )
    with op.batch_alter_table("course_sections", schema=None) as batch_op:
        batch_op.create_index(
            "ix_course_sections_course_id_position",
            ["course_id", "position"],
            unique=False,
        )

    op.create_table(
        "course_tags",
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_course_tags_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tag", "course_id", name=op.f("pk_course_tags")),
    )
    with op.batch_alter_table("course_tags", schema=None) as batch_op:
        batch_op.create_index("ix_course_tags_course_id", ["course_id"], unique=False)

    op.create_table(
        "course_lessons",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("section_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_course_lessons_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["section_id"],
            ["course_sections.id"],
            name=op.f("fk_course_lessons_section_id_course_sections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_lessons")),
    )
    with op.batch_alter_table("course_lessons", schema=None) as batch_op:
        batch_op.create_index(
            "ix_course_lessons_course_id_section_id_position",
            ["course_id", "section_id", "position"],
            unique=False,
        )
        batch_op.create_index("ix_course_lessons_section_id", ["section_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("course_lessons", schema=None) as batch_op:
        batch_op.drop_index("ix_course_lessons_section_id")
        batch_op.drop_index("ix_course_lessons_course_id_section_id_position")

    op.drop_table("course_lessons")
    with op.batch_alter_table("course_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_course_tags_course_id")

    op.drop_table("course_tags")
    with op.batch_alter_table("course_sections", schema=None) as batch_op:
        batch_op.drop_index("ix_course_sections_course_id_position")

    op.drop_table("course_sections")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_pending",
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )

    op.drop_table("outbox")
    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.drop_index("ix_courses_status_published")
        batch_op.drop_index("ix_courses_status_level_published")
        batch_op.drop_index("ix_courses_status_language_published")
        batch_op.drop_index("ix_courses_status_created")

    op.drop_table("courses")
