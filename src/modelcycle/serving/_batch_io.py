"""File input and output of batch scoring: chunked Arrow readers and a background writer.

Readers return the file's column names (so missing columns are named before any work) and an
iterator of record batches of ``chunk_rows`` rows; read errors met while iterating become
:class:`~modelcycle.errors.DataError` naming the file. :func:`prefetch` reads ahead in a thread;
:class:`Writer` appends to a ``.partial`` file in a thread and renames it into place only when
the run completes.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelcycle.errors import DataError, invalid_value

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["CSV", "PARQUET", "Writer", "csv_chunks", "file_format", "parquet_chunks", "prefetch"]

PARQUET = (".parquet", ".pq")
CSV = (".csv",)


def file_format(path: Path, role: str) -> str:
    """``parquet`` or ``csv`` by the name's extension; anything else is refused."""
    suffix = path.suffix.lower()
    if suffix in PARQUET:
        return "parquet"
    if suffix in CSV:
        return "csv"
    raise invalid_value(f"{role} file", str(path), "expected a .csv or .parquet name")


# -- reading --------------------------------------------------------------------------------------
def parquet_chunks(
    source: str, names: list[str], chunk_rows: int, id_column: str | None
) -> tuple[list[str], Iterator[pa.RecordBatch]]:
    """The file's column names, and its chunks (only the ``names`` columns it has)."""
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(source)
    except (OSError, ValueError) as exc:
        raise DataError(f"{source}: cannot read as Parquet: {exc}") from None
    available = handle.schema_arrow.names
    chunks = handle.iter_batches(
        batch_size=chunk_rows, columns=[n for n in names if n in available]
    )
    return available, _named(chunks, source)


def _named(batches: Iterator[pa.RecordBatch], source: str) -> Iterator[pa.RecordBatch]:
    """Read errors met while iterating, as DataErrors naming the file."""
    import pyarrow as pa

    try:
        yield from batches
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{source}: cannot read: {exc}") from None


def csv_chunks(
    source: str, names: list[str], chunk_rows: int, id_column: str | None
) -> tuple[list[str], Iterator[pa.RecordBatch]]:
    """The header's column names, and chunks of ``chunk_rows`` rows (the ``names`` columns
    it has; the model's as strings, checked and cast per chunk)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    read = pcsv.ReadOptions(block_size=1 << 22)
    try:
        header = pcsv.open_csv(source, read_options=read).schema.names
        wanted = [n for n in names if n in header]
        convert = pcsv.ConvertOptions(
            include_columns=wanted,
            # the model's columns are checked and cast per chunk; the id column keeps the
            # type Arrow infers from the first block
            column_types={n: pa.string() for n in wanted if n != id_column},
            strings_can_be_null=True,
        )
        reader = pcsv.open_csv(source, read_options=read, convert_options=convert)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{source}: cannot read as CSV: {exc}") from None
    return header, _rebatch(_named(reader, source), chunk_rows)


def _rebatch(batches: Any, size: int) -> Iterator[pa.RecordBatch]:
    """Batches of exactly ``size`` rows (the last one shorter) from batches of any size."""
    import pyarrow as pa

    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        held.append(batch)
        count += batch.num_rows
        while count >= size:
            table = pa.Table.from_batches(held)
            yield from table.slice(0, size).combine_chunks().to_batches()
            rest = table.slice(size)
            held, count = rest.to_batches(), rest.num_rows
    if count:
        yield from pa.Table.from_batches(held).combine_chunks().to_batches()


def prefetch(chunks: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """Read ahead in a thread while the caller predicts; errors reach the caller."""
    buffer: queue.Queue[Any] = queue.Queue(maxsize=depth)
    done = object()

    def fill() -> None:
        try:
            for chunk in chunks:
                buffer.put(chunk)
        except BaseException as exc:  # handed over to the consuming thread
            buffer.put(exc)
        buffer.put(done)

    threading.Thread(target=fill, name="modelcycle-batch-read", daemon=True).start()
    while (item := buffer.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item


# -- writing --------------------------------------------------------------------------------------
class Writer:
    """Append tables to a CSV or Parquet file in a background thread, one write in flight."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.partial = target.with_name(target.name + ".partial")
        self.kind = file_format(target, "output")
        self._sink: Any = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="modelcycle-batch-write")
        self._pending: Future[None] | None = None

    def write(self, table: pa.Table) -> None:
        """Queue ``table`` (waits for the previous write first)."""
        self._wait()
        self._pending = self._pool.submit(self._write, table)

    def _write(self, table: pa.Table) -> None:
        if self._sink is None:
            import pyarrow.csv as pcsv
            import pyarrow.parquet as pq

            self.partial.parent.mkdir(parents=True, exist_ok=True)
            opener = pq.ParquetWriter if self.kind == "parquet" else pcsv.CSVWriter
            self._sink = opener(str(self.partial), table.schema)
        self._sink.write_table(table)

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def close(self, ok: bool) -> None:
        """Finish: rename the output into place when ``ok``, else remove the partial file."""
        try:
            if ok:
                self._wait()
        finally:
            self._pool.shutdown(wait=True)
            if self._sink is not None:
                self._sink.close()
            if ok and self._sink is not None:
                os.replace(self.partial, self.target)
            elif self.partial.exists():
                self.partial.unlink()
