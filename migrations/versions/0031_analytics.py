"""Analytics: the xAPI statement store (each statement's JSON with the columns its queries filter and
page on: actor, verb, activity, registration, stored time, voiding).

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "xapi_statements",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(1000), nullable=False),
        sa.Column("verb", sa.String(1000), nullable=False),
        sa.Column("activity", sa.String(1000), nullable=True),
        sa.Column("registration", sa.Uuid(), nullable=True),
        sa.Column("voids", sa.Uuid(), nullable=True),
        sa.Column("voided", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored", sa.DateTime(timezone=True), nullable=False),
        sa.Column("statement", sa.JSON(), nullable=False),
        sa.UniqueConstraint("id", name="uq_xapi_statements_id"),
    )
    op.create_index("ix_xapi_statements_actor_seq", "xapi_statements", ["actor", "seq"])
    op.create_index("ix_xapi_statements_verb_seq", "xapi_statements", ["verb", "seq"])
    op.create_index("ix_xapi_statements_activity_seq", "xapi_statements", ["activity", "seq"])
    op.create_index("ix_xapi_statements_registration_seq", "xapi_statements", ["registration", "seq"])
    op.create_index("ix_xapi_statements_stored", "xapi_statements", ["stored"])
    op.create_index(
        "ix_xapi_statements_voids",
        "xapi_statements",
        ["voids"],
        postgresql_where=sa.text("voids IS NOT NULL"),
        sqlite_where=sa.text("voids IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("xapi_statements")
