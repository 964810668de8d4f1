"""The data stage: raw data in, an immutable, profiled, versioned dataset out.

Sources (CSV, Parquet, JSON Lines, SQL, DataFrame) are read as Arrow; column kinds are inferred
and overridden by the spec's schema; validation, profiling, cleaning, labeling, splitting and
preprocessing each report what they did; a dataset version is an immutable Parquet snapshot with
its schema, profile, content hash and lineage.
"""

from modelcycle.data._cleaning import CleaningReport, CleaningSpec, load_cleaning_spec
from modelcycle.data._cleaning_steps import Cleaner, clean
from modelcycle.data._imbalance import ImbalanceSpec, class_weights, imbalance_report, resample
from modelcycle.data._labeling import TargetSpec, export_unlabeled, make_target, merge_labels
from modelcycle.data._preprocessing import PreprocessingSpec, build_preprocessor, feature_names
from modelcycle.data._profile import ColumnProfile, DatasetProfile, profile_table
from modelcycle.data._schema import ColumnKind, ColumnSchema, Schema, infer_schema
from modelcycle.data._sources import ReadReport, SourceSpec, read_source
from modelcycle.data._spec import DataSpec
from modelcycle.data._splitting import Splits, SplitSpec, split
from modelcycle.data._validation import ValidationReport, ValidationSpec, validate
from modelcycle.data._versions import content_digest, create_version, load_version

__all__ = [
    "Cleaner",
    "CleaningReport",
    "CleaningSpec",
    "ColumnKind",
    "ColumnProfile",
    "ColumnSchema",
    "DataSpec",
    "DatasetProfile",
    "ImbalanceSpec",
    "PreprocessingSpec",
    "ReadReport",
    "Schema",
    "SourceSpec",
    "SplitSpec",
    "Splits",
    "TargetSpec",
    "ValidationReport",
    "ValidationSpec",
    "build_preprocessor",
    "class_weights",
    "clean",
    "content_digest",
    "create_version",
    "export_unlabeled",
    "feature_names",
    "imbalance_report",
    "infer_schema",
    "load_cleaning_spec",
    "load_version",
    "make_target",
    "merge_labels",
    "profile_table",
    "read_source",
    "resample",
    "split",
    "validate",
]
