"""Batch scoring: ``modelcycle predict NAME[@ALIAS] --input FILE --output FILE``.

    result = score_file(registry, "cancer@champion", "rows.parquet", "scores.parquet",
                        id_column="patient_id")

The input is a CSV or Parquet file, or a folder of Parquet files (partitioned data); the output
format follows the output name's extension (a folder in gives a folder out, one Parquet file per
input file, same names). Rows are read in chunks of ``chunk_rows`` with pyarrow (only the
columns the model reads, plus the id column), each chunk checked against the version's
signature (``serving._batch_scorer``: errors name the file, row and column) and predicted on ONNX
Runtime when the version is ONNX-ready, else by its fitted pipeline. ``workers`` chunks (default:
one per CPU) are predicted at once in threads, each single-threaded, while the next chunk is read
and the last one written (pyarrow, ONNX Runtime and scikit-learn's tree code release the GIL);
chunks are written in input order. The
output holds the id column (or ``row``, the 0-based row number, when there is none),
``prediction`` and, with ``proba=True``, one ``proba_<class>`` column per class. It is written
under a ``.partial`` name and renamed when complete, so a failed run leaves no output that looks
finished.

With ``executor="ray"`` (or ``ray:N``, ``ray://HOST:PORT``) a folder of Parquet files is
scored one Ray task per file through :mod:`modelcycle.executors`; each task opens the same
stores and the version resolved once here, so every file is scored by the same version even
if the alias moves meanwhile.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelcycle.errors import DataError, NotFoundError, invalid_value
from modelcycle.serving._batch_io import (
    CSV,
    PARQUET,
    Writer,
    csv_chunks,
    file_format,
    parquet_chunks,
    prefetch,
)
from modelcycle.types import _Record

if TYPE_CHECKING:
    import pyarrow as pa

    from modelcycle.registry import Registry
    from modelcycle.serving._batch_scorer import ChunkScorer

__all__ = ["BatchResult", "score_file"]


@dataclass(frozen=True)
class BatchResult(_Record):
    """What a batch scoring run did: which version scored how many rows, how fast."""

    model: str
    backend: str
    executor: str
    input: str
    output: str
    files: int
    rows: int
    chunks: int
    seconds: float
    #: per column, unknown categories scored as missing (``unknown_categories="unknown"``)
    unknown_categories: dict[str, int] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        """Throughput of the whole run (reading and writing included)."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class _Job:
    """One file to score (picklable: it crosses to Ray workers)."""

    source: str
    target: str
    id_column: str | None
    chunk_rows: int
    proba: bool
    unknown_categories: str
    workers: int
    backend: str


# -- one file -------------------------------------------------------------------------------------
def _score_job(scorer: ChunkScorer, job: _Job, tick: Callable[[int], None]) -> tuple[int, int]:
    """Score one file; returns (rows, chunks)."""
    import pyarrow as pa

    names = scorer.names + ([job.id_column] if job.id_column else [])
    reader = parquet_chunks if file_format(Path(job.source), "input") == "parquet" else csv_chunks
    columns = list(dict.fromkeys(names))
    available, chunks = reader(job.source, columns, job.chunk_rows, job.id_column)
    if job.id_column and job.id_column not in available:
        raise DataError(f"{job.source}: missing id column {job.id_column!r}")
    scorer.check_columns(available, job.source)
    writer = Writer(Path(job.target))
    rows = count = 0
    ok = False
    try:
        with ThreadPoolExecutor(job.workers, thread_name_prefix="modelcycle-batch") as pool:
            window: deque[tuple[pa.Table, int, Future[dict[str, Any]]]] = deque()
            for batch in prefetch(chunks):
                table = pa.Table.from_batches([batch])
                score = functools.partial(
                    scorer.score, source=job.source, first_row=rows, proba=job.proba
                )
                window.append((table, rows, pool.submit(score, table)))
                rows, count = rows + table.num_rows, count + 1
                if len(window) >= job.workers:
                    _finish(job, writer, *window.popleft(), tick)
            while window:
                _finish(job, writer, *window.popleft(), tick)
        if count == 0:
            raise DataError(f"{job.source}: no rows to score")
        ok = True
    finally:
        writer.close(ok)
    return rows, count


def _finish(
    job: _Job,
    writer: Writer,
    table: pa.Table,
    first_row: int,
    scored: Future[dict[str, Any]],
    tick: Callable[[int], None],
) -> None:
    """Write one scored chunk, in input order, with its id column (or row numbers)."""
    import pyarrow as pa

    columns = scored.result()
    if job.id_column:
        head = table.column(job.id_column)
    else:
        head = pa.chunked_array([pa.array(range(first_row, first_row + len(table)), pa.int64())])
    writer.write(pa.table({job.id_column or "row": head, **columns}))
    tick(len(table))


def _total_rows(jobs: list[_Job]) -> int | None:
    import pyarrow.parquet as pq

    if any(file_format(Path(j.source), "input") != "parquet" for j in jobs):
        return None
    try:
        return sum(int(pq.ParquetFile(j.source).metadata.num_rows) for j in jobs)
    except (OSError, ValueError):
        return None  # the reader names the file


