"""Retrain policies, champion against challenger, rollback, lineage, and the CLI.

The champion is a real pipeline run on breast-cancer rows; production traffic is logged as
the server logs it and labelled through ``ingest_feedback``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from modelcycle.loop import ingest_feedback, retrain
from modelcycle.loop._lineage import retrain_lineage
from modelcycle.loop._policies import evaluate, situation
from modelcycle.loop._retrain_data import in_holdout, row_keys
from modelcycle.loop._spec import RetrainSpec
from modelcycle.pipeline import load_spec, run_pipeline
from modelcycle.registry import Registry
from modelcycle.serving._served import ServedModel
from modelcycle.tracking import Client
from modelcycle.types import PredictionRecord

FRAME: pd.DataFrame = load_breast_cancer(as_frame=True).frame
TRAIN_ROWS = 300
SPEC = """\
version: 1
name: cancer
data:
  source: {{path: {source}}}
  target: {{column: target}}
  split: {{method: stratified, seed: 1}}
model:
  candidates: [{{family: linear, params: {{C: 0.5}}}}]
evaluation:
  bootstrap: {{resamples: 200}}
  explain: {{enabled: false}}
  robustness: {{enabled: false}}
  gates: ["roc_auc >= 0.9"]
registry: {{name: cancer, alias: {alias}}}
retrain:
  when:
    schedule: "0 0 1 1 *"
    data_volume: 60
    quality: {{min_labels: 30}}
  holdout: 0.3
  min_holdout: 20
  promote: {{resamples: 300}}
  rollback: {{auto: true, min_labels: 30}}
"""


def _pipeline(client: Client, folder: Path, alias: str = "champion") -> str:
    """Run the champion's pipeline on the first rows; the registered version."""
    source = folder / "cancer.csv"
    FRAME.iloc[:TRAIN_ROWS].to_csv(source, index=False)
    path = folder / f"pipeline-{alias}.yaml"
    path.write_text(SPEC.format(source=json.dumps(str(source)), alias=alias))
    ran = run_pipeline(load_spec(path), client, spec_path=path, use_cache=False)
    assert ran.registered is not None
    return str(ran.registered["version"])


def _log(client: Client, ref: str, rows: pd.DataFrame, prefix: str) -> list[str]:
    """Log one request per row as the server does, answered by ``ref``; the row ids."""
    served = ServedModel.load(Registry(client), ref, backend="python")
    names = list(served.schema.names)
    records = []
    when = datetime.now(timezone.utc)
    for i, (_, row) in enumerate(rows.iterrows()):
        columns = served.schema.validate({n: [float(row[n])] for n in names})
        outputs = served.predict(columns, ["predict"])
        records.append(
            PredictionRecord(
                request_id=f"{prefix}{i}",
                model=served.name,
                version=served.version,
                time=when + timedelta(milliseconds=i),
                latency_ms=1.0,
                n_rows=1,
                inputs={n: [float(row[n])] for n in names},
                outputs=outputs,
                shadow=False,
                sample_rate=1.0,
            )
        )
    client.metadata.predictions.insert_many(records)
    return [f"{prefix}{i}:0" for i in range(len(rows))]


def _label(client: Client, ids: list[str], labels: list[int]) -> None:
    report = ingest_feedback(
        client, [{"id": i, "label": y} for i, y in zip(ids, labels, strict=True)], source="t"
    )
    assert report.counts.accepted == len(ids)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Client]:
    """A client on an embedded store (the tests that need one backend only)."""
    with Client(f"sqlite:///{tmp_path / 'mc.db'}", str(tmp_path / "artifacts")) as opened:
        yield opened


def test_policies_say_why_and_if_needed_does_nothing_when_all_are_quiet(
    local: Client, tmp_path: Path
) -> None:
    champion = _pipeline(local, tmp_path)
    result = retrain(local, "cancer", if_needed=True)
    assert result.decision == "not-needed" and result.run_id is None
    assert result.champion == champion
    by = {t.policy: t for t in result.triggers}
    assert set(by) == {"schedule", "data_volume", "quality"}
    assert not any(t.fired for t in result.triggers)
    assert "0 new labelled rows" in by["data_volume"].detail
    assert "next at" in by["schedule"].detail
    # a year later the yearly schedule is due
    sit = situation(local, "cancer", "champion")
    later = datetime.now(timezone.utc) + timedelta(days=370)
    spec = RetrainSpec.model_validate({"when": {"schedule": "0 0 1 1 *"}})
    (schedule,) = evaluate(local, spec, sit, later)
    assert schedule.fired and "due since" in schedule.detail
    assert not local.runs.list("tags.kind = 'retrain'")  # nothing recorded


