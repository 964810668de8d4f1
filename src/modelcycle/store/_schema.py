"""The metadata schema: SQLAlchemy Core tables shared by every SQL backend.

Times are integer milliseconds since the Unix epoch (UTC): compact, ordered the same way on
every backend, and cheap to write in bulk. A metric value of NULL means NaN (SQLite cannot store
NaN; PostgreSQL could, but one representation keeps both backends identical); +/-inf are stored
as they are.

Changes to these tables are made through a new Alembic revision in ``migrations/versions``;
``HEAD_REVISION`` names the newest one so opening an up-to-date store needs no Alembic import.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["ERROR_LENGTH", "HEAD_REVISION", "metadata"]

#: The newest migration revision; a test checks it equals Alembic's head.
HEAD_REVISION = "0008"
#: The longest error text the prediction log keeps for a failed request.
ERROR_LENGTH = 256

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("experiment_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column(
        "experiment_id",
        sa.Integer,
        sa.ForeignKey("experiments.experiment_id"),
        nullable=False,
    ),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("start_time", sa.BigInteger, nullable=False),
    sa.Column("end_time", sa.BigInteger, nullable=True),
    sa.Column("parent_run_id", sa.String(32), sa.ForeignKey("runs.run_id"), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Index(None, "experiment_id", "start_time"),
    sa.Index(None, "parent_run_id"),
)


def _key_value_table(name: str) -> sa.Table:
    """A run's string map (params, tags): one row per (run, key)."""
    return sa.Table(
        name,
        metadata,
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("key", sa.String(256), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


params = _key_value_table("params")
tags = _key_value_table("tags")


def _point_columns() -> list[sa.Column[object]]:
    """value, step and timestamp of one metric point."""
    return [
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
    ]


# Every point of every series. No primary key: points are append-only and the same
# (key, step) may legitimately be logged twice; the index serves history reads.
metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("run_id", sa.String(32), nullable=False),
    sa.Column("key", sa.String(256), nullable=False),
    *_point_columns(),
    sa.Index(None, "run_id", "key", "step"),
)

# The latest point per (run, key): what search filters, ordering and comparisons read.
latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("key", sa.String(256), primary_key=True),
    *_point_columns(),
    sa.Index(None, "key", "value"),
)

# Revision 0002: dataset references and the artifact index of runs.
run_inputs = sa.Table(
    "run_inputs",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("digest", sa.String(128), primary_key=True),
    sa.Column("context", sa.String(64), primary_key=True),
    sa.Column("source", sa.Text, nullable=False),
)

run_artifacts = sa.Table(
    "run_artifacts",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("name", sa.String(1024), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
)

# Revision 0003: immutable dataset versions (the Parquet snapshot lives in the artifact store).
dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    sa.Column("version_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("columns", sa.Integer, nullable=False),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("data_sha256", sa.String(64), nullable=False),
    sa.Column("profile_sha256", sa.String(64), nullable=True),
    sa.Column("schema_json", sa.Text, nullable=False),
    sa.Column("lineage_json", sa.Text, nullable=False),
    sa.Index(None, "name", "created_at"),
)

# Revision 0004: outputs of pipeline steps, keyed by a hash of code version, config and inputs.
step_cache = sa.Table(
    "step_cache",
    metadata,
    sa.Column("cache_key", sa.String(64), primary_key=True),
    sa.Column("step", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String(32), nullable=True),
    sa.Column("outputs_json", sa.Text, nullable=False),
)

# Revision 0005: the model registry (named models, immutable versions, aliases and every move of
# an alias) and the hash-chained audit log of registry changes.
registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("name", sa.String(256), sa.ForeignKey("registered_models.name"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(256), nullable=False),
    sa.Column("run_id", sa.String(32), nullable=True),
    sa.Column("bundle_sha256", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("onnx_ready", sa.Boolean, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("info_json", sa.Text, nullable=False),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("name", sa.String(256), sa.ForeignKey("registered_models.name"), primary_key=True),
    sa.Column("alias", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

alias_events = sa.Table(
    "alias_events",
    metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("alias", sa.String(128), nullable=False),
    sa.Column("from_version", sa.Integer, nullable=True),
    sa.Column("to_version", sa.Integer, nullable=True),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("forced", sa.Boolean, nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Index(None, "name", "alias", "event_id"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(512), nullable=False),
    sa.Column("before_json", sa.Text, nullable=False),
    sa.Column("after_json", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# One row (id = 1): the newest audit event's number and hash, updated in the same transaction
# as the append, so deleting the newest events is detected too.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# Revision 0006: the prediction log (one immutable row per answered request; a shadow copy of a
# request is its own row) and hashed API keys. Revision 0008: failed requests too, with their
# HTTP ``status`` (200 for an answer) and the first line of their ``error`` (no inputs, outputs
# or rows), so error rates come from the log beside latency.
predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("shadow", sa.Boolean, primary_key=True),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("time", sa.BigInteger, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("inputs_json", sa.Text, nullable=False),
    sa.Column("outputs_json", sa.Text, nullable=False),
    sa.Column("sample_rate", sa.Float, nullable=False),
    sa.Column("status", sa.Integer, nullable=False, server_default=sa.text("200")),
    sa.Column("error", sa.String(ERROR_LENGTH), nullable=True),
    sa.Index(None, "model", "time"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.String(256), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
)

# -- the feedback loop and monitoring (0007) ----------------------------------------------------

#: Ground truth or a rating for one predicted row (``row_id`` = ``request_id:i``). The same
#: value sent twice is one row (unique on row, kind and value hash); a different value for a row
#: that already has one is kept too, with ``conflict`` set: nothing is overwritten.
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("feedback_id", sa.Integer, primary_key=True, autoincrement=True),
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
    sa.UniqueConstraint("row_id", "kind", "value_sha256"),
    sa.Index(None, "model", "received_at"),
    sa.Index(None, "request_id"),
)

#: One monitoring window's scores: ``kind`` drift, quality or operations; ``version`` NULL
#: when the window spans every version of the model; ``snapshot_json`` the JSON snapshot.
monitor_windows = sa.Table(
    "monitor_windows",
    metadata,
    sa.Column("window_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("start", sa.BigInteger, nullable=False),
    sa.Column("end", sa.BigInteger, nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("snapshot_json", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index(None, "model", "kind", "end"),
)

#: A fired alert rule. ``fingerprint`` (model, rule, what fired) de-duplicates within the
#: rule's cooldown; ``delivery`` records the webhook's outcome (NULL: no webhook configured).
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("alert_id", sa.Integer, primary_key=True, autoincrement=True),
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
    sa.Index(None, "model", "rule", "fired_at"),
    sa.Index(None, "fingerprint", "fired_at"),
)