def _plan(source: Path, target: Path, **options: Any) -> list[_Job]:
    """One job per input file: a file to a file, a folder of Parquet to a folder."""
    if not source.exists():
        raise NotFoundError(f"input {source} does not exist")
    if source.is_file():
        file_format(source, "input")
        if target.exists() and target.is_dir():
            raise invalid_value("output", str(target), "is a folder; the input is one file")
        file_format(target, "output")
        return [_Job(str(source), str(target), **options)]
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in PARQUET)
    if not files:
        raise DataError(f"{source}: a folder input must hold .parquet files; none found")
    if target.suffix.lower() in PARQUET + CSV:
        raise invalid_value("output", str(target), "must be a folder when the input is a folder")
    return [_Job(str(f), str(target / f.name), **options) for f in files]


def _progress(enabled: bool, total: int | None, label: str) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn(f"scoring with {label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=True,
    )


def _ray_task(item: tuple[str, str, str, _Job]) -> tuple[int, int, dict[str, int]]:
    """Score one file on a Ray worker with its own client (module level: it pickles)."""
    from modelcycle.registry import Registry
    from modelcycle.serving._batch_scorer import ChunkScorer
    from modelcycle.tracking import Client

    store, artifacts, ref, job = item
    with Client(store, artifacts) as client:
        scorer = ChunkScorer.load(Registry(client), ref, unknown_categories=job.unknown_categories)
        rows, chunks = _score_job(scorer, job, lambda _rows: None)
        return rows, chunks, scorer.replaced


def score_file(
    registry: Registry,
    ref: str,
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    id_column: str | None = None,
    chunk_rows: int = 100_000,
    proba: bool = False,
    executor: str | None = None,
    unknown_categories: str = "reject",
    workers: int | None = None,
    backend: str = "auto",
    progress: bool = False,
) -> BatchResult:
    """Score ``input`` (CSV, Parquet, or a folder of Parquet files) with the version ``ref``
    names and write ``output`` (see the module docstring). ``executor`` is None or ``local``
    (this process, ``workers`` chunks at once) or a Ray form (``ray``, ``ray:N``,
    ``ray://HOST:PORT``: one task per file of a folder input). ``backend`` is ``auto`` (ONNX
    Runtime when the version is ONNX-ready, else the pipeline), ``onnx`` or ``python``."""
    from modelcycle.serving._batch_scorer import ChunkScorer

    for name, value in (
        ("chunk_rows", chunk_rows),
        ("workers", 1 if workers is None else workers),
    ):
        if not isinstance(value, int) or value < 1:
            raise invalid_value(name, value, "expected a positive integer")
    for name, text, allowed in (
        ("backend", backend, ("auto", "onnx", "python")),
        ("unknown_categories", unknown_categories, ("reject", "unknown")),
    ):
        if text not in allowed:
            raise invalid_value(name, text, f"expected one of {', '.join(allowed)}")
    options = {
        "workers": workers or os.cpu_count() or 1,
        "id_column": id_column,
        "chunk_rows": chunk_rows,
        "proba": proba,
        "unknown_categories": unknown_categories,
        "backend": backend,
    }
    jobs = _plan(Path(input), Path(output), **options)
    started = time.perf_counter()
    if executor is not None and executor.strip().startswith("ray"):
        rows, chunks, label, used, replaced = _score_on_ray(registry, ref, jobs, executor)
    else:
        if executor not in (None, "local"):
            raise invalid_value("executor", executor, "expected local, ray, ray:N or ray://...")
        scorer = ChunkScorer.load(
            registry, ref, unknown_categories=unknown_categories, backend=backend
        )
        label, used = scorer.label, scorer.backend
        rows = chunks = 0
        total = _total_rows(jobs)
        with _progress(progress, total, label) as bar:
            task = bar.add_task("score", total=total)
            for job in jobs:
                done = _score_job(scorer, job, lambda n: bar.advance(task, n))
                rows, chunks = rows + done[0], chunks + done[1]
        replaced = scorer.replaced
    return BatchResult(
        model=label,
        backend=used,
        executor=executor or "local",
        input=str(input),
        output=str(output),
        files=len(jobs),
        rows=rows,
        chunks=chunks,
        seconds=time.perf_counter() - started,
        unknown_categories=replaced,
    )


def _score_on_ray(
    registry: Registry, ref: str, jobs: list[_Job], executor: str
) -> tuple[int, int, str, str, dict[str, int]]:
    from modelcycle.executors import open_executor

    version = registry.get(ref)  # resolved once: every task scores this version
    label = f"{version.name}@{version.version}"
    client = registry.client
    # one CPU per Ray task: a task scores its file's chunks one at a time
    items = [
        (client.store_url, client.artifacts_url, label, dataclasses.replace(job, workers=1))
        for job in jobs
    ]
    with open_executor(executor) as pool:
        done = pool.map(_ray_task, items)
    backend = "onnx" if version.onnx_ready and jobs[0].backend != "python" else "python"
    replaced: Counter[str] = Counter()
    for _, _, counts in done:
        replaced.update(counts)
    rows, chunks = sum(d[0] for d in done), sum(d[1] for d in done)
    return rows, chunks, label, backend, dict(replaced)
