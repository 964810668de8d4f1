"""ONNX export of a model version, with a parity check, and the ONNX Runtime predictor.

:func:`export_onnx` converts the fitted ``Pipeline(preprocess, model)`` that training returns,
preprocessing included, into one ONNX graph (scikit-learn models through skl2onnx, LightGBM
through onnxmltools, the PyTorch MLP through ``torch.onnx``; see ``_onnx_convert`` for the
graph's inputs), then runs the graph with ONNX Runtime on the test rows and compares it with
the pipeline. The version is ONNX-ready only when

- every step converted (otherwise ``reason`` names the unsupported step and its columns, or
  gives the converter's error in one line), and
- the outputs agree on every test row: class labels exactly, and probabilities within
  ``tolerance`` (maximum absolute difference, default 1e-4); regression values within
  ``tolerance`` times ``max(1, largest |value|)``, since the tree runtimes of ONNX compute in
  float32, whose resolution grows with the values (a price of 250,000 has steps of 1/64).

It never raises for a model it cannot export: a version must register all the same, marked not
ONNX-ready with the reason.

:class:`OnnxPredictor` is the serving side (and what the parity check runs): an ONNX Runtime
session on the CPU fed with a DataFrame or a ``{column: [values]}`` mapping (JSON), returning
arrays shaped like the pipeline's ``predict`` / ``predict_proba`` with the original labels.
Missing values: ``None`` or NaN; in string columns they become the empty string, which the
graph treats as missing (a genuine empty-string category therefore counts as missing).

    exported = export_onnx(result.pipeline, x_test, task="binary")
    exported.ready, exported.parity["max_abs_diff"], exported.to_dict()
    predictor = OnnxPredictor(exported.model, task="binary", classes=[0, 1])
    predictor.predict_proba({"age": [31, None], "sex": ["male", "female"]})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.errors import DataError, invalid_value
from modelcycle.registry._onnx_runtime import OPSET, graph_io

if TYPE_CHECKING:
    import pandas as pd

    from modelcycle.registry._onnx_convert import Converted

__all__ = ["PARITY_ROWS", "OnnxExport", "OnnxPredictor", "export_onnx"]

#: At most this many test rows are compared (the first ones).
PARITY_ROWS = 5000
_TASKS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class OnnxExport:
    """The result of :func:`export_onnx`.

    ``model`` holds the serialised graph whenever conversion succeeded (also when parity
    failed, for inspection; serve it only when ``ready``). ``parity`` (empty when nothing
    was compared) is::

        rows          test rows compared
        output        "probabilities" (classifiers) or "value" (regressors)
        max_abs_diff  largest |ONNX - pipeline| over those outputs
        tolerance     the tolerance asked for
        scale         1 for probabilities, max(1, largest |value|) for regression
        labels_agree  every predicted label equal (always True for regression)
        passed        labels_agree and max_abs_diff <= tolerance * scale

    ``inputs`` lists the graph inputs as ``{column, name, type}`` (``type`` is
    ``tensor(double)`` or ``tensor(string)``); ``converter`` names the converters and their
    versions; ``opset`` is the default ONNX domain's opset.
    """

    model: bytes | None = field(repr=False)
    ready: bool
    parity: dict[str, Any]
    reason: str | None
    inputs: list[dict[str, str]]
    converter: str
    opset: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form, without the model bytes."""
        return {
            "ready": self.ready,
            "parity": dict(self.parity),
            "reason": self.reason,
            "inputs": [dict(item) for item in self.inputs],
            "converter": self.converter,
            "opset": self.opset,
            "size_bytes": None if self.model is None else len(self.model),
        }


def export_onnx(
    pipeline: Any, sample: pd.DataFrame, *, task: str, tolerance: float = 1e-4
) -> OnnxExport:
    """Convert ``pipeline`` to ONNX and check it against the pipeline on ``sample`` (test rows).

    See the module docstring for what ready means; ``tolerance`` must be >= 0.
    """
    if task not in _TASKS:
        raise invalid_value("task", task, f"expected one of {', '.join(_TASKS)}")
    if not tolerance >= 0:
        raise invalid_value("tolerance", tolerance, "must be a number >= 0")
    if not hasattr(sample, "iloc"):
        why = "expected a pandas DataFrame of test rows"
        raise invalid_value("sample", type(sample).__name__, why)
    from modelcycle.registry._onnx_convert import Unsupported, convert

    try:
        converted = convert(pipeline)
    except Unsupported as unsupported:
        return _not_ready(f"unsupported: {unsupported}")
    except Exception as error:  # any converter failure: the version registers without ONNX
        return _not_ready(f"converter error: {_one_line(error)}")
    rows = sample.iloc[:PARITY_ROWS]
    if len(rows) == 0:
        return _checked(converted, {}, "no test rows to check parity on")
    try:
        parity = _parity(pipeline, converted.model, rows, task, tolerance)
    except Exception as error:  # the graph does not run on these rows: not ready, say why
        reason = f"could not compare on the test rows: {_one_line(error)}"
        return _checked(converted, {}, reason)
    return _checked(converted, parity, _failure(parity))


def _one_line(error: BaseException) -> str:
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first[:300]}"


def _checked(converted: Converted, parity: dict[str, Any], reason: str | None) -> OnnxExport:
    """A converted graph: ready when ``parity`` passed (``reason`` is None then)."""
    ready = bool(parity.get("passed")) and reason is None
    return OnnxExport(
        converted.model, ready, parity, reason, converted.inputs, converted.converter, OPSET
    )


def _not_ready(reason: str) -> OnnxExport:
    return OnnxExport(None, False, {}, reason, [], "", OPSET)


