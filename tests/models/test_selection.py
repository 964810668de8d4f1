"""Candidate selection: every family gets a verdict with reasons, constraints and names apply."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pydantic
import pytest
from sklearn.dummy import DummyClassifier

from modelcycle.data import ColumnKind
from modelcycle.errors import InvalidValueError
from modelcycle.models import (
    Constraints,
    FamilyInfo,
    ModelFamily,
    Selection,
    Task,
    _catalog,
    families,
    get_family,
    select,
)

TABULAR = {
    "age": ColumnKind.INTEGER,
    "income": ColumnKind.NUMERIC,
    "region": ColumnKind.CATEGORICAL,
    "customer_id": ColumnKind.ID,
}
TEXT = {"review": ColumnKind.TEXT}
TABULAR_FAMILIES = ["linear", "decision_tree", "random_forest", "lightgbm"]


def _reasons(selection: Selection, name: str) -> list[str]:
    (choice,) = [c for c in selection.choices if c.family == name]
    return choice.reasons


def _info(name: str) -> FamilyInfo:
    return get_family(name).info


class _TorchOnlyBinary(ModelFamily):
    """A binary-only family whose extra is not installed (for availability and task checks)."""

    info = FamilyInfo(name="torch_binary", title="needs torch", tasks=frozenset({Task.BINARY}))

    def build(self, task: Task, params: Mapping[str, Any], seed: int) -> Any:
        return DummyClassifier()

    def search_space(self, trial: Any, task: Task) -> dict[str, Any]:
        return {}

    def available(self) -> str | None:
        return "needs the [torch] extra (pip install 'modelcycle[torch]')"


@pytest.fixture
def torch_family(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The catalog plus :class:`_TorchOnlyBinary`, for this test only."""
    families()  # load the real catalog first
    monkeypatch.setitem(_catalog._FAMILIES, "torch_binary", _TorchOnlyBinary())
    yield "torch_binary"


def test_every_family_appears_once_with_reasons() -> None:
    selection = select(Task.BINARY, 5_000, TABULAR)
    assert sorted(c.family for c in selection.choices) == sorted(f.info.name for f in families())
    assert all(choice.reasons for choice in selection.choices)
    assert [c.rank for c in selection.choices if c.chosen] == [1, 2, 3, 4]


def test_text_family_is_excluded_without_a_text_column() -> None:
    selection = select(Task.BINARY, 5_000, TABULAR)
    assert "tfidf_linear" not in selection.candidates
    assert _reasons(selection, "tfidf_linear") == [
        "excluded: needs text input, the data has no text column"
    ]


def test_text_only_data_keeps_the_text_family_and_excludes_tabular_ones() -> None:
    selection = select(Task.MULTICLASS, 5_000, TEXT)
    assert selection.candidates == ["transformer", "tfidf_linear"]
    assert _reasons(selection, "lightgbm") == [
        "excluded: needs tabular input, the data has no tabular feature column (only text)"
    ]


def test_text_and_tabular_columns_allow_both_kinds_of_family() -> None:
    selection = select(Task.BINARY, 5_000, {**TABULAR, **TEXT}, Constraints(max_candidates=10))
    expected = [*TABULAR_FAMILIES, "mlp", "tfidf_linear", "transformer"]
    assert sorted(selection.candidates) == sorted(expected)


def test_interpretability_keeps_only_interpretable_families() -> None:
    selection = select(Task.BINARY, 5_000, TABULAR, Constraints(interpretable=True))
    assert selection.candidates == ["linear", "decision_tree"]
    reason = "excluded: not interpretable, the spec requires interpretability"
    assert reason in _reasons(selection, "lightgbm")
    assert reason in _reasons(selection, "random_forest")
    assert "chosen: interpretable, as the spec requires" in _reasons(selection, "linear")


def test_latency_limit_excludes_slower_families() -> None:
    limit = _info("lightgbm").latency_us_per_row - 1
    selection = select(Task.REGRESSION, 5_000, TABULAR, Constraints(max_latency_us_per_row=limit))
    slow = _info("lightgbm").latency_us_per_row
    assert f"excluded: typical latency {slow:g} us/row > max {limit:g}" in _reasons(
        selection, "lightgbm"
    )
    assert "random_forest" not in selection.candidates
    assert selection.candidates == ["mlp", "linear", "decision_tree"]


def test_size_limit_excludes_larger_families() -> None:
    selection = select(Task.BINARY, 5_000, TABULAR, Constraints(max_size_kb=500))
    size = _info("random_forest").size_kb
    assert _reasons(selection, "random_forest") == [f"excluded: typical size {size:g} kB > max 500"]
    assert selection.candidates == ["lightgbm", "mlp", "linear", "decision_tree"]
    assert f"chosen: typical size {_info('lightgbm').size_kb:g} kB <= max 500" in _reasons(
        selection, "lightgbm"
    )


def test_unavailable_family_is_excluded_with_the_extra_it_needs(torch_family: str) -> None:
    selection = select(Task.BINARY, 5_000, TABULAR)
    assert _reasons(selection, torch_family) == [
        "excluded: needs the [torch] extra (pip install 'modelcycle[torch]')"
    ]


