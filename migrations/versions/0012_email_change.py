"""Email change: the address an ``email_change`` one-time token confirms.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("one_time_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("new_email", sa.String(length=254), nullable=True))


def downgrade() -> None:
    # Pending email changes cannot be kept without their address: drop those tokens first.
    op.execute("DELETE FROM one_time_tokens WHERE purpose = 'email_change'")
    with op.batch_alter_table("one_time_tokens", schema=None) as batch_op:
        batch_op.drop_column("new_email")