def _parity(
    pipeline: Any, model: bytes, rows: pd.DataFrame, task: str, tolerance: float
) -> dict[str, Any]:
    """Compare the pipeline and the ONNX graph on ``rows`` (see the module docstring)."""
    classes = list(getattr(pipeline, "classes_", [])) if task != "regression" else None
    predictor = OnnxPredictor(model, task=task, classes=classes)
    if classes is None:
        expected, got = np.asarray(pipeline.predict(rows), float), predictor.predict(rows)
        scale = max(1.0, float(np.abs(expected).max()))
        labels_agree, output = True, "value"
    else:
        expected, got = (
            np.asarray(pipeline.predict_proba(rows), float),
            predictor.predict_proba(rows),
        )
        scale, output = 1.0, "probabilities"
        labels = np.asarray(pipeline.predict(rows))
        labels_agree = bool(np.array_equal(labels, predictor.predict(rows)))
    if expected.shape != got.shape:
        raise ValueError(f"ONNX outputs have shape {got.shape}, the pipeline's {expected.shape}")
    if bool((np.isnan(expected) != np.isnan(got)).any()):
        raise ValueError("ONNX outputs hold NaN where the pipeline's do not, or the reverse")
    differences = np.abs(expected - got)
    diff = float(np.nanmax(differences)) if bool((~np.isnan(differences)).any()) else 0.0
    return {
        "rows": len(rows),
        "max_abs_diff": diff,
        "tolerance": tolerance,
        "scale": scale,
        "labels_agree": labels_agree,
        "passed": bool(labels_agree and diff <= tolerance * scale),
        "output": output,
    }


def _failure(parity: Mapping[str, Any]) -> str | None:
    if parity["passed"]:
        return None
    problems = []
    if parity["max_abs_diff"] > parity["tolerance"] * parity["scale"]:
        scaled = "" if parity["scale"] == 1.0 else f" x scale {parity['scale']:.6g}"
        problems.append(
            f"max |difference| of {parity['output']} {parity['max_abs_diff']:.3g} > "
            f"tolerance {parity['tolerance']:.3g}{scaled}"
        )
    if not parity["labels_agree"]:
        problems.append("predicted labels differ")
    return f"parity failed on {parity['rows']} test rows: " + "; ".join(problems)


class OnnxPredictor:
    """Predictions from an exported graph with ONNX Runtime (CPU), like the pipeline's.

    ``classes`` (the pipeline's ``classes_``, required for classifiers) maps the graph's labels
    back to the original values and orders ``predict_proba``'s columns.
    """

    def __init__(self, model: bytes, *, task: str, classes: Sequence[Any] | None = None) -> None:
        if task not in _TASKS:
            raise invalid_value("task", task, f"expected one of {', '.join(_TASKS)}")
        if task != "regression" and (classes is None or len(classes) == 0):
            raise invalid_value("classes", classes, f"a {task} model needs its class labels")
        self.graph = graph_io(model, task)
        self.session = self.graph.session
        self.task = task
        self.classes = None if classes is None else np.asarray(list(classes))

    def predict(self, rows: pd.DataFrame | Mapping[str, Sequence[Any]]) -> np.ndarray[Any, Any]:
        """Class labels (original values) or regression values, one per row."""
        if self.task == "regression":
            return np.asarray(self._run(rows, 0), dtype=np.float64).reshape(-1)
        return self._original(np.asarray(self._run(rows, 0)).reshape(-1))

    def predict_proba(
        self, rows: pd.DataFrame | Mapping[str, Sequence[Any]]
    ) -> np.ndarray[Any, Any]:
        """Class probabilities, columns in the order of ``classes`` (classifiers only)."""
        if self.task == "regression":
            raise invalid_value("task", self.task, "a regressor has no class probabilities")
        return np.asarray(self._run(rows, 1), dtype=np.float64)

    def _run(self, rows: Any, output: int) -> Any:
        """One output of the graph: 0 is the label or value, 1 the probabilities."""
        name = self.graph.outputs["predict" if output == 0 else "predict_proba"]
        return self.session.run([name], self._feed(rows))[0]

    def _feed(self, rows: Any) -> dict[str, np.ndarray[Any, Any]]:
        """One ``[rows, 1]`` array per graph input from a DataFrame or a column mapping."""
        feed = {}
        lengths = set()
        for name, column, string in self.graph.feed:
            if column not in rows:
                raise DataError(f"missing column {column!r}: the model reads it")
            values = _values(rows[column], column, string=string)
            lengths.add(len(values))
            feed[name] = values.reshape(-1, 1)
        if len(lengths) > 1:
            raise DataError(f"columns have different lengths: {sorted(lengths)}")
        return feed

    def _original(self, labels: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The graph's labels (class values as int64, or as strings) as ``classes`` values."""
        classes = np.asarray([]) if self.classes is None else self.classes
        textual = labels.dtype.kind in "OUS"
        index = {(str(c) if textual else float(c)): i for i, c in enumerate(classes)}
        try:
            positions = [index[str(v) if textual else float(v)] for v in labels]
        except KeyError as missing:
            why = f"the model predicts {missing.args[0]!r}, which is not among them"
            raise invalid_value("classes", classes.tolist(), why) from None
        return classes[positions]


def _values(column: Any, name: str, *, string: bool) -> np.ndarray[Any, Any]:
    """A column's values as the graph takes them: strings ("" = missing) or float64 (NaN)."""
    values = column.astype(object).tolist() if hasattr(column, "astype") else list(column)
    if string:
        return np.array(["" if _missing(v) else str(v) for v in values], dtype=object)
    try:
        return np.array([np.nan if _missing(v) else float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"column {name!r} must hold numbers (or null)") from None


def _missing(value: Any) -> bool:
    """None, NaN, pandas' NA and NaT: what ``pd.isna`` calls missing, without pandas."""
    if value is None or (isinstance(value, float) and value != value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")
