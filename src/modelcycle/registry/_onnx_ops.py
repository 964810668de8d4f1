"""The small ONNX steps our preprocessing needs that skl2onnx does not provide as we need them.

The conversion (see ``_onnx_convert``) works on a *conversion copy* of the fitted pipeline in
which every step skl2onnx cannot convert faithfully is replaced by one of these stand-ins. They
hold the fitted state of the step they replace and convert to plain ONNX operators; they are
never fitted nor used to predict in Python.

    Strings  FunctionTransformer(as_labels) / (as_documents): the graph's string inputs already
             are labels and documents (missing is the empty string), so this is an identity
    Impute   SimpleImputer: ``Where(IsNaN(x), statistic, x)`` on numbers (any float type;
             skl2onnx's ``Imputer`` operator is float32 only) and ``Where(x == "", statistic,
             x)`` on strings (skl2onnx expects string missing values, ours are NaN)
    Cast     to float64 at the end of each preprocessing branch (every branch then joins in
             double precision, as the scikit-learn arrays do) and to float32 before a model
             whose ONNX operators compute in float32 (trees cast to float32 in scikit-learn too)

:func:`register_converters` registers them with skl2onnx, once per process, together with
LightGBM's converter from onnxmltools, wrapped so that the trees keep LightGBM's float64
thresholds (see :class:`_DoubleTrees`).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

__all__ = ["Cast", "Impute", "Strings", "register_converters"]


class Strings(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Identity on string columns: labels (``as_labels``) or documents (``as_documents``)."""


