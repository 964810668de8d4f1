"""Training overhead: ``modelcycle run`` with one LightGBM candidate against plain LightGBM code.

Why: a pipeline tool earns its place only if its bookkeeping (validation, profile, dataset
version, tracked per-iteration metrics, step records) costs little next to the training itself.
Target (issue 4): at most 15% overhead end to end on a 100,000-row data set.

Both sides run as a user would run them, each as a fresh process, timed from start to exit
(interpreter start and imports included on both sides):

- plain: a script that reads the CSV with pandas, splits it 70/15/15 stratified, fits
  ``LGBMClassifier`` with an eval set and early stopping, and prints the validation ROC-AUC;
- modelcycle: ``modelcycle run pipeline.yaml --no-cache`` with the same split, the same
  LightGBM parameters and early stopping, on an existing store (created once before the
  clocks, as a user's store is; ``--no-cache`` so every round recomputes every step): the
  data stage (read, validate, profile, version) and the tracked training with every
  iteration's validation loss logged, and the training loss every 10th iteration (the spec's
  default ``train_loss_every``). The evaluation stage is switched off
  (``evaluation: {enabled: false}``): the plain script holds no test-set exam to compare it
  with, and the evaluation has its own costs.

Both sides read compiled bytecode, as an installed package does (pip compiles it on install):
the subprocesses get a bytecode cache in the temporary folder (``PYTHONPYCACHEPREFIX``, and
``PYTHONDONTWRITEBYTECODE`` unset) and each side runs once, untimed, to fill it. Without it,
in an environment that sets ``PYTHONDONTWRITEBYTECODE`` (as ours does), every run of the
editable install compiles modelcycle's modules from source while the libraries of the plain
script come precompiled; ``--no-bytecode-cache`` measures that way (no warm-up run either).

The warm-up run also leaves the names of scikit-learn's estimators that skops' import reads in
the user's cache folder (``~/.cache/modelcycle``, see ``modelcycle.models._persist``): a
user's first ``modelcycle run`` after installing or upgrading scikit-learn or skops walks
scikit-learn's packages for them once (about 0.15-0.4 s more).

Besides wall time, each run's CPU seconds (user + system over all its threads, from
``getrusage`` of the children) are printed: the target is on wall time, but on a shared
machine CPU seconds move less with other people's load, and they show work that background
threads hide from the wall clock.

The data: 100,000 rows x 20 numeric columns, binary target from a seeded nonlinear rule.

    .venv/bin/python benchmarks/training.py            # exit 1 when the target is missed
    .venv/bin/python benchmarks/training.py --rows 20000 --repeat 1 --no-check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.15
PARAMS = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31}

PLAIN = """
import sys
import pandas as pd
from lightgbm import LGBMClassifier, early_stopping
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

frame = pd.read_csv(sys.argv[1])
y = frame.pop("target")
x_train, x_rest, y_train, y_rest = train_test_split(frame, y, test_size=0.3, stratify=y,
                                                    random_state=42)
x_val, x_test, y_val, y_test = train_test_split(x_rest, y_rest, test_size=0.5, stratify=y_rest,
                                                random_state=42)
model = LGBMClassifier(n_estimators=300, learning_rate=0.05, num_leaves=31, n_jobs=1,
                       random_state=42, verbose=-1)
stop = early_stopping(20, verbose=False)
model.fit(x_train, y_train, eval_set=[(x_val, y_val)], callbacks=[stop])
print(roc_auc_score(y_val, model.predict_proba(x_val)[:, 1]))
"""

SPEC = """
version: 1
name: bench
data:
  source: {{path: {path}}}
  target: {{column: target}}
  split: {{method: stratified, train: 0.7, validation: 0.15, test: 0.15, seed: 42}}
  preprocessing: {{scaling: none}}
model:
  candidates:
    - family: lightgbm
      params: {params}
  early_stopping_rounds: 20
evaluation: {{enabled: false}}
"""


def generate(path: Path, rows: int, seed: int = 11) -> None:
    """100k x 20 numeric features and a binary target from a nonlinear rule (seeded)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 20))
    logit = x[:, 0] * x[:, 1] + np.sin(x[:, 2] * 2) + 0.5 * x[:, 3] ** 2 - 0.5 + x[:, 4]
    target = (logit + rng.normal(scale=0.8, size=rows) > 0).astype(int)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(20)]).assign(target=target)
    frame.to_csv(path, index=False)


