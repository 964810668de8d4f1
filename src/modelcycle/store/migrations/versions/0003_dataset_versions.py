"""Dataset versions: immutable snapshots with schema, profile and lineage.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``dataset_versions``."""
    op.create_table(
        "dataset_versions",
        sa.Column("version_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("columns", sa.Integer, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("data_sha256", sa.String(64), nullable=False),
        sa.Column("profile_sha256", sa.String(64), nullable=True),
        sa.Column("schema_json", sa.Text, nullable=False),
        sa.Column("lineage_json", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("version_id", name="pk_dataset_versions"),
    )
    op.create_index(
        "ix_dataset_versions_name_created_at", "dataset_versions", ["name", "created_at"]
    )


def downgrade() -> None:
    """Drop ``dataset_versions``."""
    op.drop_table("dataset_versions")