class Impute(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """A fitted ``SimpleImputer``'s fill values, one per column."""

    def __init__(self, statistics: np.ndarray[Any, Any]) -> None:
        self.statistics = statistics


class Cast(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Cast the features to ``float64`` or ``float32``."""

    def __init__(self, dtype: str) -> None:
        self.dtype = dtype


def _width(operator: Any) -> int | None:
    widths = [variable.type.shape[1] for variable in operator.inputs]
    return None if None in widths else int(sum(widths))


def _same_type_shape(operator: Any) -> None:
    """Output: the input's element type, the inputs' widths summed."""
    operator.outputs[0].type = operator.inputs[0].type.__class__([None, _width(operator)])


def _cast_type(dtype: str) -> Any:
    from skl2onnx.common.data_types import (  # type: ignore[import-untyped, unused-ignore]
        DoubleTensorType,
        FloatTensorType,
    )

    return DoubleTensorType if dtype == "float64" else FloatTensorType


def _cast_shape(operator: Any) -> None:
    operator.outputs[0].type = _cast_type(operator.raw_operator.dtype)([None, _width(operator)])


def _parse_cast(scope: Any, model: Cast, inputs: list[Any], custom_parsers: Any = None) -> Any:
    """Declare the output with its new type at parse time: the next step's outputs (a
    classifier's probabilities) take their type from it before shapes are computed."""
    operator = scope.declare_local_operator("ModelcycleCast", model)
    operator.inputs = inputs
    operator.outputs.append(scope.declare_local_variable("cast", _cast_type(model.dtype)()))
    return operator.outputs


def _joined(scope: Any, operator: Any, container: Any) -> str:
    from skl2onnx.operator_converters.common import (  # type: ignore[import-untyped, unused-ignore]
        concatenate_variables,
    )

    name: str = concatenate_variables(scope, operator.inputs, container)
    return name


def _convert_strings(scope: Any, operator: Any, container: Any) -> None:
    joined = _joined(scope, operator, container)
    output = operator.outputs[0].full_name
    container.add_node("Identity", [joined], [output], name=scope.get_unique_operator_name("Id"))


def _convert_impute(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto
    from skl2onnx.common.data_types import (  # type: ignore[import-untyped, unused-ignore]
        DoubleTensorType,
        StringTensorType,
    )

    joined = _joined(scope, operator, container)
    statistics = operator.raw_operator.statistics
    fill, missing = scope.get_unique_variable_name("fill"), scope.get_unique_variable_name("miss")
    shape = [1, len(statistics)]
    if isinstance(operator.inputs[0].type, StringTensorType):
        values = [str(value).encode() for value in statistics]
        container.add_initializer(fill, TensorProto.STRING, shape, values)
        empty = scope.get_unique_variable_name("empty")
        container.add_initializer(empty, TensorProto.STRING, [], [b""])
        container.add_node(
            "Equal", [joined, empty], [missing], name=scope.get_unique_operator_name("Eq")
        )
    else:
        double = isinstance(operator.inputs[0].type, DoubleTensorType)
        kind = TensorProto.DOUBLE if double else TensorProto.FLOAT
        container.add_initializer(fill, kind, shape, [float(value) for value in statistics])
        container.add_node("IsNaN", [joined], [missing], name=scope.get_unique_operator_name("Na"))
    container.add_node(
        "Where",
        [missing, fill, joined],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Where"),
    )


def _convert_cast(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto

    joined = _joined(scope, operator, container)
    kind = TensorProto.DOUBLE if operator.raw_operator.dtype == "float64" else TensorProto.FLOAT
    container.add_node(
        "Cast",
        [joined],
        [operator.outputs[0].full_name],
        to=kind,
        name=scope.get_unique_operator_name("Cast"),
    )


class _DoubleTrees:
    """A converter container that keeps a tree ensemble's thresholds and leaf values in
    double precision (``*_as_tensor`` attributes) and routes its outputs through ``renamed``.

    LightGBM compares float64 features with float64 thresholds; onnxmltools writes them as
    float32 attributes, and values that differ only beyond float32's precision (common after
    scaling) then fall on the wrong side of a split.
    """

    def __init__(self, container: Any, renamed: dict[str, str]) -> None:
        self._container, self._renamed = container, renamed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def add_node(self, op_type: str, inputs: Any, outputs: Any, **attrs: Any) -> Any:
        from onnx import TensorProto, helper

        names = [outputs] if isinstance(outputs, str) else list(outputs)
        names = [self._renamed.get(name, name) for name in names]
        if op_type.startswith("TreeEnsemble"):
            for key in ("nodes_values", "target_weights", "class_weights", "base_values"):
                if key in attrs:
                    values = [float(value) for value in attrs.pop(key)]
                    attrs[f"{key}_as_tensor"] = helper.make_tensor(
                        key, TensorProto.DOUBLE, [len(values)], values
                    )
        return self._container.add_node(op_type, inputs, names, **attrs)


def _convert_lightgbm(scope: Any, operator: Any, container: Any) -> None:
    """onnxmltools' converter on float64 features, its float32 outputs cast to float64."""
    from onnx import TensorProto
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import (  # type: ignore[import-untyped, unused-ignore]
        convert_lightgbm,
    )
    from skl2onnx.common.data_types import (  # type: ignore[import-untyped, unused-ignore]
        DoubleTensorType,
    )

    doubles = [out.full_name for out in operator.outputs if isinstance(out.type, DoubleTensorType)]
    renamed = {name: scope.get_unique_variable_name("float_output") for name in doubles}
    convert_lightgbm(scope, operator, _DoubleTrees(container, renamed))
    for name, single in renamed.items():
        cast = scope.get_unique_operator_name("Cast")
        container.add_node("Cast", [single], [name], to=TensorProto.DOUBLE, name=cast)


@functools.cache
def register_converters() -> None:
    """Register the stand-ins and LightGBM (through onnxmltools) with skl2onnx, once."""
    from lightgbm import LGBMClassifier, LGBMRegressor
    from skl2onnx import update_registered_converter  # type: ignore[import-untyped, unused-ignore]
    from skl2onnx.common.shape_calculator import (  # type: ignore[import-untyped, unused-ignore]
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    update_registered_converter(Strings, "ModelcycleStrings", _same_type_shape, _convert_strings)
    update_registered_converter(Impute, "ModelcycleImpute", _same_type_shape, _convert_impute)
    update_registered_converter(
        Cast, "ModelcycleCast", _cast_shape, _convert_cast, parser=_parse_cast
    )
    update_registered_converter(
        LGBMClassifier,
        "LightGbmLGBMClassifier",
        calculate_linear_classifier_output_shapes,
        _convert_lightgbm,
        options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
    )
    update_registered_converter(
        LGBMRegressor,
        "LightGbmLGBMRegressor",
        calculate_linear_regressor_output_shapes,
        _convert_lightgbm,
        options={"split": None},
    )
