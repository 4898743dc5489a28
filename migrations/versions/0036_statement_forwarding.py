"""Analytics: each statement forwarding destination's checkpoint (the seq of the last statement it received),
so a forwarder resumes where it stopped and retention never deletes what a destination has not received.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "xapi_forwarding",
        sa.Column("destination", sa.String(300), primary_key=True),
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("xapi_forwarding")
