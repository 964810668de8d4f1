"""Batch scoring: ``modelcycle predict`` on 1,000,000 rows vs the raw model's ``predict``.

Why: issue 7 point 9 — scoring a file must cost little more than the model itself. Target:
throughput >= 80% of calling the fitted pipeline's ``predict`` on the same rows.

The model: a gradient-boosting classifier (scikit-learn defaults, 100 trees) behind median
imputation and scaling, trained on breast_cancer and registered twice: once ONNX-ready (scored
on ONNX Runtime) and once without ONNX (scored by the fitted pipeline). The rows: breast_cancer
rows drawn with replacement plus 1% Gaussian noise (seeded), with an id column, in one Parquet
file (``--format csv`` for CSV).

- raw: ``pipeline.predict(frame)`` on the rows already in memory as a DataFrame (reading the
  file is not counted: the strictest baseline);
- modelcycle: ``score_file`` (what ``modelcycle predict`` runs), reading the file in chunks,
  checking every chunk against the signature, predicting, writing ids + predictions;
- the CLI: ``modelcycle predict`` in a fresh process, wall time (interpreter start and imports
  included), for information.

Each side runs ``--repeat`` times, interleaved; the best time of each is compared.

    .venv/bin/python benchmarks/batch.py              # table; exit 1 when the target is missed
    .venv/bin/python benchmarks/batch.py --rows 200000 --format csv --no-check
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET = 0.8


def train() -> tuple[Any, Any, Any]:
    """The pipeline, its features and labels (breast_cancer)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, target = load_breast_cancer(as_frame=True, return_X_y=True)
    prepare = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    pipeline = Pipeline(
        [
            ("preprocess", ColumnTransformer([("num", prepare, list(features.columns))])),
            ("model", GradientBoostingClassifier(random_state=0)),
        ]
    ).fit(features, target)
    return pipeline, features, target


def rows(features: Any, n: int, seed: int = 11) -> Any:
    """``n`` noisy rows drawn from ``features``, with an ``id`` column first."""
    import numpy as np

    rng = np.random.default_rng(seed)
    drawn = features.iloc[rng.integers(0, len(features), n)].reset_index(drop=True)
    drawn = drawn * (1 + rng.normal(0, 0.01, drawn.shape))
    drawn.insert(0, "id", np.arange(n, dtype=np.int64))
    return drawn


def register(root: Path, pipeline: Any, features: Any) -> tuple[str, str]:
    """Register the ONNX-ready and the pipeline-only versions; the store URLs."""
    from modelcycle.registry import Registry, export_onnx, signature_of
    from modelcycle.tracking import Client

    store, artifacts = f"sqlite:///{root / 'store.db'}", str(root / "artifacts")
    signature = signature_of(features, {}, task="binary", classes=[0, 1])
    exported = export_onnx(pipeline, features, task="binary")
    if not exported.ready:
        raise SystemExit(f"the benchmark model is not ONNX-ready: {exported.reason}")
    with Client(store, artifacts) as client:
        registry = Registry(client)
        for onnx in (exported, None):
            registry.register_model(
                "bench", pipeline, signature=signature, task="binary", family="gb",
                source="benchmarks/batch.py", onnx=onnx,
            )  # fmt: skip
    return store, artifacts


def best(fn: Any, repeat: int) -> tuple[float, float]:
    """The best wall time of ``repeat`` calls, and the CPU time (every thread of this process
    and of finished children) of that call."""
    runs = []
    for _ in range(repeat):
        cpu = _cpu()
        started = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - started, _cpu() - cpu))
    return min(runs)


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    """Run the comparison and print the table; exit 1 when the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-check", action="store_true", help="never exit 1")
    args = parser.parse_args()

    from modelcycle.registry import Registry
    from modelcycle.serving import score_file
    from modelcycle.tracking import Client

    pipeline, features, _ = train()
    with tempfile.TemporaryDirectory(prefix="mc-batch-") as tmp:
        root = Path(tmp)
        store, artifacts = register(root, pipeline, features)
        frame = rows(features, args.rows)
        source = root / f"rows.{args.format}"
        if args.format == "csv":
            frame.to_csv(source, index=False)
        else:
            frame.to_parquet(source, index=False)
        inputs = frame.drop(columns="id")
        load = os.getloadavg()
        raw = best(lambda: pipeline.predict(inputs), args.repeat)
        results: dict[str, tuple[float, float]] = {}
        with Client(store, artifacts) as client:
            registry = Registry(client)
            for label, ref in (
                ("modelcycle, onnx", "bench@1"),
                ("modelcycle, pipeline", "bench@2"),
            ):
                out = root / f"scores-{ref[-1]}.parquet"
                results[label] = best(
                    lambda ref=ref, out=out: score_file(registry, ref, source, out, id_column="id"),
                    args.repeat,
                )
        command = [
            str(Path(sys.executable).with_name("modelcycle")), "--store", store, "--artifacts",
            artifacts, "predict", "bench@1", "--input", str(source), "--output",
            str(root / "cli.parquet"), "--id-column", "id", "--json",
        ]  # fmt: skip
        cli = best(lambda: subprocess.run(command, check=True, capture_output=True), 1)
    print(f"batch scoring, {args.rows:,} rows x {inputs.shape[1]} columns, {args.format} input")
    print(f"load average before: {load[0]:.1f} (2 cores shared: wall times are noisy)")
    print(f"{'side':<34}{'seconds':>9}{'cpu s':>8}{'rows/s':>12}{'vs raw':>8}")
    results = {"raw pipeline.predict (in memory)": raw, **results}
    results["modelcycle predict CLI (process)"] = cli
    for label, (seconds, cpu) in results.items():
        speed = args.rows / seconds
        print(f"{label:<34}{seconds:>9.2f}{cpu:>8.2f}{speed:>12,.0f}{raw[0] / seconds:>8.2f}")
    ratio = raw[0] / results["modelcycle, onnx"][0]
    print(f"throughput ratio (onnx, default) = {ratio:.2f} (target >= {TARGET})")
    return 0 if args.no_check or ratio >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
