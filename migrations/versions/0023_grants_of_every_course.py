"""A grant may cover every course: ``entitlement_grants.course_id`` becomes nullable (NULL = all courses),
for subscription plans and organization seats that include the whole catalog.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entitlement_grants") as batch:
        batch.alter_column("course_id", existing_type=sa.Uuid(), nullable=True)


def downgrade() -> None:
    # Grants of every course have no single course to keep: they go with the column's constraint.
    op.execute("DELETE FROM entitlement_grants WHERE course_id IS NULL")
    with op.batch_alter_table("entitlement_grants") as batch:
        batch.alter_column("course_id", existing_type=sa.Uuid(), nullable=False)
