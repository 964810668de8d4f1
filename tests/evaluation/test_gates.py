"""The evaluation spec's gates: how they are written, read, checked and reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcycle.errors import GateFailedError, SpecError
from modelcycle.evaluation import (
    EvaluationSpec,
    check_gates,
    gate_values,
    parse_gate,
    require_gates,
)
from modelcycle.pipeline import load_spec

SNAPSHOT = {
    "metrics": {"roc_auc": 0.91, "accuracy": 0.88, "per_class": {"a": {"f1": 0.9}}},
    "intervals": {"roc_auc": {"value": 0.91, "low": 0.87, "high": 0.94, "std": 0.02}},
    "system": {
        "latency": {"p50_ms": 0.4, "p99_ms": 7.5},
        "throughput": {"rows_per_second": 90_000.0},
        "memory": {"peak_mb": 3.0},
        "size_bytes": 2_500_000,
    },
    "fairness": {"sex": {"demographic_parity_difference": 0.18, "groups": {"f": {"count": 3}}}},
    "robustness": {
        "perturbations": [{"perturbation": "noise", "columns": "all numeric", "change": -0.02}]
    },
}


def test_gates_are_read_from_their_written_form() -> None:
    gate = parse_gate("fairness.sex&race.demographic_parity_difference <= 0.1")
    assert (gate.metric, gate.op, gate.threshold) == (
        "fairness.sex&race.demographic_parity_difference",
        "<=",
        0.1,
    )
    assert str(parse_gate(" roc_auc>=.85 ")) == "roc_auc >= 0.85"
    assert parse_gate("better_than: champion").better_than == "champion"
    assert parse_gate("better_than: run:abc123").better_than == "run:abc123"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("roc_auc is high", "write NAME OP NUMBER"),
        ("roc_auc >= high", "write NAME OP NUMBER"),
        ("better_than: yesterday", "better_than takes 'champion' or 'run:RUN_ID'"),
    ],
)
def test_a_malformed_gate_is_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_gate(text)


def test_a_malformed_gate_in_a_spec_file_names_the_file_line_and_index(tmp_path: Path) -> None:
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(
        "name: p\nevaluation:\n  gates:\n    - roc_auc >= 0.85\n    - accuracy above 0.9\n"
    )
    with pytest.raises(SpecError, match=r"pipeline\.yaml:5: evaluation\.gates\[1\]: .*NAME OP"):
        load_spec(spec)


def test_gate_values_flatten_every_number_a_gate_may_name() -> None:
    values = gate_values(SNAPSHOT)
    assert values["roc_auc"] == 0.91
    assert values["ci.roc_auc.low"] == 0.87
    assert values["latency.p99_ms"] == 7.5
    assert values["throughput.rows_per_second"] == 90_000.0
    assert values["size_mb"] == 2.5
    assert values["fairness.sex.demographic_parity_difference"] == 0.18
    assert values["robustness.noise.change"] == -0.02
    assert "per_class" not in values and "fairness.sex.groups" not in values


def test_every_gate_is_checked_and_each_failure_reports_its_value() -> None:
    spec = EvaluationSpec(
        gates=[  # type: ignore[list-item]
            "roc_auc >= 0.85",
            "latency.p99_ms <= 5",
            "fairness.sex.demographic_parity_difference <= 0.1",
            "ci.roc_auc.low > 0.9",
        ]
    )
    results = check_gates(spec.gates, SNAPSHOT)
    assert [r["passed"] for r in results] == [True, False, False, False]
    assert results[1]["value"] == 7.5 and results[1]["threshold"] == 5
    with pytest.raises(GateFailedError) as failed:
        require_gates(results, "lightgbm")
    message = str(failed.value)
    assert message.startswith("lightgbm failed 3 gate(s)")
    assert "latency.p99_ms <= 5: measured 7.5" in message
    assert "fairness.sex.demographic_parity_difference <= 0.1: measured 0.18" in message
    assert "ci.roc_auc.low > 0.9: measured 0.87" in message


def test_a_gate_on_an_unknown_value_fails_and_lists_the_known_names() -> None:
    (result,) = check_gates([parse_gate("roc_aux >= 0.5")], SNAPSHOT)
    assert not result["passed"]
    assert "no value named 'roc_aux'" in result["note"] and "roc_auc" in result["note"]


def test_better_than_passes_only_when_the_paired_comparison_favours_this_model() -> None:
    gate = parse_gate("better_than: run:abc")
    won = {
        "metric": "roc_auc",
        "a": 0.8,
        "b": 0.9,
        "difference": 0.1,
        "low": 0.05,
        "high": 0.15,
        "p_value": 0.001,
        "better": "b",
    }
    tied = {**won, "low": -0.01, "better": "neither"}
    assert check_gates([gate], {"comparisons": {"run:abc": won}})[0]["passed"]
    assert not check_gates([gate], {"comparisons": {"run:abc": tied}})[0]["passed"]
    missing = check_gates([gate], {})[0]
    assert not missing["passed"] and "not evaluated" in missing["note"]


def test_better_than_champion_passes_when_there_is_no_champion_yet() -> None:
    (result,) = check_gates([parse_gate("better_than: champion")], SNAPSHOT)
    assert result["passed"] and result["note"] == "no champion yet"


def test_no_gates_means_nothing_to_fail() -> None:
    require_gates(check_gates([], SNAPSHOT))


def test_mitigation_needs_a_sensitive_attribute() -> None:
    with pytest.raises(ValueError, match="mitigation needs at least one sensitive attribute"):
        EvaluationSpec.model_validate({"mitigation": {"constraint": "equalized_odds"}})
