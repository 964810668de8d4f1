"""Sources: CSV, Parquet, JSON Lines, a SQL query, or an in-memory DataFrame, read as Arrow.

Files are read by Arrow's own readers (column-wise, straight into Arrow memory; CSV block by
block), so reading never holds a second full copy of the data. CSV blocks are 1 MB, small
enough for a block's parsed cells to stay in the CPU cache while they are converted (a third
less CPU than 4 MB blocks on a million rows); the column types still come from the first
4 MB, read once ahead. A SQL query is streamed in chunks of ``chunk_rows`` rows, each turned
into an Arrow batch as it arrives.

Bad input is refused with one line naming the file and, where it can be known, the line and
column: an empty file, a header without rows, ragged rows (or, with ``bad_lines: skip``, they
are skipped and counted in :class:`ReadReport`), a delimiter that does not match the file,
bytes that are not in the declared encoding, duplicate column names, a failing SQL query.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, model_validator

from modelcycle.errors import DataError, invalid_value

__all__ = ["ReadReport", "SourceSpec", "read_source"]

_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_DELIMITERS = ",;\t|"
_SNIFF_BYTES = 64 * 1024
_BLOCK_BYTES = 1 << 20
_TYPE_BYTES = 4 << 20  # the column types of a CSV file come from its first rows up to 4 MB


class SourceSpec(BaseModel):
    """Where a dataset comes from: a file (``path``) or a SQL ``query`` on ``url``."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    format: Literal["csv", "parquet", "jsonl"] | None = None
    delimiter: str | None = None
    encoding: str = "utf-8"
    bad_lines: Literal["error", "skip"] = "error"
    url: str | None = None
    query: str | None = None
    chunk_rows: int = 50_000

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSpec:
        if (self.path is None) == (self.query is None):
            raise ValueError("give either path (a file) or query and url (a SQL source)")
        if self.query is not None and not self.url:
            raise ValueError("a query needs url, the SQLAlchemy URL of the database")
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise ValueError("delimiter must be one character")
        return self

    def describe(self) -> str:
        """A short human description: the file path or the query and database."""
        if self.path is not None:
            return self.path
        return f"query {self.query!r} on {self.url}"


@dataclass
class ReadReport:
    """What reading did: rows read, ragged lines skipped (line numbers), the delimiter used."""

    source: str
    rows: int = 0
    columns: int = 0
    skipped_lines: list[int] = field(default_factory=list)
    delimiter: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "source": self.source,
            "rows": self.rows,
            "columns": self.columns,
            "skipped_lines": self.skipped_lines,
            "skipped": len(self.skipped_lines),
            "delimiter": self.delimiter,
        }


def _format_of(spec: SourceSpec) -> str:
    if spec.format is not None:
        return spec.format
    suffix = Path(spec.path or "").suffix.lower()
    if suffix not in _FORMATS:
        raise invalid_value(
            "source format",
            spec.path,
            f"unknown file type {suffix!r}; set format to one of csv, parquet, jsonl",
        )
    return _FORMATS[suffix]


def _head(path: Path) -> bytes:
    with path.open("rb") as file:
        return file.read(_SNIFF_BYTES)


def _sniff_delimiter(path: Path, head: bytes, encoding: str) -> str:
    text = head.decode(encoding, errors="replace")
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return "\t" if path.suffix.lower() == ".tsv" else ","


def _first_bad_utf8_line(path: Path, encoding: str) -> str:
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError as exc:
                return (
                    f"line {number}, byte {exc.start + 1}: {line[exc.start : exc.start + 1]!r} "
                    f"is not valid {encoding}"
                )
    return "somewhere in the file"


def _check_header(path: Path, names: list[str], delimiter: str, head: bytes) -> None:
    dupes = [name for name, count in Counter(names).items() if count > 1]
    if dupes:
        raise DataError(
            f"{path}: duplicate column name {dupes[0]!r} in the header "
            f"(columns {[i + 1 for i, n in enumerate(names) if n == dupes[0]]})"
        )
    if len(names) == 1:
        header = head.splitlines()[0].decode("utf-8", errors="replace") if head else ""
        others = [d for d in _DELIMITERS if d != delimiter and d in header]
        if others:
            raise DataError(
                f"{path}: the header {header[:60]!r} is one column with delimiter "
                f"{delimiter!r}; the file looks delimited by {others[0]!r} "
                "(set source.delimiter)"
            )


def _bad_line_numbers(path: Path, spec: SourceSpec, delimiter: str) -> list[int]:
    """Line numbers of ragged rows: a single-threaded pass, run only when some were found."""
    from pyarrow import csv as pacsv

    numbers: list[int] = []

    def note(row: Any) -> str:
        numbers.append(row.number)
        return "skip"

    pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(encoding=spec.encoding, use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=note),
    )
    return numbers


def _stream_csv(path: Path, options: dict[str, Any], bad: list[Any]) -> pa.Table:
    """Read block by block into one table: peak memory is the table plus one block, where a
    one-shot read holds the file's parse buffers too (about 3x the table here). Column types
    come from the first block; when a later block disagrees, read again in one shot so the
    whole file decides the types."""
    from pyarrow import csv as pacsv

    try:
        with pacsv.open_csv(path, **_typed(path, options)) as reader:
            return pa.Table.from_batches(list(reader), schema=reader.schema)
    except pa.ArrowInvalid as exc:
        if "conversion error" not in str(exc).lower():
            raise
    bad.clear()
    return pacsv.read_csv(path, **options)


