"""Feedback on predicted rows, monitoring windows and alerts.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the feedback, monitor_windows and alerts tables."""
    op.create_table(
        "feedback",
        sa.Column("feedback_id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("row_id", sa.String(160), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value_json", sa.Text, nullable=False),
        sa.Column("value_sha256", sa.String(64), nullable=False),
        sa.Column("conflict", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("feedback_id", name="pk_feedback"),
        sa.UniqueConstraint(
            "row_id", "kind", "value_sha256", name="uq_feedback_row_id_kind_value_sha256"
        ),
    )
    op.create_index("ix_feedback_model_received_at", "feedback", ["model", "received_at"])
    op.create_index("ix_feedback_request_id", "feedback", ["request_id"])
    op.create_table(
        "monitor_windows",
        sa.Column("window_id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.Column("end", sa.BigInteger, nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("snapshot_json", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("window_id", name="pk_monitor_windows"),
    )
    op.create_index(
        "ix_monitor_windows_model_kind_end", "monitor_windows", ["model", "kind", "end"]
    )
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("rule", sa.String(256), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("threshold", sa.Float, nullable=True),
        sa.Column("window_id", sa.Integer, nullable=True),
        sa.Column("fired_at", sa.BigInteger, nullable=False),
        sa.Column("delivery", sa.String(256), nullable=True),
        sa.PrimaryKeyConstraint("alert_id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_model_rule_fired_at", "alerts", ["model", "rule", "fired_at"])
    op.create_index("ix_alerts_fingerprint_fired_at", "alerts", ["fingerprint", "fired_at"])


def downgrade() -> None:
    """Drop the feedback, monitoring windows and alerts."""
    op.drop_index("ix_alerts_fingerprint_fired_at", table_name="alerts")
    op.drop_index("ix_alerts_model_rule_fired_at", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_monitor_windows_model_kind_end", table_name="monitor_windows")
    op.drop_table("monitor_windows")
    op.drop_index("ix_feedback_request_id", table_name="feedback")
    op.drop_index("ix_feedback_model_received_at", table_name="feedback")
    op.drop_table("feedback")
