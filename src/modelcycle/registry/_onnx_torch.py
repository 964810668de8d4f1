"""The PyTorch MLP in ONNX: ``torch.onnx`` export of the network, joined to its preprocessing.

The network is exported with the dynamo exporter together with its output head, so the graph
ends where ``MLPEstimator`` ends: softmax probabilities (``predict_proba``) or the standardised
output mapped back to the target's scale (``predict``). The preprocessing graph (skl2onnx,
ending in the float32 features the network reads) and the network are joined with
``onnx.compose.merge_models``; the class label is the ``ArgMax`` of the probabilities looked
up in the classes, so the outputs are the ones skl2onnx gives a classifier (``label``,
``probabilities``) or a regressor (``variable``).

The first export in a process pays for importing ``torch.export`` and the ONNX function
library (several seconds); later ones take about a second.
"""

from __future__ import annotations

import contextlib
import copy
import io
import warnings
from typing import Any

import numpy as np

__all__ = ["join_network"]


def join_network(preprocess: Any, model: Any, opset: int, taken: set[str]) -> Any:
    """One graph: ``preprocess`` (an ONNX model), then ``model``'s network and head.

    ``taken`` holds the graph's input names, which the outputs must not reuse.
    """
    from onnx import compose

    network = _export(model, opset)
    classes = None if model.task == "regression" else list(model.classes_)
    version = max(preprocess.ir_version, network.ir_version)
    preprocess.ir_version = network.ir_version = version
    _align_opsets(preprocess, network)
    _rename_output(preprocess.graph, "mc_features")
    # Internal names get prefixes, so none of them can collide with the outputs named below.
    preprocess = compose.add_prefix(preprocess, "pre_", rename_inputs=False, rename_outputs=False)
    merged = compose.merge_models(
        preprocess, network, io_map=[("mc_features", "features")], prefix2="mlp_"
    )
    _name_outputs(merged.graph, classes, taken)
    return merged


def _export(model: Any, opset: int) -> Any:
    """``torch.onnx`` export (dynamo) of the fitted network with its output head."""
    import torch

    head = _head(copy.deepcopy(model.module_).cpu(), model).eval()
    example = torch.zeros(2, int(model.n_features_in_), dtype=torch.float32)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        # torch.export's internals warn about their own use of pytree (a FutureWarning in
        # torch 2.13); the export itself is not affected. Progress lines go to stdout.
        warnings.simplefilter("ignore", FutureWarning)
        program = torch.onnx.export(
            head,
            (example,),
            dynamo=True,
            opset_version=opset,
            input_names=["features"],
            output_names=["output"],
            dynamic_shapes={"features": {0: torch.export.Dim("rows")}},
            verbose=False,
        )
    if program is None:  # only when writing to a file, which we do not
        raise RuntimeError("torch.onnx.export returned no program")
    return program.model_proto


def _head(network: Any, model: Any) -> Any:
    """``network`` followed by softmax (classes) or the inverse target scaling (regression)."""
    import torch

    regression = model.task == "regression"
    mean = float(getattr(model, "y_mean_", 0.0))
    scale = float(getattr(model, "y_scale_", 1.0))

    class Head(torch.nn.Module):  # type: ignore[misc, unused-ignore]
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, features: Any) -> Any:
            outputs = self.network(features)
            if regression:
                return outputs[:, :1] * scale + mean
            return torch.softmax(outputs, dim=1)

    return Head()


def _align_opsets(first: Any, second: Any) -> None:
    """Bring both models to the same default-domain opset (``merge_models`` requires it)."""
    from onnx import version_converter

    def default(model: Any) -> int:
        return int(next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")))

    target = max(default(first), default(second))
    for model in (first, second):
        if default(model) != target:
            model.CopyFrom(version_converter.convert_version(model, target))


def _rename_output(graph: Any, new: str) -> None:
    old = graph.output[0].name
    for node in graph.node:
        node.output[:] = [new if name == old else name for name in node.output]
    graph.output[0].name = new


def _fresh(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    return name


def _name_outputs(graph: Any, classes: list[Any] | None, taken: set[str]) -> None:
    """``variable``, or ``label`` (class values: int64 or strings) and ``probabilities``."""
    from onnx import TensorProto, helper, numpy_helper

    output = graph.output[0].name
    del graph.output[:]
    if classes is None:
        value = _fresh("variable", taken)
        graph.node.append(helper.make_node("Identity", [output], [value]))
        graph.output.append(helper.make_tensor_value_info(value, TensorProto.FLOAT, None))
        return
    integers = all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in classes)
    values = [int(c) if integers else str(c) for c in classes]
    table = np.asarray(values, dtype=np.int64 if integers else object)
    graph.initializer.append(numpy_helper.from_array(table, "mc_classes"))
    label, probabilities = _fresh("label", taken), _fresh("probabilities", taken)
    graph.node.extend(
        [
            helper.make_node("Identity", [output], [probabilities]),
            helper.make_node("ArgMax", [output], ["mc_index"], axis=1, keepdims=0),
            helper.make_node("Gather", ["mc_classes", "mc_index"], [label], axis=0),
        ]
    )
    kind = TensorProto.INT64 if integers else TensorProto.STRING
    graph.output.extend(
        [
            helper.make_tensor_value_info(label, kind, None),
            helper.make_tensor_value_info(probabilities, TensorProto.FLOAT, None),
        ]
    )
