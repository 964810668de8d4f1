"""The pipeline spec: YAML in, validated models out, errors that name the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcycle.data import ColumnKind
from modelcycle.errors import SpecError
from modelcycle.pipeline import PipelineSpec, load_spec

GOOD = """\
version: 1
name: penguins
data:
  source: {path: penguins.csv, delimiter: ","}
  schema:
    bill_length_mm: {kind: numeric, nullable: false, min: 30, max: 65}
    species: {kind: categorical, categories: [Adelie, Chinstrap, Gentoo]}
  target: {column: species}
  validation: {min_rows: 100}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return path


def test_a_valid_spec_loads(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, GOOD))
    assert spec.name == "penguins"
    assert spec.data.declared_schema.kinds()["species"] is ColumnKind.CATEGORICAL
    assert spec.data.target is not None and spec.data.target.output == "species"
    assert spec.data.validation.min_rows == 100


def test_spec_round_trips_through_json(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, GOOD))
    again = PipelineSpec.model_validate_json(spec.model_dump_json(by_alias=True))
    assert again == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("kind: categorical", "kind: categoricl"),
            r"pipeline.yaml:7: data.schema.species.kind: input should be 'numeric'",
        ),
        (
            GOOD.replace("min_rows: 100", "min_rows: many"),
            r"pipeline.yaml:9: data.validation.min_rows: input should be a valid integer",
        ),
        (
            GOOD.replace("version: 1", "version: 1\ncolour: red"),
            r"pipeline.yaml:2: colour: unknown key",
        ),
        (
            GOOD.replace("target: {column: species}", "target: {}"),
            r"pipeline.yaml:8: data.target: give either column or expression",
        ),
        ("data: [unclosed", r"pipeline.yaml:1: not valid YAML"),
        ("- a\n- b\n", r"expected a mapping of keys at the top level"),
    ],
    ids=["enum", "type", "unknown-key", "rule", "yaml", "not-a-mapping"],
)
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec(_write(tmp_path, text))


def test_missing_spec_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nope.yaml: cannot read the spec"):
        load_spec(tmp_path / "nope.yaml")
