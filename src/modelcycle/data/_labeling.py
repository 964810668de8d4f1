"""Labeling: the target from a column or an expression, and a labeling queue for annotators.

The queue round-trips through CSV: rows without a label are exported with a ``row_id``
(the dataset's id column when it has one, otherwise a stable hash of the row's values, so ids
survive re-ordering and re-exports), annotators fill the ``label`` column, and the file is
imported back and merged by id. Merging never silently overwrites: an id labeled twice with
different values in the import, or an import label that contradicts a label already in the
data, is reported as a conflict and left unmerged; unknown ids are counted.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator

from modelcycle.errors import DataError, invalid_value

__all__ = [
    "LabelMergeReport",
    "TargetSpec",
    "export_unlabeled",
    "make_target",
    "merge_labels",
    "row_ids",
]

ROW_ID = "row_id"
LABEL = "label"


class TargetSpec(BaseModel):
    """The target: an existing ``column``, or ``expression`` (pandas ``eval`` over columns)
    stored as ``name``."""

    model_config = ConfigDict(extra="forbid")

    column: str | None = None
    expression: str | None = None
    name: str = "target"
    id_column: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> TargetSpec:
        if (self.column is None) == (self.expression is None):
            raise ValueError("give either column or expression")
        return self

    @property
    def output(self) -> str:
        """The name of the target column after :func:`make_target`."""
        return self.column if self.column is not None else self.name


def make_target(df: pd.DataFrame, spec: TargetSpec, source: str = "data") -> pd.DataFrame:
    """Check the target column exists, or compute it from the expression."""
    if spec.column is not None:
        if spec.column not in df.columns:
            raise DataError(
                f"{source}: target column {spec.column!r} is missing "
                f"(columns: {', '.join(map(str, df.columns[:20]))})"
            )
        return df
    try:
        values = df.eval(spec.expression or "")
    except Exception as exc:  # pandas raises many kinds; all mean "bad expression"
        raise invalid_value(
            "target expression", spec.expression, f"{type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(values, pd.Series) or len(values) != len(df):
        raise invalid_value("target expression", spec.expression, "must give one value per row")
    result: pd.DataFrame = df.assign(**{spec.name: values})
    return result


def row_ids(df: pd.DataFrame, id_column: str | None = None) -> pd.Series:
    """Stable row ids: ``id_column`` as text, or a SHA-1 of each row's values."""
    if id_column is not None:
        if id_column not in df.columns:
            raise DataError(f"id column {id_column!r} is missing")
        return df[id_column].astype(str)
    hashed = pd.util.hash_pandas_object(df, index=False).to_numpy()
    return pd.Series(
        [hashlib.sha1(int(h).to_bytes(8, "little")).hexdigest()[:16] for h in hashed],
        index=df.index,
        name=ROW_ID,
    )


def export_unlabeled(
    df: pd.DataFrame, target: str, path: str | Path, id_column: str | None = None
) -> int:
    """Write rows whose ``target`` is missing to ``path`` (CSV: row_id, features, empty label);
    returns how many rows were exported."""
    features = df.drop(columns=[target]) if target in df.columns else df
    ids = row_ids(features, id_column)
    mask = df[target].isna() if target in df.columns else pd.Series(True, index=df.index)
    queue = features[mask].assign(**{LABEL: ""})
    queue.insert(0, ROW_ID, ids[mask])
    queue.to_csv(path, index=False)
    return int(mask.sum())


@dataclass
class LabelMergeReport:
    """What merging imported labels did."""

    imported: int = 0
    merged: int = 0
    already_equal: int = 0
    empty: int = 0
    unknown_ids: list[str] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


def _read_labels(path: str | Path) -> pd.DataFrame:
    try:
        labels = pd.read_csv(path, dtype={ROW_ID: str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot read labels: {exc}") from None
    for column in (ROW_ID, LABEL):
        if column not in labels.columns:
            raise DataError(f"{path}: the labels file has no {column!r} column")
    selected: pd.DataFrame = labels[[ROW_ID, LABEL]]
    return selected


def _conflicting_ids(labels: pd.DataFrame, report: LabelMergeReport) -> set[str]:
    per_id = labels.groupby(ROW_ID)[LABEL].agg(lambda s: sorted(set(map(str, s))))
    clashing = per_id[per_id.map(len) > 1]
    for row_id, values in clashing.items():
        report.conflicts.append({"row_id": row_id, "labels": values, "reason": "labeled twice"})
    return set(clashing.index)


def merge_labels(
    df: pd.DataFrame, labels_path: str | Path, target: str, id_column: str | None = None
) -> tuple[pd.DataFrame, LabelMergeReport]:
    """Merge an annotated queue file into ``df`` by row id; conflicts are reported, not applied."""
    labels = _read_labels(labels_path)
    report = LabelMergeReport(imported=len(labels))
    filled = labels[labels[LABEL].notna() & (labels[LABEL].astype(str).str.strip() != "")]
    report.empty = len(labels) - len(filled)
    clashing = _conflicting_ids(filled, report)
    features = df.drop(columns=[target]) if target in df.columns else df
    ids = row_ids(features, id_column)
    position = pd.Series(range(len(df)), index=ids.to_numpy())
    out = df.copy() if target in df.columns else df.assign(**{target: None})
    column = out[target].astype(object).to_numpy(copy=True)
    for row_id, label in filled.drop_duplicates().itertuples(index=False):
        if row_id in clashing:
            continue
        if row_id not in position.index:
            report.unknown_ids.append(str(row_id))
            continue
        for pos in position.loc[[row_id]].to_numpy():
            current = column[pos]
            if pd.isna(current):
                column[pos] = label
                report.merged += 1
            elif str(current) == str(label):
                report.already_equal += 1
            else:
                report.conflicts.append(
                    {
                        "row_id": row_id,
                        "labels": [str(current), str(label)],
                        "reason": "differs from the existing label",
                    }
                )
    out[target] = pd.Series(column, index=out.index).infer_objects()
    return out, report
