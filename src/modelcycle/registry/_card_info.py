"""What a model card shows, gathered from a version, its bundle and its dataset version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from modelcycle.errors import NotFoundError

if TYPE_CHECKING:
    from modelcycle.tracking import Client

__all__ = ["card_info"]


def _intended_use(spec_text: bytes | None, description: str) -> str:
    if description:
        return description
    if spec_text is None:
        return ""
    try:
        spec = yaml.safe_load(spec_text)
    except yaml.YAMLError:
        return ""
    return str(spec.get("description") or "") if isinstance(spec, dict) else ""


def _dataset(client: Client, ref: str | None, profile: Any) -> dict[str, Any] | None:
    if ref is None:
        return None
    found: dict[str, Any] = {"ref": ref, "profile": profile}
    try:
        version = client.metadata.datasets.get(ref)
    except NotFoundError:
        return found
    return {**found, "rows": version.rows, "columns": version.columns}


def card_info(client: Client, ref: str) -> dict[str, Any]:
    """The ``info`` mapping :func:`modelcycle.registry.model_card` renders, for ``ref``."""
    from modelcycle.registry._registry import Registry

    registry = Registry(client)
    version = registry.get(ref)
    bundle = registry.bundle(version.ref)
    manifest = bundle.manifest
    lineage = dict(manifest.get("lineage") or {})
    git = lineage.pop("git", None) or {}
    lineage["git_commit"] = git.get("commit")
    spec = bundle.part("spec")
    if spec is not None:
        lineage["spec_sha256"] = manifest["parts"]["spec"]["sha256"]
    return {
        "name": version.name,
        "version": version.version,
        "created_at": version.created_at.isoformat(),
        "created_by": version.created_by,
        "description": version.description,
        "aliases": list(version.aliases),
        "status": version.status,
        "intended_use": _intended_use(spec, version.description),
        "family": manifest.get("family"),
        "task": manifest.get("task"),
        "classes": manifest.get("classes"),
        "signature": manifest.get("signature"),
        "dataset": _dataset(client, lineage.get("dataset"), bundle.json_part("profile")),
        "evaluation": bundle.json_part("evaluation"),
        "onnx": manifest.get("onnx"),
        "lineage": lineage,
        "environment": manifest.get("environment"),
        "hashes": {"bundle": bundle.sha256, "model": manifest["parts"]["model"]["sha256"]},
    }
