"""Deployment targets of a registered version: a Docker build context, Kubernetes manifests
and an edge bundle (ONNX graph + a runner that needs only numpy and onnxruntime).

    export_target(registry, "cancer@3", "docker", "deploy/docker")
    export_target(registry, "cancer@3", "k8s", "deploy/k8s", image="registry.example/cancer:3")
    export_target(registry, "cancer@3", "edge", "deploy/edge")

docker: ``model/`` (the version as an MLflow model, which ``modelcycle models import`` reads),
``entrypoint.sh`` (imports it into a store inside the container on first start, then runs
``modelcycle serve``), ``healthcheck.py`` and a ``Dockerfile`` (python:3.11-slim, non-root,
health check on ``/v2/health/ready``). k8s: a Deployment (liveness ``/v2/health/live``, readiness
``/v2/health/ready``), a Service, a HorizontalPodAutoscaler on CPU and a CronJob that runs
``modelcycle retrain NAME@ALIAS --if-needed --json`` against the shared store (URLs from the
Secret ``modelcycle-store``) on the schedule of the version's ``retrain.when.schedule``
(default: hourly; the policies decide whether a retrain is due), written with PyYAML from
plain dicts. The templates are short and specific to modelcycle's server, so they are written
here rather than through a templating library.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from modelcycle._version import __version__
from modelcycle.errors import InvalidValueError, invalid_value
from modelcycle.registry._bundle import Bundle
from modelcycle.registry._registry import Registry

__all__ = ["PORT", "TARGETS", "export_bundle_folder", "export_target", "kubernetes_name"]

#: What ``export_target`` writes.
TARGETS = ("docker", "k8s", "edge")
#: The port the server listens on inside a container.
PORT = 8080
_LIVE, _READY = "/v2/health/live", "/v2/health/ready"
_FILES = Path(__file__).parent / "_target_files"

_ENTRYPOINT = """\
#!/bin/sh
# Serve {ref} (exported by modelcycle {modelcycle}). On first start the MLflow model in ./model
# is imported into the store ($MODELCYCLE_STORE, else SQLite under $MODELCYCLE_STATE) and the
# imported version is remembered in $MODELCYCLE_STATE/served-ref; later starts serve it again.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
state="${{MODELCYCLE_STATE:-$here/state}}"
mkdir -p "$state"
export MODELCYCLE_STORE="${{MODELCYCLE_STORE:-sqlite:///$state/modelcycle.db}}"
export MODELCYCLE_ARTIFACTS="${{MODELCYCLE_ARTIFACTS:-$state/artifacts}}"
if [ ! -s "$state/served-ref" ]; then
  modelcycle models import "$here/model" --name {name} --description {description} --json \\
    > "$state/imported.json"
  python3 - "$state/imported.json" > "$state/served-ref.tmp" <<'PY'
import json, sys
version = json.load(open(sys.argv[1]))
print(version["name"] + "@" + str(version["version"]))
PY
  mv "$state/served-ref.tmp" "$state/served-ref"
fi
exec modelcycle serve "$(cat "$state/served-ref")" \\
  --host "${{HOST:-0.0.0.0}}" --port "${{PORT:-{port}}}"
"""

_DOCKERFILE = """\
# {ref}: build with `docker build -t {image} .`, run with `docker run -p {port}:{port} {image}`.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PORT={port} \\
    MODELCYCLE_STATE=/home/modelcycle/state
RUN pip install --no-cache-dir "modelcycle[mlflow]=={modelcycle}" \\
    && useradd --create-home --uid 10001 modelcycle
WORKDIR /app
COPY --chown=10001:10001 model /app/model
COPY --chown=10001:10001 entrypoint.sh healthcheck.py /app/
USER 10001
EXPOSE {port}
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \\
    CMD ["python3", "/app/healthcheck.py"]
ENTRYPOINT ["/app/entrypoint.sh"]
"""

_HEALTHCHECK = """\
\"\"\"Exit 0 when the server in this container answers ready (Docker's HEALTHCHECK).\"\"\"

import os
import sys
import urllib.request

url = "http://127.0.0.1:" + os.environ.get("PORT", "{port}") + "{ready}"
try:
    with urllib.request.urlopen(url, timeout=4) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except OSError as problem:
    print(f"not ready: {{problem}}", file=sys.stderr)
    sys.exit(1)
