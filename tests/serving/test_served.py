"""A loaded model version: ONNX Runtime and pipeline backends answer like the trained pipeline.

Real models, trained once per module with ``train_candidate`` and registered through the
registry: breast_cancer (binary, 30 numeric columns), iris with species names as classes and an
added categorical column (multiclass, string labels), diabetes (regression).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from modelcycle.data import SplitSpec
from modelcycle.errors import InvalidValueError, NotFoundError
from modelcycle.registry import Registry, export_onnx, signature_of
from modelcycle.serving import ServedModel, ServeSpec
from modelcycle.tracking import Client
from modelcycle.training import TrainData, TrainSpec, train_candidate


def _iris() -> pd.DataFrame:
    iris = load_iris(as_frame=True)
    frame: pd.DataFrame = iris.frame.drop(columns=["target"])
    frame["colour"] = [("blue", "red", "white")[i % 3] for i in range(len(frame))]
    frame["wild"] = [i % 4 == 0 for i in range(len(frame))]
    frame["species"] = [str(iris.target_names[t]) for t in iris.target]
    return frame


def _cancer() -> pd.DataFrame:
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    return frame


def _diabetes() -> pd.DataFrame:
    frame: pd.DataFrame = load_diabetes(as_frame=True).frame
    return frame


DATASETS: dict[str, tuple[Callable[[], pd.DataFrame], str, str]] = {
    "cancer": (_cancer, "target", "binary"),
    "iris": (_iris, "species", "multiclass"),
    "diabetes": (_diabetes, "target", "regression"),
}


def _register(client: Client, name: str, *, onnx: bool = True, as_name: str = "") -> Any:
    """Train a small linear model on dataset ``name`` and register it; returns the pipeline."""
    load, target, task = DATASETS[name]
    frame = load()
    split = SplitSpec(method="random" if task == "regression" else "stratified", seed=7)
    data = TrainData.from_frame(frame, target, split)
    pipeline = train_candidate(client, "linear", {}, data, TrainSpec()).pipeline
    rows = frame.drop(columns=[target])
    kinds = {n: c.kind.value for n, c in data.schema.columns.items()}
    classes = None if task == "regression" else list(pipeline.classes_)
    signature = signature_of(rows, kinds, task=task, classes=classes)
    exported = export_onnx(pipeline, rows.iloc[:200], task=task) if onnx else None
    assert exported is None or exported.ready, exported and exported.reason
    Registry(client).register_model(
        as_name or name,
        pipeline,
        signature=signature,
        task=task,
        family="linear",
        source="tests",
        onnx=exported,
    )
    return pipeline


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    folder = tmp_path_factory.mktemp("served")
    with Client(f"sqlite:///{folder / 'store.db'}", str(folder / "artifacts")) as opened:
        yield opened


@pytest.fixture(scope="module")
def pipelines(client: Client) -> dict[str, Any]:
    return {name: _register(client, name) for name in DATASETS}


def _rows(name: str, count: int = 40) -> tuple[pd.DataFrame, dict[str, list[Any]]]:
    load, target, _ = DATASETS[name]
    rows = load().drop(columns=[target]).iloc[::7].iloc[:count].reset_index(drop=True)
    return rows, {column: rows[column].tolist() for column in rows.columns}


@pytest.mark.parametrize("backend", ["onnx", "python"])
def test_both_backends_answer_like_the_pipeline_in_plain_json(
    client: Client, pipelines: dict[str, Any], backend: Any
) -> None:
    served = ServedModel.load(Registry(client), "cancer@1", backend=backend)
    assert (served.backend, served.label, served.outputs) == (
        backend,
        "cancer@1",
        ("predict", "predict_proba"),
    )
    frame, columns = _rows("cancer")
    found = served.predict(served.schema.validate(columns), ["predict", "predict_proba"])
    expected = pipelines["cancer"]
    assert found["predict"] == expected.predict(frame).tolist()
    assert all(type(label) is int for label in found["predict"])
    proba = found["predict_proba"]
    assert all(type(p) is float for row in proba for p in row)
    np.testing.assert_allclose(proba, expected.predict_proba(frame), atol=1e-4)


def test_an_onnx_ready_version_is_served_by_onnx_runtime_without_pandas(
    client: Client, pipelines: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    served = ServedModel.load(Registry(client), "cancer")
    assert served.backend == "onnx" and served.model is None
    _, columns = _rows("cancer", 3)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the ONNX path built a DataFrame")

    monkeypatch.setattr(pd.DataFrame, "__init__", refuse)
    assert len(served.predict(served.schema.validate(columns), ["predict"])["predict"]) == 3


@pytest.mark.parametrize("backend", ["onnx", "python"])
def test_string_labels_come_back_as_the_class_values_in_class_order(
    client: Client, pipelines: dict[str, Any], backend: Any
) -> None:
    served = ServedModel.load(Registry(client), "iris", backend=backend)
    assert served.classes == ["setosa", "versicolor", "virginica"]
    assert served.schema.kinds["colour"] == "categorical"
    assert served.schema.kinds["wild"] == "boolean"
    assert served.v2_outputs()[0]["datatype"] == "BYTES"
    assert served.v2_outputs()[1]["shape"] == [-1, 3]
    frame, columns = _rows("iris")
    found = served.predict(served.schema.validate(columns), [])
    assert found["predict"] == pipelines["iris"].predict(frame).tolist()
    assert {type(label) for label in found["predict"]} == {str}
    np.testing.assert_allclose(
        found["predict_proba"], pipelines["iris"].predict_proba(frame), atol=1e-4
    )


@pytest.mark.parametrize("backend", ["onnx", "python"])
def test_an_unknown_category_mapped_to_missing_is_predicted_as_missing(
    client: Client, pipelines: dict[str, Any], backend: Any
) -> None:
    spec = ServeSpec(unknown_categories="unknown")
    served = ServedModel.load(Registry(client), "iris@1", spec=spec, backend=backend)
    frame, columns = _rows("iris", 6)
    columns["colour"] = ["green", "red", "violet", None, "blue", "white"]
    valid = served.schema.validate(columns)
    assert valid["colour"] == [None, "red", None, None, "blue", "white"]
    found = served.predict(valid, ["predict_proba"])
    assert list(found) == ["predict_proba"]
    frame["colour"] = pd.Series([np.nan, "red", np.nan, np.nan, "blue", "white"], dtype=object)
    np.testing.assert_allclose(
        found["predict_proba"], pipelines["iris"].predict_proba(frame), atol=1e-4
    )


def test_a_regressor_offers_only_predict(client: Client, pipelines: dict[str, Any]) -> None:
    served = ServedModel.load(Registry(client), "diabetes")
    assert served.outputs == ("predict",) and served.classes is None
    assert served.v2_outputs() == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    frame, columns = _rows("diabetes")
    valid = served.schema.validate(columns)
    values = served.predict(valid, [])["predict"]
    expected = pipelines["diabetes"].predict(frame)
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-4 * np.abs(expected).max())
    with pytest.raises(InvalidValueError, match=r"'predict_proba' for field 'outputs': diabetes@1"):
        served.predict(valid, ["predict_proba"])


def test_a_version_without_onnx_is_served_by_its_pipeline(
    client: Client, pipelines: dict[str, Any]
) -> None:
    _register(client, "cancer", onnx=False, as_name="cancer_plain")
    registry = Registry(client)
    served = ServedModel.load(registry, "cancer_plain@1")
    assert served.backend == "python" and served.model is not None
    with pytest.raises(InvalidValueError, match="cancer_plain@1 is not ONNX-ready"):
        ServedModel.load(registry, "cancer_plain@1", backend="onnx")
    with pytest.raises(NotFoundError):
        ServedModel.load(registry, "no_such_model@champion")


def test_limits_and_policy_come_from_the_spec(client: Client, pipelines: dict[str, Any]) -> None:
    spec = ServeSpec.from_refs(["cancer"], limits={"max_rows": 5})
    served = ServedModel.load(Registry(client), "cancer@1", spec=spec)
    assert served.schema.max_rows == 5 and served.schema.unknown_categories == "reject"
