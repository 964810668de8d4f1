"""``modelcycle demo`` end to end (fewer tuning trials than the default), and
the records it leaves linked to each other."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from modelcycle.loop._lineage import retrain_lineage
from modelcycle.registry import Registry
from modelcycle.tracking import Client


def test_the_demo_runs_the_whole_loop_and_links_every_record(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'store' / 'modelcycle.db'}"
    artifacts = str(tmp_path / "artifacts")
    workdir = tmp_path / "demo"
    options = ["--trials", "2", "--workdir", str(workdir)]  # the whole stream: 4,513 rows
    command = [sys.executable, "-m", "modelcycle", "--store", store, "--artifacts", artifacts]
    done = subprocess.run(
        [*command, "demo", *options, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout)
    stages = {s["name"]: s for s in result["stages"]}
    assert list(stages)[:7] == [
        "data", "train", "serve", "traffic", "monitor", "feedback", "retrain"
    ]  # fmt: skip
    # trained, evaluated with fairness on the sensitive attributes, registered
    assert stages["train"]["numbers"]["champion"] == "health-insurance@1"
    assert "demographic parity difference" in stages["train"]["summary"]
    assert "gender" in stages["train"]["summary"]
    # served traffic, every request logged; drift detected in the later windows
    assert stages["traffic"]["numbers"]["rows"] == 4513
    assert stages["monitor"]["numbers"]["last_share"] > stages["monitor"]["numbers"]["first_share"]
    retrained = stages["retrain"]["numbers"]
    fired = {t["policy"] for t in retrained["triggers"] if t["fired"]}
    assert "drift" in fired
    # feedback: accepted once, the resent batch counted as duplicates
    assert stages["feedback"]["numbers"]["accepted"] == 4061
    assert stages["feedback"]["numbers"]["resent_duplicates"] == 500
    # a challenger trained on the feedback; promoted, or rejected with the reason
    assert retrained["challenger"] == "health-insurance@2"
    # seeded: on the whole stream the challenger wins its duel (on 3,000 rows it does not,
    # p=0.08; the rejection path is tested in tests/loop/test_retrain.py)
    assert retrained["decision"] == "promoted", stages["retrain"]["summary"]
    assert "holdout rows" in stages["retrain"]["summary"]
    with Client(store, artifacts) as client:
        registry = Registry(client)
        champion = registry.get("health-insurance@champion")
        run = client.runs.show(retrained["run_id"])
        lineage = retrain_lineage(client, run)
        assert lineage is not None and lineage["feedback"]["training_rows"] > 0
        challenger = registry.bundle("health-insurance@2").manifest["lineage"]
        pipeline_run = client.runs.show(lineage["pipeline_run"])
        assert pipeline_run.parent_run_id == run.run_id
        assert challenger["pipeline_run_id"] == pipeline_run.run_id
        assert challenger["dataset"] == lineage["dataset_version"]
        moves = registry.history("health-insurance", "champion")
        if retrained["decision"] == "promoted":
            assert champion.version == 2 and result["champion"] == "health-insurance@2"
            assert moves[-1].reason.startswith(f"retrain {run.run_id}")
            assert "redeploy" in stages  # the server answered with the new version
        else:
            assert champion.version == 1 and "does not beat" in stages["retrain"]["summary"]
    for name in ("evaluation (champion)", "monitoring", "grafana dashboard", "model card"):
        assert Path(result["reports"][name]).is_file(), name
    monitoring = Path(result["reports"]["monitoring"]).read_text()
    assert "<script src=" not in monitoring  # self-contained
