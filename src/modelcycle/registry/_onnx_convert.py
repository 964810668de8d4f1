"""Converting a fitted ``Pipeline(preprocess, model)`` into one ONNX graph.

The graph takes one input per raw column the preprocessor reads, so a server feeds columns
straight from JSON: ``tensor(double)`` for numeric columns (NaN is missing) and
``tensor(string)`` for categorical, boolean and text columns (the empty string is missing;
other values are ``str(value)``, exactly what ``as_labels`` makes of them in scikit-learn).
Each input has shape ``[rows, 1]``; dropped columns (ids, the target) are not inputs. Input
names are the column names made ONNX-safe (``"mean radius"`` -> ``mean_radius``); the table
from column to input travels in the model's metadata (:data:`COLUMNS_KEY`), so the runtime
needs nothing but the bytes.

How: a *conversion copy* of the pipeline replaces our ``FunctionTransformer``s and the
``SimpleImputer``s by the stand-ins of ``_onnx_ops``, ends each preprocessing branch in float64
(as scikit-learn's arrays are) and casts the features to the precision the model computes in
(float32 for scikit-learn's trees, which cast to float32 themselves, and for its linear
classifiers). Every other step must have a skl2onnx converter, else :class:`Unsupported` names
it and its columns. scikit-learn models and LightGBM (onnxmltools) convert with skl2onnx;
the PyTorch MLP is exported with ``torch.onnx`` (``_onnx_torch``). Outputs, in this order:
``label`` and ``probabilities`` (classifiers, probabilities without ZipMap) or ``variable``
(regressors).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import numpy as np

from modelcycle.data._preprocessing import as_documents, as_labels
from modelcycle.registry._onnx_ops import Cast, Impute, Strings, register_converters
from modelcycle.registry._onnx_runtime import COLUMNS_KEY, OPSET

__all__ = ["COLUMNS_KEY", "OPSET", "Converted", "Unsupported", "convert"]

#: Opset of the ``ai.onnx.ml`` domain (the default domain's, ``OPSET``, is 21: ``Equal`` on
#: strings needs 19 or later).
_ML_OPSET = 3
_STRING, _DOUBLE = "tensor(string)", "tensor(double)"
_MODEL = "the model"
_SKLEARN_TREES = ("sklearn.tree", "sklearn.ensemble")


class Unsupported(Exception):
    """A step the export cannot convert; the message names its class and its columns."""


@dataclass(frozen=True)
class Converted:
    """A serialised ONNX graph, its inputs (``{column, name, type}``) and the converter."""

    model: bytes
    inputs: list[dict[str, str]]
    converter: str


@dataclass(frozen=True)
class _Copy:
    """The conversion copy of the preprocessing and what it reads."""

    preprocess: Any
    kinds: dict[str, str]  # column -> ONNX input type, in input order
    unimputed: list[str]  # numeric columns whose missing values reach the model


def convert(pipeline: Any) -> Converted:
    """The ONNX graph of a fitted ``Pipeline(ColumnTransformer, ..., model)``.

    Raises :class:`Unsupported` for a step it cannot convert; converter errors propagate.
    """
    from sklearn.pipeline import Pipeline

    register_converters()
    steps = getattr(pipeline, "steps", None) or []
    if not isinstance(pipeline, Pipeline) or len(steps) < 2 or not _is_columns(steps[0][1]):
        kind = type(pipeline).__name__
        raise Unsupported(f"expected a fitted Pipeline(ColumnTransformer, model), got {kind}")
    prepared = _preprocess_copy(steps[0][1])
    middle = [(name, _stand_in(step, "the features")) for name, step in steps[1:-1]]
    model = steps[-1][1]
    if _is_torch(model):
        graph, converter = _convert_torch(prepared, middle, model)
    else:
        graph, converter = _convert_sklearn(prepared, middle, model)
    inputs = [
        {"column": column, "name": item.name, "type": kind}
        for (column, kind), item in zip(prepared.kinds.items(), graph.graph.input, strict=True)
    ]
    _set_metadata(graph, {COLUMNS_KEY: json.dumps(inputs)})
    return Converted(graph.SerializeToString(), inputs, converter)


def _convert_sklearn(prepared: _Copy, middle: list[Any], model: Any) -> tuple[Any, str]:
    from sklearn.pipeline import Pipeline

    _check_supported(model, _MODEL)
    if prepared.unimputed and type(model).__module__.startswith(_SKLEARN_TREES):
        columns = ", ".join(map(repr, prepared.unimputed))
        raise Unsupported(
            f"{type(model).__name__} with missing values in {columns} (numeric imputation is "
            "none): skl2onnx does not convert how scikit-learn trees route missing values"
        )
    cast = Cast("float64" if _computes_in_double(model) else "float32")
    steps = [("preprocess", prepared.preprocess), *middle, ("cast", cast), ("model", model)]
    graph = _skl2onnx(Pipeline(steps), prepared.kinds, classifier=hasattr(model, "classes_"))
    converter = f"skl2onnx {version('skl2onnx')}"
    if type(model).__module__.startswith("lightgbm"):
        converter += f" + onnxmltools {version('onnxmltools')}"
    return graph, converter


def _convert_torch(prepared: _Copy, middle: list[Any], model: Any) -> tuple[Any, str]:
    from sklearn.pipeline import Pipeline

    from modelcycle.registry._onnx_torch import join_network

    if type(model).__name__ != "MLPEstimator":
        raise Unsupported(f"{type(model).__name__} (a PyTorch family): only the MLP is exported")
    steps = [("preprocess", prepared.preprocess), *middle, ("float", Cast("float32"))]
    features = _skl2onnx(Pipeline(steps), prepared.kinds)
    taken = {item.name for item in features.graph.input}
    graph = join_network(features, model, OPSET, taken)
    return graph, f"torch.onnx {version('torch')} + skl2onnx {version('skl2onnx')}"


# -- the conversion copy ---------------------------------------------------------------------


def _is_columns(step: Any) -> bool:
    from sklearn.compose import ColumnTransformer

    return isinstance(step, ColumnTransformer) and hasattr(step, "transformers_")


def _preprocess_copy(columns: Any) -> _Copy:
    """The fitted ColumnTransformer with stand-ins, each branch ending in float64."""
    from sklearn.pipeline import Pipeline

    kinds: dict[str, str] = {}
    unimputed: list[str] = []
    branches = []
    for name, step, selected in columns.transformers_:
        names = _column_names(columns, selected)
        if step == "drop" or not names:
            branches.append((name, step, selected))
            continue
        where = ("columns " if len(names) > 1 else "column ") + ", ".join(map(repr, names))
        leaves = [] if step == "passthrough" else _flat(_stand_in(step, where))
        kind = _STRING if leaves and isinstance(leaves[0], Strings) else _DOUBLE
        if kind == _DOUBLE and not any(isinstance(leaf, Impute) for leaf in leaves):
            unimputed += names
        for column in names:
            if kinds.setdefault(column, kind) != kind:
                raise Unsupported(f"column {column!r} is read both as text and as numbers")
        steps = [(f"step{i}", leaf) for i, leaf in enumerate(leaves)]
        branches.append((name, Pipeline([*steps, ("double", Cast("float64"))]), names))
    converted = copy.copy(columns)
    converted.transformers_ = branches
    return _Copy(converted, kinds, unimputed)


def _column_names(columns: Any, selected: Any) -> list[str]:
    """The columns a branch reads, by name (positions resolved through the fitted names)."""
    if isinstance(selected, str):
        selected = [selected]
    if isinstance(selected, slice) or np.ndim(selected) != 1:
        raise Unsupported(f"ColumnTransformer column selection {selected!r} (name the columns)")
    if len(selected) and np.asarray(selected).dtype == bool:
        selected = np.flatnonzero(selected)
    fitted = list(getattr(columns, "feature_names_in_", []))
    return [item if isinstance(item, str) else str(fitted[int(item)]) for item in selected]


def _flat(step: Any) -> list[Any]:
    from sklearn.pipeline import Pipeline

    if isinstance(step, Pipeline):
        return [leaf for _, inner in step.steps for leaf in _flat(inner)]
    return [step]


def _stand_in(step: Any, where: str) -> Any:
    """``step`` as skl2onnx can convert it (a Pipeline step by step), or Unsupported."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    if isinstance(step, Pipeline):
        return Pipeline([(name, _stand_in(inner, where)) for name, inner in step.steps])
    if isinstance(step, FunctionTransformer):
        if step.func in (as_labels, as_documents):
            return Strings()
        if step.func is None:
            return step
        function = getattr(step.func, "__name__", repr(step.func))
        raise Unsupported(f"FunctionTransformer({function}) on {where}")
    if isinstance(step, SimpleImputer):
        return _imputer(step, where)
    _check_supported(step, where)
    return step


