"""The prediction log: write throughput on SQLite and PostgreSQL, and the monitoring read.

Why: issue 7 point 6 — every prediction is logged through a bounded queue in batches; MLflow
users complain of one request per logged value (mlflow#5269, #3010). What runs, per backend:

- ``insert_many``: 20,000 logged 1-row requests of 30 features + predict and predict_proba,
  in batches of 500 (the logger's default) — records/s and predicted rows/s;
- the same with 100-row requests (2,000 of them: 200,000 predicted rows);
- ``PredictionLogger``: 20,000 ``log()`` calls from the caller's thread, then ``close()`` —
  how long the caller spends in ``log`` per event, and end-to-end records/s;
- ``frame()``: the 100,000 newest predicted rows as a DataFrame (what monitoring reads).

    .venv/bin/python benchmarks/predlog.py
    .venv/bin/python benchmarks/predlog.py --postgres postgresql+psycopg://postgres@127.0.0.1/x
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FEATURES = 30
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _event(model: str, rows: int, rng: Any) -> Any:
    from modelcycle.types import PredictionEvent

    values = rng.normal(size=(FEATURES, rows)).round(6).tolist()
    proba = rng.random(rows).round(6)
    return PredictionEvent(
        request_id=f"{uuid.uuid4().hex}",
        model=model,
        version=1,
        inputs={f"f{j}": values[j] for j in range(FEATURES)},
        outputs={
            "predict": (proba > 0.5).astype(int).tolist(),
            "predict_proba": [[1 - p, p] for p in proba.tolist()],
        },
        latency_ms=0.3,
        time=datetime.now(timezone.utc),
    )


def _records(events: list[Any]) -> list[Any]:
    from modelcycle.serving._predlog import _record

    return [_record(e, 1.0) for e in events]


def measure(url: str) -> dict[str, float]:
    """Every figure for one store URL (an empty database)."""
    import numpy as np

    from modelcycle.serving import PredictionLogger
    from modelcycle.store import MetadataStore

    rng = np.random.default_rng(3)
    store = MetadataStore(url)
    figures: dict[str, float] = {}
    for rows, count in ((1, 20_000), (100, 2_000)):
        records = _records([_event(f"bench{rows}", rows, rng) for _ in range(count)])
        started = time.perf_counter()
        for start in range(0, count, 500):
            store.predictions.insert_many(records[start : start + 500])
        seconds = time.perf_counter() - started
        figures[f"insert {rows}-row requests/s"] = count / seconds
        figures[f"insert {rows}-row predicted rows/s"] = count * rows / seconds
    events = [_event("logged", 1, rng) for _ in range(20_000)]
    logger = PredictionLogger(store, queue_size=len(events)).start()
    started = time.perf_counter()
    for event in events:
        logger.log(event)
    in_log = time.perf_counter() - started
    logger.close(timeout=600)
    total = time.perf_counter() - started
    figures["log() microseconds per call"] = in_log / len(events) * 1e6
    figures["logger end-to-end records/s"] = logger.written / total
    figures["logger dropped"] = logger.dropped
    started = time.perf_counter()
    frame = store.predictions.frame("bench100", limit=1_000)  # 1,000 100-row requests
    figures["frame() 100k rows seconds"] = time.perf_counter() - started
    figures["frame() rows"] = len(frame)
    store.close()
    return figures


def _fresh_postgres(admin_url: str) -> tuple[str, Any]:
    import sqlalchemy as sa

    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"modelcycle_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def main() -> int:
    """Print the figures for SQLite and PostgreSQL side by side."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=PG_DEFAULT, help="an admin URL (a database is made)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mc-predlog-") as tmp:
        sqlite = measure(f"sqlite:///{Path(tmp) / 'store.db'}")
    url, drop = _fresh_postgres(args.postgres)
    try:
        postgres = measure(url)
    finally:
        drop()
    print(f"{'prediction log':<38}{'SQLite':>12}{'PostgreSQL':>12}")
    for key, value in sqlite.items():
        print(f"{key:<38}{value:>12,.1f}{postgres[key]:>12,.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
