"""Batch scoring of one chunk: Arrow columns in, checked against the signature, predicted.

Online serving validates JSON values one by one (``serving._signature``); a file of a million
rows cannot afford a Python call per value, so this module checks and converts whole Arrow
columns with ``pyarrow.compute`` (casts, ``is_in`` for categories) and feeds NumPy arrays to
ONNX Runtime (when the version is ONNX-ready) or to the fitted pipeline. Only when a column
fails does it look for the first offending row, to name it: ``FILE, row N, column C``
(rows count data rows from 1, the CSV header not included).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelcycle.errors import DataError, invalid_value

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from modelcycle.registry import Registry

__all__ = ["ChunkScorer"]

_NUMERIC = ("numeric", "integer")
_POLICIES = ("reject", "unknown")
_BACKENDS = ("auto", "onnx", "python")


@dataclass(frozen=True)
class _Where:
    """Where a chunk comes from, to name a bad value."""

    source: str
    first_row: int  # 0-based index of the chunk's first row in its file

    def error(self, index: int, column: str, value: Any, why: str) -> DataError:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        row = self.first_row + index + 1
        return DataError(
            f"{self.source}, row {row}, column {column!r}: invalid value {shown}: {why}"
        )


def _first(mask: pa.Array | pa.ChunkedArray) -> int:
    import pyarrow.compute as pc

    return int(pc.index(mask, True).as_py())


def _numbers(column: pa.ChunkedArray, name: str, where: _Where) -> np.ndarray[Any, Any]:
    """float64 values (NaN for missing); a value that is not a number names its row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        text = pc.utf8_trim_whitespace(column)
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        try:
            column = pc.cast(text, pa.float64())
        except pa.ArrowInvalid:  # rare: find the first bad value to name it
            bad = next(
                (i, v) for i, v in enumerate(text.to_pylist()) if v is not None and not _is_float(v)
            )
            raise where.error(bad[0], name, bad[1], "expected a number") from None
    elif not _numeric_type(column.type):
        found = column.to_pylist()
        index = next((i for i, v in enumerate(found) if v is not None), 0)
        raise where.error(index, name, found[index], f"expected a number, not {column.type}")
    values: np.ndarray[Any, Any] = pc.cast(column, pa.float64()).to_numpy()
    return values


def _numeric_type(kind: pa.DataType) -> bool:
    """Types a float64 cast takes as numbers (booleans are 0/1; all-null is missing)."""
    import pyarrow as pa

    checks = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_null)
    return any(check(kind) for check in checks)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _booleans(column: pa.ChunkedArray, name: str, where: _Where) -> pa.ChunkedArray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_boolean(column.type) or pa.types.is_null(column.type):
        return pc.cast(column, pa.bool_())
    text = pc.utf8_lower(pc.cast(column, pa.string()))
    truthy = pc.is_in(text, value_set=pa.array(["true", "1", "1.0", "yes"]))
    falsy = pc.is_in(text, value_set=pa.array(["false", "0", "0.0", "no"]))
    bad = pc.and_(pc.is_valid(text), pc.invert(pc.or_(truthy, falsy)))
    if pc.any(bad).as_py():
        index = _first(bad)
        raise where.error(index, name, column[index].as_py(), "expected true or false")
    return pc.if_else(pc.is_valid(text), truthy, pa.scalar(None, pa.bool_()))