"""

_EDGE_README = """\
{ref}: the ONNX graph (preprocessing included), its signature and a runner.

    pip install numpy onnxruntime
    python run.py rows.csv        # or rows.jsonl (one object per row), or columns.json

run.py prints one JSON line per row: {{"predict": label}} (and "predict_proba", in the order
of the classes in signature.json, for classifiers). Columns the model reads: {columns}.
Exported by modelcycle {modelcycle}; bundle sha256 {sha256}.
"""


def export_target(
    registry: Registry,
    ref: str,
    target: str,
    out: str | Path,
    *,
    image: str | None = None,
    schedule: str | None = None,
) -> dict[str, Any]:
    """Write ``target`` (docker, k8s or edge) for version ``ref`` into folder ``out``.

    ``image`` names the container image in the k8s manifests (default
    ``modelcycle-NAME:VERSION``); ``schedule`` (cron) overrides the retrain CronJob's.
    Returns ``{"model", "target", "files"}`` (the written paths). An edge export of a version
    that is not ONNX-ready is refused with the reason."""
    if target not in TARGETS:
        raise invalid_value("target", target, f"expected one of {', '.join(TARGETS)}")
    version = registry.get(ref)
    folder = Path(out)
    if target == "docker":
        files = _docker(registry, version.ref, folder)
    elif target == "k8s":
        default = f"modelcycle-{kubernetes_name(version.name)}:{version.version}"
        retrain = _retrain_settings(registry.bundle(version.ref), schedule)
        files = _k8s(version.ref, folder, image or default, retrain)
    else:
        files = _edge(registry.bundle(version.ref), version.ref, folder)
    return {"model": version.ref, "target": target, "files": [str(f) for f in files]}


def export_bundle_folder(bundle: Bundle, out: Path) -> Path:
    """Every part of ``bundle`` as a file in folder ``out``, plus ``manifest.json``."""
    out.mkdir(parents=True, exist_ok=True)
    for name, entry in bundle.manifest["parts"].items():
        data = bundle.part(name)
        if data is not None:
            file = entry.get("file") or f"{name}.{'yaml' if name == 'spec' else 'json'}"
            (out / file).write_bytes(data)
    (out / "manifest.json").write_text(json.dumps(bundle.manifest, indent=2, default=str))
    return out


def kubernetes_name(name: str) -> str:
    """``name`` as a DNS-1123 label: lower case, ``-`` for anything else, at most 40 chars."""
    label = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    return label or "model"


def _docker(registry: Registry, ref: str, folder: Path) -> list[Path]:
    """The MLflow model, entrypoint.sh and Dockerfile."""
    from modelcycle.registry._mlflow import export_mlflow

    loaded = registry.load(ref)
    model = folder / "model"
    if model.exists():
        shutil.rmtree(model)
    folder.mkdir(parents=True, exist_ok=True)
    metadata = {"modelcycle_model": ref, "modelcycle_bundle_sha256": loaded.bundle.sha256}
    export_mlflow(loaded.model, model, signature=loaded.bundle.signature, metadata=metadata)
    name = loaded.version.name
    description = _shell_quote(f"{ref} (bundle sha256 {loaded.bundle.sha256})")
    entrypoint = folder / "entrypoint.sh"
    values = {"ref": ref, "modelcycle": __version__, "port": PORT, "ready": _READY}
    entrypoint.write_text(
        _ENTRYPOINT.format(name=_shell_quote(name), description=description, **values)
    )
    entrypoint.chmod(0o755)
    image = f"modelcycle-{kubernetes_name(name)}:{loaded.version.version}"
    dockerfile = folder / "Dockerfile"
    dockerfile.write_text(_DOCKERFILE.format(image=image, **values))
    health = folder / "healthcheck.py"
    health.write_text(_HEALTHCHECK.format(**values))
    return [dockerfile, entrypoint, health, model]


def _shell_quote(text: str) -> str:
    """``text`` as one single-quoted POSIX shell word."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _retrain_settings(bundle: Bundle, schedule: str | None) -> dict[str, str]:
    """The retrain CronJob's schedule and alias, from the version's pipeline spec."""
    text = bundle.part("spec")
    spec = (yaml.safe_load(text) if text else None) or {}
    retrain = spec.get("retrain") or {}
    found = schedule or (retrain.get("when") or {}).get("schedule") or "0 * * * *"
    if len(str(found).split()) != 5:
        raise invalid_value("schedule", found, "expected a cron expression of 5 fields")
    return {"schedule": str(found), "alias": str(retrain.get("alias") or "champion")}


