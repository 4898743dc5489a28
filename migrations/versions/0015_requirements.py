"""Conditional release: what a section or lesson requires before a learner may open it.

One nullable JSON column on each draft outline table (a short list of ``{"kind", ...}`` items,
read and written with the row, never queried into); published versions carry them in their
snapshot, so ``course_versions`` is unchanged.

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("course_sections") as batch:
        batch.add_column(sa.Column("requirements", sa.JSON(none_as_null=True), nullable=True))
    with op.batch_alter_table("course_lessons") as batch:
        batch.add_column(sa.Column("requirements", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("course_lessons") as batch:
        batch.drop_column("requirements")
    with op.batch_alter_table("course_sections") as batch:
        batch.drop_column("requirements")
