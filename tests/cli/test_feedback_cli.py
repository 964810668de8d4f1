"""``modelcycle feedback ingest`` through the real entry point."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelcycle.registry import Registry, signature_of
from modelcycle.tracking import Client
from modelcycle.types import PredictionRecord

Invoke = Callable[..., tuple[int, str, str]]  # the `cli` fixture of conftest.py


@pytest.fixture
def stores(client: Client) -> list[str]:
    """Global options opening the test's stores: model ``spam`` (classes ham, spam) and a
    logged request ``r`` of 10 rows."""
    rows = pd.DataFrame({"words": [1.0, 9.0, 2.0, 8.0]})
    Registry(client).register_model(
        "spam",
        LogisticRegression().fit(rows, ["ham", "spam", "ham", "spam"]),
        signature=signature_of(rows, {}, task="binary", classes=["ham", "spam"]),
        task="binary",
        family="linear",
        source="tests",
    )
    record = PredictionRecord(
        request_id="r",
        model="spam",
        version=1,
        time=datetime(2026, 1, 1, tzinfo=timezone.utc),
        latency_ms=1.0,
        n_rows=10,
        inputs={"words": [float(i) for i in range(10)]},
        outputs={"predict": ["ham"] * 10},
        shadow=False,
        sample_rate=1.0,
    )
    client.metadata.predictions.insert_many([record])
    return ["--store", client.store_url, "--artifacts", client.artifacts_url]


def test_ingest_prints_the_counts_and_the_first_unknown_ids(
    cli: Invoke, stores: list[str], tmp_path: Path
) -> None:
    ids = [f"r:{i}" for i in range(4)] + [f"gone:{i}" for i in range(7)]
    pd.DataFrame({"id": ids, "label": "spam"}).to_csv(tmp_path / "labels.csv", index=False)
    code, out, err = cli(*stores, "feedback", "ingest", tmp_path / "labels.csv")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].endswith("4 accepted, 0 duplicates, 0 conflicts, 7 rejected")
    assert lines[1].startswith("  rejected labels.csv row 5 (gone:0): no logged prediction")
    assert len(lines) == 7 and lines[-1] == "  ... and 2 more rejected (see --json)"
    code, out, err = cli(*stores, "feedback", "ingest", tmp_path / "labels.csv", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["accepted"], report["duplicates"], report["rejected"]) == (0, 4, 7)
    assert [r["id"] for r in report["rejections"]] == ids[4:]


def test_strict_exits_1_when_anything_is_rejected(
    cli: Invoke, stores: list[str], tmp_path: Path
) -> None:
    (tmp_path / "labels.jsonl").write_text('{"id": "r:0", "label": "maybe"}\n')
    code, out, err = cli(*stores, "feedback", "ingest", tmp_path / "labels.jsonl", "--strict")
    assert code == 1
    assert "not a class of spam@1" in out
    assert err.strip() == "error: 1 feedback values rejected (--strict)"


def test_a_bad_file_exits_1_with_one_line_naming_row_and_column(
    cli: Invoke, stores: list[str], tmp_path: Path
) -> None:
    (tmp_path / "ratings.csv").write_text("id,rating\nr:0,5\nr:1,\nr:2,lots\n")
    code, out, err = cli(*stores, "feedback", "ingest", tmp_path / "ratings.csv")
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        "error: invalid value {'id': 'r:1'} for ratings.csv row 2: expected a 'label' or a 'rating'"
    ]
    (tmp_path / "ratings.csv").write_text("id,rating\nr:0,5\nr:2,lots\n")
    code, _, err = cli(*stores, "feedback", "ingest", tmp_path / "ratings.csv")
    assert code == 1
    assert "'lots' for ratings.csv row 2 column 'rating': expected a number" in err
    with Client(stores[1], stores[3]) as client:
        assert client.metadata.feedback.count("spam", kind=None)["feedback"] == 0
