"""In-process cost of the serving engine: signature validation + predict vs the raw model.

Why: issue 7 (ENGINE) — what the engine adds per request on top of the model itself, without
HTTP (``benchmarks/serving.py`` measures the server). No target is checked: figures only.

The model: scikit-learn's GradientBoostingClassifier (defaults, 100 trees, random_state=0)
behind a mean imputer in a ColumnTransformer, fitted on breast_cancer (30 numeric columns, as
in PEERS.md) and registered ONNX-ready as ``gb`` version 1 behind the ``champion`` alias, in a
temporary SQLite store. All in this one process:

1. per request, 1 and 100 rows (median microseconds of ``--calls`` calls, a quarter of them for
   100 rows, after a warm-up; the calls are interleaved so the machine's load falls evenly on
   each side): the raw pipeline's ``predict_proba`` on a ready DataFrame;
   ``registry.OnnxPredictor.predict_proba`` on the columns (default ONNX Runtime threads,
   timed apart and last: its threads spin); the serving session's ``run`` on a prebuilt feed;
   ``InputSchema.validate`` alone; validation + ``ServedModel.predict`` on ONNX Runtime (engine
   ONNX) and on the fitted pipeline (engine python);
2. ``Deployment.predict`` (micro-batching, ``--wait-ms``), 1-row requests, each client awaiting
   its answer before the next request, after 200 of warm-up: throughput, p50, p99 and
   requests per batch at concurrency 1 (``--serial`` requests; its p50 beside the raw 1-row
   ``predict_proba``), 8 and 64 (``--requests`` shared by the clients);
3. hot swap under load: 8 clients keep calling while version 2 (the same pipeline, no ONNX) is
   registered and the alias moved to it; the seconds from the alias move until version 2
   answers (the deployment polls every 2 s, the default) and the errors counted.

    .venv/bin/python benchmarks/serving_engine.py
    .venv/bin/python benchmarks/serving_engine.py --calls 500 --requests 5000 --wait-ms 1 --json

The machine has 2 cores shared with other work: compare the lines of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelcycle.registry import Registry
    from modelcycle.serving import Deployment, ServedModel

Columns = dict[str, list[Any]]
WARMUP = 20  # calls dropped before each per-request median
SERIAL_WARMUP = 200  # Deployment.predict calls before the concurrency-1 figures
SWAP_CLIENTS = 8
SWAP_TIMEOUT = 60.0  # seconds to wait for version 2 before giving up


def train() -> tuple[Any, Any]:
    """The fitted pipeline and its features (breast_cancer)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    features, target = load_breast_cancer(as_frame=True, return_X_y=True)
    pipeline = Pipeline(
        [
            ("preprocess", ColumnTransformer([("num", SimpleImputer(), list(features.columns))])),
            ("model", GradientBoostingClassifier(random_state=0)),
        ]
    ).fit(features, target)
    return pipeline, features


def register(registry: Registry, pipeline: Any, features: Any) -> bytes:
    """Register ``pipeline`` ONNX-ready as ``gb`` version 1, alias ``champion``; its graph."""
    from modelcycle.registry import export_onnx, signature_of

    signature = signature_of(features, {}, task="binary", classes=[0, 1])
    exported = export_onnx(pipeline, features.iloc[:200], task="binary")
    if not exported.ready or exported.model is None:
        raise SystemExit(f"the benchmark model is not ONNX-ready: {exported.reason}")
    registry.register_model(
        "gb", pipeline, signature=signature, task="binary", family="gb",
        source="benchmarks/serving_engine.py", onnx=exported,
    )  # fmt: skip
    registry.set_alias("gb@1", "champion")
    return exported.model


