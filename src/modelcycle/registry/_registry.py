"""The registry: named models, numbered versions, aliases that move, and why they moved.

    registry = Registry(client)
    version = registry.register("churn", run_id=run, signature=sig, evaluation=snapshot)
    registry.promote("churn@1")                       # alias champion, after the gates
    registry.promote("churn@2", force=True, reason="hotfix")   # recorded as forced
    registry.rollback("churn")                        # champion back to where it was
    registry.load("churn@champion").model.predict(frame)

References are ``NAME@VERSION``, ``NAME@ALIAS`` or ``NAME`` (its newest version). Promotion
checks the version's evaluation gates and refuses a failing or unevaluated version unless
forced with a reason; every move is kept (who, when, why, from which version) and audited.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelcycle.errors import GateFailedError, NotFoundError, invalid_value
from modelcycle.registry._bundle import (
    Bundle,
    environment,
    git_commit,
    load_bundle,
    store_bundle,
)
from modelcycle.store._registry import ANY

if TYPE_CHECKING:
    from modelcycle.tracking import Client
    from modelcycle.types import AliasMove, DatasetVersion, ModelVersion

__all__ = ["LoadedVersion", "Registry", "default_actor", "parse_ref"]

_ROLLBACK = "rollback"


def default_actor() -> str:
    """Who is acting: ``$MODELCYCLE_ACTOR``, else the login name."""
    found = os.environ.get("MODELCYCLE_ACTOR")
    if found:
        return found
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``NAME@X`` -> (NAME, X); ``NAME`` -> (NAME, None)."""
    name, _, pointer = ref.partition("@")
    if not name:
        raise invalid_value("model reference", ref, "expected NAME, NAME@VERSION or NAME@ALIAS")
    return name, pointer or None


@dataclass(frozen=True)
class LoadedVersion:
    """A version with its bundle and its fitted model."""

    version: ModelVersion
    bundle: Bundle
    model: Any


