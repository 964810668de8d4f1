"""``modelcycle run``: the data stage then training, in one run, with step caching."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer

from modelcycle.pipeline import load_spec, run_pipeline
from modelcycle.tracking import Client

Invoke = Callable[..., tuple[int, str, str]]  # the `cli` fixture of conftest.py

SPEC = """\
version: 1
name: cancer
data:
  source: {path: cancer.csv}
  schema:
    target: {kind: categorical, categories: ["0", "1"], nullable: false}
  target: {column: target}
  cleaning: {steps: [{type: duplicates}]}
  split: {method: stratified, seed: 3}
model:
  candidates:
    - {family: linear, params: {C: 0.5}}
    - {family: decision_tree, params: {max_depth: 3}}
  cv: {folds: 3, method: stratified}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """cancer.csv (breast_cancer) and pipeline.yaml in the working folder."""
    load_breast_cancer(as_frame=True).frame.to_csv(tmp_path / "cancer.csv", index=False)
    (tmp_path / "pipeline.yaml").write_text(SPEC)
    return tmp_path


def test_run_versions_data_and_trains_named_candidates_as_child_runs(
    client: Client, project: Path
) -> None:
    result = run_pipeline(
        load_spec(project / "pipeline.yaml"), client, spec_path=project / "pipeline.yaml"
    )
    assert [s.name for s in result.steps] == [
        "data",
        "split",
        "select",
        "train.linear",
        "train.decision_tree",
        "evaluate",
    ]
    assert {c["family"] for c in result.candidates} == {"linear", "decision_tree"}
    assert result.best is not None and result.best["family"] == "linear"
    assert result.best["metrics"]["roc_auc"] > 0.95
    for candidate in result.candidates:
        assert set(candidate["cv"]["mean"]) >= {"roc_auc", "accuracy"}
        child = client.runs.show(candidate["run_id"])
        assert child.parent_run_id == result.run_id
        assert child.params["C" if candidate["family"] == "linear" else "max_depth"]
    pipeline_run = client.runs.show(result.run_id)
    assert pipeline_run.tags["step.data"] == "miss"
    assert pipeline_run.inputs[0].digest == result.dataset_version.split("@")[1]
    assert {a.name for a in pipeline_run.artifacts} == {
        "pipeline.yaml",
        "selection.txt",
        "evaluation.html",
        "evaluation.json",
    }


def test_unchanged_steps_are_cache_hits_and_changes_recompute(
    client: Client, project: Path
) -> None:
    spec = load_spec(project / "pipeline.yaml")
    first = run_pipeline(spec, client)
    again = run_pipeline(spec, client)
    assert {s.name: s.cache for s in again.steps if s.cache != "off"} == {
        "data": "hit",
        "train.linear": "hit",
        "train.decision_tree": "hit",
        "evaluate": "hit",
    }
    assert again.best == first.best
    assert client.runs.show(again.run_id).tags["step.train.linear"] == "hit"
    (project / "pipeline.yaml").write_text(SPEC.replace("C: 0.5", "C: 2.0"))
    changed = run_pipeline(load_spec(project / "pipeline.yaml"), client)
    states = {s.name: s.cache for s in changed.steps if s.cache != "off"}
    assert states == {
        "data": "hit",
        "train.linear": "miss",
        "train.decision_tree": "hit",
        "evaluate": "miss",  # a new model is a new exam
    }
    assert run_pipeline(spec, client, use_cache=False).steps[0].cache == "off"


def test_cli_run_json_and_explain_selection(cli: Invoke, project: Path) -> None:
    code, out, _ = cli("run", "pipeline.yaml", "--explain-selection")
    assert code == 0
    for family in ("linear", "decision_tree", "random_forest", "lightgbm", "tfidf_linear"):
        assert family in out
    assert "needs text input" in out
    code, out, _ = cli("run", "pipeline.yaml", "--json")
    assert code == 0
    assert json.loads(out)["best"]["family"] == "linear"


def test_spec_errors_in_the_model_section_name_key_and_line(cli: Invoke, project: Path) -> None:
    (project / "bad.yaml").write_text(SPEC + "  tune: {trials: 0}\n")
    code, _, err = cli("run", "bad.yaml")
    assert code == 1
    assert err == "error: bad.yaml:15: model.tune.trials: must be a positive integer\n"


LIGHTGBM_SPEC = """\
version: 1
name: light
data:
  source: {path: cancer.csv}
  target: {column: target}
  split: {method: stratified, seed: 3}
model:
  candidates: [{family: lightgbm, params: {n_estimators: 20}}]
evaluation: {enabled: false}
"""

PROBE = """
import contextlib, io, json, sys
from modelcycle.cli import main
from modelcycle.models._persist import load_model
from modelcycle.tracking import Client

sys.argv = ["modelcycle", "--store", "sqlite:///store/m.db", "--artifacts", "artifacts",
            "run", "light.yaml", "--json"]
shown = io.StringIO()
with contextlib.redirect_stdout(shown), contextlib.suppress(SystemExit):
    main()
dialect = "sqlalchemy.dialects.postgre" + "sql"
loaded = [name for name in ("torch", dialect) if name in sys.modules]
run_id = json.loads(shown.getvalue())["best"]["run_id"]
saved = load_model(Client("sqlite:///store/m.db", "artifacts"), run_id)
print(json.dumps({"loaded": loaded, "format": saved.manifest["format"]}))
"""


@pytest.mark.slow
def test_a_lightgbm_run_on_sqlite_saves_its_model_without_torch_or_the_postgres_dialect(
    project: Path,
) -> None:
    # What a user's `modelcycle run` pays for: neither torch (skops' import walks sklearn's
    # torch wrapper) nor the PostgreSQL dialect is loaded for a LightGBM run on SQLite.
    (project / "light.yaml").write_text(LIGHTGBM_SPEC)
    # The store exists before, as a user's does (creating it migrates the schema: Alembic
    # loads the dialects of every server it supports).
    stores = ["--store", "sqlite:///store/m.db", "--artifacts", "artifacts"]
    subprocess.run(
        [sys.executable, "-m", "modelcycle", *stores, "runs", "list"],
        cwd=project,
        capture_output=True,
        check=True,
        timeout=120,
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {"loaded": [], "format": "skops"}
