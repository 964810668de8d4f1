"""Predict with the exported model: ``python run.py ROWS`` prints one JSON line per row.

ROWS is a CSV file (a header row, then one row per line), a JSON lines file (one object per
row) or a JSON file holding one object of columns (``{"column": [values...]}``). Needs only
numpy and onnxruntime: the graph carries its preprocessing, and its metadata key
``modelcycle.columns`` says which column feeds each graph input. Empty cells and nulls are
missing values.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime  # type: ignore[import-untyped, unused-ignore]

HERE = Path(__file__).resolve().parent
COLUMNS_KEY = "modelcycle.columns"


def read_columns(path: Path) -> dict[str, list[Any]]:
    """The rows of ``path`` as columns (CSV, JSON lines, or a JSON object of columns)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        rows: list[dict[str, Any]] = [dict(row) for row in reader]
        names = list(reader.fieldnames or [])
    else:
        stripped = text.strip()
        if stripped.startswith("{") and "\n{" not in stripped:
            data = json.loads(stripped)
            if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
                return {str(k): list(v) for k, v in data.items()}
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise SystemExit(f"{path}: line {number} is not a JSON object")
                rows.append(row)
        names = sorted({name for row in rows for name in row})
    return {name: [row.get(name) for row in rows] for name in names}


def as_array(values: list[Any], column: str, *, string: bool) -> Any:
    """One column as the graph takes it: strings ("" = missing) or float64 (NaN = missing)."""
    missing = [v is None or v == "" or (isinstance(v, float) and v != v) for v in values]
    if string:
        cells = ["" if m else str(v) for v, m in zip(values, missing, strict=True)]
        return np.array(cells, dtype=object).reshape(-1, 1)
    try:
        numbers = [np.nan if m else float(v) for v, m in zip(values, missing, strict=True)]
    except (TypeError, ValueError):
        raise SystemExit(f"column {column!r} must hold numbers") from None
    return np.array(numbers, dtype=np.float64).reshape(-1, 1)


def predict(model: Path, signature: dict[str, Any], columns: dict[str, list[Any]]) -> list[Any]:
    """One ``{"predict": ..., "predict_proba": [...]}`` object per row."""
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    table = json.loads(session.get_modelmeta().custom_metadata_map[COLUMNS_KEY])
    feed = {}
    for item in table:
        if item["column"] not in columns:
            raise SystemExit(f"missing column {item['column']!r}: the model reads it")
        string = item["type"] == "tensor(string)"
        feed[item["name"]] = as_array(columns[item["column"]], item["column"], string=string)
    outputs = session.run(None, feed)
    output = signature.get("output") or {}
    if output.get("task") == "regression":
        return [{"predict": float(v)} for v in np.asarray(outputs[0]).reshape(-1)]
    classes = list(output.get("classes") or [])
    index = {str(c): c for c in classes}
    results = []
    for label, proba in zip(
        np.asarray(outputs[0]).reshape(-1), np.asarray(outputs[1]), strict=True
    ):
        value = label.item() if hasattr(label, "item") else label
        results.append({"predict": index.get(str(value), value), "predict_proba": proba.tolist()})
    return results


def main(argv: list[str] | None = None) -> int:
    """Read the rows, run the graph, print one JSON line per row."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=Path, help="CSV, JSON lines or a JSON object of columns")
    parser.add_argument("--model", type=Path, default=HERE / "model.onnx")
    parser.add_argument("--signature", type=Path, default=HERE / "signature.json")
    args = parser.parse_args(argv)
    signature = json.loads(args.signature.read_text(encoding="utf-8"))
    for result in predict(args.model, signature, read_columns(args.rows)):
        sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
