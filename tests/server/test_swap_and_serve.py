"""Hot swap seen through a real server under load, and ``modelcycle serve`` itself:
pre-forked workers, start-up, shutdown, and its one-line errors."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

Served = Any  # the conftest's fixture (see tests/server/conftest.py)


def row_of(frame: pd.DataFrame, i: int = 0) -> dict[str, Any]:
    """Row ``i`` as plain JSON values."""
    return {str(k): (v.item() if hasattr(v, "item") else v) for k, v in frame.iloc[i].items()}


async def _load(url: str, body: Any, promote: Any, answers: list[tuple[float, int, str]]) -> None:
    """Requests at concurrency 16 until 300 are answered and the new version has answered the
    last 20 (at most 3,000 requests or 20 s); ``promote()`` runs after the first 50."""
    sent = 0
    promoted = threading.Event()
    deadline = time.monotonic() + 20

    def done() -> bool:
        if sent >= 3000 or time.monotonic() > deadline:
            return True
        recent = [version for _, _, version in answers[-20:]]
        return len(answers) >= 300 and recent == ["cancer@2"] * 20

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal sent
        while not done():
            sent += 1
            response = await http.post(url, json=body)
            answers.append(
                (time.monotonic(), response.status_code, response.headers["X-Model-Version"])
            )
            if len(answers) >= 50 and not promoted.is_set():
                promoted.set()
                await asyncio.to_thread(promote)

    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.gather(*(worker(http) for _ in range(16)))


@pytest.mark.slow
def test_promotion_under_load_swaps_the_version_with_zero_errors(
    live: Any, tmp_store: Served
) -> None:
    from modelcycle.registry import Registry

    server = live(["cancer"], store=tmp_store, swap={"poll_seconds": 0.2})
    body = [row_of(tmp_store.trained.cancer_rows)]
    moved: list[float] = []

    def promote() -> None:
        with tmp_store.client() as client:
            Registry(client).promote("cancer@2", force=True, reason="swap under load")
        moved.append(time.monotonic())

    answers: list[tuple[float, int, str]] = []
    asyncio.run(_load(f"{server.url}/predict/cancer", body, promote, answers))
    assert len(answers) >= 300
    assert [status for _, status, _ in answers].count(200) == len(answers), "errors under swap"
    versions = {version for _, _, version in answers}
    assert versions == {"cancer@1", "cancer@2"}
    first_new = min(t for t, _, version in answers if version == "cancer@2")
    assert first_new - moved[0] < 5.0
    assert [version for _, _, version in answers[-20:]] == ["cancer@2"] * 20


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_modelcycle_serve_prefork_workers_answer_count_together_and_stop_on_sigterm(
    served: Served, port: int, tmp_path: Path
) -> None:
    command = [
        sys.executable,
        "-m",
        "modelcycle",
        "--store",
        served.store,
        "--artifacts",
        served.artifacts,
        "serve",
        "cancer",
        "--port",
        str(port),
        "--workers",
        "2",
        "--no-log",
    ]
    shared = tmp_path / "metrics"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the server exited"
            try:
                if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server never became ready"
            time.sleep(0.1)
        assert len(_children(process.pid)) == 2
        rows = served.trained.cancer_rows.iloc[:20]
        expected = served.trained.cancer.predict(rows).tolist()

        def ask(i: int) -> None:  # a new connection each: the kernel spreads them
            answer = httpx.post(f"{url}/predict/cancer", json=[row_of(rows, i)])
            assert answer.json()["predictions"] == [expected[i]]
            assert answer.headers["X-Model-Version"] == "cancer@1"

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(ask, range(20)))
        answered = {path.stem.rpartition("_")[2] for path in shared.glob("counter_*.db")}
        assert answered  # the workers count in the shared folder
        for _ in range(6):  # whichever worker answers the scrape, it counts all 20
            families = text_string_to_metric_families(httpx.get(f"{url}/metrics").text)
            counted = [
                sample.value
                for family in families
                for sample in family.samples
                if sample.name == "modelcycle_requests_total"
                and sample.labels.get("model") == "cancer"
            ]
            assert sum(counted) == 20
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "serving cancer@champion on http://127.0.0.1" in err


def test_serve_refuses_a_bad_spec_in_one_line(cli: Any, tmp_path: Path) -> None:
    code, _, err = cli("serve")
    assert code == 1 and "nothing to serve" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("serve", "cancer", "--workers", "0")
    assert code == 1 and "workers" in err and len(err.strip().splitlines()) == 1
    spec = tmp_path / "serve.yaml"
    spec.write_text("models: [{name: cancer}]\nbatching: {max_wait_ms: -1}\n")
    code, _, err = cli("serve", "--spec", spec)
    assert code == 1 and "max_wait_ms" in err


def test_admin_reload_swaps_at_once(make_app: Any, tmp_store: Served) -> None:
    from modelcycle.registry import Registry

    app = make_app(["cancer"], store=tmp_store, swap={"poll_seconds": 600.0})
    body = [row_of(tmp_store.trained.cancer_rows)]
    assert (
        app.request("POST", "/predict/cancer", json=body).headers["X-Model-Version"] == "cancer@1"
    )
    with tmp_store.client() as client:
        Registry(client).promote("cancer@2", force=True, reason="reload test")
    reloaded = app.request("POST", "/admin/reload")
    assert reloaded.status_code == 200
    assert reloaded.json()["models"][0]["versions"] == ["cancer@2"]
    assert (
        app.request("POST", "/predict/cancer", json=body).headers["X-Model-Version"] == "cancer@2"
    )


def test_ab_policy_is_sticky_per_key_and_names_the_answering_version(
    make_app: Any, tmp_store: Served
) -> None:
    from modelcycle.registry import Registry

    with tmp_store.client() as client:
        Registry(client).set_alias("cancer@2", "challenger", reason="a/b test")
    policy = {"mode": "ab", "challenger": "challenger", "share": 0.5, "key": "X-User"}
    app = make_app([], store=tmp_store, models=[{"name": "cancer", "policy": policy}])
    body = [row_of(tmp_store.trained.cancer_rows)]

    def version(user: str) -> str:
        answer = app.request("POST", "/predict/cancer", json=body, headers={"X-User": user})
        assert answer.status_code == 200, answer.text
        assert answer.json()["model"] == answer.headers["X-Model-Version"]
        return str(answer.headers["X-Model-Version"])

    first = {user: version(user) for user in (f"user-{i}" for i in range(24))}
    assert set(first.values()) == {"cancer@1", "cancer@2"}
    assert all(version(user) == seen for user, seen in list(first.items())[:8])