def _imputer(step: Any, where: str) -> Impute:
    statistics = np.asarray(step.statistics_)
    missing = step.missing_values
    if step.add_indicator or not (isinstance(missing, float) and missing != missing):
        why = "missing indicators or missing values other than NaN"
        raise Unsupported(f"SimpleImputer with {why} on {where}")
    if statistics.dtype.kind == "f" and bool(np.isnan(statistics).any()):
        raise Unsupported(f"SimpleImputer on {where}: a column had no values in training")
    return Impute(statistics)


def _check_supported(step: Any, where: str) -> None:
    from skl2onnx._supported_operators import (  # type: ignore[import-untyped, unused-ignore]
        sklearn_operator_name_map,
    )
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    name = type(step).__name__
    if type(step) not in sklearn_operator_name_map:
        subject = f"the model, {name}," if where == _MODEL else f"{name} on {where}"
        raise Unsupported(f"{subject} has no ONNX converter")
    if isinstance(step, (OneHotEncoder, OrdinalEncoder)):
        for values in step.categories_:
            if any(isinstance(value, float) and value != value for value in values):
                why = "encodes missing values as a category (categorical imputation is none)"
                raise Unsupported(f"{name} on {where} {why}")


def _computes_in_double(model: Any) -> bool:
    """LightGBM and linear regressors take float64 features, as in Python (see the module
    docstring for the others)."""
    from sklearn.base import is_regressor

    lightgbm = type(model).__module__.startswith("lightgbm")
    return bool(lightgbm or (is_regressor(model) and hasattr(model, "coef_")))


