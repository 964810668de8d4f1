"""Tuning throughput: trials per minute with 2 workers, plain Optuna against modelcycle.

Why: tuning is where a pipeline tool's per-trial bookkeeping (a tracked child run per trial,
the study in the metadata database, workers in separate processes) could eat the budget.

Each side runs the same number of LightGBM trials (same search space: num_leaves,
learning_rate, min_child_samples) on the same 20,000-row training split, measured on the same
validation split, with 2 workers:

- plain Optuna: one process, ``study.optimize(n_jobs=2)`` (threads; LightGBM releases the
  GIL while it trains), study in a SQLite file;
- modelcycle, local executor: ``tune_parallel`` over ``LocalExecutor(2)`` (2 spawned
  processes sharing one study in the metadata store), every trial a tracked child run;
- modelcycle, Ray executor: the same over ``RayExecutor("local", workers=2)``; Ray's start is
  reported on its own line and kept out of the throughput.

    .venv/bin/python benchmarks/tuning.py --trials 16
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

ROWS = 20_000


def _frame(rows: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(5)
    x = rng.normal(size=(rows, 20))
    logit = x[:, 0] * x[:, 1] + np.sin(2 * x[:, 2]) + x[:, 3] - 0.3
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(20)])
    return frame.assign(target=(logit + rng.normal(scale=0.8, size=rows) > 0).astype(int))


def _space(trial: Any) -> dict[str, Any]:
    return {
        "num_leaves": trial.suggest_int("num_leaves", 8, 64, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 50),
    }


def plain(data: Any, trials: int, folder: Path) -> float:
    """Plain Optuna + LightGBM, 2 threads; seconds for ``trials`` trials."""
    import optuna
    from lightgbm import LGBMClassifier
    from sklearn.metrics import roc_auc_score

    x_train, y_train = data.rows("train")
    x_val, y_val = data.rows("validation")

    def objective(trial: Any) -> float:
        model = LGBMClassifier(
            n_estimators=100, n_jobs=1, verbose=-1, random_state=0, **_space(trial)
        )
        model.fit(x_train, y_train)
        return float(roc_auc_score(y_val, model.predict_proba(x_val)[:, 1]))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        storage=f"sqlite:///{folder / 'plain.db'}",
        sampler=optuna.samplers.TPESampler(seed=0),
    )
    start = time.perf_counter()
    study.optimize(objective, n_trials=trials, n_jobs=2)
    return time.perf_counter() - start


def ours(data: Any, trials: int, folder: Path, executor: Any, label: str) -> float:
    """``tune_parallel`` on ``executor``; seconds for ``trials`` trials."""
    from modelcycle.training import CandidateSpec, ParamSpace, TrainSpec, TuneSpec, tune_parallel

    space = {
        "num_leaves": ParamSpace(type="int", low=8, high=64, log=True),
        "learning_rate": ParamSpace(type="float", low=0.02, high=0.3, log=True),
        "min_child_samples": ParamSpace(type="int", low=5, high=50),
    }
    candidate = CandidateSpec(family="lightgbm", params={"n_estimators": 100}, search_space=space)
    spec = TrainSpec(
        task="binary",
        early_stopping_rounds=None,
        tune=TuneSpec(trials=trials, n_jobs=2, pruner="none", study_name=f"bench-{label}"),
    )
    store = f"sqlite:///{folder / label / 'm.db'}"
    start = time.perf_counter()
    result = tune_parallel(
        store,
        str(folder / label / "artifacts"),
        candidate,
        data,
        spec,
        executor,
        experiment="bench",
    )
    elapsed = time.perf_counter() - start
    assert result.trials == trials, result.trials
    return elapsed


def main() -> None:
    """Run the three sides and print trials per minute and ratios to plain Optuna."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--no-ray", action="store_true", help="Skip the Ray executor.")
    args = parser.parse_args()
    from modelcycle.data import SplitSpec
    from modelcycle.executors import LocalExecutor, RayExecutor
    from modelcycle.training import TrainData

    data = TrainData.from_frame(_frame(ROWS), "target", SplitSpec(method="stratified"))
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        rows.append(("plain Optuna (2 threads)", plain(data, args.trials, folder)))
        with LocalExecutor(workers=2) as local:
            rows.append(
                (
                    "modelcycle, local executor (2 processes)",
                    ours(data, args.trials, folder, local, "local"),
                )
            )
        if not args.no_ray:
            started = time.perf_counter()
            with RayExecutor("local", workers=2) as ray_executor:
                print(f"Ray start: {time.perf_counter() - started:.1f} s (not counted)")
                rows.append(
                    (
                        "modelcycle, Ray executor (2 workers)",
                        ours(data, args.trials, folder, ray_executor, "ray"),
                    )
                )
    base = rows[0][1]
    print(f"{args.trials} LightGBM trials on {ROWS:,} rows, 2 workers each")
    for label, seconds in rows:
        per_minute = args.trials / seconds * 60
        print(
            f"{label:42} {seconds:6.2f} s  {per_minute:6.1f} trials/min  "
            f"{base / seconds:4.2f}x plain"
        )


if __name__ == "__main__":
    main()
