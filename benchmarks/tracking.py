"""Metric logging throughput: MLflow (SQLite) against modelcycle (SQLite), in one process.

Why: MLflow users complain that every ``log_metric`` is one synchronous database transaction and
that batches are slow (mlflow#5269, #3010, #24577). modelcycle buffers points and writes them in
batches from a background thread; this script checks that the design pays off on this machine.

What is measured, for each tool in a fresh temporary folder with a fresh SQLite database:

- (a) 2,000 single calls logging one point each (``MlflowClient.log_metric`` /
  ``ActiveRun.log_metric``), steps 0..1999 of the series ``loss``;
- (b) 100,000 points of the series ``loss`` (steps 0..99,999) delivered in groups of 1,000:
  MLflow gets 100 ``log_batch`` calls of 1,000 ``Metric`` objects; modelcycle, which has no
  batch call for the points of one series (it batches internally), gets 100 x 1,000
  ``log_metric`` calls;
- (c) only with ``--wide``: 100,000 points as 100 steps x 1,000 keys (MLflow ``log_batch`` of
  1,000 keys per step, modelcycle ``log_metrics`` of 1,000 keys per step);
- the time to create the store (schema migration included) and start the first run, which every
  user pays once per new store and which is excluded from (a), (b) and (c).

Each timing runs from the first log call until the points are durably stored: committed to the
SQLite file. MLflow's calls are synchronous, so its clock stops after the last call; modelcycle's
clock stops when the run has ended, which flushes its background writer and records the run's end.
Each tool keeps its own SQLite settings: MLflow the defaults (rollback journal, synchronous=FULL:
an fsync per commit, so per ``log_metric``), modelcycle WAL with synchronous=NORMAL (a commit
survives a crash of the process; a power cut can lose the last commits).
MLflow's asynchronous logging (``synchronous=False``, then waiting on every returned operation)
is measured as extra rows, compared with the same modelcycle figures. Imports are done before any
clock starts (``benchmarks/startup.py`` measures them), and a full garbage collection runs before
each clock; the collector stays on during the clocks, so both tools pay for the collections
their own work triggers, over a heap that holds both tools' modules (importing MLflow adds about
200,000 objects, which makes a full collection here take ~0.2 s instead of ~0.05 s).

After the clocks, the points each tool stored are counted with plain SQL on its database file and
through the tool's API (MLflow's ``get_metric_history`` only for the 2,000-point runs: it needs
about 3 s per 100,000 points); a missing point is an error (exit status 2), whatever
``--no-check`` says. Each figure is the median of ``--repeat`` rounds (default 3), the two tools
alternating which goes first; MLflow's async rows are measured ``--async-repeat`` times (default
1) to keep the whole script under two minutes here.

    .venv/bin/python benchmarks/tracking.py              # table; exit 1 when a target is missed
    .venv/bin/python benchmarks/tracking.py --no-check   # table only
    .venv/bin/python benchmarks/tracking.py --json       # results as JSON on stdout
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from modelcycle.tracking import ActiveRun, Client

SINGLE_POINTS = 2_000
BATCH_POINTS = 100_000
BATCH_SIZE = 1_000
WIDE_KEYS = 1_000

MLFLOW, MLFLOW_ASYNC, MODELCYCLE = "mlflow", "mlflow_async", "modelcycle"
SETUP, SINGLE, BATCH, WIDE = "setup", "single", "batch", "wide"


class VerificationError(RuntimeError):
    """A tool did not store every point it was given."""


@dataclass(frozen=True)
class Row:
    """One line of the report: a piece of work, the MLflow mode it uses, and its target."""

    work: str
    kind: str
    points: int
    peer: str = MLFLOW
    target: float | None = None


ROWS = (
    Row("(a) 2,000 x log_metric", SINGLE, SINGLE_POINTS, target=50.0),
    Row("(b) 100k points, groups of 1,000", BATCH, BATCH_POINTS, target=5.0),
    Row("(c) 100k points, 100 steps x 1k keys", WIDE, BATCH_POINTS),
    Row("(a) vs MLflow async", SINGLE, SINGLE_POINTS, peer=MLFLOW_ASYNC),
    Row("(b) vs MLflow async", BATCH, BATCH_POINTS, peer=MLFLOW_ASYNC),
    Row("store creation + first run", SETUP, 0),
)


@dataclass(frozen=True)
class Plan:
    """Which pieces of work a round runs."""

    wide: bool
    asynchronous: bool


@dataclass
class Expected:
    """What one run must hold once its points are stored."""

    run_id: str
    points: int
    keys: int
    steps: int


@dataclass
class Samples:
    """Seconds per tool and kind of work, one entry per round."""

    seconds: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def add(self, tool: str, times: dict[str, float]) -> None:
        for kind, value in times.items():
            self.seconds.setdefault(tool, {}).setdefault(kind, []).append(value)

    def median(self, tool: str, kind: str) -> float | None:
        values = self.seconds.get(tool, {}).get(kind)
        return statistics.median(values) if values else None


# -- shared helpers ---------------------------------------------------------------------------
def _value(step: int) -> float:
    return 1.0 / (step + 1)


def _timed(work: Callable[[], None]) -> float:
    gc.collect()  # one tool's garbage is not collected on the other's clock
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _sql_counts(db: Path, run_column: str, run_id: str) -> tuple[int, int, int]:
    query = (
        "SELECT COUNT(*), COUNT(DISTINCT key), COUNT(DISTINCT step) "
        f"FROM metrics WHERE {run_column} = ?"
    )
    with contextlib.closing(sqlite3.connect(db)) as conn:
        points, keys, steps = conn.execute(query, (run_id,)).fetchone()
    return int(points), int(keys), int(steps)


def _verify(tool: str, db: Path, run_column: str, expected: Expected, api_points: int) -> None:
    found = _sql_counts(db, run_column, expected.run_id)
    wanted = (expected.points, expected.keys, expected.steps)
    if found != wanted or api_points != expected.points:
        raise VerificationError(
            f"{tool} run {expected.run_id}: expected (points, keys, steps) = {wanted}, "
            f"SQL found {found}, the API reported {api_points} points"
        )


def _silence_mlflow() -> None:
    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _preload() -> None:
    """Import both tools fully so no clock includes an import."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import alembic.command  # noqa: F401
    import mlflow
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    from mlflow.tracking import MlflowClient  # noqa: F401

    import modelcycle.tracking  # noqa: F401

    _silence_mlflow()


