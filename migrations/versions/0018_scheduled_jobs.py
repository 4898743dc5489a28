"""Scheduled job runs: one row per (job, period start), the replicas' lease and each period's outcome.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduled_job_runs",
        sa.Column("job", sa.String(length=100), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=500), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("job", "period_start", name=op.f("pk_scheduled_job_runs")),
    )
    op.create_index("ix_scheduled_job_runs_period_start", "scheduled_job_runs", ["period_start"])


def downgrade() -> None:
    op.drop_index("ix_scheduled_job_runs_period_start", table_name="scheduled_job_runs")
    op.drop_table("scheduled_job_runs")
