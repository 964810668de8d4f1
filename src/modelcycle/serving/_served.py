"""One loaded model version, ready to answer: its input schema, its backend, its outputs.

    served = ServedModel.load(registry, "cancer@champion", spec=spec)
    served.predict(served.schema.validate({"mean radius": [14.1], ...}), ["predict_proba"])

Two backends behind one ``predict``:

- ``onnx`` when the version is ONNX-ready: an ONNX Runtime session (one thread, no spinning:
  see ``_onnx_plan``) fed straight from the validated columns (one NumPy array per graph
  input, no pandas), both outputs from one run;
- ``python`` otherwise: the bundle's fitted ``Pipeline(preprocess, model)`` on a DataFrame built
  once per (micro-)batch, with the signature's columns in training order.

Outputs are plain JSON lists (no NumPy scalars): ``predict`` (labels, as the signature's class
values, or regression values) and, for classifiers, ``predict_proba`` (one list of class
probabilities per row, in the order of :attr:`ServedModel.classes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from modelcycle.errors import invalid_value
from modelcycle.serving._signature import Columns, InputSchema

if TYPE_CHECKING:
    import numpy as np

    from modelcycle.registry import Registry
    from modelcycle.serving._spec import ServeSpec

__all__ = ["OUTPUTS", "ServedModel"]

#: Every output a model may offer, in the order they are listed.
OUTPUTS = ("predict", "predict_proba")
_OBJECT_KINDS = ("boolean", "categorical", "datetime", "text", "id")


@dataclass(frozen=True)
class _OnnxPlan:
    """How to feed a graph and read it back, prepared once at load."""

    session: Any
    feed: list[tuple[str, str, bool]]  # (graph input, column, is_string)
    outputs: dict[str, str]  # our output name -> graph output name
    labels: dict[Any, Any] | None  # graph label -> class value (classifiers)


@dataclass
class ServedModel:
    """A model version loaded for serving (see the module docstring); build it with
    :meth:`load`. ``predict`` is thread-safe and expects validated columns
    (``schema.validate``); ``outputs`` lists what this model offers."""

    name: str
    version: int
    task: str
    classes: list[Any] | None
    signature: dict[str, Any]
    schema: InputSchema
    backend: Literal["onnx", "python"]
    model: Any = field(repr=False)
    loaded_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    _plan: _OnnxPlan | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """``NAME@VERSION``: the answering version, as every response names it."""
        return f"{self.name}@{self.version}"

    @property
    def outputs(self) -> tuple[str, ...]:
        """The outputs this model offers: ``predict`` and, for classifiers, ``predict_proba``."""
        return OUTPUTS if self.task != "regression" else OUTPUTS[:1]

    @classmethod
    def load(
        cls,
        registry: Registry,
        ref: str,
        *,
        spec: ServeSpec | None = None,
        backend: Literal["auto", "onnx", "python"] = "auto",
    ) -> ServedModel:
        """Load the version ``ref`` names (``NAME@ALIAS``, ``NAME@VERSION``): ONNX Runtime when
        it is ONNX-ready (``backend="auto"``), else its fitted pipeline; every byte is
        hash-verified by the artifact store. ``spec`` gives the validation policy and limits."""
        from modelcycle.registry import load_bundle
        from modelcycle.serving._spec import ServeSpec

        spec = spec or ServeSpec()
        version = registry.get(ref)
        bundle = load_bundle(registry.client, version.bundle_sha256)
        signature = bundle.signature
        task = str(bundle.manifest.get("task") or signature.get("output", {}).get("task"))
        classes = signature.get("output", {}).get("classes")
        schema = InputSchema(
            signature, unknown_categories=spec.unknown_categories, max_rows=spec.limits.max_rows
        )
        use_onnx = backend == "onnx" or (backend == "auto" and version.onnx_ready)
        if use_onnx and not version.onnx_ready:
            raise invalid_value("backend", backend, f"{version.ref} is not ONNX-ready")
        graph = bundle.part("onnx") if use_onnx else None
        if use_onnx and graph is None:
            raise invalid_value("backend", backend, f"{version.ref} has no ONNX graph")
        served = cls(
            name=version.name,
            version=version.version,
            task=task,
            classes=None if classes is None else list(classes),
            signature=signature,
            schema=schema,
            backend="onnx" if graph is not None else "python",
            model=None if graph is not None else bundle.model(),
        )
        if graph is not None:
            served._plan = _onnx_plan(graph, task, served.classes)
        return served

    # -- predicting -------------------------------------------------------------------------------
    def check_outputs(self, outputs: Sequence[str]) -> tuple[str, ...]:
        """``outputs`` as asked (all of them when empty); an output this model does not offer
        is an InvalidValueError naming it."""
        if not outputs:
            return self.outputs
        for name in outputs:
            if name not in self.outputs:
                why = f"{self.label} offers {', '.join(self.outputs)}"
                raise invalid_value("field 'outputs'", name, why)
        return tuple(dict.fromkeys(outputs))

    def predict(self, columns: Columns, outputs: Sequence[str]) -> dict[str, list[Any]]:
        """The requested ``outputs`` (all when empty) for validated ``columns``."""
        wanted = self.check_outputs(outputs)
        if self._plan is not None:
            return _run_onnx(self._plan, columns, wanted)
        return self._run_python(columns, wanted)

    def _run_python(self, columns: Columns, wanted: Sequence[str]) -> dict[str, list[Any]]:
        frame = self._frame(columns)
        result: dict[str, list[Any]] = {}
        for name in wanted:
            values = getattr(self.model, name)(frame)
            result[name] = _plain(values, regression=self.task == "regression")
        return result

    def _frame(self, columns: Columns) -> Any:
        """One DataFrame for the batch: numeric columns as float64 (None -> NaN), the others as
        Python objects (None stays missing), as the fitted preprocessing expects them. All
        numeric: one 2-D block (a third of the cost of a frame built column by column)."""
        import numpy as np
        import pandas as pd

        names = self.schema.names
        kinds = self.schema.kinds
        if not any(kinds[name] in _OBJECT_KINDS for name in names):
            block = np.array([columns[name] for name in names], dtype=np.float64).T
            return pd.DataFrame(block, columns=list(names), copy=False)
        data = {}
        for name in names:
            dtype = object if kinds[name] in _OBJECT_KINDS else np.float64
            data[name] = np.array(columns[name], dtype=dtype)
        return pd.DataFrame(data, copy=False)

    # -- metadata ---------------------------------------------------------------------------------
    def v2_outputs(self) -> list[dict[str, Any]]:
        """The outputs as Open Inference Protocol tensor metadata."""
        numeric = self.task == "regression" or all(
            isinstance(c, (int, float)) and not isinstance(c, bool) for c in self.classes or []
        )
        tensors: list[dict[str, Any]] = [
            {"name": "predict", "datatype": "FP64" if numeric else "BYTES", "shape": [-1]}
        ]
        if self.task != "regression":
            size = len(self.classes or [])
            tensors.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, size]})
        return tensors


def _onnx_plan(graph: bytes, task: str, classes: list[Any] | None) -> _OnnxPlan:
    """Open the graph for serving (one intra-op thread that sleeps between runs: see
    ``registry._onnx_runtime``) and map its labels back to the class values."""
    from modelcycle.registry._onnx_runtime import graph_io

    graph_info = graph_io(graph, task, threads=1)
    session, feed, outputs = graph_info.session, graph_info.feed, graph_info.outputs
    if task == "regression":
        return _OnnxPlan(session, feed, outputs, None)
    if not classes:
        raise invalid_value("classes", classes, f"a {task} model needs its class labels")
    labels = {(str(c) if graph_info.textual_labels else c): c for c in classes}
    return _OnnxPlan(session, feed, outputs, labels)


def _run_onnx(plan: _OnnxPlan, columns: Columns, wanted: Sequence[str]) -> dict[str, list[Any]]:
    """One session run for every requested output."""
    import numpy as np

    feed: dict[str, np.ndarray[Any, Any]] = {}
    for graph_input, column, is_string in plan.feed:
        values = columns[column]
        if is_string:
            texts = ["" if v is None else str(v) for v in values]
            feed[graph_input] = np.array(texts, dtype=object).reshape(-1, 1)
        else:
            feed[graph_input] = np.array(values, dtype=np.float64).reshape(-1, 1)
    names = [plan.outputs[name] for name in wanted]
    found = dict(zip(wanted, plan.session.run(names, feed), strict=True))
    result: dict[str, list[Any]] = {}
    for name, values in found.items():
        if name == "predict" and plan.labels is not None:
            result[name] = _labels(plan.labels, np.asarray(values).reshape(-1).tolist())
        else:
            result[name] = _plain(values, regression=plan.labels is None)
    return result


def _labels(labels: dict[Any, Any], found: list[Any]) -> list[Any]:
    try:
        return [labels[value] for value in found]
    except KeyError as missing:
        why = f"the model predicts {missing.args[0]!r}, which is not among them"
        raise invalid_value("classes", list(labels.values()), why) from None


def _plain(values: np.ndarray[Any, Any] | Any, *, regression: bool) -> list[Any]:
    """An output array as JSON lists: 1-D for labels and values, 2-D for probabilities."""
    import numpy as np

    array = np.asarray(values)
    if array.dtype.kind == "f" or regression:
        array = array.astype(np.float64)
        if regression:
            array = array.reshape(-1)
    plain: list[Any] = array.tolist()
    return plain
