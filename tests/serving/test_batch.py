"""Batch scoring of CSV and Parquet files (and folders of Parquet, locally and on Ray)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelcycle.errors import DataError, InvalidValueError, NotFoundError
from modelcycle.registry import Registry, export_onnx, signature_of
from modelcycle.serving import score_file
from modelcycle.tracking import Client


@dataclass(frozen=True)
class Models:
    """Two registered versions of ``cancer`` and the data they were fitted on."""

    registry: Registry
    rows: pd.DataFrame  # features + clinic (categorical) + patient (id)
    onnx_model: Any  # cancer@1: numeric features, ONNX-ready
    python_model: Any  # cancer@2: numeric features + clinic, fitted pipeline


def _rows(seed: int) -> tuple[pd.DataFrame, pd.Series]:
    features, target = load_breast_cancer(as_frame=True, return_X_y=True)
    rng = np.random.default_rng(seed)
    rows = features.copy()
    rows["clinic"] = rng.choice(["north", "south", "east"], size=len(rows))
    rows.insert(0, "patient", [f"p{i:04d}" for i in range(len(rows))])
    return rows, target


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Models]:
    """One SQLite client for the module (batch scoring does not depend on the store)."""
    folder = tmp_path_factory.mktemp("batch")
    rows, target = _rows(seed=5)
    numeric = [c for c in rows.columns if c not in ("patient", "clinic")]
    with Client(f"sqlite:///{folder / 'store.db'}", str(folder / "artifacts")) as client:
        registry = Registry(client)
        impute_scale = make_pipeline(SimpleImputer(), StandardScaler())
        onnx_model = Pipeline(
            [
                ("preprocess", ColumnTransformer([("num", impute_scale, numeric)])),
                ("model", GradientBoostingClassifier(n_estimators=20, random_state=0)),
            ]
        ).fit(rows[numeric], target)
        exported = export_onnx(onnx_model, rows[numeric], task="binary")
        assert exported.ready
        signature = signature_of(rows[numeric], {}, task="binary", classes=[0, 1])
        registry.register_model(
            "cancer", onnx_model, signature=signature, task="binary", family="gb",
            source="test", onnx=exported,
        )  # fmt: skip
        columns = [*numeric, "clinic"]
        encode = OneHotEncoder(handle_unknown="ignore")
        prepare = ColumnTransformer([("num", impute_scale, numeric), ("cat", encode, ["clinic"])])
        python_model = Pipeline(
            [("preprocess", prepare), ("model", LogisticRegression(max_iter=2000))]
        ).fit(rows[columns], target)
        signature = signature_of(
            rows[columns], {"clinic": "categorical"}, task="binary", classes=[0, 1]
        )
        registry.register_model(
            "cancer", python_model, signature=signature, task="binary", family="linear",
            source="test",
        )  # fmt: skip
        registry.set_alias("cancer@1", "champion", reason="test")
        yield Models(registry, rows, onnx_model, python_model)


def test_parquet_scored_on_onnx_equals_the_pipeline_and_keeps_ids_in_order(
    models: Models, tmp_path: Path
) -> None:
    features = models.rows.drop(columns="clinic")
    features.to_parquet(tmp_path / "in.parquet")
    result = score_file(
        models.registry, "cancer@champion", tmp_path / "in.parquet", tmp_path / "out.parquet",
        id_column="patient", chunk_rows=100, proba=True, workers=2,
    )  # fmt: skip
    assert (result.model, result.backend, result.rows, result.chunks) == (
        "cancer@1",
        "onnx",
        569,
        6,
    )
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert list(scored.columns) == ["patient", "prediction", "proba_0", "proba_1"]
    assert scored["patient"].tolist() == models.rows["patient"].tolist()
    expected = models.onnx_model.predict(features.drop(columns="patient"))
    assert np.array_equal(scored["prediction"].to_numpy(), expected)
    proba = models.onnx_model.predict_proba(features.drop(columns="patient"))[:, 1]
    assert np.allclose(scored["proba_1"].to_numpy(), proba, atol=1e-4)


def test_csv_scored_by_the_pipeline_with_categories_and_row_numbers(
    models: Models, tmp_path: Path
) -> None:
    rows = models.rows.copy()
    rows.loc[3, "mean radius"] = np.nan  # missing values are the model's to impute
    rows.to_csv(tmp_path / "in.csv", index=False)
    result = score_file(
        models.registry, "cancer@2", tmp_path / "in.csv", tmp_path / "out.csv", chunk_rows=128
    )
    assert (result.backend, result.rows, result.chunks) == ("python", 569, 5)
    scored = pd.read_csv(tmp_path / "out.csv")
    assert list(scored.columns) == ["row", "prediction"]
    assert scored["row"].tolist() == list(range(569))
    expected = models.python_model.predict(rows.drop(columns="patient"))
    assert np.array_equal(scored["prediction"].to_numpy(), expected)


def test_a_bad_number_names_file_row_and_column_and_leaves_no_output(
    models: Models, tmp_path: Path
) -> None:
    rows = models.rows.drop(columns="clinic").astype({"mean texture": object})
    rows.loc[300, "mean texture"] = "twelve"
    rows.to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(DataError) as error:
        score_file(models.registry, "cancer@1", tmp_path / "in.csv", tmp_path / "out.parquet",
                   chunk_rows=128)  # fmt: skip
    assert str(error.value) == (
        f"{tmp_path / 'in.csv'}, row 301, column 'mean texture': invalid value 'twelve': "
        "expected a number"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_unknown_categories_are_refused_or_scored_as_missing_by_policy(
    models: Models, tmp_path: Path
) -> None:
    rows = models.rows.copy()
    rows.loc[42, "clinic"] = "west"
    rows.to_parquet(tmp_path / "in.parquet")
    args = (models.registry, "cancer@2", tmp_path / "in.parquet", tmp_path / "out.parquet")
    with pytest.raises(DataError, match=r"row 43, column 'clinic': invalid value 'west'"):
        score_file(*args)
    result = score_file(*args, unknown_categories="unknown", id_column="patient")
    assert (result.rows, result.unknown_categories) == (569, {"clinic": 1})
    expected = rows.drop(columns="patient").assign(clinic=rows["clinic"].replace("west", None))
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert np.array_equal(scored["prediction"], models.python_model.predict(expected))


def test_missing_columns_and_unreadable_inputs_are_named(models: Models, tmp_path: Path) -> None:
    models.rows.drop(columns=["worst area"]).to_parquet(tmp_path / "in.parquet")
    args = (models.registry, "cancer@1", tmp_path / "in.parquet", tmp_path / "out.csv")
    with pytest.raises(DataError, match=r"in.parquet: missing column 'worst area'"):
        score_file(*args)
    with pytest.raises(DataError, match=r"missing id column 'id'"):
        score_file(*args, id_column="id")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"broken.parquet: cannot read as Parquet"):
        score_file(models.registry, "cancer@1", tmp_path / "broken.parquet", tmp_path / "o.csv")
    with pytest.raises(NotFoundError, match=r"nowhere\.csv"):
        score_file(models.registry, "cancer@1", tmp_path / "nowhere.csv", tmp_path / "o.csv")
    with pytest.raises(InvalidValueError, match=r"expected a .csv or .parquet name"):
        score_file(models.registry, "cancer@1", tmp_path / "in.parquet", tmp_path / "out.xlsx")
    with pytest.raises(InvalidValueError, match="chunk_rows"):
        score_file(*args, chunk_rows=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.parquet", "in.parquet"]


def _partitions(models: Models, folder: Path) -> pd.DataFrame:
    features = models.rows.drop(columns="clinic")
    folder.mkdir()
    for part, index in enumerate(np.array_split(np.arange(len(features)), 3)):
        features.iloc[index].to_parquet(folder / f"part-{part}.parquet")
    return features


def test_a_folder_of_parquet_is_scored_file_by_file(models: Models, tmp_path: Path) -> None:
    features = _partitions(models, tmp_path / "in")
    result = score_file(
        models.registry, "cancer@1", tmp_path / "in", tmp_path / "out", id_column="patient"
    )
    assert (result.files, result.rows) == (3, 569)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    scored = pd.read_parquet([tmp_path / "out" / name for name in names])
    assert scored["patient"].tolist() == features["patient"].tolist()
    expected = models.onnx_model.predict(features.drop(columns="patient"))
    assert np.array_equal(scored["prediction"].to_numpy(), expected)


@pytest.mark.slow
def test_ray_scores_each_partition_in_its_own_task_with_the_same_results(
    models: Models, tmp_path: Path
) -> None:
    # In a child process with a fresh Ray token (as tests/executors does): this process may
    # have joined another Ray already, and ~/.ray/auth_token may hold another cluster's token.
    features = _partitions(models, tmp_path / "in")
    client = models.registry.client
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    command = [
        sys.executable, "-m", "modelcycle", "--store", client.metadata.url,
        "--artifacts", client.artifacts.url, "predict", "cancer@champion",
        "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
        "--id-column", "patient", "--executor", "ray:1", "--json",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["executor"], result["files"], result["rows"], result["model"]) == (
        "ray:1",
        3,
        569,
        "cancer@1",
    )
    scored = pd.read_parquet(sorted((tmp_path / "out").iterdir()))
    assert scored["patient"].tolist() == features["patient"].tolist()
    expected = models.onnx_model.predict(features.drop(columns="patient"))
    assert np.array_equal(scored["prediction"].to_numpy(), expected)


def test_scoring_a_graph_imports_neither_scikit_learn_nor_the_converters(
    models: Models, tmp_path: Path
) -> None:
    graph = models.registry.bundle("cancer@1").part("onnx")
    assert graph is not None
    (tmp_path / "model.onnx").write_bytes(graph)
    script = (
        "import sys\n"
        "from modelcycle.registry import OnnxPredictor\n"
        "graph = open('model.onnx', 'rb').read()\n"
        "row = {name: [1.0] for _, name, _ in OnnxPredictor(graph, task='binary', "
        "classes=[0, 1]).graph.feed}\n"
        "print(OnnxPredictor(graph, task='binary', classes=[0, 1]).predict(row).tolist())\n"
        "print(sorted(m for m in sys.modules if m.startswith(('sklearn', "
        "'modelcycle.registry._onnx_convert'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    prediction, loaded = done.stdout.splitlines()
    assert prediction in ("[0]", "[1]")
    assert loaded == "[]"


def test_the_backend_can_be_chosen_and_onnx_is_refused_when_not_ready(
    models: Models, tmp_path: Path
) -> None:
    models.rows.to_parquet(tmp_path / "in.parquet")
    args = (models.registry, "cancer@1", tmp_path / "in.parquet", tmp_path / "out.parquet")
    assert score_file(*args, backend="python").backend == "python"
    scored = pd.read_parquet(tmp_path / "out.parquet")
    expected = models.onnx_model.predict(models.rows.drop(columns=["patient", "clinic"]))
    assert np.array_equal(scored["prediction"].to_numpy(), expected)
    with pytest.raises(InvalidValueError, match=r"cancer@2 is not ONNX-ready"):
        score_file(models.registry, "cancer@2", *args[2:], backend="onnx")
    with pytest.raises(InvalidValueError, match="backend"):
        score_file(*args, backend="gpu")


@pytest.fixture(scope="module")
def mixed(models: Models) -> tuple[Any, pd.DataFrame]:
    """``visits`` ONNX-less: a boolean, an integer-coded category and a number."""
    rng = np.random.default_rng(9)
    frame = pd.DataFrame(
        {
            "smoker": rng.random(300) < 0.3,
            "grade": rng.choice([1, 2, 3], 300),
            "age": rng.normal(50, 10, 300).round(1),
        }
    )
    target = (frame["age"] + 8 * frame["smoker"] + 3 * frame["grade"] > 60).astype(int)
    encode = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), ["smoker", "grade"])],
        remainder="passthrough",
    )
    model = Pipeline([("prepare", encode), ("model", LogisticRegression())]).fit(frame, target)
    kinds = {"smoker": "boolean", "grade": "categorical"}
    signature = signature_of(frame, kinds, task="binary", classes=[0, 1])
    models.registry.register_model(
        "visits", model, signature=signature, task="binary", family="linear", source="test"
    )
    return model, frame


def test_booleans_and_integer_categories_from_csv_text_score_like_the_frame(
    models: Models, mixed: tuple[Any, pd.DataFrame], tmp_path: Path
) -> None:
    model, frame = mixed
    text = frame.assign(smoker=frame["smoker"].map({True: "true", False: "false"}))
    text.to_csv(tmp_path / "in.csv", index=False)
    score_file(models.registry, "visits", tmp_path / "in.csv", tmp_path / "out.parquet")
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert np.array_equal(scored["prediction"].to_numpy(), model.predict(frame))
    frame.to_parquet(tmp_path / "in.parquet")
    score_file(models.registry, "visits", tmp_path / "in.parquet", tmp_path / "out.csv")
    assert np.array_equal(pd.read_csv(tmp_path / "out.csv")["prediction"], model.predict(frame))


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("grade", 7, r"row 5, column 'grade': invalid value 7: unknown category; expected one"),
        ("smoker", "maybe", r"row 5, column 'smoker': invalid value 'maybe': expected true or"),
        ("age", "old", r"row 5, column 'age': invalid value 'old': expected a number"),
    ],
)
def test_bad_values_of_each_kind_name_row_and_column(
    models: Models,
    mixed: tuple[Any, pd.DataFrame],
    tmp_path: Path,
    column: str,
    value: object,
    message: str,
) -> None:
    frame = mixed[1].astype(object)
    frame.loc[4, column] = value
    frame.to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(DataError, match=message):
        score_file(models.registry, "visits", tmp_path / "in.csv", tmp_path / "out.csv")
