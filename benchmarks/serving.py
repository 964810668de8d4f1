"""Online serving: ``modelcycle serve`` against MLflow, BentoML, a naive FastAPI endpoint and the
HTTP floor, all serving the same fitted model, driven by the same load generator.

Why: issue 7 point 3. Targets, 1-row requests at concurrency 64: modelcycle throughput >= 20x
``mlflow models serve``, >= 5x BentoML and >= 40% of a FastAPI endpoint returning a constant,
p99 <= 50 ms; at concurrency 1, p50 within 1 ms of the in-process predict (signature validation
+ ONNX Runtime, what the server runs per request); start to ready under 2 s.

The model: scikit-learn's GradientBoostingClassifier (defaults, 100 trees, random_state=0)
behind median imputation and scaling in a ColumnTransformer, fitted once on breast_cancer (30
numeric columns). That one fitted pipeline is what every server answers with:

- mlflow: ``mlflow models serve --env-manager local`` on an ``mlflow.sklearn`` model directory
  (skops format, its trusted types listed), ``POST /invocations`` with ``dataframe_split``;
- bentoml: BentoML 1.4 in its own virtual environment (``.bench-venvs/bentoml``, made on first
  use: BentoML pins opentelemetry), a ``@bentoml.service`` loading the pipeline with joblib,
  defaults (one worker, no adaptive batching), ``POST /predict`` with ``{"rows": records}``;
- naive: FastAPI + scikit-learn, records -> DataFrame -> ``pipeline.predict``, ``POST /predict``;
- constant: FastAPI returning a constant without reading the body (the HTTP floor);
- modelcycle: ``modelcycle serve cancer`` on a temporary store where the pipeline is registered
  ONNX-ready, default settings (one worker, batching and prediction log on), ``POST
  /predict/cancer`` with records.

FastAPI endpoints run on uvicorn with uvloop, httptools, no access log (modelcycle's settings);
MLflow and BentoML as their CLIs start them. Servers start one after the other (start to ready:
process start to the first 200 of a health route), each answer to 100 rows is checked against
``pipeline.predict``, then each cell (rows x concurrency) runs on every server in turn with
``wrk`` on 127.0.0.1 (``--timeout 30s``: slow answers are measured, not dropped). Memory: RSS
and PSS (``/proc/PID/smaps_rollup``) of each process tree, and per worker of ``--workers 2``.

    .venv/bin/python benchmarks/serving.py                  # all, 5 s per cell; exit 1 on a miss
    .venv/bin/python benchmarks/serving.py --servers modelcycle,constant --concurrency 1,64 \\
        --rows 1 --duration 3 --no-check            # compare within one run only
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
BENTO_VENV = ROOT / ".bench-venvs" / "bentoml"
SERVERS = ("mlflow", "bentoml", "naive", "constant", "modelcycle")
UVICORN = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
NAIVE_APP = """
import joblib, pandas as pd
from fastapi import FastAPI
pipeline = joblib.load("pipeline.joblib")
app = FastAPI()
@app.post("/predict")
def predict(rows: list[dict[str, float]]) -> dict:
    return {"predictions": pipeline.predict(pd.DataFrame(rows)).tolist()}
"""
CONSTANT_APP = """
from fastapi import FastAPI
app = FastAPI()
@app.post("/predict")
async def predict() -> dict:
    return {"predictions": [0]}
"""
BENTO_SERVICE = """
import bentoml, joblib, pandas as pd
@bentoml.service
class Cancer:
    def __init__(self) -> None:
        self.pipeline = joblib.load("pipeline.joblib")
    @bentoml.api
    def predict(self, rows: list[dict[str, float]]) -> list[int]:
        return self.pipeline.predict(pd.DataFrame(rows)).tolist()
