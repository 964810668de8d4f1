"""Readiness, /metrics (parsed, and scraped by a real Prometheus server), the prediction log
through the server, and API-key access on both store backends."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

InProcess = Served = Any  # the conftest's fixtures (see tests/server/conftest.py)


def row_of(frame: pd.DataFrame, i: int = 0) -> dict[str, Any]:
    """Row ``i`` as plain JSON values."""
    return {str(k): (v.item() if hasattr(v, "item") else v) for k, v in frame.iloc[i].items()}


def _samples(text: str) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def _value(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    for sample in samples.get(name, []):
        if all(sample.labels.get(k) == v for k, v in labels.items()):
            return float(sample.value)
    raise AssertionError(f"no sample {name} {labels}: {samples.get(name)}")


def test_not_ready_until_the_models_are_loaded(served: Served) -> None:
    from modelcycle.server import create_app
    from modelcycle.serving import ServeSpec

    with served.client() as client:
        app = create_app(client, ServeSpec.from_refs(["cancer"], log={"enabled": False}))

        async def probe() -> list[int]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                paths = ("/v2/health/ready", "/ping", "/v2/models/cancer/ready")
                codes = [(await c.get(p)).status_code for p in paths]
                row = {"x": 1}
                codes.append((await c.post("/predict/cancer", json=[row])).status_code)
                codes.append((await c.get("/v2/health/live")).status_code)
                return codes

        assert asyncio.run(probe()) == [503, 404, 404, 404, 200]
        app.state.modelcycle.start()
        try:
            assert asyncio.run(probe())[:3] == [200, 200, 200]
        finally:
            app.state.modelcycle.stop()


def test_metrics_count_requests_latency_batches_and_the_log(
    make_app: Any, tmp_store: Served
) -> None:
    app = make_app(["cancer", "flowers"], store=tmp_store, log={"flush_seconds": 0.05})
    cancer = tmp_store.trained.cancer_rows
    for i in range(3):
        assert app.request("POST", "/predict/cancer", json=[row_of(cancer, i)]).status_code == 200
    rows = [row_of(cancer, i) for i in range(4)]
    assert app.request("POST", "/invocations", json={"dataframe_records": rows}).status_code == 200
    flower = row_of(tmp_store.trained.flowers_rows)
    assert app.request("POST", "/predict/flowers", json=[flower]).status_code == 200
    assert app.state.logger.flush(10.0)
    samples = _samples(app.request("GET", "/metrics").text)
    requests = "modelcycle_requests_total"
    assert _value(samples, requests, model="cancer", version="1", protocol="native") == 3
    assert _value(samples, requests, model="cancer", version="1", protocol="mlflow") == 1
    assert _value(samples, requests, model="flowers", version="1", protocol="native") == 1
    latency = "modelcycle_request_latency_seconds_count"
    assert _value(samples, latency, model="cancer", protocol="native") == 3
    assert _value(samples, "modelcycle_batch_rows_sum", model="cancer", version="1") == 7
    assert _value(samples, "modelcycle_batch_requests_count", model="cancer", version="1") >= 1
    assert _value(samples, "modelcycle_model_version", model="cancer", version="1") == 1
    assert _value(samples, "modelcycle_model_ready", model="flowers") == 1
    assert _value(samples, "modelcycle_prediction_log_written_total") == 5
    assert _value(samples, "modelcycle_prediction_log_dropped_total") == 0
    assert _value(samples, "modelcycle_prediction_log_queue_depth") == 0
    with tmp_store.client() as client:
        logged = client.metadata.predictions.query("cancer")
    assert sorted(r.n_rows for r in logged) == [1, 1, 1, 4]


@pytest.mark.slow
def test_a_real_prometheus_server_scrapes_the_series(
    live: Any, served: Served, tmp_path: Path, port: int
) -> None:
    binary = shutil.which("prometheus")
    assert binary, "Debian's prometheus package is required (apt-get install -y prometheus)"
    server = live(["cancer"])
    row = row_of(served.trained.cancer_rows)
    assert httpx.post(f"{server.url}/predict/cancer", json=[row]).status_code == 200
    web = port
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: modelcycle\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{server.port}']}}]\n"
    )
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{web}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        query = f"http://127.0.0.1:{web}/api/v1/query"
        wanted = 'modelcycle_requests_total{model="cancer",version="1",protocol="native"}'
        found: list[Any] = []
        deadline = time.monotonic() + 30
        while not found and time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                answer = httpx.get(query, params={"query": wanted}).json()
            except httpx.HTTPError:
                continue
            found = answer.get("data", {}).get("result", [])
        assert found, "Prometheus never scraped the series"
        assert found[0]["metric"]["job"] == "modelcycle" and float(found[0]["value"][1]) == 1.0
    finally:
        process.terminate()
        process.wait(20)


def test_api_keys_guard_predict_admin_health_and_metrics(
    make_app: Any, register_in: Any, trained: Any, store_url: str, tmp_path: Path
) -> None:
    from modelcycle.serving import ApiKeys

    where = register_in(store_url, str(tmp_path / "artifacts"))
    with where.client() as client:
        keys = ApiKeys(client.metadata)
        _, predict_key = keys.create("app", ["predict"])
        _, admin_key = keys.create("ops", ["admin"])
    auth = {"enabled": True, "open_health": True, "open_metrics": False}
    app = make_app(["cancer"], store=where, auth=auth)
    row = [row_of(trained.cancer_rows)]

    def status(method: str, path: str, key: str | None, bearer: bool = False, **kw: Any) -> int:
        headers = {}
        if key is not None:
            headers = {"Authorization": f"Bearer {key}"} if bearer else {"X-API-Key": key}
        return int(app.request(method, path, headers=headers, **kw).status_code)

    assert status("POST", "/predict/cancer", None, json=row) == 401
    assert status("POST", "/predict/cancer", "mc_not-a-key", json=row) == 401
    assert status("POST", "/predict/cancer", predict_key, json=row) == 200
    assert status("POST", "/predict/cancer", predict_key, bearer=True, json=row) == 200
    assert status("POST", "/predict/cancer", admin_key, json=row) == 200  # admin grants all
    assert status("GET", "/api/models", None) == 401
    assert status("GET", "/api/models", predict_key) == 403
    assert status("GET", "/api/models", admin_key) == 200
    assert status("POST", "/admin/reload", predict_key) == 403
    assert status("POST", "/admin/reload", admin_key) == 200
    assert status("GET", "/metrics", None) == 401
    assert status("GET", "/metrics", admin_key) == 200
    assert status("GET", "/v2/health/ready", None) == 200  # open health
    closed = make_app(["cancer"], store=where, auth={**auth, "open_health": False})
    answer = closed.request("GET", "/v2/health/ready")
    assert answer.status_code == 401 and "API key" in answer.json()["error"]
    assert closed.request("GET", "/ping", headers={"X-API-Key": predict_key}).status_code == 200
