"""Dataset references and the artifact index of runs.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``run_inputs`` and ``run_artifacts``."""
    op.create_table(
        "run_inputs",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("digest", sa.String(128), nullable=False),
        sa.Column("context", sa.String(64), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name", "digest", "context", name="pk_run_inputs"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name="fk_run_inputs_run_id_runs"),
    )
    op.create_table(
        "run_artifacts",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name", name="pk_run_artifacts"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name="fk_run_artifacts_run_id_runs"),
    )


def downgrade() -> None:
    """Drop ``run_artifacts`` and ``run_inputs``."""
    op.drop_table("run_artifacts")
    op.drop_table("run_inputs")
