"""Feedback from a file: CSV, Parquet or JSON Lines with columns ``id``, ``label`` and/or
``rating``.

CSV is read by pandas (``id`` kept as text, labels inferred: ``1`` is a number, ``yes`` a
string), Parquet by pyarrow; JSON Lines is parsed line by line with orjson, so an error names
the line and no id is ever turned into a number. Every error names the file, the row (the
data row, 1-based, header not counted; the line for JSON Lines) and the column.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from modelcycle.errors import DataError, InvalidValueError, NotFoundError
from modelcycle.loop._feedback import FIELDS, Entry, FeedbackReport, ingest_entries, item_entries

if TYPE_CHECKING:
    from modelcycle.tracking import Client

__all__ = ["SUFFIXES", "ingest_file", "read_feedback_file"]

#: File suffixes read, by format.
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl"}
SUFFIXES[".ndjson"] = "jsonl"


def ingest_file(client: Client, path: str | Path, *, source: str | None = None) -> FeedbackReport:
    """Ingest every row of ``path`` (see :func:`~modelcycle.loop.ingest_feedback`);
    ``source`` defaults to the file's path. A malformed file raises
    :class:`~modelcycle.errors.DataError` naming the file, row and column; rows whose id
    matches no logged prediction are rejected (counted and listed), not errors."""
    path = Path(path)
    return ingest_entries(client, read_feedback_file(path), source=source or str(path))


def read_feedback_file(path: Path) -> list[Entry]:
    """The feedback values of a file, checked for shape."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        known = ", ".join(SUFFIXES)
        raise DataError(f"{path}: unsupported feedback file type {path.suffix!r} (use {known})")
    if not path.is_file():
        raise NotFoundError(f"{path}: no such feedback file")
    rows = _jsonl(path) if kind == "jsonl" else enumerate(_table(path, kind), start=1)
    found: list[Entry] = []
    for i, (number, row) in enumerate(rows):
        where = f"{path.name} {'line' if kind == 'jsonl' else 'row'} {number}"
        rating = _number(row.get("rating")) if kind == "csv" else row.get("rating")
        try:
            found.extend(
                item_entries(i, where, row.get("id"), row.get("label"), rating, word="column")
            )
        except InvalidValueError as exc:
            raise DataError(exc.message) from None
    return found


def _number(value: Any) -> Any:
    """A CSV rating read as text (its column held some non-number) as a number if it is one."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _check_columns(path: Path, columns: list[str], where: str = "") -> None:
    extra = [c for c in columns if c not in FIELDS]
    if extra:
        raise DataError(
            f"{path}:{where} unknown column {extra[0]!r} (expected id, label and/or rating)"
        )
    if "id" not in columns:
        raise DataError(f"{path}:{where} missing column 'id' (the row id or request id)")
    if "label" not in columns and "rating" not in columns:
        raise DataError(f"{path}:{where} expected a column 'label' or 'rating' beside 'id'")


def _table(path: Path, kind: str) -> list[dict[str, Any]]:
    import pandas as pd

    try:
        if kind == "csv":
            frame = pd.read_csv(path, dtype={"id": str}, skipinitialspace=True)
        else:
            frame = pd.read_parquet(path)
    except (ValueError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot read as {kind}: {reason}") from None
    columns = [str(c) for c in frame.columns]
    _check_columns(path, columns)
    if frame.empty:
        raise DataError(f"{path}: no feedback rows")
    if not pd.api.types.is_string_dtype(frame["id"]) and frame["id"].dtype != object:
        raise DataError(f"{path}: column 'id' holds {frame['id'].dtype} values, expected text")
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows: list[tuple[int, dict[str, Any]]] = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise DataError(f"{path}: line {number}: not valid JSON ({exc})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}: line {number}: expected an object with 'id'")
            _check_columns(path, [str(k) for k in row], f" line {number}:")
            rows.append((number, row))
    if not rows:
        raise DataError(f"{path}: no feedback rows")
    return rows
