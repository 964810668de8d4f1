"""The prediction log and hashed API keys.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the predictions and api_keys tables."""
    op.create_table(
        "predictions",
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("shadow", sa.Boolean, nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("inputs_json", sa.Text, nullable=False),
        sa.Column("outputs_json", sa.Text, nullable=False),
        sa.Column("sample_rate", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("request_id", "shadow", name="pk_predictions"),
    )
    op.create_index("ix_predictions_model_time", "predictions", ["model", "time"])
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
        sa.UniqueConstraint("name", name="uq_api_keys_name"),
        sa.UniqueConstraint("secret_sha256", name="uq_api_keys_secret_sha256"),
    )


def downgrade() -> None:
    """Drop the prediction log and the API keys."""
    op.drop_table("api_keys")
    op.drop_index("ix_predictions_model_time", table_name="predictions")
    op.drop_table("predictions")