def _environment(root: Path, bytecode_cache: bool) -> dict[str, str]:
    """The subprocesses' environment: with a bytecode cache under ``root`` (or as it is)."""
    env = dict(os.environ)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    return env


def _cpu_of_children() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, every thread) of one run of ``command``."""
    cpu, start = _cpu_of_children(), time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{command[:3]} failed:\n{done.stderr[-3000:]}")
    return elapsed, _cpu_of_children() - cpu


def main() -> None:
    """Time both sides ``--repeat`` times (alternating) and print the median overhead."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-check", action="store_true", help="Print only; always exit 0.")
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="Run both sides with the environment's bytecode settings and no warm-up run.",
    )
    args = parser.parse_args()
    cli = str(Path(sys.executable).with_name("modelcycle"))
    plain_s, ours_s, plain_cpu, ours_cpu = [], [], [], []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        env = _environment(root, not args.no_bytecode_cache)
        data = root / "data.csv"
        generate(data, args.rows)
        (root / "plain.py").write_text(PLAIN)
        (root / "pipeline.yaml").write_text(SPEC.format(path=data, params=json.dumps(PARAMS)))
        stores = [
            cli,
            "--store",
            f"sqlite:///{root / 'store' / 'm.db'}",
            "--artifacts",
            str(root / "artifacts"),
        ]
        plain_run = [sys.executable, "plain.py", str(data)]
        ours_run = [*stores, "run", "pipeline.yaml", "--no-cache"]
        _timed([*stores, "runs", "list"], root, env)  # the store exists, as a user's does
        if not args.no_bytecode_cache:  # fill the bytecode cache of both sides, untimed
            _timed(plain_run, root, env)
            _timed(ours_run, root, env)
        for _ in range(args.repeat):
            for walls, cpus, command in (
                (plain_s, plain_cpu, plain_run),
                (ours_s, ours_cpu, ours_run),
            ):
                wall, cpu = _timed(command, root, env)
                walls.append(wall)
                cpus.append(cpu)
    plain, ours = statistics.median(plain_s), statistics.median(ours_s)
    # Each round runs plain then ours back to back: the median of the rounds' own ratios is
    # what the target is checked on, because this machine's speed drifts by 20% between
    # rounds (both sides of a round see about the same speed); the ratio of the medians is
    # printed too.
    overhead = statistics.median(b / a for a, b in zip(plain_s, ours_s, strict=True)) - 1
    of_medians = ours / plain - 1
    cpu_overhead = statistics.median(b / a for a, b in zip(plain_cpu, ours_cpu, strict=True)) - 1
    if args.json:
        print(
            json.dumps(
                {
                    "rows": args.rows,
                    "bytecode_cache": not args.no_bytecode_cache,
                    "load_average_at_start": load,
                    "plain_s": plain_s,
                    "modelcycle_s": ours_s,
                    "overhead": overhead,
                    "overhead_of_medians": of_medians,
                    "plain_cpu_s": plain_cpu,
                    "modelcycle_cpu_s": ours_cpu,
                    "cpu_overhead": cpu_overhead,
                },
                indent=2,
            )
        )
    else:
        cache = "no bytecode cache" if args.no_bytecode_cache else "bytecode cached"
        print(f"{args.rows:,} rows x 20 columns, LightGBM {PARAMS}, median of {args.repeat}")
        print(f"{cache}; load average at start {load:.2f}")
        for label, median, runs in (
            ("plain LightGBM script", plain, plain_s),
            ("modelcycle run", ours, ours_s),
        ):
            shown = ", ".join(f"{t:.2f}" for t in runs)
            print(f"{label:22} {median:.2f} s  (runs: {shown})")
        print(
            f"overhead: {overhead:+.1%} (median of the rounds' ratios; target <= {TARGET:.0%});"
            f" ratio of the medians {of_medians:+.1%}"
        )
        shown = ", ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(plain_cpu, ours_cpu, strict=True))
        print(f"CPU seconds, all threads (plain/modelcycle): {shown}; {cpu_overhead:+.1%} (median")
        print("of the rounds' ratios)")
    if overhead > TARGET and not args.no_check:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
