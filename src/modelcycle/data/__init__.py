"""The data stage: raw data in, an immutable, profiled, versioned dataset out.

Sources (CSV, Parquet, JSON Lines, SQL, DataFrame) are read as Arrow; column kinds are inferred
and overridden by the spec's schema; validation, profiling, cleaning, labeling, splitting and
preprocessing each report what they did; a dataset version is an immutable Parquet snapshot with
its schema, profile, content hash and lineage.

Every name loads on first use (as in :mod:`modelcycle.monitoring`): a module that needs one
piece of the stage, such as the drift detector needing :func:`infer_schema` and the KLL bulk
loader, does not import pandas, scikit-learn and scipy with the rest (about 60 MB).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelcycle._lazy import lazy_attributes

if TYPE_CHECKING:
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

_LAZY = {
    "Cleaner": "modelcycle.data._cleaning_steps",
    "CleaningReport": "modelcycle.data._cleaning",
    "CleaningSpec": "modelcycle.data._cleaning",
    "ColumnKind": "modelcycle.data._schema",
    "ColumnProfile": "modelcycle.data._profile",
    "ColumnSchema": "modelcycle.data._schema",
    "DataSpec": "modelcycle.data._spec",
    "DatasetProfile": "modelcycle.data._profile",
    "ImbalanceSpec": "modelcycle.data._imbalance",
    "PreprocessingSpec": "modelcycle.data._preprocessing",
    "ReadReport": "modelcycle.data._sources",
    "Schema": "modelcycle.data._schema",
    "SourceSpec": "modelcycle.data._sources",
    "SplitSpec": "modelcycle.data._splitting",
    "Splits": "modelcycle.data._splitting",
    "TargetSpec": "modelcycle.data._labeling",
    "ValidationReport": "modelcycle.data._validation",
    "ValidationSpec": "modelcycle.data._validation",
    "build_preprocessor": "modelcycle.data._preprocessing",
    "class_weights": "modelcycle.data._imbalance",
    "clean": "modelcycle.data._cleaning_steps",
    "content_digest": "modelcycle.data._versions",
    "create_version": "modelcycle.data._versions",
    "export_unlabeled": "modelcycle.data._labeling",
    "feature_names": "modelcycle.data._preprocessing",
    "imbalance_report": "modelcycle.data._imbalance",
    "infer_schema": "modelcycle.data._schema",
    "load_cleaning_spec": "modelcycle.data._cleaning",
    "load_version": "modelcycle.data._versions",
    "make_target": "modelcycle.data._labeling",
    "merge_labels": "modelcycle.data._labeling",
    "profile_table": "modelcycle.data._profile",
    "read_source": "modelcycle.data._sources",
    "resample": "modelcycle.data._imbalance",
    "split": "modelcycle.data._splitting",
    "validate": "modelcycle.data._validation",
}

__getattr__ = lazy_attributes("modelcycle.data", _LAZY, globals())
