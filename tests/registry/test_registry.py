"""The registry: versions from pipeline runs, gated promotion, rollback, archive, audit."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from modelcycle.errors import ConflictError, GateFailedError, IntegrityError, InvalidValueError
from modelcycle.evaluation import EvaluationSpec, evaluate
from modelcycle.pipeline import load_spec, run_pipeline
from modelcycle.registry import Registry
from modelcycle.tracking import Client

Invoke = Callable[..., tuple[int, str, str]]  # the `cli` fixture of conftest.py

SPEC = """\
version: 1
name: cancer
description: Flag biopsies that need a second look.
data:
  source: {path: cancer.csv}
  target: {column: target}
  split: {method: stratified, seed: 3}
model:
  candidates: [{family: linear, params: {C: 0.5}}]
evaluation:
  bootstrap: {resamples: 100}
  system: {latency_calls: 10}
  explain: {permutation_repeats: 2}
  gates: ["roc_auc >= 0.9"]
registry: {name: cancer, alias: champion, onnx: false}
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    load_breast_cancer(as_frame=True).frame.to_csv(tmp_path / "cancer.csv", index=False)
    path = tmp_path / "pipeline.yaml"
    path.write_text(SPEC)
    return path


def _run(client: Client, spec: Path, tmp_path: Path) -> dict[str, object]:
    result = run_pipeline(load_spec(spec), client, spec_path=spec, report_dir=tmp_path / "r")
    assert result.registered is not None
    return result.registered


def test_a_pipeline_registers_its_chosen_candidate_as_a_complete_bundle(
    client: Client, spec: Path, tmp_path: Path
) -> None:
    registered = _run(client, spec, tmp_path)
    assert registered["version"] == "cancer@1" and registered["alias"] == "cancer@champion"
    registry = Registry(client)
    loaded = registry.load("cancer@champion")
    assert loaded.version.version == 1 and loaded.version.aliases == ("champion",)
    manifest = loaded.bundle.manifest
    assert set(manifest["parts"]) == {"model", "evaluation", "spec", "profile"}
    assert manifest["family"] == "linear" and manifest["task"] == "binary"
    assert manifest["lineage"]["dataset"].startswith("cancer@")
    assert manifest["environment"]["packages"]["scikit-learn"]
    inputs = {c["name"]: c for c in manifest["signature"]["inputs"]}
    assert len(inputs) == 30 and inputs["mean radius"]["kind"] == "numeric"
    assert manifest["signature"]["output"]["classes"] == [0, 1]
    evaluation = loaded.bundle.json_part("evaluation")
    assert evaluation["gates"][0]["passed"] and manifest["metrics"]["roc_auc"] > 0.9
    assert loaded.bundle.json_part("profile")["rows"] > 0
    frame = load_breast_cancer(as_frame=True).frame.drop(columns=["target"])
    run_model = client.runs.show(registry.get("cancer@1").run_id or "")
    assert run_model.tags["family"] == "linear"
    assert np.asarray(loaded.model.predict(frame)).shape == (569,)


def test_promote_rollback_and_the_history_of_every_move(
    client: Client, spec: Path, tmp_path: Path
) -> None:
    _run(client, spec, tmp_path)
    spec.write_text(SPEC.replace("C: 0.5", "C: 2.0"))
    assert _run(client, spec, tmp_path)["version"] == "cancer@2"
    registry = Registry(client)
    assert registry.get("cancer@champion").version == 2
    move = registry.rollback("cancer", reason="v2 misbehaves", actor="ops")
    assert (move.from_version, move.to_version) == (2, 1)
    assert registry.get("cancer@champion").version == 1
    with pytest.raises(InvalidValueError, match="it has no earlier version"):
        registry.rollback("cancer")
    history = registry.history("cancer", "champion")
    assert [(h.from_version, h.to_version) for h in history] == [(None, 1), (1, 2), (2, 1)]
    assert history[-1].actor == "ops" and "v2 misbehaves" in history[-1].reason
    with pytest.raises(ConflictError, match="alias champion points to it"):
        registry.archive("cancer@1")
    assert registry.archive("cancer@2").status == "archived"
    actions = [e.action for e in client.metadata.audit.list("cancer")]
    assert actions == ["register", "move_alias", "register", "move_alias", "move_alias", "archive"]
    assert client.metadata.audit.verify().ok