def test_too_few_rows_excludes_families_that_need_more() -> None:
    selection = select(Task.BINARY, 80, TABULAR)
    assert _reasons(selection, "lightgbm") == ["excluded: 80 rows < 200 needed"]
    assert selection.candidates == ["random_forest", "linear", "decision_tree"]


def test_native_missing_value_handling_is_a_reason() -> None:
    missing = {"age": 0.12, "income": 0.05, "region": 0.01}
    selection = select(Task.BINARY, 5_000, TABULAR, missing=missing)
    native = "chosen: handles missing values natively (up to 12% missing in 3 columns)"
    assert native in _reasons(selection, "lightgbm")
    assert native in _reasons(selection, "random_forest")
    assert any(r.startswith("note: needs imputed inputs") for r in _reasons(selection, "linear"))
    categorical = "chosen: handles categorical columns natively (1 categorical column)"
    assert categorical in _reasons(selection, "lightgbm")


def test_ranking_follows_data_size_and_says_why() -> None:
    small = select(Task.BINARY, 500, TABULAR)
    medium = select(Task.BINARY, 20_000, TABULAR)
    assert small.candidates[0] == "random_forest"
    assert medium.candidates[0] == "lightgbm"
    assert small.order.startswith("by expected quality for 500 rows (small data")
    assert "gradient boosting usually leads" in medium.order
    assert _reasons(medium, "lightgbm")[0].startswith("chosen: rank 1 by expected quality")


def test_candidates_beyond_the_cap_are_excluded_with_their_rank() -> None:
    selection = select(Task.BINARY, 20_000, TABULAR, Constraints(max_candidates=2))
    assert selection.candidates == ["lightgbm", "random_forest"]
    assert _reasons(selection, "decision_tree") == [
        "excluded: eligible but ranked 5 of 5; only the top 2 are proposed "
        "(name it in the spec's candidates to train it)"
    ]


def test_named_families_replace_the_ranking_in_the_given_order() -> None:
    named = Constraints(families=["decision_tree", "lightgbm", "decision_tree"])
    selection = select(Task.BINARY, 80, TABULAR, named)
    assert selection.candidates == ["decision_tree", "lightgbm"]
    assert _reasons(selection, "lightgbm") == [
        "chosen: named in the spec's candidates",
        "note: 80 rows < 200 usually needed",
        "chosen: handles categorical columns natively (1 categorical column)",
    ]
    assert _reasons(selection, "linear") == ["excluded: not among the candidates named in the spec"]
    assert selection.order.startswith("as named in the spec")


def test_named_families_that_cannot_do_the_task_are_still_refused(torch_family: str) -> None:
    named = Constraints(families=[torch_family, "linear", "tfidf_linear"])
    selection = select(Task.REGRESSION, 5_000, TABULAR, named)
    assert selection.candidates == ["linear"]
    assert _reasons(selection, torch_family) == [
        "excluded: cannot do regression (does: binary)",
        "excluded: needs the [torch] extra (pip install 'modelcycle[torch]')",
    ]
    assert _reasons(selection, "tfidf_linear") == [
        "excluded: needs text input, the data has no text column"
    ]


def test_excluded_families_are_not_proposed() -> None:
    selection = select(Task.BINARY, 5_000, TABULAR, Constraints(exclude=["lightgbm"]))
    assert "lightgbm" not in selection.candidates
    assert _reasons(selection, "lightgbm") == ["excluded: listed in the spec's exclude"]


@pytest.mark.parametrize("field", ["families", "exclude"])
def test_unknown_family_name_lists_the_known_ones(field: str) -> None:
    constraints = Constraints.model_validate({field: ["xgboost"]})
    with pytest.raises(InvalidValueError, match=rf"'xgboost' for model\.{field}: known .*linear"):
        select(Task.BINARY, 5_000, TABULAR, constraints)


def test_image_inputs_select_the_cnn_and_nothing_tabular() -> None:
    selection = select(Task.MULTICLASS, 1_797, {}, inputs=["image"])
    assert selection.candidates == ["cnn"]
    assert "excluded: needs tabular input" in _reasons(selection, "lightgbm")[0]


def test_no_suitable_family_is_said_plainly() -> None:
    selection = select(Task.REGRESSION, 1_797, {}, inputs=["image"])
    assert selection.candidates == []
    assert "No family can be trained" in selection.explain()


def test_explain_shows_every_family_and_verdict() -> None:
    selection = select(Task.BINARY, 5_000, TABULAR, Constraints(interpretable=True))
    text = selection.explain()
    assert all(choice.family in text for choice in selection.choices)
    assert "chosen #1" in text
    assert "excluded: not interpretable" in text
    assert text.splitlines()[0] == "Model selection: binary task, 5,000 rows"


def test_selection_and_constraints_round_trip_through_json() -> None:
    constraints = Constraints(max_latency_us_per_row=50, families=["linear"], exclude=["lightgbm"])
    assert Constraints.model_validate_json(constraints.model_dump_json()) == constraints
    data = json.loads(json.dumps(select(Task.BINARY, 5_000, TABULAR, constraints).to_dict()))
    assert data["candidates"] == ["linear"]
    assert {choice["family"] for choice in data["choices"]} == {f.info.name for f in families()}


def test_constraints_refuse_unknown_keys() -> None:
    with pytest.raises(pydantic.ValidationError, match="max_latency_ms"):
        Constraints.model_validate({"max_latency_ms": 3})
