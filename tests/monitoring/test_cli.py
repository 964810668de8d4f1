"""``modelcycle monitor reference|drift`` on real files: exit status, JSON, HTML, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from tests.conftest import Invoke


@pytest.fixture
def files(diamonds: pa.Table, tmp_path: Path, seed: int) -> dict[str, Path]:
    order = np.random.default_rng(seed).permutation(diamonds.num_rows)
    reference, current = diamonds.take(order[:20_000]), diamonds.take(order[20_000:40_000])
    shifted = current
    for name in ("carat", "price", "x", "y", "z", "depth"):
        values = current.column(name).to_numpy().astype(float)
        moved = pa.array(values + 0.5 * values.std())
        shifted = shifted.set_column(current.schema.get_field_index(name), name, moved)
    paths = {
        "reference": tmp_path / "reference.parquet",
        "current": tmp_path / "current.csv",
        "shifted": tmp_path / "shifted.parquet",
    }
    pq.write_table(reference, paths["reference"])
    pacsv.write_csv(current, paths["current"])
    pq.write_table(shifted, paths["shifted"])
    return paths


def test_no_drift_exits_zero_with_a_table(cli: Invoke, files: dict[str, Path]) -> None:
    code, out, _ = cli(
        "monitor", "drift", "--reference", files["reference"], "--current", files["current"]
    )
    assert code == 0
    assert "no dataset drift: 0 of 10 columns drifted" in out and "wasserstein" in out


def test_drift_exits_three_with_json_and_a_report(
    cli: Invoke, files: dict[str, Path], tmp_path: Path
) -> None:
    report = tmp_path / "drift.html"
    code, out, err = cli(
        "monitor",
        "drift",
        "--reference",
        files["reference"],
        "--current",
        files["shifted"],
        "--json",
        "--report",
        report,
    )
    assert code == 3
    snapshot = json.loads(out)
    assert snapshot["dataset_drift"] and snapshot["drifted_columns"] == 6
    assert f"wrote {report}" in err
    html = report.read_text()
    assert "Dataset drift: 6 of 10 columns drifted" in html and html.count("<svg") >= 10


def test_a_stored_reference_is_reused_with_overrides(
    cli: Invoke, files: dict[str, Path], tmp_path: Path
) -> None:
    stored = tmp_path / "reference.json"
    code, out, _ = cli("monitor", "reference", files["reference"], "--output", stored)
    assert code == 0 and "10 columns" in out
    code, out, _ = cli(
        "monitor",
        "drift",
        "--reference",
        stored,
        "--current",
        files["shifted"],
        "--json",
        "--test",
        "price=psi",
        "--threshold",
        "psi=0.05",
        "--drift-share",
        "0.9",
    )
    snapshot = json.loads(out)
    assert code == 0 and snapshot["drifted_columns"] == 6  # 6 of 10 < 90%
    price = next(c for c in snapshot["columns"] if c["column"] == "price")
    assert (price["test"], price["threshold"]) == ("psi", 0.05)


def test_errors_are_one_line_naming_the_fault(
    cli: Invoke, files: dict[str, Path], tmp_path: Path
) -> None:
    code, _, err = cli(
        "monitor", "drift", "--reference", tmp_path / "nope.csv", "--current", files["current"]
    )
    assert code == 1 and err.strip() == f"error: file {str(tmp_path / 'nope.csv')!r} does not exist"
    code, _, err = cli(
        "monitor",
        "drift",
        "--reference",
        files["reference"],
        "--current",
        files["current"],
        "--test",
        "price=anova",
    )
    assert code == 1 and "test of column 'price'" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli(
        "monitor",
        "drift",
        "--reference",
        files["reference"],
        "--current",
        files["current"],
        "--threshold",
        "psi",
    )
    assert code == 1 and "expected KEY=VALUE" in err
    narrow = tmp_path / "narrow.parquet"
    pq.write_table(pq.read_table(files["shifted"]).drop_columns(["cut"]), narrow)
    code, _, err = cli("monitor", "drift", "--reference", files["reference"], "--current", narrow)
    assert code == 1 and "column 'cut' of the reference is missing" in err


def test_a_dataset_version_is_a_reference_from_the_shell(
    cli: Invoke, files: dict[str, Path], store_url: str, tmp_path: Path
) -> None:
    from modelcycle.data import profile_table
    from modelcycle.data._versions import content_digest, create_version
    from modelcycle.tracking import Client

    table = pq.read_table(files["reference"])
    artifacts = tmp_path / "artifacts"
    with Client(store_url, str(artifacts)) as client:
        version = create_version(
            client,
            "diamonds",
            table,
            input_digest=content_digest(table),
            steps={},
            schema={},
            lineage={},
            profile=profile_table(table).to_dict(),
        )
    store = ("--store", store_url, "--artifacts", artifacts)
    code, out, _ = cli(
        *store,
        "monitor",
        "drift",
        "--reference",
        f"dataset:{version.ref}",
        "--current",
        files["shifted"],
        "--json",
    )
    assert code == 3 and json.loads(out)["reference_rows"] == 20_000
    code, _, err = cli(
        *store,
        "monitor",
        "drift",
        "--reference",
        "dataset:diamonds@nope",
        "--current",
        files["current"],
    )
    assert code == 1 and err.startswith("error: ") and "nope" in err