def test_promotion_refuses_a_version_whose_gates_failed_unless_forced_with_a_reason(
    client: Client, spec: Path, tmp_path: Path
) -> None:
    _run(client, spec, tmp_path)
    registry = Registry(client)
    first = registry.load("cancer@1")
    x, y = load_breast_cancer(as_frame=True, return_X_y=True)
    strict = evaluate(
        first.model,
        x,
        y,
        task="binary",
        spec=EvaluationSpec.model_validate(
            {
                "gates": ["accuracy >= 0.9999"],
                "explain": {"enabled": False},
                "robustness": {"enabled": False},
                "system": {"enabled": False},
                "bootstrap": {"resamples": 0},
            }
        ),
    )
    failing = registry.register(
        "cancer",
        run_id=first.version.run_id or "",
        signature=first.bundle.signature,
        evaluation=strict.snapshot,
    )
    with pytest.raises(GateFailedError, match=r"cancer@2 may not become champion: .*accuracy"):
        registry.promote(failing.ref)
    with pytest.raises(InvalidValueError, match="a forced promotion must say why"):
        registry.promote(failing.ref, force=True)
    move = registry.promote(failing.ref, force=True, reason="customer hotfix", actor="lead")
    assert move.forced and "customer hotfix" in move.reason and "accuracy" in move.reason
    assert client.metadata.audit.list()[-1].after["forced"] is True


def test_a_bundle_whose_bytes_changed_is_refused(
    client: Client, spec: Path, tmp_path: Path
) -> None:
    _run(client, spec, tmp_path)
    bundle = Registry(client).bundle("cancer@1")
    sha = bundle.manifest["parts"]["model"]["sha256"]
    stored = Path(client.artifacts_url.removeprefix("file://"), "sha256", sha[:2], sha[2:])
    stored.write_bytes(stored.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(IntegrityError, match="corrupt"):
        Registry(client).load("cancer@1")


def test_cli_models_and_audit(cli: Invoke, spec: Path) -> None:
    code, _, err = cli("run", str(spec), "--reports", "r")
    assert code == 0, err
    code, out, _ = cli("models", "list", "--json")
    assert code == 0 and json.loads(out)[0]["aliases"] == {"champion": 1}
    code, out, _ = cli("models", "show", "cancer@1", "--json")
    shown = json.loads(out)
    assert shown["versions"][0]["aliases"] == ["champion"] and "parts" in shown["bundle"]
    code, out, _ = cli("models", "card", "cancer@champion", "--out", "card", "--json")
    assert code == 0
    markdown = Path(json.loads(out)["markdown"]).read_text()
    assert "Flag biopsies that need a second look." in markdown
    code, _, err = cli("models", "rollback", "cancer")
    assert code == 1 and "it has no earlier version" in err
    code, _, err = cli("models", "archive", "cancer@1")
    assert code == 1 and "alias champion points to it" in err
    code, out, _ = cli("audit", "verify")
    assert code == 0 and out.startswith("audit log intact: 2 events")


def test_better_than_champion_compares_with_the_registered_champion_on_the_same_rows(
    client: Client, spec: Path, tmp_path: Path
) -> None:
    gated = SPEC.replace(
        'gates: ["roc_auc >= 0.9"]', 'gates: ["roc_auc >= 0.9", "better_than: champion"]'
    )
    spec.write_text(gated)
    first = _run(client, spec, tmp_path)  # no champion yet: nothing to beat
    assert first["version"] == "cancer@1"
    spec.write_text(gated.replace("C: 0.5", "C: 0.6"))  # a near twin cannot be shown better
    with pytest.raises(GateFailedError, match=r"better_than: champion: measured .*interval"):
        run_pipeline(load_spec(spec), client, spec_path=spec, report_dir=tmp_path / "again")
    snapshot = json.loads((tmp_path / "again" / "evaluation.json").read_text())
    comparison = snapshot["comparisons"]["champion"]
    assert comparison["better"] == "neither" and comparison["metric"] == "roc_auc"
    assert [v.version for v in Registry(client).versions("cancer")] == [1]