def test_a_challenger_that_does_not_beat_the_champion_is_rejected_with_the_reason(
    client: Client, tmp_path: Path
) -> None:
    champion = _pipeline(client, tmp_path)
    production = FRAME.iloc[TRAIN_ROWS:].reset_index(drop=True)
    copies = FRAME.iloc[:40].reset_index(drop=True)  # rows the champion trained on, again
    traffic = pd.concat([production, copies], ignore_index=True)
    ids = _log(client, champion, traffic.drop(columns=["target"]), "r")
    _label(client, ids, traffic["target"].tolist())

    result = retrain(client, "cancer@champion", if_needed=True)

    assert [t.policy for t in result.fired] == ["data_volume"]
    assert result.decision == "rejected", result.reason
    assert "does not beat the champion" in result.reason and "fresh holdout rows" in result.reason
    assert result.challenger == "cancer@2"
    assert Registry(client).get("cancer@champion").version == 1  # the alias did not move
    data = result.data or {}
    keys = row_keys(traffic, list(FRAME.columns))  # every input, then the label
    held = sum(in_holdout(k, 0.3) for k in keys)
    assert data["labelled_rows"] == len(ids) and data["holdout_rows"] == held
    copied_in_training = sum(not in_holdout(k, 0.3) for k in keys[len(production) :])
    assert data["duplicates_removed"] == copied_in_training > 0
    assert data["rows"] == data["previous_rows"] + data["added_rows"]
    # lineage: retrain run -> pipeline run (its child) -> challenger version
    run = client.runs.show(str(result.run_id))
    lineage = retrain_lineage(client, run)
    assert lineage is not None
    assert lineage["decision"] == "rejected" and lineage["champion"] == champion
    assert lineage["trigger"][0]["policy"] == "data_volume"
    assert lineage["feedback"]["training_rows"] == data["added_rows"]
    assert lineage["feedback"]["holdout_rows"] == held
    pipeline_run = client.runs.show(str(result.pipeline_run_id))
    assert pipeline_run.parent_run_id == result.run_id
    assert pipeline_run.tags["retrain_run"] == result.run_id
    bundle = Registry(client).bundle("cancer@2")
    assert bundle.manifest["lineage"]["pipeline_run_id"] == result.pipeline_run_id
    assert bundle.manifest["lineage"]["dataset"] == result.dataset_version
    assert bundle.part("spec") == Registry(client).bundle(champion).part("spec")
    # the rows it used are rows of the feedback table
    stored = json.loads(
        client.artifacts.get_bytes({a.name: a for a in run.artifacts}["retrain.json"].sha256)
    )
    assert set(stored["feedback"]["training_rows"]) <= set(ids)
    # the policies' clock restarted: the same labels do not trigger again
    assert retrain(client, "cancer", if_needed=True).decision == "not-needed"


def test_a_retrained_champion_whose_quality_drops_is_rolled_back(
    local: Client, tmp_path: Path
) -> None:
    _pipeline(local, tmp_path)
    second = _pipeline(local, tmp_path, alias="candidate")
    registry = Registry(local)
    registry.promote(second, "champion", reason="retrain 0123abcd: beat cancer@1")
    rows = FRAME.iloc[TRAIN_ROWS:].reset_index(drop=True)
    ids = _log(local, second, rows.drop(columns=["target"]), "w")
    _label(local, ids, (1 - rows["target"]).tolist())  # the world changed: every label flips

    result = retrain(local, "cancer", if_needed=True)

    assert result.decision == "rolled-back", result.reason
    assert "degraded" in result.reason and "cancer@1" in result.reason
    assert registry.get("cancer@champion").version == 1
    assert registry.history("cancer", "champion")[-1].reason.startswith("rollback")
    run = local.runs.show(str(result.run_id))
    assert run.tags["decision"] == "rolled-back" and run.tags["champion"] == second


def _cli(client: Client, *args: str) -> subprocess.CompletedProcess[str]:
    options = ["--store", client.store_url, "--artifacts", client.artifacts_url]
    return subprocess.run(
        [sys.executable, "-m", "modelcycle", *options, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_retrain_and_loop(local: Client, tmp_path: Path) -> None:
    _pipeline(local, tmp_path)
    done = _cli(local, "retrain", "cancer", "--if-needed", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["decision"] == "not-needed" and found["champion"] == "cancer@1"
    done = _cli(local, "loop", "cancer", "--every", "0.1", "--cycles", "2", "--json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["decision"] for line in lines] == ["not-needed", "not-needed"]
    done = _cli(local, "retrain", "nothing", "--json")
    assert done.returncode != 0 and "nothing" in done.stderr
    done = _cli(local, "retrain", "cancer")  # no --if-needed: trains, but no labels to duel on
    assert done.returncode == 0, done.stderr
    assert "skipped" in done.stdout and "retrain.min_holdout" in done.stdout


def test_a_tuned_challenger_starts_its_study_from_the_champions_hyperparameters(
    local: Client, tmp_path: Path
) -> None:
    from modelcycle.data import SplitSpec
    from modelcycle.loop._retrain import challenger_spec
    from modelcycle.training import CandidateSpec, TrainData, TrainSpec, TuneSpec, tune

    champion = _pipeline(local, tmp_path)
    sit = situation(local, "cancer", "champion")
    spec = load_spec(tmp_path / "pipeline-champion.yaml")
    assert spec.model is not None
    searched = {"tune": TuneSpec(trials=3), "candidates": [CandidateSpec(family="linear")]}
    tuned = spec.model_copy(update={"model": spec.model.model_copy(update=searched)})
    aimed = challenger_spec(tuned, sit, {"C": 0.123}, "0123abcd")
    assert aimed.model is not None and aimed.model.tune is not None
    assert aimed.model.tune.start == [{"C": 0.123}]
    assert [c.family for c in aimed.model.candidates] == ["linear"]
    assert aimed.registry is not None and aimed.registry.alias is None
    assert champion in aimed.registry.description
    # the study's first trial is the champion's
    data = TrainData.from_frame(FRAME, "target", SplitSpec(method="stratified", seed=1))
    found = tune(
        local, CandidateSpec(family="linear"), data, TrainSpec(tune=aimed.model.tune), name="t"
    )
    trials = local.runs.list(parent=found.run_id, order_by=["start_time asc"])
    assert float(trials[0].params["C"]) == pytest.approx(0.123)
    assert found.trials == 3
