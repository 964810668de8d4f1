"""Opening an exported graph with ONNX Runtime: one place for the session options and for
reading the graph's own description of its inputs and outputs.

Three callers run graphs: the parity check and :class:`~modelcycle.registry.OnnxPredictor`
(ONNX Runtime's default thread pool: fastest for one large batch), the online server and
batch scoring (one intra-op thread without spinning: the default pool's threads spin between
runs and, on a small machine, slow the rest of the process several-fold; the server runs one
batch at a time per model, and batch scoring runs several chunks at once instead).

The graph maps each input back to its column in its metadata (:data:`COLUMNS_KEY`, written by
``_onnx_convert``). This module imports neither scikit-learn nor the converters, so serving
a graph starts fast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["COLUMNS_KEY", "OPSET", "GraphIO", "graph_io", "open_session"]

#: The ONNX opset the converters target.
OPSET = 21
#: Metadata key of the graph's input table: ``[{"name", "column", "type"}]``.
COLUMNS_KEY = "modelcycle.columns"


def open_session(graph: bytes, *, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session; ``threads`` None keeps the runtime's default pool, a
    number sets that many intra-op threads that sleep (never spin) between runs."""
    import onnxruntime  # type: ignore[import-untyped, unused-ignore]

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: no optimizer chatter on stderr
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class GraphIO:
    """A session with what feeding it and reading it needs.

    ``feed``: (graph input, source column, takes strings) per input; ``outputs``: ``predict``
    (and ``predict_proba`` for classifiers) -> graph output name; ``textual_labels``: the graph
    answers class labels as strings (else as int64 codes of numeric classes)."""

    session: Any
    feed: list[tuple[str, str, bool]]
    outputs: dict[str, str]
    textual_labels: bool


def graph_io(graph: bytes, task: str, *, threads: int | None = None) -> GraphIO:
    """Open ``graph`` (a ``task`` model exported by ``export_onnx``) and read its inputs and
    outputs."""
    session = open_session(graph, threads=threads)
    table = json.loads(session.get_modelmeta().custom_metadata_map[COLUMNS_KEY])
    feed = [(item["name"], item["column"], item["type"] == "tensor(string)") for item in table]
    graph_outputs = session.get_outputs()
    outputs = {"predict": graph_outputs[0].name}
    if task != "regression":
        outputs["predict_proba"] = graph_outputs[1].name
    textual = graph_outputs[0].type == "tensor(string)"
    return GraphIO(session, feed, outputs, textual)
