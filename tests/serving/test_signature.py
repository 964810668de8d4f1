"""Request validation against a version's signature: coercion, and errors naming field and row.

Signatures come from ``registry.signature_of`` on real rows: iris with added columns of every
kind a served model reads (integer, boolean, categorical, datetime, text, id).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from modelcycle.errors import DataError, http_status
from modelcycle.registry import signature_of
from modelcycle.serving import InputSchema

KINDS = {
    "sepal length (cm)": "numeric",
    "petals": "integer",
    "wild": "boolean",
    "colour": "categorical",
    "seen": "datetime",
    "note": "text",
    "plant_id": "id",
}


@pytest.fixture(scope="module")
def signature() -> dict[str, Any]:
    iris = load_iris(as_frame=True).frame
    rows = len(iris)
    frame = pd.DataFrame(
        {
            "sepal length (cm)": iris["sepal length (cm)"],
            "petals": [3 + i % 4 for i in range(rows)],
            "wild": [i % 3 == 0 for i in range(rows)],
            "colour": [("blue", "red", "white")[i % 3] for i in range(rows)],
            "seen": [f"2024-05-{1 + i % 28:02d}T10:00:00" for i in range(rows)],
            "note": [f"plant {i}" for i in range(rows)],
            "plant_id": [f"p{i}" for i in range(rows)],
        }
    )
    return signature_of(frame, KINDS, task="multiclass", classes=[0, 1, 2])


def _request(**changes: list[Any]) -> dict[str, list[Any]]:
    base: dict[str, list[Any]] = {
        "sepal length (cm)": [5.1, 6],
        "petals": [3, 4],
        "wild": [True, False],
        "colour": ["red", "blue"],
        "seen": ["2024-05-02T10:00:00", None],
        "note": ["tall", None],
        "plant_id": ["a", "b"],
    }
    base.update(changes)
    return base


def test_a_valid_request_is_coerced_to_the_signature_in_its_order(
    signature: dict[str, Any],
) -> None:
    schema = InputSchema(signature)
    request = _request(petals=[3.0, None], wild=["true", 0], colour=["red", None])
    request = dict(reversed(list(request.items())))  # columns in any order
    valid = schema.validate(request)
    assert list(valid) == list(KINDS)
    assert valid["sepal length (cm)"] == [5.1, 6]
    assert valid["petals"] == [3, None] and type(valid["petals"][0]) is int
    assert valid["wild"] == [True, False]
    assert valid["colour"] == ["red", None]
    assert valid["seen"] == ["2024-05-02T10:00:00", None]


def test_numpy_scalars_and_nan_from_the_python_api_are_numbers_and_missing(
    signature: dict[str, Any],
) -> None:
    request = _request(**{"sepal length (cm)": [np.float32(5.5), float("nan")]})
    request["petals"] = [np.int64(4), np.float64(3.0)]
    valid = InputSchema(signature).validate(request)
    assert valid["sepal length (cm)"] == [5.5, None] and valid["petals"] == [4, 3]
    assert [type(v) for v in valid["petals"]] == [int, int]


def test_id_columns_may_be_left_out(signature: dict[str, Any]) -> None:
    request = _request()
    del request["plant_id"]
    assert InputSchema(signature).validate(request)["plant_id"] == [None, None]


@pytest.mark.parametrize(
    ("field", "values", "message"),
    [
        (
            "sepal length (cm)",
            [1.0, "abc"],
            r"invalid value 'abc' for field 'sepal length \(cm\)' \(row 1\): expected a number",
        ),
        ("sepal length (cm)", [True, 1.0], r"field 'sepal length \(cm\)' \(row 0\).*a number"),
        ("petals", [3, 2.5], r"invalid value 2.5 for field 'petals' \(row 1\): .*whole number"),
        ("petals", [3, 10**400], r"for field 'petals' \(row 1\): the number is too large"),
        ("sepal length (cm)", [float("inf"), 1.0], r"\(row 0\): expected a finite number"),
        ("wild", ["yes", True], r"invalid value 'yes' for field 'wild' \(row 0\): .*true or false"),
        ("seen", ["2024-05-02", "May 3rd"], r"'May 3rd' for field 'seen' \(row 1\): .*ISO 8601"),
        ("note", ["a", 7], r"invalid value 7 for field 'note' \(row 1\): expected a string"),
        ("colour", [["red"], "red"], r"field 'colour' \(row 0\): expected a category"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_field_and_row(
    signature: dict[str, Any], field: str, values: list[Any], message: str
) -> None:
    with pytest.raises(DataError, match=message) as refused:
        InputSchema(signature).validate(_request(**{field: values}))
    assert http_status(refused.value) == 422


def test_missing_and_unknown_columns_are_named(signature: dict[str, Any]) -> None:
    schema = InputSchema(signature)
    request = _request()
    del request["petals"]
    with pytest.raises(DataError, match=r"missing field 'petals': the model reads it"):
        schema.validate(request)
    with pytest.raises(DataError, match=r"unknown field 'height': the model reads sepal"):
        schema.validate(_request(height=[1, 2]))


def test_unknown_category_is_rejected_or_mapped_to_missing_and_counted(
    signature: dict[str, Any],
) -> None:
    with pytest.raises(
        DataError,
        match=r"invalid value 'green' for field 'colour' \(row 1\): unknown category; "
        r"known: 'blue', 'red', 'white'",
    ):
        InputSchema(signature).validate(_request(colour=["red", "green"]))
    lenient = InputSchema(signature, unknown_categories="unknown")
    valid = lenient.validate(_request(colour=["green", "red"]))
    assert valid["colour"] == [None, "red"]
    lenient.validate(_request(colour=["pink", "mauve"]))
    assert lenient.unknown_counts == {"colour": 3}


def test_row_count_limits_and_ragged_columns_are_refused(signature: dict[str, Any]) -> None:
    schema = InputSchema(signature, max_rows=2)
    three = {name: values + values[:1] for name, values in _request().items()}
    with pytest.raises(DataError, match=r"invalid value 3 for number of rows: at most 2"):
        schema.validate(three)
    empty: dict[str, list[Any]] = {name: [] for name in KINDS}
    with pytest.raises(DataError, match="at least one row"):
        schema.validate(empty)
    with pytest.raises(DataError, match=r"field 'petals' has 1 values but field 'sepal"):
        schema.validate(_request(petals=[3]))
    with pytest.raises(DataError, match=r"field 'petals': expected a list of values"):
        schema.validate(_request(petals=3))  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"for inputs: expected an object of columns"):
        schema.validate([1, 2])  # type: ignore[arg-type]


def test_records_become_columns_and_bad_records_name_the_row(signature: dict[str, Any]) -> None:
    schema = InputSchema(signature, max_rows=3)
    request = _request()
    records = [{name: values[i] for name, values in request.items()} for i in range(2)]
    del records[1]["plant_id"]  # optional id column
    columns = schema.records_to_columns(records)
    assert columns["colour"] == ["red", "blue"] and columns["plant_id"] == ["a", None]
    assert schema.validate(columns)["petals"] == [3, 4]
    broken = [dict(records[0]), {k: v for k, v in records[0].items() if k != "wild"}]
    with pytest.raises(DataError, match=r"row 1: missing field 'wild'"):
        schema.records_to_columns(broken)
    with pytest.raises(DataError, match=r"row 0: unknown field 'extra'"):
        schema.records_to_columns([{**records[0], "extra": 1}])
    with pytest.raises(DataError, match=r"record \(row 1\): expected an object"):
        schema.records_to_columns([records[0], [1, 2]])
    with pytest.raises(DataError, match=r"at most 3 rows"):
        schema.records_to_columns([records[0]] * 4)


def test_v2_metadata_describes_each_input(signature: dict[str, Any]) -> None:
    tensors = {t["name"]: t for t in InputSchema(signature).v2_inputs()}
    assert list(tensors) == list(KINDS)
    assert tensors["sepal length (cm)"] == {
        "name": "sepal length (cm)",
        "datatype": "FP64",
        "shape": [-1],
    }
    assert tensors["wild"]["datatype"] == "BOOL"
    assert tensors["colour"]["datatype"] == tensors["note"]["datatype"] == "BYTES"


def test_a_bad_policy_or_limit_is_refused_when_the_schema_is_built(
    signature: dict[str, Any],
) -> None:
    with pytest.raises(ValueError, match="unknown_categories"):
        InputSchema(signature, unknown_categories="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_rows"):
        InputSchema(signature, max_rows=0)
