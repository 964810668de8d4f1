"""Saving a fitted model in its run and loading it back, with nothing untrusted unpickled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from modelcycle.data import SplitSpec
from modelcycle.errors import IntegrityError, NotFoundError
from modelcycle.models._persist import dump_model, load_model, restore_model, save_model
from modelcycle.tracking import Client
from modelcycle.training import TrainData, TrainSpec, train_candidate


@pytest.fixture(scope="module")
def data() -> TrainData:
    frame = load_breast_cancer(as_frame=True).frame
    return TrainData.from_frame(frame, "target", SplitSpec(method="stratified", seed=2))


@pytest.mark.parametrize("family", ["lightgbm", "linear", "random_forest"])
def test_a_saved_model_loads_back_and_predicts_the_same(
    client: Client, data: TrainData, family: str
) -> None:
    trained = train_candidate(client, family, {}, data, TrainSpec())
    x_val, _ = data.rows("validation")
    manifest = save_model(
        client,
        trained.run_id,
        trained.pipeline,
        family=family,
        task="binary",
        target="target",
        features=list(x_val.columns),
        classes=[0, 1],
    )
    assert manifest["format"] == "skops" and manifest["size_bytes"] > 0
    loaded = load_model(client, trained.run_id)
    assert loaded.target == "target" and loaded.features == list(x_val.columns)
    np.testing.assert_array_equal(
        loaded.model.predict_proba(x_val), trained.pipeline.predict_proba(x_val)
    )
    names = {a.name for a in client.runs.show(trained.run_id).artifacts}
    assert {"model.skops", "model.json"} <= names


def test_a_model_file_with_an_untrusted_type_is_refused_by_name() -> None:
    hostile = Pipeline([("run", FunctionTransformer(os.system))])
    data, fmt = dump_model(hostile)
    with pytest.raises(IntegrityError, match=r"outside the trusted modules: .*system"):
        restore_model(data, fmt)


def test_a_tampered_model_artifact_is_refused(client: Client, data: TrainData) -> None:
    trained = train_candidate(client, "linear", {}, data, TrainSpec())
    manifest = save_model(
        client,
        trained.run_id,
        trained.pipeline,
        family="linear",
        task="binary",
        target="target",
        features=[],
    )
    sha = manifest["sha256"]
    stored = Path(client.artifacts_url.removeprefix("file://"), "sha256", sha[:2], sha[2:])
    with open(stored, "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00\x01\x02")
    with pytest.raises(IntegrityError):
        load_model(client, trained.run_id)


def test_a_run_without_a_model_says_so(client: Client) -> None:
    with client.start_run("e") as run:
        pass
    with pytest.raises(NotFoundError, match="saved no model"):
        load_model(client, run.run_id)


@pytest.mark.slow
def test_saving_with_skops_does_not_import_torch_and_leaves_the_torch_wrapper_importable() -> None:
    # skops' import walks every sklearn package, one of which wraps torch. In a fresh process
    # a model must save and load without importing torch, and the wrapper must stay
    # importable afterwards (nothing is left blocked).
    probe = """
import importlib.util, json, sys
from sklearn.linear_model import LogisticRegression
from modelcycle.models._persist import dump_model, restore_model

model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
data, fmt = dump_model(model)
restored = restore_model(data, fmt)
wrapper = "sklearn.external" + "s.array_api_compat.torch"
print(json.dumps({
    "format": fmt,
    "torch": "torch" in sys.modules,
    "same": restored.predict([[0.5], [2.5]]).tolist() == model.predict([[0.5], [2.5]]).tolist(),
    "wrapper_importable": importlib.util.find_spec(wrapper) is not None,
}))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "format": "skops",
        "torch": False,
        "same": True,
        "wrapper_importable": True,
    }
