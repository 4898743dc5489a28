"""Certificates: awards, credentials (at most one active per learner and award), pending
completions, and the credential key set (kept apart from the access-token keys).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificate_awards",
        sa.Column("subject_kind", sa.String(length=10), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("available_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_days", sa.Integer(), nullable=True),
        sa.Column("template", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject_kind", "subject_id"),
    )
    op.create_table(
        "credentials",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("subject_kind", sa.String(length=10), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("learner_name", sa.String(length=100), nullable=False),
        sa.Column("subject_title", sa.String(length=300), nullable=False),
        sa.Column("status_index", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("kid", sa.String(length=200), nullable=False),
        sa.Column("jwt", sa.Text(), nullable=False),
        sa.Column("replaces", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("status_index"),
    )
    op.create_index(
        "uq_credentials_active",
        "credentials",
        ["user_id", "subject_kind", "subject_id"],
        unique=True,
        postgresql_where=sa.text("revoked_at IS NULL"),
        sqlite_where=sa.text("revoked_at IS NULL"),
    )
    op.create_index("ix_credentials_user_issued", "credentials", ["user_id", "issued_at", "id"])
    op.create_index("ix_credentials_subject_issued", "credentials", ["subject_kind", "subject_id", "issued_at", "id"])
    op.create_index("ix_credentials_replaces", "credentials", ["replaces"])
    op.create_table(
        "certificate_pending",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("subject_kind", sa.String(length=10), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "subject_kind", "subject_id"),
    )
    op.create_table(
        "credential_keys",
        sa.Column("kid", sa.String(length=100), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("private_key", sa.LargeBinary(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid"),
    )


def downgrade() -> None:
    op.drop_table("credential_keys")
    op.drop_table("certificate_pending")
    op.drop_index("ix_credentials_replaces", table_name="credentials")
    op.drop_index("ix_credentials_subject_issued", table_name="credentials")
    op.drop_index("ix_credentials_user_issued", table_name="credentials")
    op.drop_index("uq_credentials_active", table_name="credentials")
    op.drop_table("credentials")
    op.drop_table("certificate_awards")
