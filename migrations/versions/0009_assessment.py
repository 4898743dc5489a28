"""Assessment: the question bank (versions, tags), quizzes and extensions, attempts and their items,
quiz grades and grading schemes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

IN_PROGRESS = sa.text("status = 'in_progress'")


def upgrade() -> None:
    op.create_table(
        "questions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_questions_course_id_courses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questions")),
    )
    op.create_index("ix_questions_course_id_id", "questions", ["course_id", "id"], unique=False)

    op.create_table(
        "question_versions",
        sa.Column("question_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("key_fix_of", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["questions.id"],
            name=op.f("fk_question_versions_question_id_questions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("question_id", "version", name=op.f("pk_question_versions")),
    )

    op.create_table(
        "question_tags",
        sa.Column("question_id", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["question_id"], ["questions.id"], name=op.f("fk_question_tags_question_id_questions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("question_id", "tag", name=op.f("pk_question_tags")),
    )
    op.create_index(
        "ix_question_tags_course_id_tag_question_id",
        "question_tags",
        ["course_id", "tag", "question_id"],
        unique=False,
    )

    op.create_table(
        "quizzes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("slots", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_quizzes_course_id_courses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quizzes")),
    )
    op.create_index("ix_quizzes_course_id", "quizzes", ["course_id"], unique=False)

    op.create_table(
        "quiz_extensions",
        sa.Column("quiz_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extra_attempts", sa.Integer(), nullable=False),
        sa.Column("extra_time_seconds", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["quiz_id"], ["quizzes.id"], name=op.f("fk_quiz_extensions_quiz_id_quizzes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("quiz_id", "user_id", name=op.f("pk_quiz_extensions")),
    )

    op.create_table(
        "attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("quiz_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("grace_seconds", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submit_reason", sa.String(length=16), nullable=True),
        sa.Column("late_seconds", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("penalty_percent", sa.Float(), nullable=False),
        sa.Column("percent", sa.Float(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("graded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("late_policy", sa.JSON(), nullable=True),
        sa.Column("pass_mark_percent", sa.Float(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["quiz_id"], ["quizzes.id"], name=op.f("fk_attempts_quiz_id_quizzes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
        sa.UniqueConstraint("quiz_id", "user_id", "number", name=op.f("uq_attempts_quiz_id_user_id_number")),
    )
    op.create_index(
        "uq_attempts_one_in_progress",
        "attempts",
        ["quiz_id", "user_id"],
        unique=True,
        postgresql_where=IN_PROGRESS,
        sqlite_where=IN_PROGRESS,
    )
    op.create_index(
        "ix_attempts_expires_at",
        "attempts",
        ["expires_at"],
        unique=False,
        postgresql_where=IN_PROGRESS,
        sqlite_where=IN_PROGRESS,
    )

    op.create_table(
        "attempt_items",
        sa.Column("attempt_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("option_order", sa.JSON(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fraction", sa.Float(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("needs_grading", sa.Boolean(), nullable=False),
        sa.Column("grading_note", sa.Text(), nullable=True),
        sa.Column("rubric", sa.JSON(), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("graded_by", sa.Uuid(), nullable=True),
        sa.Column("graded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["attempts.id"], name=op.f("fk_attempt_items_attempt_id_attempts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("attempt_id", "position", name=op.f("pk_attempt_items")),
    )
    op.create_index("ix_attempt_items_question_id", "attempt_items", ["question_id"], unique=False)
    op.create_index(
        "ix_attempt_items_pending",
        "attempt_items",
        ["attempt_id"],
        unique=False,
        postgresql_where=sa.text("needs_grading"),
        sqlite_where=sa.text("needs_grading = 1"),
    )

    op.create_table(
        "quiz_grades",
        sa.Column("quiz_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("percent", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["quiz_id"], ["quizzes.id"], name=op.f("fk_quiz_grades_quiz_id_quizzes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("quiz_id", "user_id", name=op.f("pk_quiz_grades")),
    )
    op.create_index("ix_quiz_grades_course_id", "quiz_grades", ["course_id"], unique=False)

    op.create_table(
        "grading_schemes",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_grading_schemes_course_id_courses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("course_id", name=op.f("pk_grading_schemes")),
    )


def downgrade() -> None:
    op.drop_table("grading_schemes")
    op.drop_index("ix_quiz_grades_course_id", table_name="quiz_grades")
    op.drop_table("quiz_grades")
    op.drop_index("ix_attempt_items_pending", table_name="attempt_items")
    op.drop_index("ix_attempt_items_question_id", table_name="attempt_items")
    op.drop_table("attempt_items")
    op.drop_index("ix_attempts_expires_at", table_name="attempts")
    op.drop_index("uq_attempts_one_in_progress", table_name="attempts")
    op.drop_table("attempts")
    op.drop_table("quiz_extensions")
    op.drop_index("ix_quizzes_course_id", table_name="quizzes")
    op.drop_table("quizzes")
    op.drop_index("ix_question_tags_course_id_tag_question_id", table_name="question_tags")
    op.drop_table("question_tags")
    op.drop_table("question_versions")
    op.drop_index("ix_questions_course_id_id", table_name="questions")
    op.drop_table("questions")