"""
LUA = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n' + (
    'local f = io.open("{path}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
)


@dataclass
class Server:
    """One server under test: how to start it, where it is ready, where and what to post."""

    name: str
    command: list[str]
    ready_path: str
    predict_path: str
    port: int
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    ready_s: float = float("nan")

    def url(self, path: str) -> str:
        """The loopback URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def body(self, records: list[dict[str, float]]) -> bytes:
        """The request body carrying ``records`` in this server's protocol."""
        if self.name == "mlflow":
            columns = list(records[0])
            split = {"columns": columns, "data": [[r[c] for c in columns] for r in records]}
            return json.dumps({"dataframe_split": split}).encode()
        if self.name == "bentoml":
            return json.dumps({"rows": records}).encode()
        return json.dumps(records).encode()


def train() -> tuple[Any, Any]:
    """The pipeline every server answers with, and the breast_cancer features."""
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, target = load_breast_cancer(as_frame=True, return_X_y=True)
    prepare = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    steps = [("preprocess", ColumnTransformer([("num", prepare, list(features.columns))]))]
    steps.append(("model", GradientBoostingClassifier(random_state=0)))
    return Pipeline(steps).fit(features, target), features


def save_models(root: Path, pipeline: Any, features: Any) -> tuple[str, str]:
    """The pipeline as a joblib file, an MLflow model directory and a registered, ONNX-ready
    modelcycle version (``cancer@champion``); the modelcycle store and artifact URLs."""
    import joblib
    import mlflow.sklearn
    import skops.io

    from modelcycle.registry import Registry, export_onnx, signature_of
    from modelcycle.tracking import Client

    joblib.dump(pipeline, root / "pipeline.joblib")
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(pipeline))
    mlflow.sklearn.save_model(pipeline, str(root / "mlflow-model"), skops_trusted_types=trusted)
    store, artifacts = f"sqlite:///{root / 'store.db'}", str(root / "artifacts")
    exported = export_onnx(pipeline, features, task="binary")
    if not exported.ready:
        raise SystemExit(f"the benchmark model is not ONNX-ready: {exported.reason}")
    signature = signature_of(features, {}, task="binary", classes=[0, 1])
    with Client(store, artifacts) as client:
        registry = Registry(client)
        about = {"task": "binary", "family": "gb", "source": "benchmarks/serving.py"}
        version = registry.register_model(
            "cancer", pipeline, signature=signature, **about, onnx=exported
        )
        registry.promote(version.ref, force=True, reason="benchmark")
    return store, artifacts


def in_process(store: str, artifacts: str, pipeline: Any, features: Any) -> dict[str, float]:
    """Median milliseconds per call, in this process, for 1 and 100 rows: the pipeline's
    ``predict`` on a ready DataFrame, and modelcycle's served model (validate + ONNX)."""
    from modelcycle.registry import Registry
    from modelcycle.serving import ServedModel
    from modelcycle.tracking import Client

    with Client(store, artifacts) as client:
        model = ServedModel.load(Registry(client), "cancer@champion")
    result = {}
    for rows in (1, 100):
        frame = features.iloc[:rows]
        columns = {str(k): [float(x) for x in v] for k, v in frame.items()}
        result[f"sklearn_{rows}"] = _median_ms(lambda f=frame: pipeline.predict(f), 300)
        served = _median_ms(lambda c=columns: model.predict(model.schema.validate(c), ["predict"]))
        result[f"modelcycle_{rows}"] = served
    return result


def _median_ms(call: Any, runs: int = 3000) -> float:
    return statistics.median(timeit.repeat(call, number=1, repeat=runs)) * 1000


