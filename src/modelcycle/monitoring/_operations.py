"""The operations snapshot of one monitoring window: traffic, latency and errors, from the log.

The prediction log holds every live request of a model, answered or failed
(``metadata.predictions.operations``: no inputs or outputs are read). A window's snapshot:

- ``requests``: every request, answered or failed, weighted by ``1 / sample_rate`` (answers
  may be sampled; failures are always kept, with weight 1), ``answered`` and ``errors`` its two
  parts, ``error_rate`` = ``errors / requests`` (None for a window without requests) and
  ``errors_by_status`` (``{"400": 3.0, "500": 1.0}``);
- ``rows``: predicted rows (failed requests have none), ``throughput_rps`` (every request) and
  ``rows_per_second`` over the window's span;
- ``latency_ms``: p50, p95, p99, mean and max of the answered requests logged
  (``logged_requests`` of them; ``logged_errors`` failed ones were logged beside).

Failed requests also cut windows: a stretch of traffic where every request fails has no
predicted row, yet it gets windows (operations only) so an error-rate rule can see it. By
time, a window exists for every span with a request; by count, a failed request counts as one
row towards the window's size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["cut_events", "operations_snapshot"]


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def operations_snapshot(ops: pd.DataFrame, start: int, end: int) -> dict[str, Any]:
    """The snapshot (see the module docstring) of the requests in ``ops`` (columns as
    ``PredictionRepository.operations`` gives them) over the span ``start`` to ``end`` (ms)."""
    failed = (ops["status"] >= 400).to_numpy()
    weights = 1.0 / ops["sample_rate"].to_numpy(dtype=np.float64)
    latencies = ops["latency_ms"].to_numpy(dtype=np.float64)[~failed]
    seconds = (end - start) / 1000
    requests = float(weights.sum())
    errors = float(weights[failed].sum())
    rows = float((ops["n_rows"].to_numpy(dtype=np.float64) * weights).sum())
    by_status: dict[str, float] = {}
    for status, weight in zip(ops["status"].to_numpy()[failed], weights[failed], strict=True):
        by_status[str(int(status))] = by_status.get(str(int(status)), 0.0) + float(weight)
    answered = len(latencies) > 0
    quantiles = np.quantile(latencies, [0.5, 0.95, 0.99]) if answered else [None] * 3
    return {
        "requests": requests,
        "answered": requests - errors,
        "errors": errors,
        "error_rate": errors / requests if requests else None,
        "errors_by_status": dict(sorted(by_status.items())),
        "rows": rows,
        "logged_requests": int((~failed).sum()),
        "logged_errors": int(failed.sum()),
        "seconds": seconds,
        "throughput_rps": requests / seconds if seconds > 0 else None,
        "rows_per_second": rows / seconds if seconds > 0 else None,
        "latency_ms": {
            "p50": _optional(quantiles[0]),
            "p95": _optional(quantiles[1]),
            "p99": _optional(quantiles[2]),
            "mean": float(latencies.mean()) if answered else None,
            "max": float(latencies.max()) if answered else None,
        },
    }


def cut_events(
    rows: pd.DataFrame, failed: pd.DataFrame
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The times (ms) and request codes the windows are cut on, oldest first: one per
    predicted row of ``rows`` (a ``frame`` of the log) and one per failed request of
    ``failed`` (rows of ``operations``); a request's events share its code."""
    import pandas as pd

    times = np.concatenate(
        [
            rows["time"].dt.as_unit("ms").astype("int64").to_numpy(),
            failed["time"].dt.as_unit("ms").astype("int64").to_numpy(),
        ]
    )
    ids = pd.concat([rows["request_id"], failed["request_id"]], ignore_index=True)
    codes = pd.factorize(ids)[0]
    order = np.lexsort((codes, times))
    return times[order], codes[order]
