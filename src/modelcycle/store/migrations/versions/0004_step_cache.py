"""The pipeline's step cache: outputs of steps keyed by code, config and input hashes.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``step_cache``."""
    op.create_table(
        "step_cache",
        sa.Column("cache_key", sa.String(64), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("outputs_json", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("cache_key", name="pk_step_cache"),
    )


def downgrade() -> None:
    """Drop ``step_cache``."""
    op.drop_table("step_cache")
