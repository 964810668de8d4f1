"""The data stage: raw data in, an immutable, profiled, versioned dataset out.

Sources (CSV, Parquet, JSON Lines, SQL, DataFrame) are read as Arrow; column kinds are inferred
and overridden by the spec's schema; validation, profiling, cleaning, labeling, splitting and
preprocessing each report what they did; a dataset version is an immutable Parquet snapshot with
its schema, profile, content hash and lineage.
"""

from modelcycle.data._schema import ColumnKind, ColumnSchema, Schema, infer_schema
from modelcycle.data._sources import ReadReport, SourceSpec, read_source

__all__ = [
    "ColumnKind",
    "ColumnSchema",
    "ReadReport",
    "Schema",
    "SourceSpec",
    "infer_schema",
    "read_source",
]
