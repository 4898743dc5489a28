"""Keyset indexes for the paged lists that had none: a course's enrollments and a quiz's attempts.

Both lists page in id order under one parent (``WHERE course_id = ? AND id > ? ORDER BY id``);
without an index on (parent, id) every page sorted all of the parent's rows.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_enrollments_course_id_id", "enrollments", ["course_id", "id"], unique=False)
    op.create_index("ix_attempts_quiz_id_id", "attempts", ["quiz_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_attempts_quiz_id_id", table_name="attempts")
    op.drop_index("ix_enrollments_course_id_id", table_name="enrollments")
