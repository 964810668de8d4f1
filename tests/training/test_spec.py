"""The training spec: YAML in, validated once, errors that name the key and the line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from modelcycle._yamlspec import load_model, validate_section
from modelcycle.errors import SpecError
from modelcycle.training import CVSpec, ParamSpace, TrainSpec, TuneSpec

EXAMPLE = """\
task: binary
metric: roc_auc
early_stopping_rounds: 30
class_weights: true
seed: 7
candidates:
  - family: linear
    params: {C: 0.5}
  - family: linear
    search_space:
      C: {type: float, low: 0.001, high: 10, log: true}
      max_iter: {type: int, low: 1000, high: 4000, step: 1000}
      penalty: {type: categorical, choices: [l2, null]}
tune: {trials: 40, timeout_s: 600, sampler: random, pruner: none, n_jobs: 2, study_name: s1}
cv: {folds: 5, method: group, group: patient}
"""


def _load(tmp_path: Path, text: str) -> TrainSpec:
    path = tmp_path / "train.yaml"
    path.write_text(text, encoding="utf-8")
    return load_model(TrainSpec, path)


def test_a_full_spec_loads_and_round_trips_through_json(tmp_path: Path) -> None:
    spec = _load(tmp_path, EXAMPLE)
    assert spec.tune == TuneSpec(
        trials=40, timeout_s=600, sampler="random", pruner="none", n_jobs=2, study_name="s1"
    )
    assert spec.cv == CVSpec(folds=5, method="group", group="patient")
    space = spec.candidates[1].search_space
    assert space is not None and space["penalty"].choices == ["l2", None]
    assert TrainSpec.model_validate_json(spec.model_dump_json()) == spec


def test_defaults_infer_the_task_and_stop_early_after_20_rounds() -> None:
    spec = TrainSpec()
    assert (spec.task, spec.metric, spec.early_stopping_rounds, spec.seed) == (None, None, 20, 42)
    assert (spec.tune, spec.cv, spec.class_weights) == (None, None, False)
    assert spec.train_loss_every == 10
    assert TrainSpec.model_validate({"train_loss_every": None}).train_loss_every is None
    assert TuneSpec().sampler == "tpe" and TuneSpec().pruner == "median"


def test_trials_must_be_positive_with_the_line_named(tmp_path: Path) -> None:
    text = "seed: 1\ntune:\n  trials: 0\n"
    with pytest.raises(SpecError, match=r"train\.yaml:3: tune\.trials: must be a positive integer"):
        _load(tmp_path, text)


def test_errors_inside_a_pipeline_section_carry_its_prefix() -> None:
    text = "model:\n  tune:\n    trials: -2\n"
    data = yaml.safe_load(text)
    root = yaml.compose(text)
    with pytest.raises(SpecError, match=r"p\.yaml:3: model\.tune\.trials: must be a positive"):
        validate_section(TrainSpec, data, source="p.yaml", root=root, prefix=["model"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus: 1\n", r"bogus: unknown key"),
        ("candidates:\n  - family: nope\n", r"candidates\[0\]\.family: .*known families: .*linear"),
        ("metric: auc\n", r"metric: unknown metric 'auc'"),
        ("task: regression\nmetric: roc_auc\n", r"does not suit task regression: rmse, mae, r2"),
        ("task: regression\nclass_weights: true\n", r"class_weights needs a classification"),
        ("cv: {method: group}\n", r"cv: method 'group' needs the 'group' column"),
        ("cv: {folds: 1}\n", r"cv\.folds: input should be greater than or equal to 2"),
        ("early_stopping_rounds: 0\n", r"early_stopping_rounds: input should be greater"),
        ("train_loss_every: 0\n", r"train_loss_every: input should be greater"),
        ("tune: {trials: 3, sampler: grid}\n", r"tune\.sampler: input should be 'tpe' or"),
    ],
)
def test_invalid_specs_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        _load(tmp_path, text)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"type": "float", "low": 1.0}, "needs low and high"),
        ({"type": "float", "low": 2.0, "high": 1.0}, r"low \(2\) must be below high \(1\)"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "log-scale range needs low > 0"),
        ({"type": "int", "low": 1.5, "high": 4}, "needs a whole low"),
        ({"type": "categorical"}, "non-empty list of choices"),
        ({"type": "categorical", "choices": [1], "low": 0}, "takes choices only"),
        ({"type": "int", "low": 1, "high": 4, "choices": [1]}, "not choices"),
        ({"type": "float", "low": 1.0, "high": float("inf")}, "finite number"),
    ],
)
def test_search_ranges_are_checked(space: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ParamSpace.model_validate(space)