class Registry:
    """The registry over a tracking client's stores (see the module docstring)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.store = client.metadata.registry

    # -- reading ------------------------------------------------------------------------------
    def get(self, ref: str) -> ModelVersion:
        """The version a reference names."""
        name, pointer = parse_ref(ref)
        if pointer is None:
            return self.store.versions(name)[0]
        if pointer.isdigit():
            return self.store.get_version(name, int(pointer))
        aliases = self.store.aliases(name)
        if pointer not in aliases:
            self.store.versions(name)  # an unknown name says so first
            known = ", ".join(sorted(aliases)) or "none"
            raise NotFoundError(f"model {name!r} has no alias {pointer!r}; aliases: {known}")
        return self.store.get_version(name, aliases[pointer])

    def bundle(self, ref: str) -> Bundle:
        """The bundle of the version a reference names."""
        return load_bundle(self.client, self.get(ref).bundle_sha256)

    def load(self, ref: str) -> LoadedVersion:
        """The version, its bundle and its fitted model (every byte hash-verified)."""
        version = self.get(ref)
        bundle = load_bundle(self.client, version.bundle_sha256)
        return LoadedVersion(version, bundle, bundle.model())

    def models(self) -> list[dict[str, Any]]:
        """Every registered model with its newest version and aliases."""
        return self.store.models()

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, newest first."""
        return self.store.versions(name)

    def history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        """Every alias move of ``name`` (or of one alias), oldest first."""
        return self.store.alias_history(name, alias)

    # -- writing ------------------------------------------------------------------------------
    def register(
        self,
        name: str,
        *,
        run_id: str,
        signature: dict[str, Any],
        evaluation: dict[str, Any] | None = None,
        dataset: DatasetVersion | None = None,
        spec_text: str | None = None,
        pipeline_run_id: str | None = None,
        onnx: Any = None,
        description: str = "",
        actor: str | None = None,
    ) -> ModelVersion:
        """A new version of ``name`` from the model that run ``run_id`` saved (see
        ``models._persist``), with its signature, evaluation, data profile and lineage.
        ``onnx`` is an ONNX export result (``registry._onnx.OnnxExport``) or None."""
        from modelcycle.models._persist import MANIFEST

        run = self.client.runs.show(run_id)
        found = {a.name: a for a in run.artifacts}
        if MANIFEST not in found:
            raise NotFoundError(f"run {run.run_id} saved no model to register")
        saved = json.loads(self.client.artifacts.get_bytes(found[MANIFEST].sha256))
        model_part = {k: saved[k] for k in ("file", "sha256", "size_bytes", "format")}
        lineage = {
            "run_id": run.run_id,
            "pipeline_run_id": pipeline_run_id,
            "dataset": None if dataset is None else dataset.ref,
            "git": git_commit(),
            "mitigates": run.tags.get("mitigates"),
        }
        return self._register(
            name,
            saved,
            model_part,
            signature,
            evaluation,
            lineage,
            spec_text=spec_text,
            profile_sha=None if dataset is None else dataset.profile_sha256,
            onnx=onnx,
            description=description,
            actor=actor,
        )

    def register_model(
        self,
        name: str,
        model: Any,
        *,
        signature: dict[str, Any],
        task: str,
        family: str,
        source: str,
        evaluation: dict[str, Any] | None = None,
        onnx: Any = None,
        description: str = "",
        actor: str | None = None,
    ) -> ModelVersion:
        """A new version from a fitted model object not trained by a run (an import)."""
        from modelcycle.models._persist import dump_model

        data, fmt = dump_model(model)
        ref = self.client.artifacts.put_bytes(data)
        inputs = [c["name"] for c in signature.get("inputs", [])]
        saved = {
            "family": family,
            "task": task,
            "target": None,
            "features": inputs,
            "classes": signature.get("output", {}).get("classes"),
        }
        part = {"file": f"model.{fmt}", "sha256": ref.sha256, "size_bytes": ref.size, "format": fmt}
        lineage = {"imported_from": source, "git": git_commit()}
        return self._register(
            name,
            saved,
            part,
            signature,
            evaluation,
            lineage,
            onnx=onnx,
            description=description,
            actor=actor,
        )

    def _register(
        self,
        name: str,
        saved: dict[str, Any],
        model_part: dict[str, Any],
        signature: dict[str, Any],
        evaluation: dict[str, Any] | None,
        lineage: dict[str, Any],
        *,
        spec_text: str | None = None,
        profile_sha: str | None = None,
        onnx: Any = None,
        description: str = "",
        actor: str | None = None,
    ) -> ModelVersion:
        from modelcycle.evaluation._report import to_json

        onnx_facts = None if onnx is None else onnx.to_dict()
        ready = bool(onnx is not None and onnx.ready)
        gates = None if evaluation is None else evaluation.get("gates", [])
        facts = {
            "family": saved["family"],
            "task": saved["task"],
            "target": saved.get("target"),
            "features": saved.get("features"),
            "classes": saved.get("classes"),
            "metrics": _headline(evaluation),
            "gates": gates,
            "onnx": onnx_facts,
            "lineage": lineage,
            "environment": environment(),
        }
        parts = {
            "evaluation": None if evaluation is None else to_json(evaluation).encode("utf-8"),
            "spec": None if spec_text is None else spec_text.encode("utf-8"),
            "onnx": onnx.model if ready else None,
        }
        bundle = store_bundle(
            self.client,
            model_part=model_part,
            facts=facts,
            signature=signature,
            parts=parts,
            shared={"profile": profile_sha},
        )
        info = {
            "family": saved["family"],
            "task": saved["task"],
            "metrics": facts["metrics"],
            "gates_passed": None if gates is None else all(g["passed"] for g in gates),
            "dataset": lineage.get("dataset"),
        }
        return self.store.create_version(
            name,
            bundle_sha256=bundle.sha256,
            created_by=actor or default_actor(),
            run_id=lineage.get("run_id"),
            onnx_ready=ready,
            description=description,
            info=info,
        )

    def promote(
        self,
        ref: str,
        alias: str = "champion",
        *,
        force: bool = False,
        reason: str = "",
        actor: str | None = None,
    ) -> AliasMove:
        """Point ``alias`` at the version after its evaluation gates pass; a failing or
        unevaluated version is refused unless ``force`` with a ``reason`` (recorded)."""
        version = self.get(ref)
        if force and not reason.strip():
            raise invalid_value("reason", reason, "a forced promotion must say why")
        problem = self._gate_problem(version)
        if problem is not None and not force:
            raise GateFailedError(f"{version.ref} may not become {alias}: {problem}")
        current = self.store.aliases(version.name).get(alias)
        why = reason or "gates passed"
        if problem is not None:
            why = f"forced: {reason} (past: {problem})"
        return self.store.move_alias(
            version.name,
            alias,
            version.version,
            expected=current,
            actor=actor or default_actor(),
            reason=why,
            forced=problem is not None,
        )

    def _gate_problem(self, version: ModelVersion) -> str | None:
        from modelcycle.evaluation import require_gates

        bundle = load_bundle(self.client, version.bundle_sha256)
        gates = bundle.manifest.get("gates")
        if gates is None:
            return "it was never evaluated (register it from an evaluated run)"
        try:
            require_gates(gates, version.ref)
        except GateFailedError as failed:
            return failed.message
        return None

    def rollback(
        self, name: str, alias: str = "champion", *, reason: str = "", actor: str | None = None
    ) -> AliasMove:
        """Move ``alias`` back to the version it pointed to before its current one (a second
        rollback goes one further back)."""
        stack: list[int | None] = []
        for move in self.store.alias_history(name, alias):
            if move.reason.startswith(_ROLLBACK) and len(stack) > 1:
                stack.pop()
            else:
                stack.append(move.to_version)
        target = stack[-2] if len(stack) > 1 else None
        current = stack[-1] if stack else None
        if target is None:
            raise invalid_value(f"alias {name}@{alias}", current, "it has no earlier version")
        return self.store.move_alias(
            name,
            alias,
            target,
            expected=current,
            actor=actor or default_actor(),
            reason=f"{_ROLLBACK} from version {current}" + (f": {reason}" if reason else ""),
        )

    def archive(self, ref: str, *, reason: str = "", actor: str | None = None) -> ModelVersion:
        """Archive a version (refused while an alias points to it)."""
        version = self.get(ref)
        self.store.set_status(
            version.name,
            version.version,
            "archived",
            actor=actor or default_actor(),
            reason=reason,
        )
        return self.store.get_version(version.name, version.version)

    def set_alias(
        self, ref: str, alias: str, *, reason: str = "", actor: str | None = None
    ) -> AliasMove:
        """Point ``alias`` at a version without gates (for aliases such as ``challenger``)."""
        version = self.get(ref)
        return self.store.move_alias(
            version.name,
            alias,
            version.version,
            expected=ANY,
            actor=actor or default_actor(),
            reason=reason,
        )


def _headline(evaluation: dict[str, Any] | None) -> dict[str, Any]:
    if not evaluation:
        return {}
    intervals = evaluation.get("intervals") or {}
    metrics = evaluation.get("metrics") or {}
    names = list(intervals) or [evaluation.get("objective")]
    return {n: metrics.get(n) for n in names if n in metrics}