def _typed(path: Path, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with every column's type as Arrow infers it from the whole lines in the
    file's first 4 MB (the streaming reader would infer it from its first 1 MB block alone);
    ``options`` unchanged when the file is smaller or those lines do not parse on their own."""
    from pyarrow import csv as pacsv

    with path.open("rb") as file:
        head = file.read(_TYPE_BYTES)
    if len(head) < _TYPE_BYTES or head.rfind(b"\n") < 0:
        return options
    read, parse = options["read_options"], options["parse_options"]
    convert = options["convert_options"]
    try:
        sample = pacsv.read_csv(
            io.BytesIO(head[: head.rfind(b"\n") + 1]),
            read_options=pacsv.ReadOptions(encoding=read.encoding, use_threads=False),
            parse_options=pacsv.ParseOptions(
                delimiter=parse.delimiter, invalid_row_handler=lambda row: "skip"
            ),
            convert_options=convert,
        )
    except (pa.ArrowInvalid, LookupError):
        return options  # the full read reports the problem
    typed = pacsv.ConvertOptions(
        strings_can_be_null=convert.strings_can_be_null,
        column_types={field.name: field.type for field in sample.schema},
    )
    return options | {"convert_options": typed}


def _read_csv(path: Path, spec: SourceSpec, report: ReadReport) -> pa.Table:
    from pyarrow import csv as pacsv

    head = _head(path)
    if not head.strip():
        raise DataError(f"{path}: the file is empty")
    delimiter = spec.delimiter or _sniff_delimiter(path, head, spec.encoding)
    report.delimiter = delimiter
    bad: list[Any] = []

    def on_bad_row(row: Any) -> str:
        bad.append(row)
        return "skip"

    options = {
        "read_options": pacsv.ReadOptions(encoding=spec.encoding, block_size=_BLOCK_BYTES),
        "parse_options": pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_bad_row),
        # empty cells and NA/NaN/null markers are missing values in text columns too
        "convert_options": pacsv.ConvertOptions(strings_can_be_null=True),
    }
    try:
        table = _stream_csv(path, options, bad)
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if "UTF8" in message or "utf8" in message.lower():
            raise DataError(
                f"{path}: {_first_bad_utf8_line(path, spec.encoding)} "
                "(set source.encoding, e.g. latin-1)"
            ) from None
        if "Empty CSV file" in message:
            raise DataError(f"{path}: the file is empty") from None
        raise DataError(f"{path}: cannot parse as CSV: {message.splitlines()[0]}") from None
    except LookupError:
        raise invalid_value("source encoding", spec.encoding, "unknown encoding") from None
    _check_header(path, table.column_names, delimiter, head)
    if bad:
        numbers = _bad_line_numbers(path, spec, delimiter)
        if spec.bad_lines == "error":
            row = bad[0]
            raise DataError(
                f"{path}: line {numbers[0] if numbers else '?'} has "
                f"{row.actual_columns} fields, the header has {row.expected_columns} "
                f"({len(bad)} such line(s); set source.bad_lines: skip to skip and "
                "count them)"
            )
        report.skipped_lines = numbers
    binary = [f.name for f in table.schema if pa.types.is_binary(f.type)]
    if binary:
        raise DataError(
            f"{path}: column {binary[0]!r}, {_first_bad_utf8_line(path, spec.encoding)}"
            " (set source.encoding, e.g. latin-1)"
        )
    if table.num_rows == 0:
        raise DataError(f"{path}: the file has a header but no data rows")
    return table


def _read_file(spec: SourceSpec, report: ReadReport) -> pa.Table:
    path = Path(spec.path or "")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    kind = _format_of(spec)
    if kind == "csv":
        return _read_csv(path, spec, report)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            from pyarrow import json as pajson

            table = pajson.read_json(path)
    except pa.ArrowInvalid as exc:
        raise DataError(f"{path}: cannot read as {kind}: {str(exc).splitlines()[0]}") from None
    if table.num_rows == 0:
        raise DataError(f"{path}: the file has no rows")
    return table


def _read_query(spec: SourceSpec) -> pa.Table:
    import sqlalchemy as sa

    engine = sa.create_engine(spec.url or "")
    batches: list[pa.RecordBatch] = []
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(sa.text(spec.query or ""))
            names = list(result.keys())
            while rows := result.fetchmany(spec.chunk_rows):
                columns = list(zip(*rows, strict=True))
                batches.append(
                    pa.RecordBatch.from_arrays(
                        [pa.array(list(values)) for values in columns], names=names
                    )
                )
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DataError(f"query failed on {engine.url.render_as_string()}: {reason}") from None
    finally:
        engine.dispose()
    if not batches:
        raise DataError(f"query {spec.query!r} returned no rows")
    return pa.Table.from_batches(_unify(batches))


def _unify(batches: list[pa.RecordBatch]) -> list[pa.RecordBatch]:
    schema = pa.unify_schemas([b.schema for b in batches], promote_options="permissive")
    return [b.cast(schema) if b.schema != schema else b for b in batches]


def read_source(
    source: SourceSpec | str | os.PathLike[str] | Any, **options: Any
) -> tuple[pa.Table, ReadReport]:
    """Read a whole source into an Arrow table, with a report of what reading did.

    ``source`` is a :class:`SourceSpec`, a file path (``options`` become SourceSpec fields,
    e.g. ``delimiter=";"``), or a pandas DataFrame.
    """
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        names = [str(c) for c in source.columns]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise DataError(f"DataFrame: duplicate column name {dupes[0]!r}")
        table = pa.Table.from_pandas(source, preserve_index=False)
        return table, ReadReport("DataFrame", table.num_rows, table.num_columns)
    spec = (
        source if isinstance(source, SourceSpec) else SourceSpec(path=os.fspath(source), **options)
    )
    report = ReadReport(spec.describe())
    table = _read_file(spec, report) if spec.path is not None else _read_query(spec)
    report.rows, report.columns = table.num_rows, table.num_columns
    return table, report
