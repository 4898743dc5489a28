"""Recommendations: the trained read model (each course's neighbours by co-enrollment and by content, the
popular courses, and the model's version).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recommendation_neighbours",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("course_id", sa.Uuid(), primary_key=True),
        sa.Column("rank", sa.Integer(), primary_key=True),
        sa.Column("other_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
    )
    op.create_table(
        "recommendation_popular",
        sa.Column("rank", sa.Integer(), primary_key=True),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
    )
    op.create_table(
        "recommendation_models",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interactions", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("recommendation_models")
    op.drop_table("recommendation_popular")
    op.drop_table("recommendation_neighbours")