def servers(root: Path, store: str, artifacts: str, names: list[str], workers: int) -> list[Server]:
    """The servers to run, in the order of ``names``, each on a free loopback port."""
    for file, text in (("naive_app", NAIVE_APP), ("constant_app", CONSTANT_APP)):
        (root / f"{file}.py").write_text(text)
    (root / "service.py").write_text(BENTO_SERVICE)
    path = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    quiet = {"PYTHONPATH": str(root), "PATH": path, "MLFLOW_ALLOW_FILE_STORE": "true"}
    made = []
    for name in names:
        port = _free_port()
        if name == "mlflow":
            model = str(root / "mlflow-model")
            command = [str(VENV_BIN / "mlflow"), "models", "serve", "-m", model, "-h", "127.0.0.1"]
            command += ["-p", str(port), "--env-manager", "local"]
            made.append(Server(name, command, "/ping", "/invocations", port, root, quiet))
        elif name == "bentoml":
            bento = str(BENTO_VENV / "bin" / "bentoml")
            command = [bento, "serve", "service:Cancer", "--host", "127.0.0.1", "--port", str(port)]
            made.append(Server(name, command, "/readyz", "/predict", port, root, quiet))
        elif name in ("naive", "constant"):
            command = [sys.executable, "-m", "uvicorn", f"{name}_app:app", "--host", "127.0.0.1"]
            command += ["--port", str(port), *UVICORN]
            made.append(Server(name, command, "/docs", "/predict", port, root, quiet))
        else:
            command = [str(VENV_BIN / "modelcycle"), "--store", store, "--artifacts", artifacts]
            command += ["serve", "cancer", "--port", str(port), "--workers", str(workers)]
            made.append(Server(name, command, "/v2/health/ready", "/predict/cancer", port, root))
    return made


def start(server: Server, timeout: float = 120.0) -> None:
    """Start ``server`` in its own process group; wait until its health route answers 200."""
    log = open(server.cwd / f"{server.name}-{server.port}.log", "wb")  # noqa: SIM115
    started = time.monotonic()
    options: dict[str, Any] = {"cwd": server.cwd, "env": {**os.environ, **server.env}}
    options.update(stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server.process = subprocess.Popen(server.command, **options)
    while time.monotonic() - started < timeout:
        if server.process.poll() is not None:
            tail = (server.cwd / log.name).read_text(errors="replace")[-2000:]
            raise SystemExit(f"{server.name} exited with {server.process.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(server.url(server.ready_path), timeout=1) as answer:
                if answer.status == 200:
                    server.ready_s = time.monotonic() - started
                    return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"{server.name} not ready after {timeout:.0f} s (log: {log.name})")


def stop(server: Server) -> None:
    """Stop ``server``'s whole process group: SIGTERM, then SIGKILL after 15 s."""
    process = server.process
    if process is None or process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):  # the group is gone: wait returns
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait)
            return


def check_answers(server: Server, records: list[dict[str, float]], expected: list[int]) -> None:
    """Fail unless ``server`` answers the same predictions as the pipeline on ``records``."""
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(server.url(server.predict_path), server.body(records), headers)
    with urllib.request.urlopen(request, timeout=60) as answer:
        body = json.loads(answer.read())
    found = body if isinstance(body, list) else body["predictions"]
    if server.name != "constant" and found != expected:
        raise SystemExit(f"{server.name} answered {found[:10]}... instead of {expected[:10]}...")


