"""A drift check over large Parquet files imports neither pandas nor scipy nor scikit-learn:
they would be about half of the process's peak memory at 100,000 rows (``benchmarks/drift.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

_CHECK = """
import sys
from modelcycle.monitoring import DriftDetector
folder = sys.argv[1]
snapshot = DriftDetector().fit(folder + "/reference.parquet").score(folder + "/current.parquet")
assert snapshot.tested_columns == 3 and snapshot.drifted == ["x"], snapshot.drifted
print(",".join(sorted({m.split(".")[0] for m in sys.modules} & {"pandas", "scipy", "sklearn"})))
"""


def test_a_large_parquet_drift_check_imports_no_pandas_scipy_or_sklearn(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    labels = pa.array(["a", "b", "c"])
    for name, shift in (("reference", 0.0), ("current", 0.5)):
        table = pa.table(
            {
                "x": rng.normal(shift, 1, 25_000),
                "n": pa.array(rng.integers(0, 50, 25_000)),
                "c": pa.DictionaryArray.from_arrays(rng.integers(0, 3, 25_000), labels),
            }
        )
        pq.write_table(table, tmp_path / f"{name}.parquet")
    done = subprocess.run(
        [sys.executable, "-c", _CHECK, str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