def paired(fns: dict[str, Callable[[], object]], calls: int) -> dict[str, float]:
    """Median microseconds of each function over ``calls`` calls, interleaved (the machine's
    load is shared evenly between them), after ``WARMUP`` calls of each."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(WARMUP + calls):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            if i >= WARMUP:
                samples[name].append((time.perf_counter() - started) * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def engine(served: ServedModel, request: Columns) -> dict[str, list[Any]]:
    """What the engine does per request: validate the columns, then predict."""
    return served.predict(served.schema.validate(request), ["predict_proba"])


def per_request(
    registry: Registry, pipeline: Any, features: Any, graph: bytes, rows: int, calls: int
) -> dict[str, float]:
    """Median microseconds per request of ``rows`` rows, each side (see the docstring, 1.)."""
    import numpy as np

    from modelcycle.registry import OnnxPredictor
    from modelcycle.serving import ServedModel

    request = {column: features[column].iloc[:rows].tolist() for column in features.columns}
    onnx_served = ServedModel.load(registry, "gb@1")
    python_served = ServedModel.load(registry, "gb@1", backend="python")
    plan = onnx_served._plan  # the serving session itself, to time its run alone
    if plan is None:
        raise SystemExit("gb@1 did not load on ONNX Runtime")
    feed = {
        graph_input: np.array(request[column], dtype=object if text else np.float64).reshape(-1, 1)
        for graph_input, column, text in plan.feed
    }
    figures = paired(
        {
            "sklearn": partial(pipeline.predict_proba, features.iloc[:rows]),
            "session": partial(plan.session.run, [plan.outputs["predict_proba"]], feed),
            "validate": partial(onnx_served.schema.validate, request),
            "engine_onnx": partial(engine, onnx_served, request),
            "engine_python": partial(engine, python_served, request),
        },
        calls,
    )
    predictor = OnnxPredictor(graph, task="binary", classes=[0, 1])
    figures.update(paired({"onnx_raw": partial(predictor.predict_proba, request)}, calls))
    return figures


def print_per_request(rows: int, t: dict[str, float]) -> None:
    """The per-request table of ``rows`` rows."""
    print(f"--- {rows} row(s) per request (median us, calls interleaved)")
    print(f"raw sklearn pipeline.predict_proba(DataFrame)     {t['sklearn']:8.1f}")
    print(
        f"raw registry.OnnxPredictor.predict_proba(dict)    {t['onnx_raw']:8.1f}  "
        "(default ORT threads, measured apart)"
    )
    print(f"raw session.run (serving session, prebuilt feed)  {t['session']:8.1f}")
    print(f"InputSchema.validate alone                        {t['validate']:8.1f}")
    print(
        f"engine ONNX   validate+feed+run+outputs           {t['engine_onnx']:8.1f}  "
        f"({t['engine_onnx'] - t['session']:+.1f} us over the raw run)"
    )
    print(
        f"engine python validate+frame+predict              {t['engine_python']:8.1f}  "
        f"({t['engine_python'] / t['sklearn']:.2f}x raw sklearn on a ready DataFrame)"
    )


async def timed_calls(deployment: Deployment, one: Columns, calls: int, prefix: str) -> list[float]:
    """Milliseconds of ``calls`` 1-row ``Deployment.predict`` calls, one after the other."""
    latencies = []
    for i in range(calls):
        started = time.perf_counter()
        await deployment.predict(one, ["predict_proba"], request_id=f"{prefix}{i}")
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def concurrent(
    deployment: Deployment, one: Columns, clients: int, requests: int, batches: list[int]
) -> dict[str, float]:
    """Throughput, p50, p99 (ms) and requests per batch of ``clients`` concurrent clients
    sending ``requests // clients`` 1-row requests each; ``batches`` gets each batch's size."""
    batches.clear()
    started = time.perf_counter()
    runs = await asyncio.gather(
        *(timed_calls(deployment, one, requests // clients, f"{k}-") for k in range(clients))
    )
    took = time.perf_counter() - started
    latencies = sorted(ms for run in runs for ms in run)
    return {
        "requests_per_s": len(latencies) / took,
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[int(len(latencies) * 0.99)],
        "requests_per_batch": sum(batches) / len(batches),
    }


async def keep_calling(
    deployment: Deployment,
    one: Columns,
    request_id: str,
    stop: asyncio.Event,
    labels: list[str],
    errors: list[BaseException],
) -> None:
    """Call the deployment until ``stop``; the label of each answer, or the error, is kept."""
    while not stop.is_set():
        try:
            labels.append((await deployment.predict(one, [], request_id=request_id)).label)
        except Exception as error:  # counted and reported, never hidden
            errors.append(error)
            await asyncio.sleep(0)


async def hot_swap(
    deployment: Deployment, registry: Registry, pipeline: Any, one: Columns
) -> dict[str, Any]:
    """Register version 2 and move the alias to it under load (see the docstring, 3.)."""
    registry.register_model(
        "gb", pipeline, signature=deployment.current.signature, task="binary", family="gb",
        source="benchmarks/serving_engine.py", onnx=None,
    )  # fmt: skip
    labels: list[str] = []
    errors: list[BaseException] = []
    stop = asyncio.Event()
    workers = [
        asyncio.ensure_future(keep_calling(deployment, one, str(k), stop, labels, errors))
        for k in range(SWAP_CLIENTS)
    ]
    try:
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        await asyncio.to_thread(registry.set_alias, "gb@2", "champion")
        while not labels or labels[-1] != "gb@2":
            if time.perf_counter() - started > SWAP_TIMEOUT:
                raise SystemExit(f"gb@2 did not answer within {SWAP_TIMEOUT:.0f} s: {errors[-3:]}")
            await asyncio.sleep(0.005)
        seconds = time.perf_counter() - started
    finally:
        stop.set()
        await asyncio.gather(*workers)
    return {
        "seconds": seconds,
        "poll_seconds": deployment.spec.swap.poll_seconds,
        "answered": len(labels),
        "errors": len(errors),
    }


def concurrency_line(clients: int, found: dict[str, float], raw_ms: float) -> str:
    """The printed line of one concurrency; at 1, its p50 beside the raw 1-row predict_proba."""
    p50 = f"p50 {found['p50_ms']:.2f} ms"
    if clients == 1:
        difference = found["p50_ms"] - raw_ms
        p50 = (
            f"p50 {found['p50_ms']:.3f} ms (sklearn raw {raw_ms:.3f} ms; "
            f"difference {difference:+.3f} ms)"
        )
    return (
        f"--- Deployment.predict, 1-row, concurrency {clients}: "
        f"{found['requests_per_s']:,.0f} req/s, {p50}, p99 {found['p99_ms']:.2f} ms, "
        f"{found['requests_per_batch']:.1f} requests per batch"
    )


async def deployment_figures(
    registry: Registry, pipeline: Any, one: Columns, raw_ms: float, args: argparse.Namespace
) -> dict[str, Any]:
    """Concurrency 1, 8 and 64, then the hot swap (see the docstring, 2. and 3.); each line is
    printed as it is measured unless ``args.json``."""
    from modelcycle.serving import Deployment, ServeSpec

    say = (lambda _line: None) if args.json else print
    spec = ServeSpec.from_refs(["gb"], batching={"max_wait_ms": args.wait_ms})
    batches: list[int] = []
    deployment = Deployment(
        registry, spec.models[0], spec, on_batch=lambda _label, _rows, n: batches.append(n)
    )
    deployment.start()
    try:
        await timed_calls(deployment, one, SERIAL_WARMUP, "warm-")
        results: dict[str, Any] = {"raw_sklearn_1_row_ms": raw_ms}
        for clients in (1, 8, 64):
            requests = args.serial if clients == 1 else args.requests
            found = await concurrent(deployment, one, clients, requests, batches)
            results[str(clients)] = found
            say(concurrency_line(clients, found, raw_ms))
        swap = results["hot_swap"] = await hot_swap(deployment, registry, pipeline, one)
        say(
            f"--- hot swap under load ({SWAP_CLIENTS} clients, poll {swap['poll_seconds']:g} s): "
            f"version 2 answered {swap['seconds']:.2f} s after the alias moved; "
            f"{swap['answered']} requests, {swap['errors']} errors"
        )
    finally:
        deployment.stop()
    return results


def main() -> int:
    """Run the measurements and print them (or, with ``--json``, the results as JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="1-row calls per median")
    parser.add_argument("--wait-ms", type=float, default=2.0, help="micro-batching max wait")
    parser.add_argument("--serial", type=int, default=3000, help="requests at concurrency 1")
    parser.add_argument("--requests", type=int, default=20000, help="requests per concurrency")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    from modelcycle.registry import Registry
    from modelcycle.tracking import Client

    pipeline, features = train()
    load = os.getloadavg()
    if not args.json:
        print(f"load average before: {load[0]:.1f} (2 cores shared: times are noisy)")
    results: dict[str, Any] = {"load_average": load[0], "per_request": {}}
    with tempfile.TemporaryDirectory(prefix="mc-engine-") as tmp:
        root = Path(tmp)
        with Client(f"sqlite:///{root / 'store.db'}", str(root / "artifacts")) as client:
            registry = Registry(client)
            graph = register(registry, pipeline, features)
            for rows, calls in ((1, args.calls), (100, max(1, args.calls // 4))):
                figures = per_request(registry, pipeline, features, graph, rows, calls)
                results["per_request"][str(rows)] = figures
                if not args.json:
                    print_per_request(rows, figures)
            raw_one = paired({"sklearn": partial(pipeline.predict_proba, features.iloc[:1])}, 500)
            one = {column: features[column].iloc[:1].tolist() for column in features.columns}
            results["deployment"] = asyncio.run(
                deployment_figures(registry, pipeline, one, raw_one["sklearn"] / 1000, args)
            )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