def wrk(server: Server, body_file: Path, connections: int, duration: int) -> dict[str, float]:
    """One cell of load on ``server``: requests/s, p50 and p99 (ms), errors."""
    script = body_file.with_suffix(".lua")
    script.write_text(LUA.format(path=body_file))
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s"]
    command += ["--timeout", "30s", "--latency", "-s", str(script), server.url(server.predict_path)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise SystemExit(f"wrk printed no throughput for {server.name}:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(non2xx.group(1)) if non2xx else 0
    errors += sum(int(n) for n in sockets.groups()) if sockets else 0
    result = {"rps": float(found.group(1)), "p50": _pct(out, "50"), "p99": _pct(out, "99")}
    return {**result, "errors": errors}


def _pct(out: str, percent: str) -> float:
    found = re.search(rf"\s{percent}(?:\.000)?%\s+([\d.]+)(us|ms|s|m)\b", out)
    if found is None:
        return float("nan")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[found.group(2)]
    return float(found.group(1)) * scale


def memory(*pids: int) -> dict[str, float]:
    """RSS and PSS in MiB summed over ``pids`` (``/proc/PID/smaps_rollup``; PSS sums to the
    memory they really use together), and how many of them were found."""
    total = {"rss": 0.0, "pss": 0.0, "processes": 0.0}
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for key, kib in re.findall(r"^(Rss|Pss):\s+(\d+) kB", text, re.M):
            total[key.lower()] += int(kib) / 1024
        total["processes"] += 1
    return total


def descendants(pid: int) -> list[int]:
    """``pid``'s child processes, recursively."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def workers_memory(root: Path, store: str, artifacts: str, record: Any, duration: int) -> Any:
    """``modelcycle serve --workers 2``: start to ready, then RSS/PSS of the parent and of each
    worker after ``duration`` seconds of 1-row load (``record``) at concurrency 8."""
    (server,) = servers(root, store, artifacts, ["modelcycle"], workers=2)
    try:
        start(server)
        assert server.process is not None
        body = root / "body-workers.json"
        body.write_bytes(server.body([record]))
        wrk(server, body, 8, duration)
        parent = server.process.pid
        children = descendants(parent)
        workers = [memory(pid) for pid in children]
        return {"ready_s": server.ready_s, "parent": memory(parent), "workers": workers}
    finally:
        stop(server)


def as_records(frame: Any) -> list[dict[str, float]]:
    """The rows of ``frame`` as JSON objects."""
    return [{str(k): float(v) for k, v in row.items()} for _, row in frame.iterrows()]


def _counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",")]
    if min(counts) < 1:
        raise ValueError(text)  # argparse: "invalid _counts value"
    return counts


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_bentoml() -> None:
    """Make BentoML's own virtual environment on first use (with this venv's scikit-learn,
    numpy and pandas versions, so the joblib file loads the same pipeline)."""
    if (BENTO_VENV / "bin" / "bentoml").exists():
        return
    import numpy
    import pandas
    import sklearn

    subprocess.run([sys.executable, "-m", "venv", str(BENTO_VENV)], check=True)
    pins = [f"scikit-learn=={sklearn.__version__}", f"numpy=={numpy.__version__}"]
    pins += [f"pandas=={pandas.__version__}", "bentoml>=1.4,<1.5"]
    subprocess.run([str(BENTO_VENV / "bin" / "pip"), "install", "-q", *pins], check=True)


def run_cells(
    running: list[Server], root: Path, features: Any, args: argparse.Namespace
) -> dict[str, dict[str, dict[str, float]]]:
    """Every cell on every server, servers interleaved within a cell; ``{cell: {server: r}}``."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    for rows in args.rows:
        records = as_records(features.iloc[:rows])
        for server in running:
            (root / f"body-{server.name}-{rows}.json").write_bytes(server.body(records))
        for connections in args.concurrency:
            cell = f"{rows}x{connections}"
            results[cell] = {}
            for server in running:
                body = root / f"body-{server.name}-{rows}.json"
                result = wrk(server, body, connections, args.duration)
                result["rows_s"] = result["rps"] * rows
                results[cell][server.name] = result
                print(f"  {cell} {server.name}: {result}", file=sys.stderr)
    return results


def report(out: dict[str, Any]) -> None:
    """Print the tables: cells side by side with ratios, then start-up and memory."""
    cells, names = out["cells"], out["servers"]
    print("GradientBoostingClassifier pipeline (breast_cancer, 30 columns), wrk on loopback,")
    print(f"{out['duration']} s per cell; load average before {out['load']:.1f} (2 cores shared)")
    inproc = ", ".join(f"{k.replace('_', ' ')} rows {v:.3f}" for k, v in out["in_process"].items())
    print(f"in-process predict, median ms: {inproc}\n")
    line = "{:<8}{:<12}{:>10}{:>12}{:>9}{:>9}{:>8}{:>11}{:>11}{:>10}".format
    head = ["cell", "server", "req/s", "rows/s", "p50 ms", "p99 ms", "errors"]
    print(line(*head, "vs mlflow", "vs bentoml", "vs const"))
    for cell, by_server in cells.items():
        for name in names:
            r = by_server[name]
            base = [by_server.get(b, {}).get("rps") for b in ("mlflow", "bentoml", "constant")]
            ratios = [f"{r['rps'] / b:.2f}" if b else "-" for b in base]
            figures = [f"{r['rps']:,.0f}", f"{r['rows_s']:,.0f}", f"{r['p50']:.2f}"]
            print(line(cell, name, *figures, f"{r['p99']:.2f}", f"{r['errors']:.0f}", *ratios))
    print("\nstart to ready, s: " + ", ".join(f"{k} {v:.2f}" for k, v in out["ready_s"].items()))
    used = dict(out["memory"])
    workers = out.get("workers")
    if workers:
        print(f"modelcycle serve --workers 2: start to ready {workers['ready_s']:.2f} s")
        used["--workers 2 parent"] = workers["parent"]
        used.update({f"--workers 2 worker {i}": w for i, w in enumerate(workers["workers"], 1)})
    print("memory after load (process tree; per process for --workers 2), MiB:")
    for name, one in used.items():
        print(f"  {name:<24} RSS {one['rss']:5.0f} PSS {one['pss']:5.0f} ({one['processes']:.0f})")


def targets(out: dict[str, Any]) -> list[tuple[str, float, bool]]:
    """Each target that this run measured: (what, measured value, met)."""
    found: list[tuple[str, float, bool]] = []
    cells = out["cells"]
    hot = cells.get("1x64", {})
    mine = hot.get("modelcycle")
    if mine:
        for other, bound in (("mlflow", 20.0), ("bentoml", 5.0), ("constant", 0.4)):
            if other in hot:
                ratio = mine["rps"] / hot[other]["rps"]
                found.append((f"c=64 1-row throughput / {other} >= {bound}", ratio, ratio >= bound))
        found.append(("c=64 1-row p99 <= 50 ms", mine["p99"], mine["p99"] <= 50))
    single = cells.get("1x1", {}).get("modelcycle")
    if single:
        extra = single["p50"] - out["in_process"]["modelcycle_1"]
        found.append(("c=1 1-row p50 - in-process predict <= 1 ms", extra, extra <= 1))
    if "modelcycle" in out["ready_s"]:
        ready = out["ready_s"]["modelcycle"]
        found.append(("modelcycle start to ready < 2 s", ready, ready < 2))
    return found


def main() -> int:
    """Run the servers, the cells and the checks; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset")
    parser.add_argument("--concurrency", type=_counts, default="1,8,64", help="e.g. 1,8,64")
    parser.add_argument("--rows", type=_counts, default="1,100", help="rows per request: 1,100")
    parser.add_argument("--duration", type=int, default=5, help="seconds per cell")
    parser.add_argument("--no-memory", action="store_true", help="skip the --workers 2 run")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-check", action="store_true", help="never exit 1")
    args = parser.parse_args()
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SERVERS))
    if unknown or not names:
        parser.error(f"invalid value {unknown} for field --servers: expected some of {SERVERS}")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if "bentoml" in names:
        ensure_bentoml()
    pipeline, features = train()
    with tempfile.TemporaryDirectory(prefix="mc-serving-") as tmp:
        root = Path(tmp)
        store, artifacts = save_models(root, pipeline, features)
        load = os.getloadavg()[0]
        out: dict[str, Any] = {"servers": names, "duration": args.duration, "load": load}
        out.update(ready_s={}, memory={})
        out["in_process"] = in_process(store, artifacts, pipeline, features)
        expected = [int(x) for x in pipeline.predict(features.iloc[:100])]
        records = as_records(features.iloc[:100])
        running = servers(root, store, artifacts, names, workers=1)
        try:
            for server in running:
                start(server)
                out["ready_s"][server.name] = server.ready_s
                check_answers(server, records, expected)
            out["cells"] = run_cells(running, root, features, args)
            for server in running:
                assert server.process is not None
                out["memory"][server.name] = memory(pid := server.process.pid, *descendants(pid))
        finally:
            for server in running:
                stop(server)
        if "modelcycle" in names and not args.no_memory:
            short = min(args.duration, 3)
            out["workers"] = workers_memory(root, store, artifacts, records[0], short)
    found = targets(out)
    out["targets"] = [{"target": t, "value": v, "met": ok} for t, v, ok in found]
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        report(out)
        print("\ntargets:")
        for what, value, met in found:
            print(f"  {'met ' if met else 'MISS'}  {what}: {value:.2f}")
    return 0 if args.no_check or all(met for _, _, met in found) else 1


if __name__ == "__main__":
    raise SystemExit(main())