# -- MLflow ---------------------------------------------------------------------------------
def _mlflow_single(client: MlflowClient, run_id: str, synchronous: bool) -> None:
    pending = []
    for step in range(SINGLE_POINTS):
        op = client.log_metric(run_id, "loss", _value(step), step=step, synchronous=synchronous)
        if op is not None:
            pending.append(op)
    for op in pending:
        op.wait()


def _mlflow_batch(client: MlflowClient, run_id: str, synchronous: bool) -> None:
    from mlflow.entities import Metric

    pending = []
    for start in range(0, BATCH_POINTS, BATCH_SIZE):
        now = int(time.time() * 1000)
        metrics = [Metric("loss", _value(s), now, s) for s in range(start, start + BATCH_SIZE)]
        op = client.log_batch(run_id, metrics=metrics, synchronous=synchronous)
        if op is not None:
            pending.append(op)
    for op in pending:
        op.wait()


def _mlflow_wide(client: MlflowClient, run_id: str) -> None:
    from mlflow.entities import Metric

    keys = [f"m{k}" for k in range(WIDE_KEYS)]
    for step in range(BATCH_POINTS // WIDE_KEYS):
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(k, _value(step), now, step) for k in keys])


def mlflow_round(folder: Path, plan: Plan, samples: Samples) -> None:
    """One round of every MLflow measurement in a fresh SQLite store under ``folder``."""
    import mlflow
    from mlflow.tracking import MlflowClient

    db = folder / "mlflow.db"
    start = time.perf_counter()
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    client = MlflowClient()
    experiment = client.create_experiment("bench", artifact_location=(folder / "art").as_uri())
    first = client.create_run(experiment, run_name="a").info.run_id
    times = {SETUP: time.perf_counter() - start}
    _silence_mlflow()  # store creation may have reconfigured logging

    def new_run(name: str) -> str:
        return str(client.create_run(experiment, run_name=name).info.run_id)

    expected = [Expected(first, SINGLE_POINTS, 1, SINGLE_POINTS)]
    times[SINGLE] = _timed(lambda: _mlflow_single(client, first, synchronous=True))
    expected.append(Expected(new_run("b"), BATCH_POINTS, 1, BATCH_POINTS))
    times[BATCH] = _timed(lambda: _mlflow_batch(client, expected[-1].run_id, synchronous=True))
    if plan.wide:
        expected.append(Expected(new_run("c"), BATCH_POINTS, WIDE_KEYS, BATCH_POINTS // WIDE_KEYS))
        times[WIDE] = _timed(lambda: _mlflow_wide(client, expected[-1].run_id))
    samples.add(MLFLOW, times)
    if plan.asynchronous:
        expected.append(Expected(new_run("a-async"), SINGLE_POINTS, 1, SINGLE_POINTS))
        single = _timed(lambda: _mlflow_single(client, expected[-1].run_id, synchronous=False))
        expected.append(Expected(new_run("b-async"), BATCH_POINTS, 1, BATCH_POINTS))
        batch = _timed(lambda: _mlflow_batch(client, expected[-1].run_id, synchronous=False))
        samples.add(MLFLOW_ASYNC, {SINGLE: single, BATCH: batch})
    mlflow.flush_async_logging()
    for run in expected:
        # get_metric_history needs ~3 s for 100,000 points here: SQL alone checks the big runs.
        small = run.points <= SINGLE_POINTS
        api_points = (
            len(client.get_metric_history(run.run_id, "loss"))
            if small
            else _sql_counts(db, "run_uuid", run.run_id)[0]
        )
        _verify("MLflow", db, "run_uuid", run, api_points)


# -- modelcycle -----------------------------------------------------------------------------
def _mc_single(run: ActiveRun) -> None:
    with run:
        for step in range(SINGLE_POINTS):
            run.log_metric("loss", _value(step), step=step)


def _mc_batch(run: ActiveRun) -> None:
    with run:
        for step in range(BATCH_POINTS):
            run.log_metric("loss", _value(step), step=step)


def _mc_wide(run: ActiveRun) -> None:
    keys = [f"m{k}" for k in range(WIDE_KEYS)]
    with run:
        for step in range(BATCH_POINTS // WIDE_KEYS):
            run.log_metrics({k: _value(step) for k in keys}, step=step)


def modelcycle_round(folder: Path, plan: Plan, samples: Samples) -> None:
    """One round of every modelcycle measurement in a fresh SQLite store under ``folder``."""
    from modelcycle.tracking import Client

    db = folder / "modelcycle.db"
    start = time.perf_counter()
    client = Client(store=f"sqlite:///{db}", artifacts=str(folder / "artifacts"))
    first = client.start_run("bench", name="a")
    times = {SETUP: time.perf_counter() - start}
    try:
        times[SINGLE] = _timed(lambda: _mc_single(first))
        second = client.start_run("bench", name="b")
        times[BATCH] = _timed(lambda: _mc_batch(second))
        expected = [
            Expected(first.run_id, SINGLE_POINTS, 1, SINGLE_POINTS),
            Expected(second.run_id, BATCH_POINTS, 1, BATCH_POINTS),
        ]
        if plan.wide:
            third = client.start_run("bench", name="c")
            times[WIDE] = _timed(lambda: _mc_wide(third))
            steps = BATCH_POINTS // WIDE_KEYS
            expected.append(Expected(third.run_id, BATCH_POINTS, WIDE_KEYS, steps))
        samples.add(MODELCYCLE, times)
        _verify_modelcycle(client, db, expected)
    finally:
        client.close()


def _verify_modelcycle(client: Client, db: Path, expected: Sequence[Expected]) -> None:
    for run in expected:
        _verify("modelcycle", db, "run_id", run, client.metadata.metrics.count([run.run_id]))
        if run.keys == 1:
            listed = len(client.runs.history(run.run_id, "loss"))
            _verify("modelcycle", db, "run_id", run, listed)


# -- driver and report ----------------------------------------------------------------------
@contextlib.contextmanager
def _fresh_folder(tool: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{tool}-", ignore_cleanup_errors=True) as tmp:
        yield Path(tmp)


def run_rounds(repeat: int, async_repeat: int, wide: bool) -> Samples:
    """Alternate the tools for ``repeat`` rounds, each round in fresh folders."""
    samples = Samples()
    for index in range(repeat):
        plan = Plan(wide=wide, asynchronous=index < async_repeat)
        rounds = [(MLFLOW, mlflow_round), (MODELCYCLE, modelcycle_round)]
        for tool, round_ in rounds if index % 2 == 0 else rounds[::-1]:
            with _fresh_folder(tool) as folder:
                round_(folder, plan, samples)
            print(f"round {index + 1}/{repeat}: {tool} done", file=sys.stderr)
    return samples


def build_rows(samples: Samples) -> list[dict[str, Any]]:
    """The report's rows as data: medians, rates, ratio and whether the target is met."""
    rows = []
    for row in ROWS:
        peer = samples.median(row.peer, row.kind)
        ours = samples.median(MODELCYCLE, row.kind)
        if peer is None or ours is None:
            continue
        ratio = peer / ours if ours > 0 else float("inf")
        rows.append(
            {
                "work": row.work,
                "peer": row.peer,
                "points": row.points,
                "mlflow_s": peer,
                "modelcycle_s": ours,
                "mlflow_points_per_s": row.points / peer if row.points else None,
                "modelcycle_points_per_s": row.points / ours if row.points else None,
                "ratio": ratio,
                "target": row.target,
                "met": None if row.target is None else ratio >= row.target,
                "runs": len(samples.seconds[row.peer][row.kind]),
            }
        )
    return rows


def machine_facts() -> dict[str, Any]:
    """Versions and cores, printed with the results."""
    from importlib.metadata import version

    return {
        "python": platform.python_version(),
        "mlflow": version("mlflow"),
        "modelcycle": version("modelcycle"),
        "sqlalchemy": version("sqlalchemy"),
        "sqlite": sqlite3.sqlite_version,
        "cores": os.cpu_count(),
        "load average at start": f"{os.getloadavg()[0]:.2f}",
        "platform": platform.platform(),
    }


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def print_table(rows: Sequence[dict[str, Any]], facts: dict[str, Any], repeat: int) -> None:
    """The human report: one rich table plus the machine facts."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Metric logging into SQLite: median of {repeat} round(s)")
    table.add_column("work", no_wrap=True)
    for name in ("n", "MLflow s", "modelcycle s", "MLflow pts/s", "modelcycle pts/s"):
        table.add_column(name, justify="right")
    for name in ("ratio", "target", "result"):
        table.add_column(name, justify="right")
    for row in rows:
        result = {None: "-", True: "[green]met[/]", False: "[red]MISSED[/]"}[row["met"]]
        table.add_row(
            row["work"],
            str(row["runs"]),
            f"{row['mlflow_s']:.3f}",
            f"{row['modelcycle_s']:.3f}",
            _rate(row["mlflow_points_per_s"]),
            _rate(row["modelcycle_points_per_s"]),
            f"{row['ratio']:.1f}x",
            "-" if row["target"] is None else f">= {row['target']:g}x",
            result,
        )
    console = Console()
    if not console.is_terminal:
        console.width = 140
    console.print(table)
    console.print(
        ", ".join(f"{key} {value}" for key, value in facts.items())
        + ".\nn = rounds behind each median; ratio = MLflow s / modelcycle s; "
        "every point was verified stored in both tools."
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds per figure (median)")
    parser.add_argument(
        "--async-repeat", type=int, default=1, help="rounds with MLflow async rows (0: skip)"
    )
    parser.add_argument("--wide", action="store_true", help="add (c): 100 steps x 1,000 keys")
    parser.add_argument("--no-check", action="store_true", help="exit 0 even if a target is missed")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.async_repeat < 0:
        parser.error("--repeat must be >= 1 and --async-repeat >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run, report, and return the exit status (1: a target missed, 2: points missing)."""
    args = parse_args(argv)
    _preload()
    facts = machine_facts()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        try:
            samples = run_rounds(args.repeat, min(args.async_repeat, args.repeat), args.wide)
        except VerificationError as exc:
            print(f"FAILED, points missing: {exc}", file=sys.stderr)
            return 2
    for warning in {f"{w.category.__name__}: {w.message}".splitlines()[0] for w in seen}:
        print(f"warning during the benchmark: {warning}", file=sys.stderr)
    rows = build_rows(samples)
    if args.json:
        document = {"machine": facts, "repeat": args.repeat, "rows": rows}
        print(json.dumps({**document, "samples": samples.seconds}, indent=2))
    else:
        print_table(rows, facts, args.repeat)
    missed = [row["work"] for row in rows if row["met"] is False]
    if missed and not args.no_check:
        print(f"target missed: {'; '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