class _Column:
    """One signature input: how its Arrow column is checked and converted."""

    def __init__(self, item: dict[str, Any], unknown: str) -> None:
        self.name: str = item["name"]
        self.kind: str = item.get("kind", "numeric")
        self.unknown = unknown
        self.replaced = 0  # unknown categories scored as missing (policy "unknown")
        self._lock = threading.Lock()  # chunks are scored in several threads
        categories = item.get("categories") if self.kind == "categorical" else None
        self.categories: list[Any] | None = None if categories is None else list(categories)
        self.numeric_categories = self.categories is not None and all(
            isinstance(c, (int, float)) and not isinstance(c, bool) for c in self.categories
        )

    def values(self, column: pa.ChunkedArray, where: _Where, *, text: bool) -> Any:
        """The column as the model takes it: float64 for numbers, else an object array
        (``text``: strings with "" for missing, as an ONNX string input; else Python values
        with None for missing, as the pipeline was fitted on)."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.kind in _NUMERIC or (self.kind == "categorical" and self.numeric_categories):
            numbers = _numbers(column, self.name, where)
            if self.categories is not None:
                numbers = self._known(pa.chunked_array([numbers]), where).to_numpy()
            if not text:
                return numbers if self.kind in _NUMERIC else _objects(numbers)
            return np.array(["" if v != v else str(_whole(v)) for v in numbers], dtype=object)
        if self.kind == "boolean":
            flags = _booleans(column, self.name, where)
            if text:
                words = pc.if_else(flags, "True", "False")
                return pc.fill_null(words, "").to_numpy(zero_copy_only=False).astype(object)
            return np.array(flags.to_pylist(), dtype=object)
        strings = pc.cast(column, pa.string())
        if self.categories is not None:
            strings = self._known(strings, where)
        if text:
            return pc.fill_null(strings, "").to_numpy(zero_copy_only=False).astype(object)
        return np.array(strings.to_pylist(), dtype=object)

    def _known(self, values: pa.ChunkedArray, where: _Where) -> pa.ChunkedArray:
        """Values outside the signature's categories: an error, or missing (policy)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        cats = self.categories or []
        allowed = pa.array(cats if self.numeric_categories else [str(c) for c in cats])
        known = pc.is_in(values, value_set=pc.cast(allowed, values.type))
        unknown = pc.and_(pc.is_valid(values), pc.invert(known))
        if self.numeric_categories:
            unknown = pc.and_(unknown, pc.invert(pc.is_nan(values)))
        if not pc.any(unknown).as_py():
            return values
        if self.unknown == "reject":
            index = _first(unknown)
            value = values[index].as_py()
            value = _whole(value) if isinstance(value, float) else value
            why = f"unknown category; expected one of {', '.join(map(str, cats[:20]))}"
            raise where.error(index, self.name, value, why)
        with self._lock:
            self.replaced += int(pc.sum(unknown).as_py())
        return pc.if_else(unknown, pa.scalar(None, values.type), values)


def _whole(value: float) -> Any:
    return int(value) if value.is_integer() else value


