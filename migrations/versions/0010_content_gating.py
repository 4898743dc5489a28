"""Content gating: free preview lessons, and release dates on sections.

Adds ``course_lessons.preview`` (false for every existing lesson, so nothing
becomes public by this revision) and ``course_sections.release_at`` /
``release_after_days`` (null: the section opens with the course). Published
versions keep their snapshots; a snapshot without these keys reads as "no
preview, no release date".

Plain ``ALTER TABLE`` on both backends: SQLite adds and (3.35+) drops columns in
place, so ``course_sections``, which ``course_lessons`` references, is never
copied and dropped (a drop would cascade to the lessons).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("course_lessons", sa.Column("preview", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("course_sections", sa.Column("release_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("course_sections", sa.Column("release_after_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    _drop_column("course_sections", "release_after_days")
    _drop_column("course_sections", "release_at")
    _drop_column("course_lessons", "preview")


def _drop_column(table: str, column: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    else:
        op.drop_column(table, column)
