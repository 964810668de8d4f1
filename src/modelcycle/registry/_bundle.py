"""The model bundle: everything one model version needs, stored content-addressed.

A bundle is a manifest (JSON, itself an artifact whose SHA-256 is the version's
``bundle_sha256``) that names each part by hash:

    model         the fitted Pipeline(preprocess, model) (skops; pickle only for PyTorch)
    signature     input columns (name, kind, nullable, allowed categories) and the output
    profile       the training data profile: the drift reference of monitoring
    evaluation    the evaluation snapshot (metrics, intervals, fairness, gates...)
    environment   Python, platform and package versions
    spec          the pipeline spec the model came from
    onnx          the ONNX graph, when its export passed the parity check

and carries the small facts listings need (family, task, classes, target, features, headline
metrics, gates, ONNX parity, lineage). Every part is read through the artifact store, which
verifies its hash, so a bundle whose bytes changed is refused on load.
"""

from __future__ import annotations

import functools
import json
import platform
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from typing import TYPE_CHECKING, Any

from modelcycle.errors import IntegrityError

if TYPE_CHECKING:
    import pandas as pd

    from modelcycle.tracking import Client

__all__ = ["Bundle", "environment", "git_commit", "load_bundle", "signature_of", "store_bundle"]

FORMAT = 1
_PACKAGES = (
    "modelcycle",
    "scikit-learn",
    "lightgbm",
    "numpy",
    "pandas",
    "pyarrow",
    "skops",
    "torch",
    "onnxruntime",
)


def environment() -> dict[str, Any]:
    """Python, platform and the versions of the packages a model depends on (installed ones)."""
    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(terse=True),
        "packages": packages,
    }


@functools.lru_cache(maxsize=1)
def git_commit() -> dict[str, Any] | None:
    """The git commit of the working folder (and whether it has uncommitted changes), or None
    outside a repository."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head, "dirty": bool(dirty)}


def signature_of(
    frame: pd.DataFrame,
    kinds: Mapping[str, str],
    *,
    task: str,
    classes: list[Any] | None,
    max_categories: int = 1000,
) -> dict[str, Any]:
    """The input signature from the training rows: each column's kind, whether it held
    missing values, and for categorical and boolean columns the categories seen (at most
    ``max_categories``; more than that is recorded as open-ended, ``categories: null``)."""
    inputs = []
    for name in frame.columns:
        kind = kinds.get(str(name), "numeric")
        column = frame[name]
        entry: dict[str, Any] = {
            "name": str(name),
            "kind": kind,
            "nullable": bool(column.isna().any()),
            "categories": None,
        }
        if kind in ("categorical", "boolean"):
            seen = column.dropna().unique()
            if len(seen) <= max_categories:
                entry["categories"] = sorted(_plain(v) for v in seen)
        inputs.append(entry)
    output = {"task": task, "classes": None if classes is None else [_plain(c) for c in classes]}
    return {"inputs": inputs, "output": output}


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return value if isinstance(value, (bool, int, float)) else str(value)


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle manifest; parts are fetched (and hash-verified) on demand."""

    sha256: str
    manifest: dict[str, Any]
    client: Client

    def part(self, name: str) -> bytes | None:
        """The bytes of one part (None when the bundle has no such part)."""
        entry = self.manifest["parts"].get(name)
        if entry is None:
            return None
        return self.client.artifacts.get_bytes(entry["sha256"])

    def json_part(self, name: str) -> Any:
        """A JSON part, parsed (None when absent)."""
        data = self.part(name)
        return None if data is None else json.loads(data)

    def model(self) -> Any:
        """The fitted model, rebuilt from verified bytes (see ``models._persist``)."""
        from modelcycle.models._persist import restore_model

        data = self.part("model")
        if data is None:
            raise IntegrityError(f"bundle {self.sha256} has no model part")
        return restore_model(data, self.manifest["parts"]["model"]["format"])

    @property
    def signature(self) -> dict[str, Any]:
        """The input signature (small: kept inline in the manifest)."""
        return dict(self.manifest["signature"])


def store_bundle(
    client: Client,
    *,
    model_part: Mapping[str, Any],
    facts: Mapping[str, Any],
    signature: Mapping[str, Any],
    parts: Mapping[str, bytes | None],
    shared: Mapping[str, str | None] | None = None,
) -> Bundle:
    """Store the parts (``parts``: name -> bytes; ``shared``: name -> the SHA-256 of an
    artifact already stored, e.g. the dataset version's profile) and the manifest."""
    entries: dict[str, dict[str, Any]] = {"model": dict(model_part)}
    for name, data in parts.items():
        if data is not None:
            ref = client.artifacts.put_bytes(data)
            entries[name] = {"sha256": ref.sha256, "size": ref.size}
    for name, sha in (shared or {}).items():
        if sha is not None:
            entries[name] = {"sha256": sha, "size": None}
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(timezone.utc).isoformat(),
        **facts,
        "signature": dict(signature),
        "parts": entries,
    }
    data = json.dumps(manifest, sort_keys=True, indent=1, default=str).encode("utf-8")
    ref = client.artifacts.put_bytes(data)
    return Bundle(ref.sha256, manifest, client)


def load_bundle(client: Client, sha256: str) -> Bundle:
    """The bundle whose manifest hashes to ``sha256`` (refused when its bytes changed)."""
    manifest = json.loads(client.artifacts.get_bytes(sha256))
    if manifest.get("format") != FORMAT:
        raise IntegrityError(f"bundle {sha256}: unknown format {manifest.get('format')!r}")
    return Bundle(sha256, manifest, client)