def _cronjob(ref: str, meta: dict[str, Any], image: str, retrain: dict[str, str]) -> Any:
    """A CronJob running ``modelcycle retrain --if-needed`` on the shared store."""
    name = ref.rpartition("@")[0]
    store = [
        {"name": env, "valueFrom": {"secretKeyRef": {"name": "modelcycle-store", "key": key}}}
        for env, key in (("MODELCYCLE_STORE", "store"), ("MODELCYCLE_ARTIFACTS", "artifacts"))
    ]
    command = ["modelcycle", "retrain", f"{name}@{retrain['alias']}", "--if-needed", "--json"]
    container = {
        "name": "retrain",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "env": store,
        "resources": {
            "requests": {"cpu": "1", "memory": "1Gi"},
            "limits": {"cpu": "2", "memory": "4Gi"},
        },
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
    }
    pod = {"restartPolicy": "OnFailure", "containers": [container]}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {**meta, "name": f"{meta['name'][:44]}-retrain"},
        "spec": {
            "schedule": retrain["schedule"],
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {"backoffLimit": 1, "template": {"spec": pod}}},
        },
    }


def _k8s(ref: str, folder: Path, image: str, retrain: dict[str, str]) -> list[Path]:
    """deployment.yaml, service.yaml, hpa.yaml and retrain-cronjob.yaml."""
    name, _, number = ref.rpartition("@")
    app = f"modelcycle-{kubernetes_name(name)}"
    labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/version": number}
    select = {"app.kubernetes.io/name": app}
    meta = {"name": app, "labels": labels, "annotations": {"modelcycle.io/model": ref}}
    probe = {"port": "http", "scheme": "HTTP"}
    container = {
        "name": "server",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": [{"name": "PORT", "value": str(PORT)}],
        "livenessProbe": {"httpGet": {"path": _LIVE, **probe}, "periodSeconds": 10},
        "readinessProbe": {"httpGet": {"path": _READY, **probe}, "periodSeconds": 5},
        "startupProbe": {"httpGet": {"path": _LIVE, **probe}, "failureThreshold": 30},
        "resources": {
            "requests": {"cpu": "500m", "memory": "512Mi"},
            "limits": {"cpu": "2", "memory": "2Gi"},
        },
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": select},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": "ClusterIP",
            "selector": select,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    cpu = {"type": "Utilization", "averageUtilization": 70}
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": cpu}}],
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    cronjob = _cronjob(ref, meta, image, retrain)
    documents = (("deployment", deployment), ("service", service), ("hpa", hpa))
    for file, document in (*documents, ("retrain-cronjob", cronjob)):
        path = folder / f"{file}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        written.append(path)
    return written


def _edge(bundle: Bundle, ref: str, folder: Path) -> list[Path]:
    """model.onnx, run.py, signature.json and README.txt (ONNX-ready versions only)."""
    graph = bundle.part("onnx")
    if graph is None:
        reason = (bundle.manifest.get("onnx") or {}).get("reason") or "never exported"
        raise InvalidValueError(f"{ref} is not ONNX-ready, so it has no edge target: {reason}")
    folder.mkdir(parents=True, exist_ok=True)
    signature = bundle.signature
    files = {
        "model.onnx": graph,
        "run.py": (_FILES / "run.py").read_bytes(),
        "signature.json": json.dumps(signature, indent=2, default=str).encode(),
    }
    columns = ", ".join(str(i["name"]) for i in signature.get("inputs", []))
    readme = _EDGE_README.format(
        ref=ref, columns=columns, modelcycle=__version__, sha256=bundle.sha256
    )
    files["README.txt"] = readme.encode()
    written = []
    for file, data in files.items():
        (folder / file).write_bytes(data)
        written.append(folder / file)
    return written
