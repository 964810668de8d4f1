"""The data stage at scale: profile + validate + clean + split a 1,000,000 x 30 CSV.

Why: Evidently and pandas-profiling users complain that profiling wide or long data is slow and
runs out of memory (evidently#1526, #763). The target (issue 3): the whole modelcycle data stage
within 3x the time of a plain ``pandas.read_csv`` + ``DataFrame.describe()`` of the same file,
and peak memory under 3x the in-memory size of that DataFrame.

What runs, each side in a fresh Python process so peak memory (``ru_maxrss``) is its own:

- pandas: ``pd.read_csv(path)`` then ``df.describe(include="all")``;
- modelcycle: ``read_source`` (Arrow CSV reader, block by block) -> ``validate`` (declared
  schema: not-null, ranges, categories, target present) -> ``clean`` (exact duplicates,
  median imputation, IQR clipping; column by column on the cores) -> ``profile_table`` of the
  cleaned data (sketches built in bulk, a column per core) side by side with ``split``
  (stratified 70/15/15): both only read the cleaned data, and NumPy and Arrow release the GIL.

The file: 20 float columns (5% missing), 5 integer columns, 4 categorical string columns and a
binary target, seeded. Memory is reported as the peak resident set of the process minus the
resident set after imports (what the work itself added), beside the DataFrame's own size
(``memory_usage(deep=True)``). Imports happen before the clocks start on both sides.

    .venv/bin/python benchmarks/data.py            # table; exit 1 when a target is missed
    .venv/bin/python benchmarks/data.py --rows 200000 --no-check
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

FLOATS, INTS, CATEGORIES = 20, 5, 4
TIME_TARGET, MEMORY_TARGET = 3.0, 3.0
CLEANING = [
    {"type": "duplicates"},
    {"type": "missing", "strategy": "median"},
    {"type": "outliers", "method": "iqr", "action": "clip"},
]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Write the benchmark CSV with pyarrow (seeded)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(FLOATS):
        values = rng.normal(i, 1 + i / 10, rows)
        mask = rng.random(rows) < 0.05
        columns[f"f{i}"] = pa.array(values, mask=mask)
    for i in range(INTS):
        columns[f"i{i}"] = pa.array(rng.integers(0, 1000 * (i + 1), rows))
    labels = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"])
    for i in range(CATEGORIES):
        columns[f"c{i}"] = pa.array(labels[rng.integers(0, 3 + i, rows)])
    columns["target"] = pa.array(rng.random(rows) < 0.3)
    pacsv.write_csv(pa.table(columns), path)


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_pandas(path: str) -> dict[str, Any]:
    """The baseline: read_csv + describe."""
    import pandas as pd

    base = _rss_mb()
    start = time.perf_counter()
    frame = pd.read_csv(path)
    read = time.perf_counter() - start
    frame.describe(include="all")
    total = time.perf_counter() - start
    size = frame.memory_usage(deep=True).sum() / 2**20
    return {
        "read_s": read,
        "total_s": total,
        "frame_mb": float(size),
        "peak_added_mb": _peak_mb() - base,
    }


def _declared() -> Any:
    from modelcycle.data import ColumnKind, ColumnSchema, Schema

    columns = {
        f"f{i}": ColumnSchema(kind=ColumnKind.NUMERIC, min=-100, max=100) for i in range(FLOATS)
    }
    columns.update(
        {f"i{i}": ColumnSchema(kind=ColumnKind.INTEGER, nullable=False, min=0) for i in range(INTS)}
    )
    columns["c0"] = ColumnSchema(kind=ColumnKind.CATEGORICAL, categories=["alpha", "beta", "gamma"])
    return Schema(columns=columns)


def run_modelcycle(path: str) -> dict[str, Any]:
    """The whole data stage, timed step by step."""
    import pyarrow as pa
    import sklearn.model_selection  # noqa: F401  (imports stay outside the clock, as pandas')

    from modelcycle.data import CleaningSpec, SplitSpec, clean, infer_schema, read_source
    from modelcycle.data import split as split_rows
    from modelcycle.data._profile import profile_table
    from modelcycle.data._validation import validate

    base = _rss_mb()
    steps: dict[str, float] = {}
    peaks: dict[str, float] = {}
    start = mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        steps[name] = now - mark
        peaks[name] = _peak_mb() - base
        mark = now

    table, _ = read_source(path)
    lap("read")
    report = validate(table, declared=_declared(), target="target")
    lap("validate")
    schema = infer_schema(table, _declared())
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    pa.default_memory_pool().release_unused()  # the Arrow buffers self_destruct freed, to the OS
    spec = CleaningSpec.from_dict({"steps": CLEANING})
    frame, cleaning = clean(frame, spec)
    lap("clean")
    cleaned = pa.Table.from_pandas(frame, preserve_index=False)
    with ThreadPoolExecutor(1) as pool:  # both only read the cleaned data
        profiled = pool.submit(profile_table, cleaned, schema)
        splits = split_rows(frame, SplitSpec(method="stratified"), target="target")
        profile = profiled.result()
    lap("profile + split")
    assert isinstance(report.passed, bool) and cleaning.rows_out == len(frame) == profile.rows
    assert len(splits.train) + len(splits.validation) + len(splits.test) == len(frame)
    return {
        "steps": steps,
        "peaks": peaks,
        "total_s": time.perf_counter() - start,
        "peak_added_mb": _peak_mb() - base,
    }


def _in_subprocess(name: str, path: Path) -> dict[str, Any]:
    code = (
        f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        f"import data as bench; print(json.dumps(bench.run_{name}({str(path)!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _print(rows: int, pandas: dict[str, Any], ours: dict[str, Any]) -> tuple[float, float]:
    from rich.console import Console
    from rich.table import Table

    time_ratio = ours["total_s"] / pandas["total_s"]
    memory_ratio = ours["peak_added_mb"] / pandas["frame_mb"]
    table = Table(title=f"data stage on {rows:,} rows x 30 columns")
    for column in ("work", "seconds", "peak memory added (MB)", "ratio", "target"):
        table.add_column(column)
    table.add_row(
        "pandas read_csv + describe",
        f"{pandas['total_s']:.2f}",
        f"{pandas['peak_added_mb']:.0f}",
        "1.00x",
        "-",
    )
    for step, seconds in ours["steps"].items():
        peak = f"(peak so far {ours['peaks'][step]:.0f})"
        table.add_row(f"  modelcycle {step}", f"{seconds:.2f}", peak, "", "")
    table.add_row(
        "modelcycle whole stage",
        f"{ours['total_s']:.2f}",
        f"{ours['peak_added_mb']:.0f}",
        f"{time_ratio:.2f}x time",
        f"<= {TIME_TARGET:g}x",
    )
    table.add_row(
        "DataFrame in memory",
        "",
        f"{pandas['frame_mb']:.0f}",
        f"{memory_ratio:.2f}x memory",
        f"< {MEMORY_TARGET:g}x",
    )
    Console().print(table)
    return time_ratio, memory_ratio


def main() -> None:
    """Generate the file, run both sides, print the table, check the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-check", action="store_true", help="Print only; always exit 0.")
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.csv"
        generate(path, args.rows)
        size = os.path.getsize(path) / 2**20
        pandas = _in_subprocess("pandas", path)
        ours = _in_subprocess("modelcycle", path)
    if args.json:
        print(
            json.dumps(
                {"rows": args.rows, "file_mb": size, "pandas": pandas, "modelcycle": ours}, indent=2
            )
        )
        return
    print(f"CSV file: {size:.0f} MB, {args.rows:,} rows; cores: {os.cpu_count()}")
    time_ratio, memory_ratio = _print(args.rows, pandas, ours)
    missed = time_ratio > TIME_TARGET or memory_ratio >= MEMORY_TARGET
    if missed and not args.no_check:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