def _objects(numbers: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    import numpy as np

    return np.array([None if v != v else _whole(float(v)) for v in numbers], dtype=object)


class ChunkScorer:
    """A loaded version that scores Arrow tables (see the module docstring)."""

    def __init__(
        self,
        label: str,
        signature: dict[str, Any],
        *,
        model: Any = None,
        onnx: bytes | None = None,
        unknown_categories: str = "reject",
    ) -> None:
        if unknown_categories not in _POLICIES:
            why = f"expected one of {', '.join(_POLICIES)}"
            raise invalid_value("unknown_categories", unknown_categories, why)
        output = signature.get("output", {})
        self.label = label
        self.task: str = output.get("task", "regression")
        self.classes: list[Any] | None = output.get("classes")
        self.columns = [_Column(item, unknown_categories) for item in signature["inputs"]]
        self.model = model
        self.backend = "onnx" if onnx is not None else "python"
        self._onnx = None if onnx is None else _OnnxRunner(onnx, self.task, self.classes)

    @classmethod
    def load(
        cls,
        registry: Registry,
        ref: str,
        *,
        unknown_categories: str = "reject",
        backend: str = "auto",
    ) -> ChunkScorer:
        """The version ``ref`` names, on ONNX Runtime when it is ONNX-ready (``backend``
        ``auto``, or ``onnx`` to insist), else its fitted pipeline (``python`` to insist);
        every byte is hash-verified."""
        from modelcycle.registry import load_bundle

        if backend not in _BACKENDS:
            raise invalid_value("backend", backend, f"expected one of {', '.join(_BACKENDS)}")
        version = registry.get(ref)
        if backend == "onnx" and not version.onnx_ready:
            raise invalid_value("backend", backend, f"{version.ref} is not ONNX-ready")
        bundle = load_bundle(registry.client, version.bundle_sha256)
        use_onnx = version.onnx_ready and backend != "python"
        graph = bundle.part("onnx") if use_onnx else None
        return cls(
            f"{version.name}@{version.version}",
            bundle.signature,
            model=None if graph is not None else bundle.model(),
            onnx=graph,
            unknown_categories=unknown_categories,
        )

    @property
    def replaced(self) -> dict[str, int]:
        """Per column, how many unknown categories were scored as missing so far."""
        return {c.name: c.replaced for c in self.columns if c.replaced}

    @property
    def names(self) -> list[str]:
        """The input columns the model reads, in signature order."""
        return [c.name for c in self.columns]

    def check_columns(self, available: Sequence[str], source: str) -> None:
        """Every input the model reads is in ``available``; else a DataError naming it."""
        missing = [name for name in self.names if name not in available]
        if missing:
            raise DataError(
                f"{source}: missing column {missing[0]!r}: the model reads it"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            )

    def score(
        self, table: pa.Table, *, source: str, first_row: int = 0, proba: bool = False
    ) -> dict[str, Any]:
        """``prediction`` (and ``proba_<class>`` columns when ``proba``) for ``table``."""
        import numpy as np

        self.check_columns(table.column_names, source)
        where = _Where(source, first_row)
        text = self._onnx.strings if self._onnx is not None else set()
        columns = {
            c.name: c.values(table.column(c.name), where, text=c.name in text) for c in self.columns
        }
        wanted = ("predict", "predict_proba") if proba and self.task != "regression" else ()
        if self._onnx is not None:
            found = self._onnx.run(columns, wanted or ("predict",))
        else:
            found = self._run_python(columns, wanted or ("predict",))
        result: dict[str, Any] = {"prediction": found["predict"]}
        if "predict_proba" in found:
            matrix = np.asarray(found["predict_proba"], dtype=np.float64)
            for j, label in enumerate(self.classes or range(matrix.shape[1])):
                result[f"proba_{label}"] = matrix[:, j]
        return result

    def _run_python(self, columns: dict[str, Any], wanted: Sequence[str]) -> dict[str, Any]:
        import numpy as np
        import pandas as pd

        if all(getattr(v, "dtype", None) == np.float64 for v in columns.values()):
            # one 2-D block: the pipeline's input check then takes it without copying
            frame = pd.DataFrame(np.column_stack(list(columns.values())), columns=list(columns))
        else:
            frame = pd.DataFrame(columns, copy=False)
        return {name: getattr(self.model, name)(frame) for name in wanted}


class _OnnxRunner:
    """An ONNX Runtime session fed whole NumPy columns; labels mapped back to the classes."""

    def __init__(self, graph: bytes, task: str, classes: list[Any] | None) -> None:
        from modelcycle.registry._onnx_runtime import graph_io

        # One thread per run: batch scoring runs several chunks at once instead, which
        # beats intra-op threads on small trees and on a shared machine.
        graph_info = graph_io(graph, task, threads=1)
        self.session = graph_info.session
        self.feed = [(name, column) for name, column, _ in graph_info.feed]
        self.strings = {column for _, column, string in graph_info.feed if string}
        self.outputs = graph_info.outputs
        self.task = task
        self.classes = classes

    def run(self, columns: dict[str, Any], wanted: Sequence[str]) -> dict[str, Any]:
        """The requested outputs from one session run."""
        import numpy as np

        feed = {graph: np.asarray(columns[col]).reshape(-1, 1) for graph, col in self.feed}
        names = [self.outputs[name] for name in wanted]
        found = dict(zip(wanted, self.session.run(names, feed), strict=True))
        labels = np.asarray(found["predict"]).reshape(-1)
        if self.task == "regression":
            found["predict"] = labels.astype(np.float64)
        else:
            found["predict"] = self._classes(labels)
        return found

    def _classes(self, labels: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        import numpy as np
        import pandas as pd

        classes = list(self.classes or [])
        keys = [str(c) for c in classes] if labels.dtype.kind in "OUS" else classes
        positions = pd.Index(keys).get_indexer(labels)
        if (positions < 0).any():
            value = labels[int(np.argmax(positions < 0))]
            why = f"the model predicts {value!r}, which is not among them"
            raise invalid_value("classes", classes, why)
        found: np.ndarray[Any, Any] = np.asarray(classes)[positions]
        return found