def _is_torch(model: Any) -> bool:
    return any(cls.__name__ == "TorchEstimator" for cls in type(model).__mro__)


# -- skl2onnx --------------------------------------------------------------------------------


def _skl2onnx(prepared: Any, kinds: dict[str, str], *, classifier: bool = False) -> Any:
    from skl2onnx import convert_sklearn  # type: ignore[import-untyped, unused-ignore]
    from skl2onnx.common.data_types import (  # type: ignore[import-untyped, unused-ignore]
        DoubleTensorType,
        StringTensorType,
    )

    types = {_STRING: StringTensorType, _DOUBLE: DoubleTensorType}
    initial = [(column, types[kind]([None, 1])) for column, kind in kinds.items()]
    options = _text_options(prepared.steps[0][1])
    if classifier:
        options[id(prepared.steps[-1][1])] = {"zipmap": False}
    return convert_sklearn(
        prepared,
        initial_types=initial,
        target_opset={"": OPSET, "ai.onnx.ml": _ML_OPSET},
        options=options,
    )


def _text_options(preprocess: Any) -> dict[int, dict[str, Any]]:
    """TF-IDF: scikit-learn's own token pattern, and lowercasing in the C locale (ONNX
    Runtime's default, en_US.UTF-8, is not installed everywhere)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    leaves = [
        leaf
        for _, branch, _ in preprocess.transformers_
        if not isinstance(branch, str)
        for leaf in _flat(branch)
    ]
    return {
        id(leaf): {"tokenexp": "", "locale": "C"}
        for leaf in leaves
        if isinstance(leaf, TfidfVectorizer)
    }


def _set_metadata(graph: Any, values: dict[str, str]) -> None:
    from onnx import helper

    current = {entry.key: entry.value for entry in graph.metadata_props}
    helper.set_model_props(graph, {**current, **values})
