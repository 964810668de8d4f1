"""Failed requests in the prediction log: their HTTP status and error.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``status`` (every row logged so far was answered: 200) and ``error``."""
    op.add_column(
        "predictions",
        sa.Column("status", sa.Integer, nullable=False, server_default=sa.text("200")),
    )
    op.add_column("predictions", sa.Column("error", sa.String(256), nullable=True))


def downgrade() -> None:
    """Drop the failed requests, then the two columns."""
    op.execute("DELETE FROM predictions WHERE status >= 400")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("error")
        batch.drop_column("status")
