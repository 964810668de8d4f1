"""Foundation: the metadata store (SQLAlchemy) and the artifact store (fsspec).

The metadata store keeps records (experiments, runs, metrics ...) in SQLite by default or
PostgreSQL at scale; the artifact store keeps content-addressed bytes in a local folder by
default or S3-compatible object storage at scale. Both are chosen by URL.
"""

from modelcycle.store._artifacts import (
    ArtifactRef,
    ArtifactStore,
    open_artifact_store,
    validate_artifact_name,
)
from modelcycle.store._backends import supported_schemes
from modelcycle.store._metadata import MetadataStore, open_metadata_store
from modelcycle.store._metrics import PointRow

__all__ = [
    "ArtifactRef",
    "ArtifactStore",
    "MetadataStore",
    "PointRow",
    "open_artifact_store",
    "open_metadata_store",
    "supported_schemes",
    "validate_artifact_name",
]
