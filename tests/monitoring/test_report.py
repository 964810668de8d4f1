"""The HTML drift report: self-contained, read from the snapshot, small for wide data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from modelcycle.monitoring import DriftDetector, drift_report


def test_report_of_200_features_stays_under_5_mb(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = np.array([f"level_{i}" for i in range(30)])

    def table(shift: float) -> pa.Table:
        columns = {f"n{i}": rng.normal(shift * (i % 2), 1, 3_000) for i in range(160)}
        columns |= {f"c{i}": labels[rng.integers(0, 30, 3_000)] for i in range(40)}
        return pa.table(columns)

    snapshot = DriftDetector().fit(table(0.0)).score(table(0.5))
    assert snapshot.drifted_columns == 80
    path = drift_report(snapshot, tmp_path / "wide.html")
    html = path.read_text()
    assert path.stat().st_size < 5_000_000
    assert html.count("<svg") == 200
    assert "<script" not in html and "<link" not in html and 'src="' not in html  # self-contained
    assert "Dataset drift" not in html and "80 of 200 columns drifted" in html
